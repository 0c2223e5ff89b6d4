"""The soak's household: 50 shipments drawn from the recorded journeys, spread over the run.

Each shipment is a copy of one of the journeys in `tests/fixtures/journeys/` (real reply
shapes), renumbered so that every parcel has its own numbers, and shifted in time so
that parcels start all along the run. The mix follows a household that buys from
AliExpress and at home: Cainiao then USPS under a new number (some with the USPS number
named days late), Cainiao only, USPS domestic, parcels followed through 17TRACK or
AfterShip, and a couple of numbers no portal ever knows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import copy
from dataclasses import dataclass
from datetime import datetime, timedelta
import json
from pathlib import Path
import random
from typing import Any, Final

from custom_components.parcel_handoff.tracking.detection import mod10_check_digit
from custom_components.parcel_handoff.tracking.model import Source
from scripts.demo.journeys import DEFAULT_ENDS_AGO, shift_journey
from tests.carrier_server import JOURNEYS_DIR, Journey, parse_journey

# The recorded journeys the copies are made from (file stems in JOURNEYS_DIR).
CAINIAO_TO_USPS: Final = "1_aliexpress_cainiao_to_usps"
STUCK_IN_CUSTOMS: Final = "2_stuck_in_customs"
USPS_OUT_FOR_DELIVERY: Final = "3_usps_out_for_delivery"
USPS_DELIVERED: Final = "4_usps_delivered"

# Kind of shipment -> (how many of 50, template, sources kept, carrier the owner chose).
MIX: Final[tuple[tuple[str, int, str, tuple[str, ...], Source | None], ...]] = (
    ("cainiao_then_usps", 12, CAINIAO_TO_USPS, ("cainiao", "usps"), None),
    ("cainiao_then_usps_named_late", 4, CAINIAO_TO_USPS, ("cainiao", "usps"), None),
    ("cainiao_only_delivered", 5, CAINIAO_TO_USPS, ("cainiao",), Source.CAINIAO),
    ("cainiao_only_stuck", 5, STUCK_IN_CUSTOMS, ("cainiao",), Source.CAINIAO),
    ("usps_domestic_delivered", 6, USPS_DELIVERED, ("usps",), None),
    ("usps_domestic_out_for_delivery", 4, USPS_OUT_FOR_DELIVERY, ("usps",), None),
    ("17track_cross_border", 4, STUCK_IN_CUSTOMS, ("17track",), Source.SEVENTEEN_TRACK),
    ("17track_domestic", 4, USPS_DELIVERED, ("17track",), Source.SEVENTEEN_TRACK),
    ("aftership_domestic", 4, USPS_OUT_FOR_DELIVERY, ("aftership",), Source.AFTERSHIP),
    ("unknown_cainiao", 1, "", (), None),
    ("unknown_usps", 1, "", (), None),
)
SHIPMENTS: Final = sum(count for _, count, *_ in MIX)

# The header keys by which Cainiao names the local carrier and its number.
_LOCAL_NAMING_KEYS: Final = ("destCpInfo", "copyRealMailNo", "realMailNo")
# A named-late parcel: Cainiao names the USPS number this long after USPS's first scan.
NAMED_LATE_BY: Final = timedelta(days=2)


@dataclass(frozen=True, slots=True, kw_only=True)
class SoakShipment:
    """One parcel of the household: its numbers, journey, and when its owner adds it."""

    index: int
    kind: str
    title: str
    tracking_number: str
    local_tracking_number: str | None
    carrier: Source | None
    added_at: datetime
    journey: Journey | None

    @property
    def numbers(self) -> tuple[str, ...]:
        """Every full number of the parcel (must never appear in a log line)."""
        local = (self.local_tracking_number,) if self.local_tracking_number else ()
        return (self.tracking_number, *local)


def _lp_number(rng: random.Random) -> str:
    return "LP00" + "".join(rng.choice("0123456789") for _ in range(12))


def _usps_number(rng: random.Random, prefix: str) -> str:
    body = prefix + "".join(rng.choice("0123456789") for _ in range(21 - len(prefix)))
    return body + str(mod10_check_digit(body))


def _renumbered(data: Mapping[str, Any], numbers: Mapping[str, str]) -> dict[str, Any]:
    """The journey with each old number replaced everywhere (events name the local one)."""
    text = json.dumps(data)
    for old, new in numbers.items():
        text = text.replace(old, new)
    renumbered: dict[str, Any] = json.loads(text)
    return renumbered


def _name_local_number_late(data: dict[str, Any]) -> dict[str, Any]:
    """Cainiao names the local carrier and number only NAMED_LATE_BY after the handoff."""
    origin = data["tracks"][0]
    naming: dict[str, Any] = {}
    for event in origin["events"]:
        header = event.get("header") or {}
        for key in _LOCAL_NAMING_KEYS:
            if key in header:
                naming[key] = header.pop(key)
        for key in _LOCAL_NAMING_KEYS:
            event.get("event", {}).pop(key, None)
    local_first = min(datetime.fromisoformat(event["at"]) for event in data["tracks"][1]["events"])
    # A Cainiao status line of its own, carrying the naming fields, days after the handoff.
    origin["events"].append(
        {
            "at": (local_first + NAMED_LATE_BY).isoformat(),
            "event": {
                "desc": "Local delivery company tracking number updated",
                "standerdDesc": "Local delivery company tracking number updated",
                "descTitle": "Carrier note:",
                "timeZone": "GMT-7",
                "actionCode": "GTMS_ACCEPT",
            },
            "header": naming,
        }
    )
    return data


def _journey_data(template: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        (Path(JOURNEYS_DIR) / f"{template}.json").read_text(encoding="utf-8")
    )
    return loaded


def _last_instant(data: Mapping[str, Any]) -> datetime:
    return max(
        datetime.fromisoformat(event["at"])
        for track in data["tracks"]
        for event in track.get("events") or ()
    )


def _first_instant(data: Mapping[str, Any]) -> datetime:
    return min(
        datetime.fromisoformat(event["at"])
        for track in data["tracks"]
        for event in track.get("events") or ()
    )


def build_household(
    start: datetime, days: float, seed: int, *, count: int = SHIPMENTS
) -> list[SoakShipment]:
    """The household's shipments for a run of `days` from `start` (seeded).

    With `count` below 50, the mix is thinned evenly (every kind keeps at least one).
    """
    rng = random.Random(seed)
    kinds = [
        (kind, template, sources, carrier)
        for kind, amount, template, sources, carrier in MIX
        for _ in range(amount)
    ]
    if count < len(kinds):
        step = len(kinds) / count
        kinds = [kinds[int(i * step)] for i in range(count)]
    run = timedelta(days=days)
    shipments: list[SoakShipment] = []
    for index, (kind, template, sources, carrier) in enumerate(kinds):
        title = f"Soak {index:02d} {kind}"
        if not template:
            number = _lp_number(rng) if kind == "unknown_cainiao" else _usps_number(rng, "9400")
            added = start + rng.random() * run * 0.8
            shipments.append(
                SoakShipment(
                    index=index,
                    kind=kind,
                    title=title,
                    tracking_number=number,
                    local_tracking_number=None,
                    carrier=None,
                    added_at=added,
                    journey=None,
                )
            )
            continue
        data = _journey_data(template)
        data["tracks"] = [track for track in data["tracks"] if track["source"] in sources]
        old = sorted({track["number"] for track in data["tracks"]})
        if template == CAINIAO_TO_USPS and "usps" not in sources:
            # Cainiao only: the parcel stays with the origin portal, no local number.
            for event in data["tracks"][0]["events"]:
                for key in _LOCAL_NAMING_KEYS:
                    (event.get("header") or {}).pop(key, None)
        numbers = {
            number: _lp_number(rng) if number.startswith("LP") else _usps_number(rng, number[:4])
            for number in old
        }
        data = _renumbered(data, numbers)
        if kind == "cainiao_then_usps_named_late":
            data = _name_local_number_late(data)
        # Journeys start all along the run (some already under way at its start).
        length = _last_instant(data) - _first_instant(data)
        first = start + timedelta(days=rng.uniform(-4.0, max(days - 9.0, 0.5)))
        data = shift_journey(data, first + length + DEFAULT_ENDS_AGO)
        data["name"] = f"soak-{index:02d}-{kind}"
        journey = parse_journey(copy.deepcopy(data), where=data["name"])
        origin = journey.tracks[0].number
        local = next((t.number for t in journey.tracks if t.number != origin), None)
        # The owner adds the parcel when the shop mails its number: around the first event.
        added = max(start, _first_instant(data) + timedelta(hours=rng.uniform(-12.0, 18.0)))
        shipments.append(
            SoakShipment(
                index=index,
                kind=kind,
                title=title,
                tracking_number=origin,
                local_tracking_number=local,
                carrier=carrier,
                added_at=added,
                journey=journey,
            )
        )
    return shipments


def journeys_of(shipments: Sequence[SoakShipment]) -> list[Journey]:
    """The journeys the carrier server serves for these shipments."""
    return [shipment.journey for shipment in shipments if shipment.journey is not None]
