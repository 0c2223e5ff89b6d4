"""The Parcel Handoff integration: one parcel, one answer, across every carrier's portal."""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType

from .card import async_register_card
from .const import DOMAIN
from .coordinator import ParcelHandoffConfigEntry, ParcelHandoffCoordinator
from .entity import async_update_shipment_devices
from .services import async_setup_services
from .store import ShipmentStore

PLATFORMS: list[Platform] = [Platform.BINARY_SENSOR, Platform.EVENT, Platform.SENSOR]

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions and the dashboard card, once, whatever the config entries."""
    async_setup_services(hass)
    await async_register_card(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: ParcelHandoffConfigEntry) -> bool:
    """Load the stored shipments, check what is due and set up the platforms."""
    coordinator = ParcelHandoffCoordinator(hass, entry)
    await coordinator.async_config_entry_first_refresh()
    entry.runtime_data = coordinator
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    # The one reload mechanism: credentials, options and shipment changes all land here.
    entry.async_on_unload(entry.add_update_listener(_async_entry_updated))
    entry.async_on_unload(
        coordinator.async_add_listener(lambda: async_update_shipment_devices(coordinator))
    )
    return True


async def _async_entry_updated(hass: HomeAssistant, entry: ParcelHandoffConfigEntry) -> None:
    """Reload for changed credentials or options; follow shipment changes in place.

    A changed shipment (renamed, another source, a local number typed in) is rebuilt
    alone: a reload would make every entity unavailable for a moment, write phantom
    logbook lines and re-trigger automations on every parcel that needs attention.
    """
    coordinator = entry.runtime_data
    if (
        dict(entry.data) != coordinator.setup_data
        or dict(entry.options) != coordinator.setup_options
    ):
        hass.config_entries.async_schedule_reload(entry.entry_id)
        return
    # The tracker rebuilds a changed shipment alone (keeping what it learnt about the same
    # numbers) and adds or drops the others: 200 additions must not mean 200 reloads.
    coordinator.async_sync_subentries()
    coordinator.async_update_listeners()
    await coordinator.async_request_refresh()


async def async_unload_entry(hass: HomeAssistant, entry: ParcelHandoffConfigEntry) -> bool:
    """Unload the platforms; the coordinator's shutdown writes the store."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: ParcelHandoffConfigEntry) -> None:
    """Delete the stored timelines of a removed entry."""
    await ShipmentStore(hass, entry.entry_id).async_remove()
