"""One small renderer per source: a journey track as of its visible events, on the wire.

Renderers only assemble: the header (with the visible events' patches), the events in
the order the source uses, and the time fields a source derives from the instant.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from .journeys import JourneyEvent, Track

BEIJING = timezone(timedelta(hours=8))


def _utc_z(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _offset_text(at: datetime) -> str:
    offset = at.utcoffset() or timedelta()
    sign = "-" if offset < timedelta() else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


# --- Cainiao -----------------------------------------------------------------------------


def cainiao_event(item: JourneyEvent) -> dict[str, Any]:
    """A `detailList` entry: `time` is epoch ms, `timeStr` Beijing wall-clock time."""
    event = copy.deepcopy(dict(item.event))
    event.setdefault("time", int(item.at.timestamp() * 1000))
    event.setdefault("timeStr", item.at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S"))
    return event


def cainiao_module(number: str, track: Track | None, visible: list[JourneyEvent]) -> dict[str, Any]:
    """One `module` entry of `detail.json`; an unknown number is `mailNoSource: EXTERNAL`."""
    if track is None:
        return {"mailNo": number, "mailNoSource": "EXTERNAL", "detailList": []}
    module = track.header_after(visible)
    module["mailNo"] = number
    details = [cainiao_event(item) for item in reversed(visible)]
    module["detailList"] = details
    if details:
        module["latestTrace"] = details[0]
    else:
        module.pop("latestTrace", None)
    return module


# --- USPS --------------------------------------------------------------------------------

USPS_NO_STATUS_YET = (
    "150001",
    "12: A status update is not yet available on your package. It will be available when "
    "the shipper provides an update or the package is given to USPS. Check back soon. Sign "
    "up for Informed Delivery<SUP>&reg;</SUP> to receive notifications for packages "
    "addressed to you. - ",
)

USPS_NOT_AVAILABLE = (
    "404",
    "Tracking is not available for this item. This may be because the tracking number is invalid.",
)


def usps_event(item: JourneyEvent) -> dict[str, Any]:
    """A `trackingEvents` entry: local `eventTimestamp` without offset, plus GMT fields."""
    event = copy.deepcopy(dict(item.event))
    event.setdefault("eventTimestamp", item.at.strftime("%Y-%m-%dT%H:%M:%S"))
    event.setdefault("GMTTimestamp", _utc_z(item.at))
    event.setdefault("GMTOffset", _offset_text(item.at))
    return event


def usps_detail(
    number: str, track: Track | None, visible: list[JourneyEvent]
) -> dict[str, Any] | None:
    """The tracking detail of a number, or None while USPS has no status for it."""
    if track is None or not visible:
        return None
    detail = track.header_after(visible)
    detail["trackingNumber"] = number
    detail["trackingEvents"] = [usps_event(item) for item in reversed(visible)]
    return detail


def usps_error(code: str, message: str, *, http_status: int, api: str) -> dict[str, Any]:
    """A USPS error body (`apiVersion` + `error` with the detailed `errors` list)."""
    return {
        "apiVersion": api,
        "error": {
            "code": str(http_status),
            "message": message,
            "errors": [{"title": message, "detail": "", "code": code}],
        },
    }


# --- 17TRACK -----------------------------------------------------------------------------


def seventeen_track_event(item: JourneyEvent) -> dict[str, Any]:
    """A provider event: `time_iso` in local time with offset, `time_utc`, `time_raw`."""
    event = copy.deepcopy(dict(item.event))
    event.setdefault("time_iso", item.at.isoformat())
    event.setdefault("time_utc", _utc_z(item.at))
    event.setdefault(
        "time_raw",
        {
            "date": item.at.strftime("%Y-%m-%d"),
            "time": item.at.strftime("%H:%M:%S"),
            "timezone": _offset_text(item.at),
        },
    )
    return event


def _empty_track_info() -> dict[str, Any]:
    return {
        "shipping_info": {"shipper_address": {}, "recipient_address": {}},
        "latest_status": {"status": "NotFound", "sub_status": "NotFound_Other"},
        "latest_event": None,
        "time_metrics": {},
        "milestone": [],
        "misc_info": {},
        "tracking": {"providers_hash": 0, "providers": []},
    }


def seventeen_track_item(
    number: str,
    track: Track | None,
    visible: list[JourneyEvent],
    *,
    carrier: int,
    now: datetime,
) -> dict[str, Any]:
    """An `accepted` item of `gettrackinfo`: events go to their provider, newest first."""
    header: dict[str, Any] = (
        track.header_after(visible) if track is not None else {"carrier": carrier}
    )
    info = header.get("track_info")
    if not isinstance(info, dict):
        info = header["track_info"] = _empty_track_info()
    providers = info.setdefault("tracking", {}).setdefault("providers", [])
    for provider in providers:
        provider["events"] = []
        provider["latest_sync_status"] = "Success"
        provider["latest_sync_time"] = _utc_z(now)
    events = []
    for item in reversed(visible):
        event = seventeen_track_event(item)
        events.append(event)
        if 0 <= item.provider < len(providers):
            providers[item.provider]["events"].append(event)
    info["latest_event"] = events[0] if events else None
    if not events and "latest_status" not in (track.header if track else {}).get("track_info", {}):
        info["latest_status"] = {"status": "NotFound", "sub_status": "NotFound_Other"}
    return {
        "number": number,
        "carrier": header.get("carrier", carrier),
        "param": None,
        "tag": header.get("tag"),
        "track_info": info,
    }


# --- AfterShip ---------------------------------------------------------------------------


def aftership_checkpoint(item: JourneyEvent, slug: str) -> dict[str, Any]:
    """A checkpoint: `checkpoint_time` in local time with offset."""
    checkpoint = copy.deepcopy(dict(item.event))
    checkpoint.setdefault("checkpoint_time", item.at.isoformat())
    checkpoint.setdefault("created_at", _utc_z(item.at))
    checkpoint.setdefault("slug", slug)
    return checkpoint


def aftership_tracking(
    number: str,
    track: Track | None,
    visible: list[JourneyEvent],
    *,
    tracking_id: str,
    slug: str,
    created_at: datetime,
    now: datetime,
) -> dict[str, Any]:
    """A tracking object; checkpoints oldest first, as AfterShip lists them."""
    header: dict[str, Any] = (
        track.header_after(visible)
        if track is not None
        else {"tag": "Pending", "subtag": "Pending_001", "subtag_message": "Pending"}
    )
    tracking: dict[str, Any] = {
        "id": tracking_id,
        "tracking_number": number,
        "slug": slug,
        "active": True,
        "created_at": _utc_z(created_at),
        "updated_at": _utc_z(now),
        **header,
    }
    tracking["slug"] = slug
    tracking["checkpoints"] = [aftership_checkpoint(item, slug) for item in visible]
    return tracking
