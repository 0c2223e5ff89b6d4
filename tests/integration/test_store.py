"""Persistence: timelines, handoffs and announced changes survive restarts and portals."""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
from datetime import UTC, datetime, timedelta, timezone
import json
from pathlib import Path
import re
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir, storage
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.parcel_handoff.const import DOMAIN
from custom_components.parcel_handoff.store import (
    ISSUE_STORE_NEWER,
    ISSUE_STORE_UNREADABLE,
    LegCheck,
    ShipmentRecord,
    StoredData,
    record_from_dict,
    record_to_dict,
    storage_issue_id,
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


# --- A damaged store -----------------------------------------------------------------------

# Home Assistant's store as it really works on files (the `hass` fixture mocks it in memory).
_REAL_STORE = {
    name: storage.Store.__dict__[name]
    for name in ("_async_load", "_async_write_data", "async_remove")
}


@pytest.fixture
def storage_dir(hass: HomeAssistant, tmp_path: Path) -> Iterator[Path]:
    """The `.storage` directory of a config directory on disk, read and written for real."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(patch.object(hass.config, "config_dir", str(tmp_path)))
        for name, real in _REAL_STORE.items():
            stack.enter_context(patch.object(storage.Store, name, real))
        directory = tmp_path / storage.STORAGE_DIR
        directory.mkdir()
        yield directory


def _good_file() -> dict[str, Any]:
    """A store holding journey 1 at the last mile (the portals say origin processing)."""
    content = StoredData(shipments={SUBENTRY_ID: _record()})
    return {"version": 1, "minor_version": 1, "key": KEY, "data": stored_to_dict(content)}


KEY = storage_key(ENTRY_ID)


def _kept_aside(directory: Path) -> list[Path]:
    """Files next to the store named after it (other stores write there too)."""
    return sorted(directory.glob(f"{KEY}.*"))


GOOD = json.dumps(_good_file())
BROKEN_FILES = {
    "invalid_json": "{this is not json",
    "truncated_json": GOOD[: len(GOOD) // 2],
    "empty_file": "",
    "list_at_top_level": "[1, 2, 3]",
    "string_at_top_level": '"parcel_handoff"',
    "no_envelope": json.dumps(_good_file()["data"]),
    "data_not_an_object": json.dumps({**_good_file(), "data": [1, 2]}),
    "shipments_not_an_object": json.dumps({**_good_file(), "data": {"shipments": []}}),
    "unknown_version": json.dumps({**_good_file(), "version": "one"}),
    "version_zero": json.dumps({**_good_file(), "version": 0}),
    "future_version": json.dumps({**_good_file(), "version": 2}),
}
# Invalid JSON never reaches the integration: Home Assistant's Store sets it aside itself.
HA_HANDLES = {"invalid_json", "truncated_json", "empty_file"}


@pytest.mark.parametrize("name", list(BROKEN_FILES))
async def test_a_damaged_store_is_kept_aside_and_reported(
    hass: HomeAssistant,
    storage_dir: Path,
    carrier_server: CarrierServer,
    caplog: pytest.LogCaptureFixture,
    name: str,
) -> None:
    """The entry loads from its subentries; the bad file is kept aside and a repair says so."""
    broken = BROKEN_FILES[name]
    (storage_dir / KEY).write_text(broken, encoding="utf-8")

    entry = await setup_entry(hass, make_entry(carrier_server))

    assert entry.state is ConfigEntryState.LOADED
    # Looked up again, silently: the portals' stage, not the stored last mile.
    assert hass.states.get("sensor.phone_case_stage").state == "origin_processing"
    assert entry.runtime_data.announcements == ()
    assert hass.states.get("binary_sensor.phone_case_needs_attention") is not None
    (kept,) = _kept_aside(storage_dir)
    assert kept.read_text(encoding="utf-8") == broken
    assert not (storage_dir / KEY).exists()

    issues = ir.async_get(hass).issues.values()
    if name in HA_HANDLES:
        assert kept.name.startswith(f"{KEY}.corrupt.")
        (issue,) = [i for i in issues if i.issue_id.startswith(f"storage_corruption_{KEY}")]
        assert issue.issue_domain == DOMAIN
    else:
        label = "v2" if name == "future_version" else "corrupt"
        assert re.fullmatch(rf"{re.escape(KEY)}\.{label}\.\d{{8}}T\d{{6}}Z", kept.name)
        issue = ir.async_get(hass).async_get_issue(DOMAIN, storage_issue_id(ENTRY_ID))
        assert issue is not None
        assert issue.translation_key == (
            ISSUE_STORE_NEWER if name == "future_version" else ISSUE_STORE_UNREADABLE
        )
        assert issue.severity is ir.IssueSeverity.WARNING
        assert not issue.is_fixable
        assert issue.translation_placeholders == {
            "title": entry.title,
            "path": str(kept),
            "store": str(storage_dir / KEY),
        }
        assert "could not be read" in caplog.text
    assert "Traceback" not in "".join(
        r.getMessage() for r in caplog.records if r.name.startswith("custom_components")
    )

    # The next save writes a good file again, with what the portals gave.
    assert await hass.config_entries.async_unload(entry.entry_id)
    saved = json.loads((storage_dir / KEY).read_text(encoding="utf-8"))
    assert saved["version"] == 1
    assert SUBENTRY_ID in saved["data"]["shipments"]


async def test_a_good_store_on_disk_is_read(
    hass: HomeAssistant, storage_dir: Path, carrier_server: CarrierServer
) -> None:
    """The same path with a good file: read as it is, nothing kept aside, no issue."""
    (storage_dir / KEY).write_text(GOOD, encoding="utf-8")
    carrier_server.state.add_fault("server_error", times=None)
    await setup_entry(hass, make_entry(carrier_server))
    assert hass.states.get("sensor.phone_case_stage").state == "last_mile"
    assert _kept_aside(storage_dir) == []
    assert ir.async_get(hass).async_get_issue(DOMAIN, storage_issue_id(ENTRY_ID)) is None


async def test_a_newer_minor_version_is_read(
    hass: HomeAssistant, storage_dir: Path, carrier_server: CarrierServer
) -> None:
    """A newer minor version only adds optional keys: it is read, not kept aside."""
    newer = {**_good_file(), "minor_version": 7}
    newer["data"]["future_key"] = {"anything": True}
    (storage_dir / KEY).write_text(json.dumps(newer), encoding="utf-8")
    carrier_server.state.add_fault("server_error", times=None)
    await setup_entry(hass, make_entry(carrier_server))
    assert hass.states.get("sensor.phone_case_stage").state == "last_mile"
    assert ir.async_get(hass).async_get_issue(DOMAIN, storage_issue_id(ENTRY_ID)) is None


async def test_a_store_that_cannot_be_moved_is_still_reported(
    hass: HomeAssistant, hass_storage: dict[str, Any], carrier_server: CarrierServer
) -> None:
    """No file to move (here: the in-memory store): the issue names the store itself."""
    hass_storage[KEY] = {**_good_file(), "version": 2}
    entry = await setup_entry(hass, make_entry(carrier_server))
    assert entry.state is ConfigEntryState.LOADED
    issue = ir.async_get(hass).async_get_issue(DOMAIN, storage_issue_id(ENTRY_ID))
    assert issue is not None
    assert issue.translation_placeholders["path"] == issue.translation_placeholders["store"]


async def test_removing_the_entry_removes_its_issue(
    hass: HomeAssistant, storage_dir: Path, carrier_server: CarrierServer
) -> None:
    """The repair issue of a removed entry goes with it."""
    (storage_dir / KEY).write_text(BROKEN_FILES["future_version"], encoding="utf-8")
    entry = await setup_entry(hass, make_entry(carrier_server))
    assert ir.async_get(hass).async_get_issue(DOMAIN, storage_issue_id(ENTRY_ID)) is not None
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert ir.async_get(hass).async_get_issue(DOMAIN, storage_issue_id(ENTRY_ID)) is None
