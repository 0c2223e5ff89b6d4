"""Sensors: each shipment's stage, and the entry's summary of active shipments."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .coordinator import ParcelHandoffConfigEntry, ShipmentState
from .entity import ParcelHandoffEntity, ParcelHandoffEntryEntity, async_add_shipment_entities
from .tracking.model import FINAL_STAGES, Shipment, Stage

PARALLEL_UPDATES = 0


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _days_since(start: datetime | None, end: datetime) -> int | None:
    return max((end - start).days, 0) if start is not None else None


def shipment_attributes(state: ShipmentState, shipment: Shipment, now: datetime) -> dict[str, Any]:
    """The stage sensor's attributes: everything but the event list (database bloat)."""
    config = state.config
    latest = shipment.latest_event
    eta = shipment.eta
    # A finished journey stops counting at its last stage.
    end = shipment.stage_since or now if shipment.stage in FINAL_STAGES else now
    return {
        "carrier": shipment.carrier,
        "latest_event": latest.description if latest else None,
        "latest_event_time": _iso(latest.time) if latest else None,
        "latest_event_location": latest.location if latest else None,
        "local_tracking_number": shipment.local_tracking_number,
        "local_carrier": shipment.local_carrier,
        "origin_carrier": shipment.origin_carrier,
        "tracking_number": shipment.tracking_number,
        "order_number": config.order_number,
        "days_in_stage": _days_since(shipment.stage_since, now),
        "days_in_transit": _days_since(shipment.first_scan, end),
        "eta_earliest": _iso(eta.earliest) if eta else None,
        "eta_latest": _iso(eta.latest) if eta else None,
        "attention_reason": shipment.attention.reason.value if shipment.attention else None,
        "next_check": _iso(dt_util.as_utc(state.next_check)) if state.next_check else None,
    }


def summary_attributes(states: Mapping[str, ShipmentState], now: datetime) -> dict[str, Any]:
    """Counts per stage, out for delivery today and needing attention, for dashboards."""
    shipments = [s.shipment for s in states.values() if s.shipment is not None]
    stages = Counter(shipment.stage for shipment in shipments)
    today = dt_util.as_local(now).date()
    return {
        **{stage.value: stages.get(stage, 0) for stage in Stage},
        "out_for_delivery_today": sum(
            1
            for shipment in shipments
            if shipment.stage is Stage.OUT_FOR_DELIVERY
            and (
                shipment.stage_since is None
                or dt_util.as_local(shipment.stage_since).date() == today
            )
        ),
        "needs_attention": sum(1 for shipment in shipments if shipment.attention is not None),
        "total": len(states),
    }


def _active(states: Mapping[str, ShipmentState]) -> int:
    return sum(
        1
        for state in states.values()
        if state.shipment is None or state.shipment.stage not in FINAL_STAGES
    )


@dataclass(frozen=True, kw_only=True)
class ShipmentSensorDescription(SensorEntityDescription):
    """A sensor about one shipment."""

    value_fn: Callable[[Shipment], str | None]
    attributes_fn: Callable[[ShipmentState, Shipment, datetime], dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class SummarySensorDescription(SensorEntityDescription):
    """A sensor about every shipment of the entry."""

    value_fn: Callable[[Mapping[str, ShipmentState]], int]
    attributes_fn: Callable[[Mapping[str, ShipmentState], datetime], dict[str, Any]]


SHIPMENT_SENSORS: tuple[ShipmentSensorDescription, ...] = (
    ShipmentSensorDescription(
        key="stage",
        translation_key="stage",
        device_class=SensorDeviceClass.ENUM,
        options=[stage.value for stage in Stage],
        value_fn=lambda shipment: shipment.stage.value,
        attributes_fn=shipment_attributes,
    ),
)

SUMMARY_SENSORS: tuple[SummarySensorDescription, ...] = (
    SummarySensorDescription(
        key="active_shipments",
        translation_key="active_shipments",
        value_fn=_active,
        attributes_fn=summary_attributes,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ParcelHandoffConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the summary sensor, and the stage sensor of every shipment."""
    coordinator = entry.runtime_data
    async_add_entities(
        ParcelHandoffSummarySensor(coordinator, description) for description in SUMMARY_SENSORS
    )
    async_add_shipment_entities(
        entry,
        async_add_entities,
        lambda subentry_id: (
            ParcelHandoffShipmentSensor(coordinator, subentry_id, description)
            for description in SHIPMENT_SENSORS
        ),
    )


class ParcelHandoffShipmentSensor(ParcelHandoffEntity, SensorEntity):
    """A shipment's stage (or another value of it)."""

    entity_description: ShipmentSensorDescription

    @property
    def native_value(self) -> str | None:
        """The value, from the merged shipment."""
        shipment = self.shipment
        return self.entity_description.value_fn(shipment) if shipment is not None else None

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """The attributes, without the event list."""
        if (state := self.shipment_state) is None or state.shipment is None:
            return None  # unavailable: Home Assistant shows no attributes anyway
        return self.entity_description.attributes_fn(state, state.shipment, dt_util.utcnow())


class ParcelHandoffSummarySensor(ParcelHandoffEntryEntity, SensorEntity):
    """How many shipments are under way, with counts per stage."""

    entity_description: SummarySensorDescription

    @property
    def native_value(self) -> int:
        """The count."""
        return self.entity_description.value_fn(self.coordinator.data)

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Counts for dashboards, and the 17TRACK registrations left when it is keyed."""
        attributes = self.entity_description.attributes_fn(self.coordinator.data, dt_util.utcnow())
        if (remaining := self.coordinator.seventeen_track_quota_remaining) is not None:
            attributes["seventeen_track_quota_remaining"] = remaining
        return attributes
