"""Render what a journey's portals return at an instant, in their real wire formats.

The CPU benchmark parses these with the real normalizers, as a refresh does: Cainiao's
`global/detail.json` reply (up to 10 modules) and USPS Tracking 3.2's array (up to 35
items). The shapes follow the public replies in ../shared/carrier-samples; the numbers,
places and times are the corpus's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
import re
from typing import Any, Final

from custom_components.parcel_handoff.tracking.model import Source, Stage

from .corpus import BEIJING, CorpusEvent, Journey

_NO_STATUS_YET: Final = (
    "A status update is not yet available on your package. It will be available when the "
    "shipper provides an update or the package is given to USPS. Check back soon."
)
_US_PLACE: Final = re.compile(r"^(?P<city>.+), (?P<state>[A-Z]{2}) (?P<zip>\d{5})$")
_CAINIAO_STATUS: Final = {
    Stage.CUSTOMS: ("CLEAR_CUSTOMS", "In customs"),
    Stage.DELIVERED: ("DELIVERED", "Delivered"),
}


def visible_events(
    journey: Journey, source: Source, number: str, now: datetime
) -> list[CorpusEvent]:
    """The events `source` shows about `number` at `now`, newest first."""
    events = [
        event
        for event in journey.events
        if event.source is source and event.number == number and event.visible_at <= now
    ]
    return sorted(events, key=lambda event: event.time, reverse=True)


def _offset_text(when: datetime) -> str:
    offset = when.utcoffset() or timedelta()
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"GMT{sign}{hours}" if not rest else f"GMT{sign}{hours}:{rest:02d}"


def cainiao_module(journey: Journey, now: datetime, *, index: int | None = None) -> dict[str, Any]:
    """One `module` entry of detail.json for the journey's Cainiao number as of `now`.

    With `index`, every number of the journey is made distinct (`renumber`), so that one
    journey can stand for many parcels.
    """
    mail_no = _distinct(journey.origin_number, index)
    events = visible_events(journey, Source.CAINIAO, journey.origin_number, now)
    if not journey.events:
        return {"mailNo": mail_no, "mailNoSource": "EXTERNAL", "detailList": []}
    details = []
    for event in events:
        text = f"[{event.location}] {event.description}" if event.location else event.description
        details.append(
            {
                "time": int(event.time.timestamp() * 1000),
                "timeStr": event.time.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
                "desc": text,
                "standerdDesc": text,
                "descTitle": "Carrier note:",
                "timeZone": _offset_text(event.time),
                "actionCode": event.code,
            }
        )
    status, status_text = ("SELLER_PREPARING", "Seller is preparing the order")
    if events:
        newest = events[0].stage
        status, status_text = _CAINIAO_STATUS.get(
            newest or Stage.IN_TRANSIT, ("DELIVERING", "In transit")
        )
    module: dict[str, Any] = {
        "mailNo": mail_no,
        "originCountry": "Mainland China",
        "destCountry": "United States" if journey.local_carrier == "USPS" else "Destination",
        "status": status,
        "statusDesc": status_text,
        "mailNoSource": "AE",
        "detailList": details,
    }
    known_at = journey.local_known_at
    if journey.local_carrier is not None and known_at is not None and now >= known_at:
        module["destCpInfo"] = {
            "cpName": journey.local_carrier,
            "cpCode": journey.local_carrier.upper(),
        }
        if journey.local_number is not None:
            local = _distinct(journey.local_number, index)
            module["copyRealMailNo"] = local
            module["realMailNo"] = f"Latest Tracking Number:\t{local}"
    if journey.eta_earliest is not None and journey.eta_latest is not None:
        module["globalEtaInfo"] = {
            "etaDesc": "Estimated delivery by",
            "deliveryMinTime": int(journey.eta_earliest.timestamp() * 1000),
            "deliveryMaxTime": int(journey.eta_latest.timestamp() * 1000),
        }
    return module


def cainiao_reply(modules: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A whole detail.json reply."""
    return {"module": list(modules), "success": True}


def usps_item(
    journey: Journey, now: datetime, *, number: str, index: int | None = None
) -> dict[str, Any]:
    """One Tracking 3.2 result for a USPS number of the journey as of `now`."""
    shown = _distinct(number, index)
    events = visible_events(journey, Source.USPS, number, now)
    if not events:
        return {
            "trackingNumber": shown,
            "statusCode": "400",
            "error": {
                "code": "400",
                "message": _NO_STATUS_YET,
                "errors": [{"code": "150001", "title": _NO_STATUS_YET, "detail": ""}],
            },
        }
    item: dict[str, Any] = {
        "trackingNumber": shown,
        "mailClass": "Ground Advantage",
        "status": events[0].description,
        "statusCategory": _category(events[0].stage),
        "trackingEvents": [_usps_event(event) for event in events],
    }
    if journey.origin_source is Source.USPS and journey.eta_earliest is not None:
        day = journey.eta_earliest.astimezone(journey.zone).date()
        item["expectedDeliveryDate"] = day.isoformat()
    return item


def _category(stage: Stage | None) -> str:
    return {
        Stage.INFO_RECEIVED: "Pre-Shipment",
        Stage.OUT_FOR_DELIVERY: "Out for Delivery",
        Stage.DELIVERED: "Delivered",
        Stage.AVAILABLE_FOR_PICKUP: "Available for Pickup",
        Stage.DELIVERY_FAILED: "Delivery Attempt",
        Stage.RETURNING: "Return to Sender",
    }.get(stage or Stage.IN_TRANSIT, "Moving Through Network")


def _usps_event(event: CorpusEvent) -> dict[str, Any]:
    offset = event.time.utcoffset() or timedelta()
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    place = _US_PLACE.match(event.location or "")
    return {
        "eventType": event.description,
        "eventTimestamp": event.time.replace(tzinfo=None).isoformat(timespec="seconds"),
        "GMTTimestamp": event.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "GMTOffset": f"{sign}{hours:02d}:{rest:02d}",
        "eventCountry": None,
        "eventCity": place.group("city") if place else event.location,
        "eventState": place.group("state") if place else None,
        "eventZIP": place.group("zip") if place else None,
        "firm": None,
        "name": None,
        "authorizedAgent": "false",
        "eventCode": event.code,
    }


def _distinct(number: str, index: int | None) -> str:
    return number if index is None else renumber(number, index)


def renumber(number: str, index: int) -> str:
    """A distinct number of the same shape: its last four digits replaced by `index`."""
    match = re.search(r"(\d{4})(\D*)$", number)
    if match is None:
        raise ValueError(f"cannot renumber {number!r}")
    return f"{number[: match.start(1)]}{index % 10000:04d}{match.group(2)}"
