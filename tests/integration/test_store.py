"""Persistence: timelines, handoffs and announced changes survive restarts and portals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.parcel_handoff.store import (
    LegCheck,
    ShipmentRecord,
    StoredData,
    record_from_dict,
    record_to_dict,
    storage_key,
    stored_from_dict,
    stored_to_dict,
)
from custom_components.parcel_handoff.tracking.model import (
    EtaWindow,
    Handoff,
    Source,
    SourceSnapshot,
    Stage,
    TrackingEvent,
)
from tests.carrier_server import CarrierServer

from .conftest import (
    CAINIAO_NUMBER,
    ENTRY_ID,
    START,
    SUBENTRY_ID,
    USPS_LOCAL_NUMBER,
    make_entry,
    setup_entry,
    travel,
)

PACIFIC = timezone(timedelta(hours=-7))


def _record() -> ShipmentRecord:
    event = TrackingEvent(
        time=datetime(2025, 4, 7, 9, 30, tzinfo=PACIFIC),
        description="Received by local delivery company",
        location="Los Angeles",
        carrier="USPS",
        source=Source.CAINIAO,
        stage=Stage.LAST_MILE,
        code="GTMS_ACCEPT",
        tracking_number=CAINIAO_NUMBER,
    )
    return ShipmentRecord(
        tracking_number=CAINIAO_NUMBER,
        added_at=START,
        events=(event, TrackingEvent(time=START, description="Note", source=Source.USPS)),
        snapshots={
            (Source.CAINIAO, CAINIAO_NUMBER): SourceSnapshot(
                source=Source.CAINIAO,
                tracking_number=CAINIAO_NUMBER,
                carrier="Cainiao",
                status_stage=Stage.LAST_MILE,
                status_text="Delivering",
                local_carrier="USPS",
                local_tracking_number=USPS_LOCAL_NUMBER,
                eta=EtaWindow(earliest=None, latest=START),
                origin_country="CN",
                destination_country="US",
            )
        },
        checks={
            (Source.CAINIAO, CAINIAO_NUMBER): LegCheck(last_check=START, next_check=None),
            (Source.USPS, USPS_LOCAL_NUMBER): LegCheck(
                last_check=START, next_check=START + timedelta(minutes=5), error="timeout"
            ),
        },
        handoff=Handoff(carrier="USPS", tracking_number=USPS_LOCAL_NUMBER, time=event.time),
        announced=frozenset({"stage:last_mile:", "handoff:USPS:x"}),
        has_data=True,
    )


def test_round_trip() -> None:
    """A record comes back exactly, offsets included; snapshots without their events."""
    record = _record()
    again = record_from_dict(record_to_dict(record))
    assert again == record
    assert again.events[0].time.utcoffset() == timedelta(hours=-7)
    content = StoredData(
        shipments={SUBENTRY_ID: record}, registered={Source.SEVENTEEN_TRACK: frozenset({"A1"})}
    )
    assert stored_from_dict(stored_to_dict(content)) == content


def test_unreadable_content_is_dropped(caplog: pytest.LogCaptureFixture) -> None:
    """A broken record or an unknown source is dropped with a warning, the rest kept."""
    good = record_to_dict(_record())
    loaded = stored_from_dict(
        {
            "shipments": {"good": good, "bad": {"tracking_number": "X"}},
            "registered": {"17track": ["A1"], "pigeon": ["B2"]},
        }
    )
    assert list(loaded.shipments) == ["good"]
    assert loaded.registered == {Source.SEVENTEEN_TRACK: frozenset({"A1"})}
    assert "unreadable stored shipment" in caplog.text
    assert stored_from_dict({}) == StoredData()


async def test_survives_restart_and_forgetful_portals(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    init_integration: MockConfigEntry,
    carrier_server: CarrierServer,
    freezer: FrozenDateTimeFactory,
) -> None:
    """After a restart the merged timeline and the handoff stay, even when portals forget."""
    entry = init_integration
    await travel(hass, freezer, entry, datetime(2025, 4, 8, tzinfo=UTC))
    events_before = entry.runtime_data.data[SUBENTRY_ID].shipment.events
    assert await hass.config_entries.async_unload(entry.entry_id)

    stored = hass_storage[storage_key(ENTRY_ID)]["data"]
    record = stored["shipments"][SUBENTRY_ID]
    assert len(record["events"]) == len(events_before)
    assert record["handoff"]["tracking_number"] == USPS_LOCAL_NUMBER
    assert "handoff:USPS:" + USPS_LOCAL_NUMBER in record["announced"]

    # The portals now show only the first days (old events dropped, no handoff).
    carrier_server.state.now = START
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await entry.runtime_data.async_check_now()

    state = entry.runtime_data.data[SUBENTRY_ID]
    assert state.shipment.events == events_before
    assert state.shipment.local_tracking_number == USPS_LOCAL_NUMBER
    assert hass.states.get("sensor.phone_case_stage").state == "last_mile"
    assert entry.runtime_data.announcements == ()


async def test_stored_state_shown_while_sources_fail(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    carrier_server: CarrierServer,
) -> None:
    """A fresh start with every source failing still shows what was stored."""
    record = _record()
    hass_storage[storage_key(ENTRY_ID)] = {
        "version": 1,
        "minor_version": 1,
        "key": storage_key(ENTRY_ID),
        "data": stored_to_dict(
            StoredData(
                shipments={SUBENTRY_ID: record},
                registered={Source.SEVENTEEN_TRACK: frozenset({USPS_LOCAL_NUMBER})},
            )
        ),
    }
    carrier_server.state.add_fault("server_error", times=None)
    entry = await setup_entry(hass, make_entry(carrier_server))

    state = hass.states.get("sensor.phone_case_stage")
    assert state.state == "last_mile"
    assert state.attributes["local_tracking_number"] == USPS_LOCAL_NUMBER
    client = entry.runtime_data.clients[Source.SEVENTEEN_TRACK]
    assert USPS_LOCAL_NUMBER in client.registered  # type: ignore[attr-defined]


async def test_removed_entry_deletes_its_store(
    hass: HomeAssistant, hass_storage: dict[str, Any], init_integration: MockConfigEntry
) -> None:
    """Removing the entry removes its stored timelines."""
    await hass.config_entries.async_unload(init_integration.entry_id)
    assert storage_key(ENTRY_ID) in hass_storage
    await hass.config_entries.async_remove(init_integration.entry_id)
    await hass.async_block_till_done()
    assert storage_key(ENTRY_ID) not in hass_storage
