"""Logbook lines of the journey events, in words: what happened and with whom."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from homeassistant.core import Event, HomeAssistant, callback

from .const import DOMAIN, EVENT_HANDOFF
from .event import EVENT_JOURNEY
from .tracking.model import Stage

# What a shipment does on reaching each stage ("Running shoes is out for delivery").
STAGE_PHRASES: dict[str, str] = {
    Stage.NOT_FOUND: "is not found by any source",
    Stage.INFO_RECEIVED: "has shipping information",
    Stage.ORIGIN_PROCESSING: "is being processed in the origin country",
    Stage.IN_TRANSIT: "is in transit",
    Stage.CUSTOMS: "is in customs",
    Stage.LAST_MILE: "is with the local carrier",
    Stage.OUT_FOR_DELIVERY: "is out for delivery",
    Stage.AVAILABLE_FOR_PICKUP: "is ready for pickup",
    Stage.DELIVERED: "was delivered",
    Stage.DELIVERY_FAILED: "could not be delivered",
    Stage.EXCEPTION: "has a problem",
    Stage.RETURNING: "is returning to the sender",
    Stage.RETURNED: "was returned to the sender",
}


def journey_message(data: Mapping[str, Any]) -> str:
    """The logbook message of one journey event, e.g. "was handed to USPS under 9400…"."""
    carrier = data.get("carrier")
    if data.get("event_type") == EVENT_HANDOFF:
        message = f"was handed to {carrier or 'the local carrier'}"
        if local := data.get("local_tracking_number"):
            message += f" under {local}"
        return message
    stage = str(data.get("event_type") or "")
    message = STAGE_PHRASES.get(stage, f"is now {stage.replace('_', ' ')}")
    if carrier and stage not in (Stage.NOT_FOUND, Stage.RETURNED):
        message += f" ({carrier})"
    if description := data.get("description"):
        message += f": {description}"
    return message


@callback
def async_describe_events(
    hass: HomeAssistant,
    async_describe_event: Callable[[str, str, Callable[[Event], dict[str, str]]], None],
) -> None:
    """Describe the journey events in the logbook."""

    @callback
    def describe(event: Event) -> dict[str, str]:
        data = event.data
        described = {
            "name": str(data.get("name") or data.get("tracking_number") or "Parcel"),
            "message": journey_message(data),
        }
        if entity_id := data.get("entity_id"):
            described["entity_id"] = str(entity_id)
        return described

    async_describe_event(DOMAIN, EVENT_JOURNEY, describe)
