"""A problem sensor per shipment: does it need a human, why and what to do."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import ParcelHandoffConfigEntry
from .entity import ParcelHandoffEntity, async_add_shipment_entities
from .tracking.model import Shipment

PARALLEL_UPDATES = 0


def _attention_attributes(shipment: Shipment) -> dict[str, Any]:
    attention = shipment.attention
    if attention is None:
        return {"reason": None, "action": None, "since": None}
    return {
        "reason": attention.reason.value,
        "action": attention.action.value,
        "since": attention.since.isoformat(),
    }


@dataclass(frozen=True, kw_only=True)
class ShipmentBinarySensorDescription(BinarySensorEntityDescription):
    """A yes/no fact about one shipment."""

    is_on_fn: Callable[[Shipment], bool]
    attributes_fn: Callable[[Shipment], dict[str, Any]]


BINARY_SENSORS: tuple[ShipmentBinarySensorDescription, ...] = (
    ShipmentBinarySensorDescription(
        key="attention",
        translation_key="attention",
        device_class=BinarySensorDeviceClass.PROBLEM,
        is_on_fn=lambda shipment: shipment.attention is not None,
        attributes_fn=_attention_attributes,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ParcelHandoffConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the problem sensor of every shipment."""
    coordinator = entry.runtime_data
    async_add_shipment_entities(
        entry,
        async_add_entities,
        lambda subentry_id: (
            ParcelHandoffBinarySensor(coordinator, subentry_id, description)
            for description in BINARY_SENSORS
        ),
    )


class ParcelHandoffBinarySensor(ParcelHandoffEntity, BinarySensorEntity):
    """Whether a shipment needs attention, with the reason and the suggested action."""

    entity_description: ShipmentBinarySensorDescription

    @property
    def is_on(self) -> bool | None:
        """On when the shipment needs a human."""
        shipment = self.shipment
        return self.entity_description.is_on_fn(shipment) if shipment is not None else None

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """The reason, the suggested action and since when."""
        shipment = self.shipment
        return self.entity_description.attributes_fn(shipment) if shipment is not None else None
