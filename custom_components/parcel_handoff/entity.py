"""Base entities: one device per shipment, and one for the entry's summary."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from homeassistant.core import callback
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
        state = coordinator.data[subentry_id]
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, subentry_id)},
            entry_type=DeviceEntryType.SERVICE,
            name=state.config.title,
            manufacturer=MANUFACTURER,
            model=_device_model(state),
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
