"""Changing one shipment leaves the others alone; devices tell who has the parcel now."""

from __future__ import annotations

from datetime import UTC, datetime

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.parcel_handoff.const import (
    CONF_CARRIER,
    CONF_LOCAL_CARRIER,
    CONF_LOCAL_TRACKING_NUMBER,
    CONF_TRACKING_NUMBER,
    DOMAIN,
)
from custom_components.parcel_handoff.entity import (
    _find_device,
    async_update_shipment_devices,
    tracking_page,
)
from tests.carrier_server import CarrierServer

from .conftest import (
    CAINIAO_NUMBER,
    CUSTOMS_NUMBER,
    SUBENTRY_ID,
    USPS_LOCAL_NUMBER,
    find_device,
    make_entry,
    setup_entry,
    shipment_subentry,
    travel,
)

OTHER_ID = "01JPARCELHANDOFFSHIPMENT02"


def _watch(hass: HomeAssistant) -> list[tuple[str, str | None, str | None]]:
    """Every state change of a Parcel Handoff entity from now on: (entity, old, new)."""
    seen: list[tuple[str, str | None, str | None]] = []

    @callback
    def on_change(event: Event[EventStateChangedData]) -> None:
        old, new = event.data["old_state"], event.data["new_state"]
        seen.append(
            (
                event.data["entity_id"],
                old.state if old is not None else None,
                new.state if new is not None else None,
            )
        )

    hass.bus.async_listen("state_changed", on_change)
    return seen


async def test_one_shipment_changed_without_touching_the_others(
    hass: HomeAssistant,
    carrier_server: CarrierServer,
    device_registry: dr.DeviceRegistry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Renaming a shipment and typing its local number: no reload, nothing unavailable."""
    entry = await setup_entry(
        hass,
        make_entry(
            carrier_server,
            subentries=[
                shipment_subentry(CAINIAO_NUMBER, title="Phone case", subentry_id=SUBENTRY_ID),
                shipment_subentry(CUSTOMS_NUMBER, title="Bike lights", subentry_id=OTHER_ID),
            ],
        ),
    )
    # Two weeks on: the bike lights are held in customs and need attention.
    await travel(hass, freezer, entry, datetime(2025, 4, 20, tzinfo=UTC))
    assert hass.states.get("binary_sensor.bike_lights_needs_attention").state == "on"
    coordinator = entry.runtime_data
    bike_before = {
        entity_id: hass.states.get(entity_id)
        for entity_id in (
            "sensor.bike_lights_stage",
            "binary_sensor.bike_lights_needs_attention",
            "event.bike_lights_journey",
        )
    }
    changes = _watch(hass)

    hass.config_entries.async_update_subentry(
        entry,
        entry.subentries[SUBENTRY_ID],
        title="Headphones",
        data={
            CONF_TRACKING_NUMBER: CAINIAO_NUMBER,
            CONF_CARRIER: "cainiao",
            CONF_LOCAL_TRACKING_NUMBER: USPS_LOCAL_NUMBER,
            CONF_LOCAL_CARRIER: "USPS",
        },
    )
    await hass.async_block_till_done(wait_background_tasks=True)

    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data is coordinator, "the entry was reloaded"
    assert not [c for c in changes if STATE_UNAVAILABLE in c[1:]], changes
    # The other shipment's entities were not even rewritten.
    assert not [c for c in changes if c[0].startswith(("sensor.bike", "binary_sensor.bike"))]
    for entity_id, before in bike_before.items():
        assert hass.states.get(entity_id) == before, entity_id
    # The changed one follows its new settings: new name, the local number it was given.
    (state,) = [s for s in coordinator.data.values() if s.config.shipment_id == SUBENTRY_ID]
    assert state.config.title == "Headphones"
    assert state.config.local_tracking_number == USPS_LOCAL_NUMBER
    assert [leg.number for leg in state.legs] == [CAINIAO_NUMBER, USPS_LOCAL_NUMBER]
    device = find_device(device_registry, (DOMAIN, SUBENTRY_ID))
    assert device is not None
    assert device.name == "Headphones"
    stage = hass.states.get("sensor.phone_case_stage")  # the entity id stays
    assert stage is not None
    assert stage.name == "Headphones Stage"
    assert stage.attributes["local_tracking_number"] == USPS_LOCAL_NUMBER


async def test_a_name_given_to_the_device_stays(
    hass: HomeAssistant, init_integration: MockConfigEntry, device_registry: dr.DeviceRegistry
) -> None:
    """Renaming the shipment renames its device, but never over the user's own name."""
    entry = init_integration
    device = find_device(device_registry, (DOMAIN, SUBENTRY_ID))
    assert device is not None
    device_registry.async_update_device(device.id, name_by_user="My phone case")
    hass.config_entries.async_update_subentry(
        entry, entry.subentries[SUBENTRY_ID], title="Case for the phone"
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    device = find_device(device_registry, (DOMAIN, SUBENTRY_ID))
    assert device is not None
    assert (device.name, device.name_by_user) == ("Case for the phone", "My phone case")
    assert hass.states.get("sensor.phone_case_stage").name == "My phone case Stage"


async def test_device_follows_the_handoff(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Cainiao and its number first; USPS, its number and its tracking page after."""
    device = find_device(device_registry, (DOMAIN, SUBENTRY_ID))
    assert device is not None
    assert (device.model, device.serial_number) == ("Cainiao", CAINIAO_NUMBER)
    assert device.configuration_url == (
        f"https://global.cainiao.com/newDetail.htm?mailNoList={CAINIAO_NUMBER}"
    )

    await travel(hass, freezer, init_integration, datetime(2025, 4, 12, tzinfo=UTC))
    assert hass.states.get("sensor.phone_case_stage").state == "delivered"
    device = find_device(device_registry, (DOMAIN, SUBENTRY_ID))
    assert device is not None
    assert (device.model, device.serial_number) == ("USPS", USPS_LOCAL_NUMBER)
    assert device.configuration_url == (
        f"https://tools.usps.com/go/TrackConfirmAction?tLabels={USPS_LOCAL_NUMBER}"
    )


def test_tracking_page_for_any_carrier() -> None:
    """A carrier without a page of its own links to 17TRACK; numbers are URL-quoted."""
    assert tracking_page("Poczta Polska", "RR123456785PL") == (
        "https://t.17track.net/en#nums=RR123456785PL"
    )
    assert tracking_page(None, "A B") == "https://t.17track.net/en#nums=A%20B"


def test_find_device_uses_the_newer_lookup_when_there() -> None:
    """2026.8+ looks a device up by identifier and entry; 2025.4 by identifiers."""

    class NewRegistry:
        def __init__(self) -> None:
            self.asked: list[tuple[tuple[str, str], str]] = []

        def async_get_device_by_identifier(
            self, identifier: tuple[str, str], entry_id: str
        ) -> None:
            self.asked.append((identifier, entry_id))

    registry = NewRegistry()
    assert _find_device(registry, (DOMAIN, SUBENTRY_ID), "entry") is None  # type: ignore[arg-type]
    assert registry.asked == [((DOMAIN, SUBENTRY_ID), "entry")]


async def test_devices_not_created_yet_are_skipped(
    hass: HomeAssistant, init_integration: MockConfigEntry, device_registry: dr.DeviceRegistry
) -> None:
    """A shipment whose device is gone (or not there yet) is left alone."""
    device = find_device(device_registry, (DOMAIN, SUBENTRY_ID))
    assert device is not None
    device_registry.async_remove_device(device.id)
    async_update_shipment_devices(init_integration.runtime_data)
    assert find_device(device_registry, (DOMAIN, SUBENTRY_ID)) is None
