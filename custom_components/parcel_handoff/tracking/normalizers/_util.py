"""Defensive readers for decoded JSON: every bad shape becomes TrackingInvalidResponseError."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import lru_cache
import json
import logging
import re
from typing import Any, Final

from ..errors import TrackingInvalidResponseError
from ..model import TrackingEvent

_LOGGER = logging.getLogger(__name__)

MAX_ITEMS_PER_REPLY: Final = 200
"""The most numbers (modules, trackings, items) read from one reply.

The largest real batch asks about 50 numbers (AfterShip, which may list a number once
per courier); a reply listing more is read up to this many, the rest left out.
"""

MAX_EVENTS_PER_NUMBER: Final = 200
"""The most events kept for one number from one reply: the newest ones.

A real parcel has a few dozen; this bounds what a runaway reply can put in memory, in
the store and on a dashboard.
"""

# What was already logged as cut short (once per process, then at debug level).
_reported_cuts: set[str] = set()

_BLOCK_PAGE = re.compile(
    rb"^\s*(<!doctype|<html|<\?xml|<head|<body|<script)|captcha|punish|x5sec|_____tmd_____",
    re.IGNORECASE,
)


def looks_blocked(body: bytes) -> bool:
    """True when a body that is not JSON reads like a block or captcha page (by its head)."""
    return bool(_BLOCK_PAGE.search(body[:4096]))


def decode_json(body: bytes | str, *, what: str) -> Any:
    """Decode a response body, telling a block or captcha page apart from broken JSON."""
    raw = body.encode("utf-8", "replace") if isinstance(body, str) else body
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as err:
        blocked = looks_blocked(raw)
        kind = "a block or captcha page" if blocked else "not valid JSON"
        raise TrackingInvalidResponseError(f"{what} returned {kind}", blocked=blocked) from err


def as_dict(value: object, *, what: str) -> Mapping[str, Any]:
    """Return value as a JSON object or raise."""
    if type(value) is dict:  # what json.loads makes, checked before the slower ABC
        return value
    if not isinstance(value, Mapping):
        raise TrackingInvalidResponseError(
            f"{what}: expected an object, got {type(value).__name__}"
        )
    return value


def as_list(value: object, *, what: str) -> Sequence[Any]:
    """Return value as a JSON array (None counts as empty) or raise."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise TrackingInvalidResponseError(f"{what}: expected an array, got {type(value).__name__}")
    return value


def opt_str(value: object) -> str | None:
    """A stripped, non-empty string with its inner whitespace folded, or None."""
    if type(value) is str:  # the common case first: every text field of every event
        return " ".join(value.split()) or None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    return text or None


def epoch_ms(value: object, *, what: str) -> datetime:
    """An epoch-milliseconds value as an aware UTC datetime."""
    if type(value) is not int and (
        isinstance(value, bool) or not isinstance(value, int | float | str)
    ):
        raise TrackingInvalidResponseError(f"{what}: missing or invalid epoch time")
    try:
        millis = float(value)
        return datetime.fromtimestamp(millis / 1000, tz=UTC)
    except (ValueError, OverflowError, OSError) as err:
        raise TrackingInvalidResponseError(f"{what}: invalid epoch time {value!r}") from err


def parse_offset(value: object) -> timezone | None:
    """Parse an offset such as `-06:00`, `+0800`, `GMT+8`, `UTC-3:30` into a timezone."""
    text = opt_str(value)
    return None if text is None else _offset(text)


_OFFSET = re.compile(r"(?:GMT|UTC)?\s*([+-])(\d{1,2})(?::?(\d{2}))?", re.IGNORECASE)


@lru_cache(maxsize=256)
def _offset(text: str) -> timezone | None:
    """`parse_offset` of a folded text; replies repeat a handful of offsets."""
    match = _OFFSET.fullmatch(text)
    if match is None:
        return UTC if text.upper() in {"Z", "GMT", "UTC"} else None
    hours, minutes = int(match.group(2)), int(match.group(3) or 0)
    if hours > 14 or minutes > 59:
        return None
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if match.group(1) == "-" else delta)


def parse_iso(value: object, *, default_tz: timezone | None = None) -> datetime | None:
    """Parse an ISO 8601 time; naive times take `default_tz`, or give None without one."""
    text = opt_str(value)
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        if default_tz is None:
            return None
        parsed = parsed.replace(tzinfo=default_tz)
    return parsed


_PLAUSIBLE_FROM = datetime(1990, 1, 1, tzinfo=UTC)
_PLAUSIBLE_UNTIL = datetime(2100, 1, 1, tzinfo=UTC)


def plausible_time(value: datetime) -> bool:
    """True for an aware time between 1990 and 2100; anything else is a placeholder or garbage.

    Keeping such times out also keeps later offset conversions clear of datetime's limits.
    """
    return value.tzinfo is not None and _PLAUSIBLE_FROM <= value < _PLAUSIBLE_UNTIL


def number_key(value: object) -> str | None:
    """A tracking number as a lookup key: whitespace removed, upper case."""
    text = opt_str(value)
    return "".join(text.split()).upper() if text else None


def day_bound(value: object, *, tz: timezone, end: bool) -> datetime | None:
    """Parse one bound of a delivery estimate; a date alone covers its whole day in `tz`.

    A bare date becomes the day's first instant, or its last one when `end` is set (so
    does a midnight upper bound: estimates are dates dressed as times); a time without
    an offset takes `tz`; an unparsable or implausible value gives None.
    """
    text = opt_str(value)
    if text is None:
        return None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            return None
        bound: datetime | None = datetime.combine(day, time.min, tzinfo=tz)
    else:
        bound = parse_iso(text, default_tz=tz)
    if bound is None or not plausible_time(bound):
        return None
    if end and bound.time() == time.min:
        return bound.replace(hour=23, minute=59, second=59, microsecond=999999)
    return bound


def join_location(*parts: object) -> str | None:
    """Join the non-empty parts of a place ("Lyon, Rhone, FR"), each once, or None."""
    seen: list[str] = []
    for part in parts:
        text = opt_str(part)
        if text and text.casefold() not in (s.casefold() for s in seen):
            seen.append(text)
    return ", ".join(seen) or None


_EXPORT_HINT = re.compile(r"\bexport|出口", re.IGNORECASE)


def mentions_export(*texts: str | None) -> bool:
    """True when a message speaks of export (origin-side customs), not import."""
    return any(text and _EXPORT_HINT.search(text) for text in texts)


def capped_list(value: object, *, what: str) -> Sequence[Any]:
    """A reply's list of numbers (as `as_list`), read up to MAX_ITEMS_PER_REPLY entries."""
    items = as_list(value, what=what)
    if len(items) <= MAX_ITEMS_PER_REPLY:
        return items
    _report_cut(
        what,
        f"{what}: a reply listed {len(items)} entries; the first {MAX_ITEMS_PER_REPLY} are read",
    )
    return items[:MAX_ITEMS_PER_REPLY]


def newest_events(events: Sequence[TrackingEvent], *, what: str) -> tuple[TrackingEvent, ...]:
    """At most MAX_EVENTS_PER_NUMBER of `events` (sorted newest first): the newest."""
    if len(events) <= MAX_EVENTS_PER_NUMBER:
        return tuple(events)
    _report_cut(
        what,
        f"{what}: a reply held {len(events)} events for one number;"
        f" the newest {MAX_EVENTS_PER_NUMBER} are kept",
    )
    return tuple(events[:MAX_EVENTS_PER_NUMBER])


def _report_cut(what: str, message: str) -> None:
    """Log a reply cut short: a warning the first time per kind of list, then at debug level."""
    level = logging.DEBUG if what in _reported_cuts else logging.WARNING
    _reported_cuts.add(what)
    _LOGGER.log(level, message)
