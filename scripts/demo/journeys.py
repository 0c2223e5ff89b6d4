"""Recorded journeys moved to the present, so that a demo's parcels are fresh.

The journey files in `tests/fixtures/journeys/` keep the dates they were recorded with.
A demo shows them against the real clock, so each journey is shifted, as a whole, to
end a little before now (or, for a parcel meant to look stuck, days before now); dates
inside the sources' own fields (estimated delivery windows) move with it.

The carrier server reveals one event of a track per poll, whatever its date. After a
handoff the origin portal's trailing events (Cainiao's own, late "Delivered") would
then come out long before the local carrier's out-for-delivery, and the demo's parcel
would skip that stage: the demo's copy ends the origin track at the handoff event.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
import json
from pathlib import Path
import re
from typing import Any

# How long before now each journey's newest event lies; a stuck parcel's news is old.
DEFAULT_ENDS_AGO = timedelta(minutes=20)
ENDS_AGO: Mapping[str, timedelta] = {"stuck_in_customs": timedelta(days=14)}

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
# Epoch milliseconds between 2020 and 2030 (Cainiao's estimated delivery window).
_EPOCH_MS = range(1_577_836_800_000, 1_893_456_000_000)


def _shift(value: Any, delta: timedelta) -> Any:
    """`value` with every date, date-time and epoch-ms inside it moved by `delta`."""
    if isinstance(value, dict):
        return {key: _shift(item, delta) for key, item in value.items()}
    if isinstance(value, list):
        return [_shift(item, delta) for item in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in _EPOCH_MS:
        return value + int(delta.total_seconds() * 1000)
    if isinstance(value, str):
        days = timedelta(days=round(delta / timedelta(days=1)))
        if _ISO_DATE.match(value):
            return (date.fromisoformat(value) + days).isoformat()
        if _ISO_DATETIME.match(value):
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                return value
            # A midnight stands for a whole day (an estimated delivery date): keep it one.
            moved = parsed + (days if parsed.time() == time() else delta)
            text = moved.isoformat()
            return text.replace("+00:00", "Z") if value.endswith("Z") else text
    return value


def shift_journey(data: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """A journey (decoded JSON) shifted so its newest event lies `ENDS_AGO` before `now`."""
    instants = [
        datetime.fromisoformat(event["at"])
        for track in data.get("tracks") or ()
        for event in track.get("events") or ()
    ]
    if not instants:
        return dict(data)
    ends_ago = ENDS_AGO.get(str(data.get("name")), DEFAULT_ENDS_AGO)
    delta = (now - ends_ago) - max(instants)
    # Whole minutes keep the recorded times readable.
    delta = timedelta(minutes=round(delta / timedelta(minutes=1)))
    shifted: dict[str, Any] = _shift(dict(data), delta)
    shifted["description"] = str(data.get("description", ""))
    shifted["name"] = data.get("name")
    return shifted


def end_origin_at_handoff(data: Mapping[str, Any]) -> dict[str, Any]:
    """The journey with its first track cut after the event naming a later track's number."""
    tracks = list(data.get("tracks") or ())
    if len(tracks) < 2:
        return dict(data)
    origin = tracks[0]
    local_numbers = {
        str(track["number"]) for track in tracks[1:] if track["number"] != origin["number"]
    }
    events = list(origin.get("events") or ())
    handoffs = [
        index
        for index, event in enumerate(events)
        if any(number in json.dumps(event) for number in local_numbers)
    ]
    if not handoffs:
        return dict(data)
    cut = {**origin, "events": events[: handoffs[0] + 1]}
    return {**data, "tracks": [cut, *tracks[1:]]}


def write_shifted_journeys(source: Path, target: Path, now: datetime) -> list[dict[str, Any]]:
    """Copy every journey of `source` into `target`, shifted to `now`; return them."""
    target.mkdir(parents=True, exist_ok=True)
    journeys = []
    for path in sorted(source.glob("*.json")):
        journey = end_origin_at_handoff(
            shift_journey(json.loads(path.read_text(encoding="utf-8")), now)
        )
        (target / path.name).write_text(json.dumps(journey, indent=1), encoding="utf-8")
        journeys.append(journey)
    return journeys
