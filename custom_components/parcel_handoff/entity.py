"""Base entities: one device per shipment, and one for the entry's summary."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

from homeassistant.core import callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN, MANUFACTURER
from .coordinator import ParcelHandoffConfigEntry, ParcelHandoffCoordinator, ShipmentState
from .tracking.carriers import carrier_display_name
from .tracking.detection import detect_carriers
from .tracking.errors import TrackingError
from .tracking.model import Shipment

# Each carrier's public tracking page, by display name; {number} is the URL-quoted number.
# A carrier without one gets 17TRACK's page, which finds any carrier's number.
TRACKING_PAGES: dict[str, str] = {
    "Cainiao": "https://global.cainiao.com/newDetail.htm?mailNoList={number}",
    "USPS": "https://tools.usps.com/go/TrackConfirmAction?tLabels={number}",
    "UPS": "https://www.ups.com/track?tracknum={number}",
    "FedEx": "https://www.fedex.com/fedextrack/?trknbr={number}",
    "DHL": "https://www.dhl.com/global-en/home/tracking.html?tracking-id={number}",
    "DHL Express": "https://www.dhl.com/global-en/home/tracking.html?tracking-id={number}",
    "Royal Mail": "https://www.royalmail.com/track-your-item#/tracking-results/{number}",
    "Canada Post": "https://www.canadapost-postescanada.ca/track-reperage/en#/search?searchFor={number}",
    "Australia Post": "https://auspost.com.au/mypost/track/details/{number}",
    "Deutsche Post": "https://www.deutschepost.de/sendung/simpleQueryResult.html?form.sendungsnummer={number}",
    "DHL Parcel": "https://www.dhl.de/en/privatkunden/dhl-sendungsverfolgung.html?piececode={number}",
    "Israel Post": "https://mypost.israelpost.co.il/itemtrace?itemcode={number}",
    "La Poste": "https://www.laposte.fr/outils/suivre-vos-envois?code={number}",
    "Colissimo": "https://www.laposte.fr/outils/suivre-vos-envois?code={number}",
}
ANY_CARRIER_PAGE = "https://t.17track.net/en#nums={number}"


def tracking_page(carrier: str | None, number: str) -> str:
    """The page where a person follows `number` with `carrier` (17TRACK's when unknown)."""
    page = TRACKING_PAGES.get(carrier or "", ANY_CARRIER_PAGE)
    return page.format(number=quote(number, safe=""))


def _current_number(state: ShipmentState) -> str:
    """The number the carrier that has the parcel now knows it by."""
    shipment = state.shipment
    if (
        shipment is not None
        and shipment.local_tracking_number
        and (shipment.carrier is None or shipment.carrier == shipment.local_carrier)
    ):
        return shipment.local_tracking_number
    return state.config.tracking_number


def shipment_device_fields(state: ShipmentState) -> dict[str, Any]:
    """What a shipment's device shows: name, who has it now, under which number, a link."""
    shipment = state.shipment
    carrier = (shipment.carrier if shipment is not None else None) or _device_model(state)
    number = _current_number(state)
    return {
        "name": state.config.title,
        "model": carrier,
        "serial_number": number,
        "configuration_url": tracking_page(carrier, number),
    }


def _find_device(
    registry: dr.DeviceRegistry, identifier: tuple[str, str], entry_id: str
) -> dr.DeviceEntry | None:
    """A device by identifier, with the lookup each Home Assistant release prefers."""
    if hasattr(registry, "async_get_device_by_identifier"):  # 2026.8+
        found: dr.DeviceEntry | None = registry.async_get_device_by_identifier(identifier, entry_id)
        return found
    return registry.async_get_device(identifiers={identifier})  # ha-compat: ok (2025.4 path)


@callback
def async_update_shipment_devices(coordinator: ParcelHandoffCoordinator) -> None:
    """Keep each shipment's device telling who has the parcel now, and where to look.

    After the handoff the device names the local carrier and its number and links to
    that carrier's tracking page; a renamed shipment renames its device (a name the
    user gave the device stays).
    """
    registry = dr.async_get(coordinator.hass)
    entry_id = coordinator.config_entry.entry_id
    for subentry_id, state in coordinator.data.items():
        device = _find_device(registry, (DOMAIN, subentry_id), entry_id)
        if device is None:
            continue
        fields = shipment_device_fields(state)
        changes = {key: value for key, value in fields.items() if getattr(device, key) != value}
        if changes:
            registry.async_update_device(device.id, **changes)


def _device_model(state: ShipmentState) -> str | None:
    """The carrier the shipment started with, as detected before any source answered."""
    if state.shipment is not None and state.shipment.origin_carrier:
        return state.shipment.origin_carrier
    try:
        candidates = detect_carriers(state.config.tracking_number)
    except TrackingError:
        return None
    return carrier_display_name(candidates[0].carrier) if candidates else None


class ParcelHandoffEntity(CoordinatorEntity[ParcelHandoffCoordinator]):
    """An entity of one shipment, on the shipment's own device."""

    _attr_has_entity_name = True

    def __init__(
        self,
        coordinator: ParcelHandoffCoordinator,
        subentry_id: str,
        description: EntityDescription,
    ) -> None:
        """Describe the entity and the shipment's device."""
        super().__init__(coordinator)
        self.entity_description = description
        self.subentry_id = subentry_id
        self._attr_unique_id = f"{subentry_id}_{description.key}"
        fields = shipment_device_fields(coordinator.data[subentry_id])
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, subentry_id)},
            entry_type=DeviceEntryType.SERVICE,
            name=fields["name"],
            manufacturer=MANUFACTURER,
            model=fields["model"],
            serial_number=fields["serial_number"],
            configuration_url=fields["configuration_url"],
        )

    @property
    def shipment_state(self) -> ShipmentState | None:
        """Everything known about this entity's shipment (None once it is removed)."""
        return self.coordinator.data.get(self.subentry_id)

    @property
    def shipment(self) -> Shipment | None:
        """The merged view of the shipment, None until a source answered."""
        state = self.shipment_state
        return state.shipment if state is not None else None

    @property
    def available(self) -> bool:
        """Unavailable only while no source has ever answered: the last state stays."""
        return self.shipment is not None


class ParcelHandoffEntryEntity(CoordinatorEntity[ParcelHandoffCoordinator]):
    """An entity about every shipment of the entry, on the entry's own device."""

    _attr_has_entity_name = True

    def __init__(
        self,
        coordinator: ParcelHandoffCoordinator,
        description: EntityDescription,
    ) -> None:
        """Describe the entity and the entry's device."""
        super().__init__(coordinator)
        entry = coordinator.config_entry
        self.entity_description = description
        self._attr_unique_id = f"{entry.entry_id}_{description.key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, entry.entry_id)},
            entry_type=DeviceEntryType.SERVICE,
            name=entry.title,
            manufacturer=MANUFACTURER,
        )


@callback
def async_add_shipment_entities(
    entry: ParcelHandoffConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    entities_for: Callable[[str], Iterable[Entity]],
) -> None:
    """Add each shipment's entities to its subentry, now and whenever one is added."""
    coordinator = entry.runtime_data
    known: set[str] = set()

    @callback
    def add_new_shipments() -> None:
        for subentry_id in coordinator.data:
            if subentry_id in known or subentry_id not in entry.subentries:
                continue
            known.add(subentry_id)
            async_add_entities(entities_for(subentry_id), config_subentry_id=subentry_id)

    add_new_shipments()
    entry.async_on_unload(coordinator.async_add_shipments_listener(add_new_shipments))
