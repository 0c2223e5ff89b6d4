"""JSON-ready dictionaries for the canonical model, and back.

One shape for the command line, the Home Assistant store, actions and diagnostics.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .errors import TrackingError
from .model import EtaWindow, Handoff, Shipment, Source, Stage, TrackingEvent


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _time(value: object, what: str) -> datetime:
    if not isinstance(value, str):
        raise TrackingError(f"{what}: expected an ISO 8601 time")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as err:
        raise TrackingError(f"{what}: invalid time {value!r}") from err
    if parsed.tzinfo is None:
        raise TrackingError(f"{what}: time without offset {value!r}")
    return parsed


def _opt_time(value: object, what: str) -> datetime | None:
    return None if value is None else _time(value, what)


def _opt_text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def event_to_dict(event: TrackingEvent) -> dict[str, Any]:
    """An event as JSON-ready data; `time` keeps the carrier's offset."""
    return {
        "time": event.time.isoformat(),
        "description": event.description,
        "location": event.location,
        "carrier": event.carrier,
        "source": event.source.value,
        "stage": event.stage.value if event.stage else None,
        "code": event.code,
        "tracking_number": event.tracking_number,
    }


def event_from_dict(data: Mapping[str, Any]) -> TrackingEvent:
    """Rebuild an event stored with `event_to_dict`; raises TrackingError on bad data."""
    try:
        stage = Stage(data["stage"]) if data.get("stage") else None
        source = Source(data["source"])
    except (KeyError, ValueError, TypeError) as err:
        raise TrackingError(f"stored event is invalid: {err}") from err
    return TrackingEvent(
        time=_time(data.get("time"), "event"),
        description=str(data.get("description") or ""),
        location=_opt_text(data.get("location")),
        carrier=_opt_text(data.get("carrier")),
        source=source,
        stage=stage,
        code=_opt_text(data.get("code")),
        tracking_number=_opt_text(data.get("tracking_number")),
    )


def eta_to_dict(eta: EtaWindow | None) -> dict[str, str | None] | None:
    """The ETA window, or None."""
    if eta is None:
        return None
    return {"earliest": _iso(eta.earliest), "latest": _iso(eta.latest)}


def handoff_to_dict(handoff: Handoff | None) -> dict[str, Any] | None:
    """The handoff, or None."""
    if handoff is None:
        return None
    return {
        "carrier": handoff.carrier,
        "tracking_number": handoff.tracking_number,
        "time": _iso(handoff.time),
        "same_number": handoff.same_number,
    }


def handoff_from_dict(data: Mapping[str, Any] | None) -> Handoff | None:
    """Rebuild a handoff stored with `handoff_to_dict`."""
    if not data:
        return None
    carrier, number = data.get("carrier"), data.get("tracking_number")
    if not isinstance(carrier, str) or not isinstance(number, str):
        raise TrackingError("stored handoff is invalid")
    return Handoff(
        carrier=carrier,
        tracking_number=number,
        time=_opt_time(data.get("time"), "handoff"),
        same_number=bool(data.get("same_number")),
    )


def shipment_to_dict(shipment: Shipment) -> dict[str, Any]:
    """The whole answer for one parcel, as the command line prints it."""
    latest = shipment.latest_event
    attention = shipment.attention
    return {
        "tracking_number": shipment.tracking_number,
        "stage": shipment.stage.value,
        "carrier": shipment.carrier,
        "origin_carrier": shipment.origin_carrier,
        "local_carrier": shipment.local_carrier,
        "local_tracking_number": shipment.local_tracking_number,
        "tracking_numbers": list(shipment.tracking_numbers),
        "handoff": handoff_to_dict(shipment.handoff),
        "stage_since": _iso(shipment.stage_since),
        "first_scan": _iso(shipment.first_scan),
        "latest_event": event_to_dict(latest) if latest else None,
        "events": [event_to_dict(event) for event in shipment.events],
        "eta": eta_to_dict(shipment.eta),
        "attention": (
            {
                "reason": attention.reason.value,
                "action": attention.action.value,
                "since": attention.since.isoformat(),
            }
            if attention
            else None
        ),
    }
