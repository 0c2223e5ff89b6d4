"""The journey corpus: whole parcel journeys with the instant of every event.

A seeded generator writes the corpus once (`python -m benchmarks.corpus --write`) as one
JSON file per journey in `benchmarks/corpus/`; the benchmark only reads those files, so a
run is reproducible and the data can be read and reviewed. `--check` tells whether the
committed files are still what the generator makes.

A journey is one parcel of one household: its scenario, the destination time zone, its
numbers (the origin number, and the local carrier's number when the parcel changes
number), the instant its owner added it, the end of observation, and its events. Each
event carries the instant it happened, its stage as the portal's code means it, the
carrier that scanned it, the portal that shows it and `visible_at`, the instant that
portal starts to show it (later than the event for a lagging portal or a relay). A relay
(Cainiao showing a local carrier's scan) is an event of its own with `relay_of`, the id
of the event it repeats.

The statistics follow published ranges, not measured data (see benchmarks/README.md):
origin processing 1-4 days, line-haul 3-20 days, import customs 1-10 days, last mile 1-5
days, a delivery round of a few hours. Local carriers scan between 06:00 and 21:00 local
time, rounds start mostly between 06:30 and 10:30 and deliveries happen 09:00-19:30.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from enum import StrEnum
import json
from pathlib import Path
import random
import re
import sys
from typing import Any, Final
from zoneinfo import ZoneInfo

from custom_components.parcel_handoff.tracking.model import Source, Stage
from custom_components.parcel_handoff.tracking.normalizers.cainiao import action_stage
from custom_components.parcel_handoff.tracking.normalizers.usps import EVENT_STAGES

SEED: Final = 20260302
CORPUS_DIR: Final = Path(__file__).parent / "corpus"
# One household: parcels ordered over five months, from this day on.
HOUSEHOLD_START: Final = datetime(2025, 9, 1, tzinfo=UTC)
HOUSEHOLD_DAYS: Final = 150
# How long a number nobody ever knows is watched before the owner gives up.
NEVER_APPEARS_DAYS: Final = 30
# Observation goes on this long after a journey's last event.
TAIL: Final = timedelta(days=3)

BEIJING: Final = timezone(timedelta(hours=8))


class Scenario(StrEnum):
    """What a journey exercises."""

    CAINIAO_USPS = "cainiao_usps_new_number"
    SAME_NUMBER = "cainiao_same_number"
    DOMESTIC_USPS = "domestic_usps"
    LONG_LINE_HAUL = "long_line_haul"
    CUSTOMS_HOLD = "customs_hold"
    FAILED_DELIVERY = "failed_delivery"
    LOCKER_PICKUP = "locker_pickup"
    LAGGING_PORTAL = "lagging_portal"
    RETURN_TO_SENDER = "return_to_sender"
    NEVER_APPEARS = "never_appears"


@dataclass(frozen=True, slots=True, kw_only=True)
class CorpusEvent:
    """One event as one portal shows it."""

    id: str
    time: datetime
    visible_at: datetime
    stage: Stage | None
    code: str
    description: str
    location: str | None
    carrier: str
    source: Source
    number: str
    relay_of: str | None = None

    @property
    def key(self) -> str:
        """The id of the real-world event: a relay shares its original's key."""
        return self.relay_of or self.id


@dataclass(frozen=True, slots=True, kw_only=True)
class Journey:
    """One parcel's whole journey; `events` oldest first."""

    id: str
    scenario: Scenario
    description: str
    timezone: str
    added_at: datetime
    end_at: datetime
    origin_number: str
    origin_source: Source
    local_number: str | None = None
    local_carrier: str | None = None
    local_source: Source | None = None
    local_known_at: datetime | None = None
    eta_earliest: datetime | None = None
    eta_latest: datetime | None = None
    events: tuple[CorpusEvent, ...] = ()
    zone: tzinfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "zone", parse_zone(self.timezone))

    @property
    def originals(self) -> tuple[CorpusEvent, ...]:
        """The real-world events, without their relays, oldest first."""
        return tuple(event for event in self.events if event.relay_of is None)

    def first_visible(self, sources: Iterable[Source] | None = None) -> dict[str, datetime]:
        """Per event key, the first instant any portal (of `sources`, default all) shows it."""
        allowed = None if sources is None else frozenset(sources)
        first: dict[str, datetime] = {}
        for event in self.events:
            if allowed is not None and event.source not in allowed:
                continue
            seen = first.get(event.key)
            if seen is None or event.visible_at < seen:
                first[event.key] = event.visible_at
        return first


_OFFSET: Final = re.compile(r"([+-])(\d{2}):(\d{2})")


def parse_zone(name: str) -> tzinfo:
    """An IANA zone name, or a fixed offset written `+HH:MM`."""
    if match := _OFFSET.fullmatch(name):
        delta = timedelta(hours=int(match.group(2)), minutes=int(match.group(3)))
        return timezone(-delta if match.group(1) == "-" else delta)
    return ZoneInfo(name)


# --- reading and writing ---------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _time(value: object) -> datetime:
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 time, got {value!r}")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"time without offset: {value!r}")
    return parsed


def _opt_time(value: object) -> datetime | None:
    return None if value is None else _time(value)


def event_to_dict(event: CorpusEvent) -> dict[str, Any]:
    """One event as JSON-ready data."""
    data: dict[str, Any] = {
        "id": event.id,
        "time": event.time.isoformat(),
        "visible_at": event.visible_at.isoformat(),
        "stage": event.stage.value if event.stage else None,
        "code": event.code,
        "description": event.description,
        "location": event.location,
        "carrier": event.carrier,
        "source": event.source.value,
        "number": event.number,
    }
    if event.relay_of is not None:
        data["relay_of"] = event.relay_of
    return data


def event_from_dict(data: Mapping[str, Any]) -> CorpusEvent:
    """Rebuild an event written by `event_to_dict`."""
    stage = data.get("stage")
    return CorpusEvent(
        id=str(data["id"]),
        time=_time(data["time"]),
        visible_at=_time(data["visible_at"]),
        stage=Stage(stage) if stage else None,
        code=str(data["code"]),
        description=str(data["description"]),
        location=data.get("location"),
        carrier=str(data["carrier"]),
        source=Source(data["source"]),
        number=str(data["number"]),
        relay_of=data.get("relay_of"),
    )


def journey_to_dict(journey: Journey) -> dict[str, Any]:
    """One journey as JSON-ready data."""
    return {
        "id": journey.id,
        "scenario": journey.scenario.value,
        "description": journey.description,
        "timezone": journey.timezone,
        "added_at": journey.added_at.isoformat(),
        "end_at": journey.end_at.isoformat(),
        "numbers": {
            "origin": journey.origin_number,
            "origin_source": journey.origin_source.value,
            "local": journey.local_number,
            "local_carrier": journey.local_carrier,
            "local_source": journey.local_source.value if journey.local_source else None,
            "local_known_at": _iso(journey.local_known_at),
        },
        "eta": {"earliest": _iso(journey.eta_earliest), "latest": _iso(journey.eta_latest)},
        "events": [event_to_dict(event) for event in journey.events],
    }


def journey_from_dict(data: Mapping[str, Any]) -> Journey:
    """Rebuild a journey written by `journey_to_dict`, checking its invariants."""
    numbers = data["numbers"]
    eta = data.get("eta") or {}
    local_source = numbers.get("local_source")
    journey = Journey(
        id=str(data["id"]),
        scenario=Scenario(data["scenario"]),
        description=str(data.get("description", "")),
        timezone=str(data["timezone"]),
        added_at=_time(data["added_at"]),
        end_at=_time(data["end_at"]),
        origin_number=str(numbers["origin"]),
        origin_source=Source(numbers["origin_source"]),
        local_number=numbers.get("local"),
        local_carrier=numbers.get("local_carrier"),
        local_source=Source(local_source) if local_source else None,
        local_known_at=_opt_time(numbers.get("local_known_at")),
        eta_earliest=_opt_time(eta.get("earliest")),
        eta_latest=_opt_time(eta.get("latest")),
        events=tuple(event_from_dict(event) for event in data.get("events", ())),
    )
    times = [event.time for event in journey.events]
    if times != sorted(times):
        raise ValueError(f"{journey.id}: events are not oldest first")
    ids = [event.id for event in journey.events]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{journey.id}: duplicate event ids")
    for event in journey.events:
        if event.visible_at < event.time:
            raise ValueError(f"{journey.id}/{event.id}: visible before it happened")
        if event.relay_of is not None and event.relay_of not in ids:
            raise ValueError(f"{journey.id}/{event.id}: relays an unknown event")
    return journey


def load_corpus(directory: Path = CORPUS_DIR) -> list[Journey]:
    """Read every journey file of `directory`, sorted by id."""
    journeys = [
        journey_from_dict(json.loads(path.read_text(encoding="utf-8")))
        for path in sorted(directory.glob("*.json"))
    ]
    if not journeys:
        raise FileNotFoundError(f"no journey files in {directory}")
    return journeys


def write_corpus(journeys: Iterable[Journey], directory: Path = CORPUS_DIR) -> list[Path]:
    """Write one file per journey, replacing the directory's old journey files."""
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.json"):
        old.unlink()
    paths = []
    for journey in journeys:
        path = directory / f"{journey.id}.json"
        path.write_text(_dumps(journey), encoding="utf-8")
        paths.append(path)
    return paths


def _dumps(journey: Journey) -> str:
    """Pretty JSON with one event per line: readable, and small diffs."""
    data = journey_to_dict(journey)
    events = data.pop("events")
    head = json.dumps(data, indent=1, ensure_ascii=False)
    lines = [json.dumps(event, ensure_ascii=False) for event in events]
    body = ",\n  ".join(lines)
    events_text = f'"events": [\n  {body}\n ]' if lines else '"events": []'
    return f"{head[:-2]},\n {events_text}\n}}\n"


# --- what the corpus says about itself -------------------------------------------------

_LOCAL_START: Final = frozenset({"AD", "03", "OA", "GTMS_ACCEPT"})
_DOORSTEP: Final = frozenset({Stage.OUT_FOR_DELIVERY, Stage.AVAILABLE_FOR_PICKUP, Stage.DELIVERED})


def phase_days(journey: Journey) -> dict[str, float]:
    """The length in days of each phase the journey has: origin, line_haul, customs, last_mile.

    Origin runs from the first physical scan to the line-haul departure, line-haul to the
    arrival in the destination country, customs to the local carrier's first scan, and the
    last mile from there to the first doorstep event (out for delivery, pickup, delivered).
    """
    first: dict[str, datetime] = {}
    for event in journey.originals:
        if event.code in {"LH_DEPART", "LH_ARRIVE"} and event.code not in first:
            first[event.code] = event.time
        if event.code == "PU_PICKUP_SUCCESS" and "pickup" not in first:
            first["pickup"] = event.time
        if event.code in _LOCAL_START and "local" not in first:
            first["local"] = event.time
        if event.stage in _DOORSTEP and "doorstep" not in first:
            first["doorstep"] = event.time
    spans = {
        "origin": ("pickup", "LH_DEPART"),
        "line_haul": ("LH_DEPART", "LH_ARRIVE"),
        "customs": ("LH_ARRIVE", "local"),
        "last_mile": ("local", "doorstep"),
    }
    return {
        name: (first[end] - first[start]) / timedelta(days=1)
        for name, (start, end) in spans.items()
        if start in first and end in first
    }


def delivery_rounds(journey: Journey) -> list[tuple[CorpusEvent, CorpusEvent | None]]:
    """Each out-for-delivery event with the event that ended its round (None: never ended)."""
    originals = journey.originals
    return [
        (event, originals[index + 1] if index + 1 < len(originals) else None)
        for index, event in enumerate(originals)
        if event.stage is Stage.OUT_FOR_DELIVERY
    ]


# --- generation ------------------------------------------------------------------------

CAINIAO_TEXT: Final[Mapping[str, str]] = {
    "GWMS_ACCEPT": "Shipment information received by warehouse electronically",
    "PU_PICKUP_SUCCESS": "Package picked up by the carrier",
    "SC_INBOUND_SUCCESS": "Received by sorting center",
    "SC_OUTBOUND_SUCCESS": "Departed from sorting center",
    "LH_HO_IN_SUCCESS": "Received by line-haul carrier",
    "CC_EX_START": "Export customs clearance started",
    "CC_EX_SUCCESS": "Export customs clearance complete",
    "LH_HO_AIRLINE": "Handed over to airline",
    "LH_DEPART": "Departed from departure country/region",
    "LH_TRANS_ARRIVE": "Arrived at transit country/region",
    "LH_TRANS_DEPART": "Departed from transit country/region",
    "LH_ARRIVE": "Arrived at destination country/region",
    "CC_HO_IN_SUCCESS": "Arrived at customs",
    "CC_IM_START": "Import customs clearance started",
    "CC_IM_EXCEPTION": "Held by customs: additional documents required",
    "CC_IM_PROCESS": "Import customs clearance in process",
    "CC_IM_SUCCESS": "Import customs clearance complete",
    "CC_HO_OUT_SUCCESS": "Departed from customs",
    "LAST_MILE_ASN_NOTIFY": "Shipment information sent to the local delivery company",
    "GTMS_ACCEPT": "Received by local delivery company",
    "GTMS_SC_ARRIVE": "Arrived at local sorting center",
    "GTMS_SC_DEPART": "Departed from local sorting center",
    "GTMS_DO_ARRIVE": "Arrived at delivery office",
    "GTMS_DELIVERING": "Out for delivery",
    "GTMS_RE_DELIVERING": "Out for delivery again",
    "GTMS_SIGNED": "Delivered",
    "GTMS_DEL_FAILURE": "Delivery attempt failed: recipient not available",
    "GTMS_WAIT_SELF_PICK": "Arrived at pickup point, waiting for collection",
    "POSTMAN_POST": "Delivered to a parcel locker, waiting for collection",
    "GTMS_PUDO_SIGNED": "Collected from the pickup point",
    "GTMS_RETURN_INBOUND": "Returned to the sender's country",
    "RT_INBOUND": "Return parcel received by the sorting center",
    "RETURNED": "Returned to the seller",
}

USPS_TEXT: Final[Mapping[str, str]] = {
    "GX": "Shipping Label Created, USPS Awaiting Item",
    "MA": "Pre-Shipment Info Sent to USPS, USPS Awaiting Item",
    "03": "USPS in possession of item",
    "AD": "Accepted at USPS Regional Destination Facility",
    "10": "Arrived at USPS Regional Facility",
    "L1": "Departed USPS Regional Facility",
    "NT": "In Transit to Next Facility",
    "07": "Arrived at Post Office",
    "OF": "Out for Delivery",
    "01": "Delivered, In/At Mailbox",
    "56": "Notice Left (No Authorized Recipient Available)",
    "16": "Available for Pickup",
    "43": "Delivered, Individual Picked Up at Postal Facility",
    "25": "Addressee Unknown",
    "09": "Return to Sender Processed",
}

# A local scan's role -> (USPS code, Cainiao code for the same scan by any local carrier).
ROLES: Final[Mapping[str, tuple[str, str]]] = {
    "accept": ("AD", "GTMS_ACCEPT"),
    "origin_accept": ("03", "GTMS_ACCEPT"),
    "arrive_facility": ("10", "GTMS_SC_ARRIVE"),
    "depart_facility": ("L1", "GTMS_SC_DEPART"),
    "transit": ("NT", "GTMS_SC_DEPART"),
    "at_office": ("07", "GTMS_DO_ARRIVE"),
    "ofd": ("OF", "GTMS_DELIVERING"),
    "ofd_again": ("OF", "GTMS_RE_DELIVERING"),
    "delivered": ("01", "GTMS_SIGNED"),
    "failed": ("56", "GTMS_DEL_FAILURE"),
    "pickup_ready": ("16", "GTMS_WAIT_SELF_PICK"),
    "locker": ("16", "POSTMAN_POST"),
    "picked_up": ("43", "GTMS_PUDO_SIGNED"),
    "refused": ("25", "GTMS_RETURN_INBOUND"),
    "return_processed": ("09", "GTMS_RETURN_INBOUND"),
}
# Local scans Cainiao relays for a parcel that changed number.
RELAYED_ROLES: Final = frozenset(
    {"accept", "ofd", "ofd_again", "delivered", "failed", "pickup_ready", "locker", "picked_up"}
)

US_PLACES: Final[Mapping[str, Sequence[tuple[str, str, str]]]] = {
    "America/New_York": (("BROOKLYN", "NY", "11215"), ("ATLANTA", "GA", "30307")),
    "America/Chicago": (("MILWAUKEE", "WI", "53212"), ("AUSTIN", "TX", "78704")),
    "America/Denver": (("DENVER", "CO", "80205"), ("BOISE", "ID", "83702")),
    "America/Los_Angeles": (("PORTLAND", "OR", "97214"), ("OAKLAND", "CA", "94609")),
    "America/Phoenix": (("TEMPE", "AZ", "85281"),),
    "-07:00": (("MESA", "AZ", "85201"),),
}
US_ZONES: Final = tuple(US_PLACES)
US_GATEWAYS: Final = ("Los Angeles", "Chicago", "New York")

# Posts that keep the origin number, followed only through Cainiao's relays.
SAME_NUMBER_POSTS: Final = (
    ("Israel Post", "Asia/Jerusalem", "Tel Aviv", ("Haifa", "Jerusalem", "Beersheba")),
    ("Poczta Polska", "Europe/Warsaw", "Warsaw", ("Krakow", "Gdansk", "Wroclaw")),
    ("Correos", "Europe/Madrid", "Madrid", ("Valencia", "Sevilla", "Zaragoza")),
)
ORIGIN_CITIES: Final = ("Dongguan", "Guangzhou", "Shenzhen", "Yiwu", "Hangzhou")
TRANSIT_HUBS: Final = ("Incheon", "Liege", "Dubai", "Tokyo")


@dataclass(frozen=True, slots=True, kw_only=True)
class _Local:
    """The final-mile carrier of a journey."""

    carrier: str
    zone: str
    same_number: bool
    gateway: str
    places: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Plan:
    """How one journey is drawn."""

    scenario: Scenario
    domestic: bool = False
    same_number: bool = False
    line_haul: tuple[float, float, float] = (3.0, 20.0, 7.0)  # low, high, mode (days)
    silent_line_haul: bool = False
    customs_hold: bool = False
    ending: str = "door"  # door | failed | pickup | locker | return
    usps_lag: tuple[float, float] | None = None  # hours
    cainiao_lag: tuple[float, float] | None = None  # hours
    never_appears: bool = False
    description: str = ""


class _Draft:
    """A journey being drawn: its clock helpers and its events."""

    def __init__(self, rng: random.Random, journey_id: str, zone_name: str) -> None:
        self.rng = rng
        self.id = journey_id
        self.zone_name = zone_name
        self.zone = parse_zone(zone_name)
        self.events: list[CorpusEvent] = []
        self.origin_number = ""
        self.local_number: str | None = None
        self.local: _Local | None = None
        self.usps_lag: tuple[float, float] | None = None
        self.cainiao_lag: tuple[float, float] | None = None
        self.relay_lag = timedelta(hours=rng.uniform(1.5, 5.0))
        self.last_local: datetime | None = None
        self._visible: dict[tuple[Source, str], datetime] = {}

    # clock --------------------------------------------------------------------------
    def hours(self, low: float, high: float) -> timedelta:
        """A random span between `low` and `high` hours, to the second."""
        return timedelta(seconds=round(self.rng.uniform(low, high) * 3600))

    def local_day(self, when: datetime) -> date:
        """The local calendar day of an instant."""
        return when.astimezone(self.zone).date()

    def at(self, day: date, low: float, high: float) -> datetime:
        """A random local time of `day` between `low` and `high` o'clock, as UTC."""
        start = datetime(day.year, day.month, day.day, tzinfo=self.zone)
        local = start + timedelta(seconds=round(self.rng.uniform(low, high) * 3600))
        return local.astimezone(UTC)

    def daytime(self, when: datetime, start: float = 6.0, end: float = 21.0) -> datetime:
        """Move an instant out of the carrier's night to the next morning."""
        local = when.astimezone(self.zone)
        hour = local.hour + local.minute / 60
        if hour < start:
            return self.at(local.date(), start, start + 1.5)
        if hour >= end:
            return self.at(local.date() + timedelta(days=1), start, start + 1.5)
        return when

    def after_last(self, when: datetime) -> datetime:
        """Keep the local carrier's scans strictly ordered."""
        if self.last_local is not None and when <= self.last_local:
            when = self.last_local + self.hours(0.2, 0.7)
        self.last_local = when
        return when

    # events -------------------------------------------------------------------------
    def _visible_at(self, source: Source, number: str, when: datetime, lag: timedelta) -> datetime:
        # A portal shows its events in the order they happened, even when it lags.
        visible = max(when + lag, self._visible.get((source, number), when))
        self._visible[(source, number)] = visible
        return visible

    def _lag(self, spec: tuple[float, float] | None) -> timedelta:
        return self.hours(*spec) if spec else timedelta()

    def add(
        self,
        *,
        code: str,
        when: datetime,
        source: Source,
        number: str,
        carrier: str,
        location: str | None,
        lag: timedelta = timedelta(),
        relay_of: str | None = None,
        text: str | None = None,
    ) -> CorpusEvent:
        """Append one event; its stage is what the portal's code means."""
        if source is Source.USPS:
            stage = EVENT_STAGES[code]
            description = text or USPS_TEXT[code]
        else:
            stage = action_stage(code)
            description = text or CAINIAO_TEXT[code]
        local_zone = BEIJING if carrier == "Cainiao" else self.zone
        event = CorpusEvent(
            id=f"e{len(self.events):02d}",
            time=when.replace(microsecond=0).astimezone(local_zone),
            visible_at=self._visible_at(source, number, when, lag)
            .replace(microsecond=0)
            .astimezone(local_zone),
            stage=stage,
            code=code,
            description=description,
            location=location,
            carrier=carrier,
            source=source,
            number=number,
            relay_of=relay_of,
        )
        self.events.append(event)
        return event

    def cainiao(self, code: str, when: datetime, location: str | None = None) -> CorpusEvent:
        """An event of Cainiao's own network, on Cainiao's portal."""
        return self.add(
            code=code,
            when=when,
            source=Source.CAINIAO,
            number=self.origin_number,
            carrier="Cainiao",
            location=location,
            lag=self._lag(self.cainiao_lag),
        )

    def usps(self, code: str, when: datetime, location: str | None) -> CorpusEvent:
        """A USPS scan on USPS's portal (the local number, or a domestic parcel's number)."""
        number = self.local_number or self.origin_number
        return self.add(
            code=code,
            when=when,
            source=Source.USPS,
            number=number,
            carrier="USPS",
            location=location,
            lag=self._lag(self.usps_lag),
        )

    def local_scan(self, role: str, when: datetime, location: str | None) -> CorpusEvent:
        """A final-mile scan: on USPS (relayed by Cainiao) or, same number, on Cainiao only."""
        local = self.local
        assert local is not None
        usps_code, cainiao_code = ROLES[role]
        when = self.after_last(when)
        if local.same_number:
            return self.add(
                code=cainiao_code,
                when=when,
                source=Source.CAINIAO,
                number=self.origin_number,
                carrier=local.carrier,
                location=location,
                lag=self.relay_lag + self.hours(0, 0.5),
            )
        original = self.usps(usps_code, when, location)
        if role in RELAYED_ROLES and self.local_number is not None:
            self.add(
                code=cainiao_code,
                when=when,
                source=Source.CAINIAO,
                number=self.origin_number,
                carrier="USPS",
                location=location,
                lag=(original.visible_at - original.time) + self.relay_lag + self.hours(0, 0.5),
                relay_of=original.id,
            )
        return original


# --- the plans -------------------------------------------------------------------------


def _plans() -> list[_Plan]:
    """Forty-eight journeys: the common case most, every listed situation several times."""
    plans: list[_Plan] = []
    plans += [
        _Plan(
            scenario=Scenario.CAINIAO_USPS,
            description="AliExpress Standard via Cainiao, handed to USPS under a new number",
        )
    ] * 14
    plans += [
        _Plan(
            scenario=Scenario.SAME_NUMBER,
            same_number=True,
            description="Cainiao to a post that keeps the number; followed through Cainiao",
        )
    ] * 6
    plans += [
        _Plan(
            scenario=Scenario.DOMESTIC_USPS,
            domestic=True,
            description="A domestic USPS parcel",
        )
    ] * 6
    plans += [
        _Plan(
            scenario=Scenario.LONG_LINE_HAUL,
            line_haul=(14.0, 20.0, 17.0),
            silent_line_haul=True,
            same_number=index == 3,
            description="Line-haul of two to three weeks without a single scan",
        )
        for index in range(4)
    ]
    plans += [
        _Plan(
            scenario=Scenario.CUSTOMS_HOLD,
            customs_hold=True,
            same_number=index == 2,
            description="Held in import customs for a week or more, then released",
        )
        for index in range(3)
    ]
    plans += [
        _Plan(
            scenario=Scenario.FAILED_DELIVERY,
            ending="failed",
            same_number=index == 3,
            description="A failed delivery round, delivered on a later round",
        )
        for index in range(4)
    ]
    plans += [
        _Plan(
            scenario=Scenario.LOCKER_PICKUP,
            ending="locker" if index >= 2 else "pickup",
            same_number=index >= 2,
            description="Left at a post office or parcel locker and collected later",
        )
        for index in range(4)
    ]
    plans += [
        _Plan(
            scenario=Scenario.LAGGING_PORTAL,
            usps_lag=(2.0, 10.0) if index < 2 else None,
            cainiao_lag=(6.0, 30.0) if index == 2 else None,
            description=(
                "USPS's portal shows every scan hours late"
                if index < 2
                else "Cainiao's portal shows its own scans up to a day late"
            ),
        )
        for index in range(3)
    ]
    plans += [
        _Plan(
            scenario=Scenario.RETURN_TO_SENDER,
            ending="return",
            description="Refused at the door, returned to the seller",
        )
    ] * 2
    plans += [
        _Plan(
            scenario=Scenario.NEVER_APPEARS,
            never_appears=True,
            domestic=index == 1,
            description="A number no portal ever knows (a typo, or a fake number)",
        )
        for index in range(2)
    ]
    return plans


def _digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(count))


def _local_for(rng: random.Random, plan: _Plan) -> _Local:
    if plan.same_number:
        carrier, zone, gateway, places = rng.choice(SAME_NUMBER_POSTS)
        return _Local(carrier=carrier, zone=zone, same_number=True, gateway=gateway, places=places)
    zone = rng.choice(US_ZONES)
    city, state, zip_code = rng.choice(US_PLACES[zone])
    return _Local(
        carrier="USPS",
        zone=zone,
        same_number=False,
        gateway=rng.choice(US_GATEWAYS),
        places=(f"{city}, {state} {zip_code}",),
    )


def _last_mile_days(rng: random.Random) -> int:
    return rng.choices((1, 2, 3, 4, 5), weights=(30, 30, 20, 12, 8))[0]


def _round_start(draft: _Draft, day: date) -> datetime:
    """When a delivery round starts: mostly 06:30-10:30, sometimes late morning."""
    if draft.rng.random() < 0.85:
        return draft.at(day, 6.5, 10.5)
    return draft.at(day, 10.5, 13.5)


def _round_end(draft: _Draft, start: datetime, *, earliest: float = 9.0) -> datetime:
    """When the round reaches this parcel: usually hours later, sometimes at once."""
    if draft.rng.random() < 0.1:
        return start + draft.hours(0.25, 0.9)
    when = start + draft.hours(1.5, 8.0)
    day = draft.local_day(start)
    low, high = draft.at(day, earliest, earliest), draft.at(day, 19.5, 19.5)
    return min(max(when, low), high)


def _delivery_day(draft: _Draft, day: date, place: str, ending: str) -> None:
    """The final day(s) of the last mile, from arrival at the delivery office on."""
    rng = draft.rng
    if rng.random() < 0.3:
        draft.local_scan("at_office", draft.at(day - timedelta(days=1), 17.0, 20.5), place)
    else:
        draft.local_scan("at_office", draft.at(day, 6.0, 7.5), place)
    if ending in {"pickup", "locker"}:
        ready = draft.local_scan(
            ending if ending == "locker" else "pickup_ready", draft.at(day, 8.0, 12.0), place
        )
        collect_day = draft.local_day(ready.time) + timedelta(
            days=rng.choice((0, 0, 1, 1, 2, 3, 4))
        )
        low = 13.0 if collect_day == draft.local_day(ready.time) else 8.0
        draft.local_scan("picked_up", draft.at(collect_day, low, 20.0), place)
        return
    start = draft.local_scan("ofd", _round_start(draft, day), place)
    if ending == "door":
        draft.local_scan("delivered", _round_end(draft, start.time), place)
        return
    if ending == "failed":
        failed = start.time + draft.hours(2.0, 7.0)
        draft.local_scan("failed", min(failed, draft.at(day, 19.5, 19.5)), place)
        next_day = day + timedelta(days=1 if rng.random() < 0.8 else 2)
        again = draft.local_scan("ofd_again", _round_start(draft, next_day), place)
        draft.local_scan("delivered", _round_end(draft, again.time), place)
        return
    # A return: refused at the door, sent back through the origin network.
    draft.local_scan("refused", start.time + draft.hours(1.0, 6.0), place)
    processed = draft.local_scan(
        "return_processed", draft.at(day + timedelta(days=1), 8.0, 18.0), place
    )
    back = processed.time + timedelta(days=rng.uniform(8, 16))
    draft.cainiao("RT_INBOUND", back, rng.choice(ORIGIN_CITIES))
    draft.cainiao("RETURNED", back + timedelta(days=rng.uniform(2, 6)), rng.choice(ORIGIN_CITIES))


def _cross_border(draft: _Draft, plan: _Plan, start: datetime) -> tuple[datetime, datetime]:
    """Draw a Cainiao journey; return (added_at, local_known_at)."""
    rng = draft.rng
    local = draft.local
    assert local is not None
    origin_city = rng.choice(ORIGIN_CITIES)
    draft.cainiao("GWMS_ACCEPT", start)
    added_at = start + draft.hours(-20, 14)
    pickup = start + draft.hours(8, 40)
    draft.cainiao("PU_PICKUP_SUCCESS", pickup, origin_city)
    depart = pickup + timedelta(days=rng.triangular(1.0, 4.0, 1.8))
    steps = (
        "SC_INBOUND_SUCCESS",
        "SC_OUTBOUND_SUCCESS",
        "LH_HO_IN_SUCCESS",
        "CC_EX_START",
        "CC_EX_SUCCESS",
        "LH_HO_AIRLINE",
    )
    fractions = sorted(rng.uniform(0.05, 0.95) for _ in steps)
    for code, fraction in zip(steps, fractions, strict=True):
        draft.cainiao(code, pickup + (depart - pickup) * fraction, origin_city)
    draft.cainiao("LH_DEPART", depart, "Hong Kong" if rng.random() < 0.4 else origin_city)

    low, high, mode = plan.line_haul
    line_haul = timedelta(days=rng.triangular(low, high, mode))
    arrive = depart + line_haul
    if not plan.silent_line_haul and line_haul > timedelta(days=4):
        hub = rng.choice(TRANSIT_HUBS)
        stop = depart + line_haul * rng.uniform(0.2, 0.5)
        draft.cainiao("LH_TRANS_ARRIVE", stop, hub)
        draft.cainiao("LH_TRANS_DEPART", stop + draft.hours(6, 30), hub)
    draft.cainiao("LH_ARRIVE", arrive, local.gateway)

    # Most parcels clear in one to three days; a few take a week (skewed, 1-8.5 days).
    if plan.customs_hold:
        customs = timedelta(days=rng.uniform(6.0, 8.5))
    else:
        customs = timedelta(days=1.0 + 7.5 * rng.betavariate(1.3, 4.0))
    cleared = arrive + customs
    draft.cainiao("CC_HO_IN_SUCCESS", arrive + draft.hours(1, 6), local.gateway)
    draft.cainiao("CC_IM_START", arrive + draft.hours(7, 12), local.gateway)
    if plan.customs_hold:
        draft.cainiao("CC_IM_EXCEPTION", arrive + draft.hours(24, 48), local.gateway)
        draft.cainiao("CC_IM_PROCESS", cleared - draft.hours(12, 36), local.gateway)
    known_at = arrive + customs * rng.uniform(0.3, 0.9)
    if local.same_number:
        known_at = added_at
    else:
        notice = draft.cainiao("LAST_MILE_ASN_NOTIFY", known_at, local.gateway)
        known_at = notice.visible_at
        if rng.random() < 0.5:
            draft.usps("MA", known_at + draft.hours(0.5, 3), None)
    draft.cainiao("CC_IM_SUCCESS", cleared, local.gateway)
    draft.cainiao("CC_HO_OUT_SUCCESS", cleared + draft.hours(0.5, 4), local.gateway)

    handoff = draft.daytime(cleared + draft.hours(3, 30))
    place = rng.choice(local.places)
    draft.local_scan("accept", handoff, local.gateway if local.same_number else None)
    draft.local_scan("arrive_facility", draft.daytime(handoff + draft.hours(2, 8)), place)
    days = _last_mile_days(rng)
    first_day = draft.local_day(handoff)
    if days > 1:
        draft.local_scan("depart_facility", draft.daytime(handoff + draft.hours(8, 16)), place)
    for offset in range(1, days - 1):
        draft.local_scan("transit", draft.at(first_day + timedelta(days=offset), 6.0, 21.0), place)
    _delivery_day(draft, first_day + timedelta(days=days), place, plan.ending)
    return added_at, known_at


def _domestic(draft: _Draft, plan: _Plan, start: datetime) -> datetime:
    """Draw a domestic USPS journey; return added_at."""
    rng = draft.rng
    zone = draft.zone_name
    city, state, zip_code = rng.choice(US_PLACES[zone])
    place = f"{city}, {state} {zip_code}"
    label_day = draft.local_day(start)
    label = draft.usps("GX", draft.at(label_day, 8.0, 22.0), None)
    draft.local = _Local(carrier="USPS", zone=zone, same_number=False, gateway=place, places=())
    draft.last_local = label.time
    accept = draft.daytime(label.time + draft.hours(4, 48), 9.0, 20.0)
    draft.local_scan("origin_accept", accept, "ORIGIN FACILITY")
    draft.local_scan(
        "arrive_facility", draft.daytime(accept + draft.hours(2, 6)), "REGIONAL FACILITY"
    )
    days = rng.choices((1, 2, 3, 4), weights=(25, 40, 25, 10))[0]
    first_day = draft.local_day(accept)
    draft.local_scan(
        "depart_facility", draft.daytime(accept + draft.hours(6, 12)), "REGIONAL FACILITY"
    )
    for offset in range(1, days):
        draft.local_scan("transit", draft.at(first_day + timedelta(days=offset), 6.0, 21.0), None)
    _delivery_day(draft, first_day + timedelta(days=days), place, plan.ending)
    return label.time + draft.hours(0.2, 18)


def _journey(rng: random.Random, index: int, plan: _Plan) -> Journey:
    """Draw one journey of the household."""
    journey_id = f"{index + 1:02d}-{plan.scenario.value}"
    start = HOUSEHOLD_START + timedelta(seconds=round(rng.uniform(0, HOUSEHOLD_DAYS) * 86400))
    if plan.never_appears:
        zone = rng.choice(US_ZONES)
        number = f"9400{_digits(rng, 18)}" if plan.domestic else f"LP00{_digits(rng, 12)}"
        return Journey(
            id=journey_id,
            scenario=plan.scenario,
            description=plan.description,
            timezone=zone,
            added_at=start,
            end_at=start + timedelta(days=NEVER_APPEARS_DAYS),
            origin_number=number,
            origin_source=Source.USPS if plan.domestic else Source.CAINIAO,
        )
    if plan.domestic:
        draft = _Draft(rng, journey_id, rng.choice(US_ZONES))
        draft.origin_number = f"9400{_digits(rng, 18)}"
        added_at = _domestic(draft, plan, start)
        eta_day = draft.local_day(draft.events[-1].time) + timedelta(
            days=rng.choice((-1, 0, 0, 0, 1))
        )
        return _finish(
            draft,
            plan,
            added_at=added_at,
            origin_source=Source.USPS,
            eta=(draft.at(eta_day, 0, 0), draft.at(eta_day, 23.99, 23.99)),
        )
    local = _local_for(rng, plan)
    draft = _Draft(rng, journey_id, local.zone)
    draft.local = local
    draft.usps_lag = plan.usps_lag
    draft.cainiao_lag = plan.cainiao_lag
    if local.same_number:
        draft.origin_number = f"RS{_digits(rng, 10)}Y"
    else:
        draft.origin_number = f"LP00{_digits(rng, 12)}"
        draft.local_number = f"9261{_digits(rng, 18)}"
    added_at, known_at = _cross_border(draft, plan, start)
    return _finish(
        draft,
        plan,
        added_at=added_at,
        origin_source=Source.CAINIAO,
        known_at=known_at,
        eta=(
            start + timedelta(days=rng.uniform(10, 16)),
            start + timedelta(days=rng.uniform(25, 40)),
        ),
    )


def _finish(
    draft: _Draft,
    plan: _Plan,
    *,
    added_at: datetime,
    origin_source: Source,
    eta: tuple[datetime, datetime],
    known_at: datetime | None = None,
) -> Journey:
    events = sorted(draft.events, key=lambda event: (event.time, event.id))
    last_visible = max(event.visible_at for event in events)
    local = draft.local
    follows_local = local is not None and draft.local_number is not None
    return Journey(
        id=draft.id,
        scenario=plan.scenario,
        description=plan.description,
        timezone=draft.zone_name,
        added_at=added_at.replace(microsecond=0),
        end_at=(last_visible + TAIL).astimezone(UTC),
        origin_number=draft.origin_number,
        origin_source=origin_source,
        local_number=draft.local_number if follows_local else None,
        local_carrier=(
            local.carrier if local is not None and origin_source is Source.CAINIAO else None
        ),
        local_source=Source.USPS if follows_local else None,
        local_known_at=known_at.replace(microsecond=0) if known_at else None,
        eta_earliest=eta[0].replace(microsecond=0),
        eta_latest=eta[1].replace(microsecond=0),
        events=tuple(events),
    )


def generate(seed: int = SEED) -> list[Journey]:
    """Draw the whole corpus from `seed`: the same seed gives the same corpus."""
    rng = random.Random(seed)
    return [_journey(rng, index, plan) for index, plan in enumerate(_plans())]


def main(argv: Sequence[str] | None = None) -> int:
    """`--write` regenerates the committed corpus, `--check` compares it with the generator."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.corpus", description=__doc__)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="write benchmarks/corpus/*.json")
    action.add_argument("--check", action="store_true", help="fail if the files are stale")
    args = parser.parse_args(argv)
    journeys = generate()
    if args.write:
        paths = write_corpus(journeys, CORPUS_DIR)
        print(f"wrote {len(paths)} journeys to {CORPUS_DIR}")
        return 0
    stale = [
        journey.id
        for journey in journeys
        if not (path := CORPUS_DIR / f"{journey.id}.json").exists()
        or path.read_text(encoding="utf-8") != _dumps(journey)
    ]
    extra = {path.stem for path in CORPUS_DIR.glob("*.json")} - {j.id for j in journeys}
    if stale or extra:
        print(f"corpus is stale: {sorted(stale) + sorted(extra)}")
        return 1
    print(f"corpus matches the generator ({len(journeys)} journeys)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
