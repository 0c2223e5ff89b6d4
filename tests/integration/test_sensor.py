"""The stage sensor of each shipment and the entry's summary sensor."""

from __future__ import annotations

from datetime import UTC, datetime

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion

from custom_components.parcel_handoff.tracking.model import Stage
from tests.carrier_server import CarrierServer

from .conftest import (
    CAINIAO_NUMBER,
    CUSTOMS_NUMBER,
    DELIVERED_NUMBER,
    OUT_FOR_DELIVERY_NUMBER,
    SUBENTRY_ID,
    UNKNOWN_NUMBER,
    make_entry,
    setup_entry,
    shipment_subentry,
)


async def test_entities(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """The shipment's stage sensor and the summary, as they are after set-up."""
    for entity_id in ("sensor.phone_case_stage", "sensor.parcel_handoff_active_shipments"):
        assert hass.states.get(entity_id) == snapshot(name=entity_id)
    stage = entity_registry.async_get("sensor.phone_case_stage")
    assert stage is not None
    assert stage.unique_id == f"{SUBENTRY_ID}_stage"
    assert stage.config_subentry_id == SUBENTRY_ID
    assert stage.translation_key == "stage"
    assert stage.capabilities == {"options": [stage.value for stage in Stage]}
    summary = entity_registry.async_get("sensor.parcel_handoff_active_shipments")
    assert summary is not None
    assert summary.config_subentry_id is None


async def test_summary_counts(
    hass: HomeAssistant, carrier_server: CarrierServer, freezer: FrozenDateTimeFactory
) -> None:
    """Counts per stage, out for delivery today and needing attention, for dashboards."""
    freezer.move_to(datetime(2025, 5, 16, 15, tzinfo=UTC))
    entry = make_entry(
        carrier_server,
        subentries=[
            shipment_subentry(number)
            for number in (
                CAINIAO_NUMBER,
                CUSTOMS_NUMBER,
                OUT_FOR_DELIVERY_NUMBER,
                DELIVERED_NUMBER,
                UNKNOWN_NUMBER,
            )
        ],
    )
    await setup_entry(hass, entry)

    state = hass.states.get("sensor.parcel_handoff_active_shipments")
    assert state.state == "3"
    attributes = state.attributes
    assert {stage.value: attributes[stage.value] for stage in Stage if attributes[stage.value]} == {
        "delivered": 2,
        "customs": 1,
        "out_for_delivery": 1,
        "not_found": 1,
    }
    assert attributes["out_for_delivery_today"] == 1
    assert attributes["needs_attention"] == 1
    assert attributes["total"] == 5

    ofd = hass.states.get(f"sensor.{OUT_FOR_DELIVERY_NUMBER}_stage").attributes
    assert ofd["days_in_stage"] == 0
    assert ofd["days_in_transit"] == 2
    delivered = hass.states.get(f"sensor.{DELIVERED_NUMBER}_stage").attributes
    # A finished journey stops counting at delivery.
    assert delivered["days_in_transit"] == 2
    assert delivered["days_in_stage"] == 84


@pytest.mark.parametrize("moment", [datetime(2025, 5, 17, 15, tzinfo=UTC)])
async def test_out_for_delivery_yesterday_is_not_today(
    hass: HomeAssistant,
    carrier_server: CarrierServer,
    freezer: FrozenDateTimeFactory,
    moment: datetime,
) -> None:
    """A round that started yesterday is not counted as today's."""
    freezer.move_to(moment)
    entry = make_entry(carrier_server, subentries=[shipment_subentry(OUT_FOR_DELIVERY_NUMBER)])
    await setup_entry(hass, entry)
    attributes = hass.states.get("sensor.parcel_handoff_active_shipments").attributes
    assert attributes["out_for_delivery"] == 1
    assert attributes["out_for_delivery_today"] == 0


async def test_summary_shows_17track_quota_left(
    hass: HomeAssistant, carrier_server: CarrierServer, freezer: FrozenDateTimeFactory
) -> None:
    """With 17TRACK keyed, the summary tells how many registrations the plan has left."""
    freezer.move_to(datetime(2025, 3, 20, 12, tzinfo=UTC))
    carrier_server.state.seventeen_track_quota_used = 97
    cainiao_only = make_entry(carrier_server, subentries=[shipment_subentry(CUSTOMS_NUMBER)])
    await setup_entry(hass, cainiao_only)
    state = hass.states.get("sensor.parcel_handoff_active_shipments")
    # Nothing went through 17TRACK: its quota was not asked for.
    assert "seventeen_track_quota_remaining" not in state.attributes
    assert "17track" not in carrier_server.state.requests
    await hass.config_entries.async_unload(cainiao_only.entry_id)

    entry = make_entry(
        carrier_server, subentries=[shipment_subentry(CUSTOMS_NUMBER, carrier="17track")]
    )
    await setup_entry(hass, entry)
    state = hass.states.get("sensor.parcel_handoff_active_shipments")
    # 3 were left, and registering the customs parcel used one.
    assert carrier_server.state.seventeen_track_registered
    assert state.attributes["seventeen_track_quota_remaining"] == 2
