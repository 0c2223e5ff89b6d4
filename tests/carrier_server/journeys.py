"""Journeys: the parcels the local carrier server knows, read from JSON files.

A journey file describes one parcel as each source sees it::

    {
      "name": "delivered",
      "description": "free text",
      "tracks": [
        {
          "source": "usps",                      # cainiao | usps | 17track | aftership
          "number": "9405...",
          "header": {...},                       # the source's own top-level fields
          "events": [
            {
              "at": "2025-03-04T09:12:00-06:00", # the instant the event happens
              "event": {...},                    # one event in the source's wire format
              "header": {...},                   # optional: merged into the header from then on
              "provider": 0                      # optional (17TRACK): reporting carrier's index
            }
          ]
        }
      ]
    }

Wire fields that only restate the instant (Cainiao `time`/`timeStr`, USPS
`GMTTimestamp`/`eventTimestamp`, 17TRACK `time_iso`/`time_utc`/`time_raw`, AfterShip
`checkpoint_time`) may be left out: the renderers fill them in from `at`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
import copy
from dataclasses import dataclass, field
from datetime import datetime
import json
from pathlib import Path
from typing import Any

SOURCES = ("cainiao", "usps", "17track", "aftership")


class JourneyError(ValueError):
    """A journey file that does not follow the format."""


@dataclass(frozen=True, slots=True)
class JourneyEvent:
    """One event of a track: its instant, its wire form and its header patch."""

    at: datetime
    event: Mapping[str, Any]
    header: Mapping[str, Any] = field(default_factory=dict)
    provider: int = 0  # aggregators (17TRACK): index of the carrier that reported it


@dataclass(frozen=True, slots=True)
class Track:
    """One number as one source shows it; events oldest first."""

    source: str
    number: str
    header: Mapping[str, Any]
    events: tuple[JourneyEvent, ...]
    journey: str = ""

    def header_after(self, visible: Iterable[JourneyEvent]) -> dict[str, Any]:
        """The header with the patches of the visible events merged in, in order."""
        merged = copy.deepcopy(dict(self.header))
        for event in visible:
            deep_merge(merged, event.header)
        return merged


@dataclass(frozen=True, slots=True)
class Journey:
    """One parcel across its sources."""

    name: str
    description: str
    tracks: tuple[Track, ...]


def deep_merge(target: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """Merge `patch` into `target` in place: objects merge, everything else replaces."""
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            deep_merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


def _instant(value: object, where: str) -> datetime:
    if not isinstance(value, str):
        raise JourneyError(f"{where}: 'at' must be an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as err:
        raise JourneyError(f"{where}: 'at' is not ISO 8601: {value!r}") from err
    if parsed.tzinfo is None:
        raise JourneyError(f"{where}: 'at' needs an offset: {value!r}")
    return parsed


def parse_journey(data: Mapping[str, Any], *, where: str = "journey") -> Journey:
    """Build a Journey from decoded JSON, checking the format."""
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise JourneyError(f"{where}: 'name' is required")
    tracks: list[Track] = []
    for index, raw in enumerate(data.get("tracks") or ()):
        here = f"{where} track {index}"
        source, number = raw.get("source"), raw.get("number")
        if source not in SOURCES:
            raise JourneyError(f"{here}: unknown source {source!r}")
        if not isinstance(number, str) or not number:
            raise JourneyError(f"{here}: 'number' is required")
        events = [
            JourneyEvent(
                at=_instant(item.get("at"), f"{here} event {i}"),
                event=item.get("event") or {},
                header=item.get("header") or {},
                provider=int(item.get("provider", 0)),
            )
            for i, item in enumerate(raw.get("events") or ())
        ]
        events.sort(key=lambda e: e.at)
        tracks.append(
            Track(
                source=source,
                number="".join(number.split()).upper(),
                header=raw.get("header") or {},
                events=tuple(events),
                journey=name,
            )
        )
    return Journey(name=name, description=str(data.get("description", "")), tracks=tuple(tracks))


def load_journey(path: Path) -> Journey:
    """Read one journey file."""
    return parse_journey(json.loads(path.read_text(encoding="utf-8")), where=path.name)


def load_journeys(directory: Path) -> list[Journey]:
    """Read every `*.json` journey in `directory`, sorted by file name."""
    return [load_journey(path) for path in sorted(directory.glob("*.json"))]
