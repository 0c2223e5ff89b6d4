"""The "Needs attention" problem sensor of each shipment."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion

from custom_components.parcel_handoff.const import CONF_SENSITIVITY
from tests.carrier_server import CarrierServer

from .conftest import CUSTOMS_NUMBER, OPTIONS, make_entry, setup_entry, shipment_subentry


async def test_quiet_shipment(
    hass: HomeAssistant, init_integration: MockConfigEntry, snapshot: SnapshotAssertion
) -> None:
    """A parcel moving normally needs nothing."""
    assert hass.states.get("binary_sensor.phone_case_needs_attention") == snapshot


async def test_stuck_in_customs(hass: HomeAssistant, carrier_server: CarrierServer) -> None:
    """Three weeks in customs: on, with the reason and the suggested action."""
    entry = make_entry(
        carrier_server, subentries=[shipment_subentry(CUSTOMS_NUMBER, title="Charger")]
    )
    await setup_entry(hass, entry)

    state = hass.states.get("binary_sensor.charger_needs_attention")
    assert state.state == "on"
    assert state.attributes["device_class"] == "problem"
    assert state.attributes["reason"] == "customs_hold"
    assert state.attributes["action"] == "check_local_carrier"
    # Ten days of silence after the last scan (15 March, 08:05 UTC).
    assert state.attributes["since"] == "2025-03-25T08:05:00+00:00"
    stage = hass.states.get("sensor.charger_stage")
    assert stage.state == "customs"
    assert stage.attributes["attention_reason"] == "customs_hold"


async def test_sensitivity(hass: HomeAssistant, carrier_server: CarrierServer) -> None:
    """Relaxed waits longer before it warns (here: fifteen days instead of ten)."""
    entry = make_entry(
        carrier_server,
        options={**OPTIONS, CONF_SENSITIVITY: "relaxed"},
        subentries=[shipment_subentry(CUSTOMS_NUMBER, title="Charger")],
    )
    await setup_entry(hass, entry)
    state = hass.states.get("binary_sensor.charger_needs_attention")
    assert state.attributes["since"] == "2025-03-30T08:05:00+00:00"
