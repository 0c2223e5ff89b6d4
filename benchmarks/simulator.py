"""A virtual-clock simulator: pollers against portals that answer from the journey corpus.

The carrier side (`Portal`) answers a poll of one (source, number) with the events that
portal shows at that instant (`visible_at <= now`). Pollers decide when to ask what:

- `AdaptivePoller` uses only the real engine: the snapshots of every source it follows
  go through `build_shipment` (with the history it kept), and `next_check` decides per
  (source, number) when to look again, with the destination zone as `local_tz` and the
  Cainiao leg marked superseded once the local carrier's own source follows the number.
- `FixedPoller` asks about every number of every parcel it follows at a fixed interval on
  one household clock (one coordinator refresh), follows the local number once Cainiao
  names it, and stops once it has seen the parcel delivered (or returned).
- `oracle` asks once, right when each event first becomes visible: the limit.

All parcels live in one simulated Home Assistant: the numbers due at one instant are
batched per source (`BATCH_SIZES`), and a batched request counts once. Like the
coordinator, the adaptive poller also asks, at that instant, about the numbers due within
`EARLY_WINDOW` (never before a source's floor), and about a local number the moment the
handoff names it. The loop is event-driven (a heap of the next poll instants), so five
months of a household run in seconds.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
import heapq
import math
from typing import Final

from custom_components.parcel_handoff.tracking.carriers import source_for_carrier
from custom_components.parcel_handoff.tracking.model import (
    FINAL_STAGES,
    EtaWindow,
    Shipment,
    Source,
    SourceSnapshot,
    Stage,
    TrackingEvent,
)
from custom_components.parcel_handoff.tracking.policy import (
    SOURCE_FLOORS,
    CheckContext,
    is_due,
    next_check,
)
from custom_components.parcel_handoff.tracking.timeline import build_shipment

from .corpus import HOUSEHOLD_START, CorpusEvent, Journey, delivery_rounds

# Numbers per request, as the clients send them (tracking/clients/*.py `max_batch`).
BATCH_SIZES: Final[Mapping[Source, int]] = {
    Source.CAINIAO: 10,
    Source.USPS: 35,
    Source.SEVENTEEN_TRACK: 40,
    Source.AFTERSHIP: 50,
}
# A number due this soon is asked now, with the numbers already due (the coordinator's
# BATCH_WINDOW in const.py).
EARLY_WINDOW: Final = timedelta(minutes=2)
# A leg the policy finds overdue is asked at the next wake-up, this much later.
OVERDUE_DELAY: Final = timedelta(seconds=1)
# The stages whose detection delay is measured.
WATCHED_STAGES: Final = (Stage.OUT_FOR_DELIVERY, Stage.AVAILABLE_FOR_PICKUP, Stage.DELIVERED)
# A delivery round that lasted this long must never be missed.
LONG_ROUND: Final = timedelta(hours=1)


@dataclass(frozen=True, slots=True, order=True)
class Leg:
    """One number on one source: what a poll asks about."""

    source: Source
    number: str


@dataclass(frozen=True, slots=True)
class Reply:
    """A portal's answer: the snapshot the engine reads and the corpus keys it shows."""

    snapshot: SourceSnapshot
    keys: frozenset[str]


def tracking_event(event: CorpusEvent) -> TrackingEvent:
    """The canonical event a normalizer makes of a corpus event.

    Cainiao's own scans come out in UTC and local carriers' scans keep their fixed
    offset, as the real normalizers present them.
    """
    if event.carrier == "Cainiao":
        when = event.time.astimezone(UTC)
    else:
        offset = event.time.utcoffset()
        when = event.time.astimezone(timezone(offset)) if offset is not None else event.time
    return TrackingEvent(
        time=when,
        description=event.description,
        location=event.location,
        carrier=event.carrier,
        source=event.source,
        stage=event.stage,
        code=event.code,
        tracking_number=event.number,
    )


class Portal:
    """The carrier side of one journey: every source's view of it at any instant."""

    def __init__(self, journey: Journey) -> None:
        """Index the journey's events per (source, number) by the instant they show."""
        self.journey = journey
        by_leg: dict[Leg, list[CorpusEvent]] = defaultdict(list)
        for event in journey.events:
            by_leg[Leg(event.source, event.number)].append(event)
        self._times: dict[Leg, list[datetime]] = {}
        self._events: dict[Leg, list[tuple[CorpusEvent, TrackingEvent]]] = {}
        for leg, events in by_leg.items():
            events.sort(key=lambda event: event.visible_at)
            self._times[leg] = [event.visible_at for event in events]
            self._events[leg] = [(event, tracking_event(event)) for event in events]
        self._cache: dict[tuple[Leg, int, bool], Reply] = {}
        if journey.eta_earliest is not None or journey.eta_latest is not None:
            self._eta: EtaWindow | None = EtaWindow(
                earliest=journey.eta_earliest, latest=journey.eta_latest
            )
        else:
            self._eta = None

    @property
    def origin(self) -> Leg:
        """The number the owner added, on its own source."""
        return Leg(self.journey.origin_source, self.journey.origin_number)

    def answer(self, leg: Leg, now: datetime) -> Reply:
        """What `leg`'s portal shows at `now`."""
        times = self._times.get(leg, [])
        count = bisect_right(times, now)
        known_at = self.journey.local_known_at
        knows_local = known_at is not None and now >= known_at
        cache_key = (leg, count, knows_local)
        if (cached := self._cache.get(cache_key)) is not None:
            return cached
        visible = self._events.get(leg, [])[:count]
        events = tuple(sorted((pair[1] for pair in visible), key=lambda e: e.time, reverse=True))
        reply = Reply(
            snapshot=self._snapshot(leg, events, knows_local=knows_local),
            keys=frozenset(pair[0].key for pair in visible),
        )
        self._cache[cache_key] = reply
        return reply

    def _snapshot(
        self, leg: Leg, events: tuple[TrackingEvent, ...], *, knows_local: bool
    ) -> SourceSnapshot:
        journey = self.journey
        is_origin = leg == self.origin
        if leg.source is Source.CAINIAO:
            # Cainiao knows a real order's number before its first scan ("seller preparing").
            found = bool(events) or journey.events != ()
            local_named = knows_local and journey.local_carrier is not None
            return SourceSnapshot(
                source=Source.CAINIAO,
                tracking_number=leg.number,
                found=found,
                carrier="Cainiao",
                events=events,
                status_stage=Stage.INFO_RECEIVED if found and not events else None,
                local_carrier=journey.local_carrier if local_named else None,
                local_tracking_number=(
                    (journey.local_number or journey.origin_number) if local_named else None
                ),
                eta=self._eta if is_origin else None,
            )
        return SourceSnapshot(
            source=leg.source,
            tracking_number=leg.number,
            found=bool(events),
            carrier="USPS" if leg.source is Source.USPS else None,
            events=events,
            eta=self._eta if is_origin else None,
        )


# --- pollers ---------------------------------------------------------------------------


class Poller(ABC):
    """Decides when to ask about which number of each parcel."""

    name: str
    early: timedelta = timedelta()

    @abstractmethod
    def start(self, index: int, portal: Portal) -> dict[Leg, datetime]:
        """The legs of a parcel just added, with their first poll."""

    @abstractmethod
    def after_poll(
        self, index: int, now: datetime, replies: Mapping[Leg, Reply]
    ) -> dict[Leg, datetime | None]:
        """Digest the replies of parcel `index`; the next poll of each leg (None: stop)."""

    def stage_of(self, index: int) -> str | None:
        """The stage the poller believes parcel `index` is in, if it keeps one."""
        del index
        return None

    def may_ride(self, index: int, leg: Leg, now: datetime) -> bool:
        """Whether `leg` of parcel `index` may be asked early, at `now`, in a shared request."""
        del index, leg, now
        return True


@dataclass(slots=True)
class _Followed:
    """What the adaptive poller keeps about one parcel between polls."""

    portal: Portal
    legs: set[Leg]
    snapshots: dict[Leg, SourceSnapshot] = field(default_factory=dict)
    last: dict[Leg, datetime] = field(default_factory=dict)
    history: tuple[TrackingEvent, ...] = ()
    shipment: Shipment | None = None


class AdaptivePoller(Poller):
    """The integration's poller: the real timeline merge and the real polling policy."""

    name = "adaptive"

    def __init__(self, *, early: timedelta = EARLY_WINDOW) -> None:
        """No parcel followed yet; numbers due within `early` are asked with those due."""
        self.early = early
        self.parcels: dict[int, _Followed] = {}

    def stage_of(self, index: int) -> str | None:
        """The stage of the shipment the engine built at the last poll."""
        shipment = self.parcels[index].shipment
        return shipment.stage.value if shipment is not None else "added"

    def may_ride(self, index: int, leg: Leg, now: datetime) -> bool:
        """Early, but never before the source's floor since the last look."""
        last = self.parcels[index].last.get(leg)
        return last is None or now - last >= SOURCE_FLOORS[leg.source]

    def start(self, index: int, portal: Portal) -> dict[Leg, datetime]:
        """Poll the added number at once."""
        self.parcels[index] = _Followed(portal=portal, legs={portal.origin})
        return {portal.origin: portal.journey.added_at}

    def after_poll(
        self, index: int, now: datetime, replies: Mapping[Leg, Reply]
    ) -> dict[Leg, datetime | None]:
        """Rebuild the shipment with the engine and ask the policy about every leg."""
        parcel = self.parcels[index]
        journey = parcel.portal.journey
        origin = parcel.portal.origin
        for leg, reply in replies.items():
            parcel.snapshots[leg] = reply.snapshot
            parcel.last[leg] = now
        shipment = build_shipment(
            journey.origin_number,
            parcel.snapshots.values(),
            now=now,
            history=parcel.history,
            added_at=journey.added_at,
        )
        parcel.history = shipment.events
        parcel.shipment = shipment
        local_number = shipment.local_tracking_number
        local_source = source_for_carrier(shipment.local_carrier)
        if local_number is not None and local_source is not None:
            local = Leg(local_source, local_number)
            if local != origin:
                parcel.legs.add(local)
        # As the coordinator: superseded once another source follows the local number.
        superseded = any(leg.source is not origin.source for leg in parcel.legs)
        updates: dict[Leg, datetime | None] = {}
        for leg in sorted(parcel.legs):
            if leg not in parcel.last:
                updates[leg] = now  # a number never asked is asked at once
                continue
            context = CheckContext(
                source=leg.source,
                last_check=parcel.last.get(leg),
                local_tz=journey.zone,
                superseded=superseded and leg == origin,
            )
            updates[leg] = next_check(shipment, now, context)
            if updates[leg] is None:
                parcel.legs.discard(leg)
        return updates


class FixedPoller(Poller):
    """Every followed number at a fixed interval, on one household clock."""

    def __init__(self, name: str, interval: timedelta) -> None:
        """Poll every `interval`, on ticks counted from the household's first day."""
        self.name = name
        self.interval = interval
        self.portals: dict[int, Portal] = {}
        self.legs: dict[int, set[Leg]] = {}

    def _next_tick(self, now: datetime) -> datetime:
        ticks = math.floor((now - HOUSEHOLD_START) / self.interval) + 1
        return HOUSEHOLD_START + self.interval * ticks

    def start(self, index: int, portal: Portal) -> dict[Leg, datetime]:
        """Poll the added number at once, then on the household's ticks."""
        self.portals[index] = portal
        self.legs[index] = {portal.origin}
        return {portal.origin: portal.journey.added_at}

    def after_poll(
        self, index: int, now: datetime, replies: Mapping[Leg, Reply]
    ) -> dict[Leg, datetime | None]:
        """Stop once delivered is seen; follow the local number once Cainiao names it."""
        legs = self.legs[index]
        if any(
            event.stage in FINAL_STAGES
            for reply in replies.values()
            for event in reply.snapshot.events
        ):
            updates: dict[Leg, datetime | None] = dict.fromkeys(legs)
            legs.clear()
            return updates
        for reply in replies.values():
            snapshot = reply.snapshot
            number = snapshot.local_tracking_number
            source = source_for_carrier(snapshot.local_carrier)
            if number is not None and source is not None:
                legs.add(Leg(source, number))
        tick = self._next_tick(now)
        return dict.fromkeys(legs, tick)


# --- the run ---------------------------------------------------------------------------


@dataclass(slots=True)
class Tally:
    """What one poller did and saw over the whole corpus."""

    poller: str
    journeys: Sequence[Journey]
    requests: Counter[Source] = field(default_factory=Counter)
    lookups: Counter[Source] = field(default_factory=Counter)
    first_seen: dict[tuple[int, str], datetime] = field(default_factory=dict)
    stage_lookups: Counter[str] = field(default_factory=Counter)
    polls: list[tuple[datetime, int, Leg]] | None = None

    def request(self, source: Source, count: int = 1) -> None:
        """Count requests sent to `source`."""
        self.requests[source] += count

    def seen(self, index: int, leg: Leg, now: datetime, keys: Iterable[str]) -> None:
        """Record a poll of `leg` of parcel `index` that showed `keys` at `now`."""
        self.lookups[leg.source] += 1
        if self.polls is not None:
            self.polls.append((now, index, leg))
        for key in keys:
            self.first_seen.setdefault((index, key), now)


def simulate(journeys: Sequence[Journey], poller: Poller, *, record: bool = False) -> Tally:
    """Replay every journey through `poller`, all parcels in one household.

    With `record`, the tally keeps every poll (instant, parcel, leg) in `polls`.
    """
    tally = Tally(poller=poller.name, journeys=journeys, polls=[] if record else None)
    portals = [Portal(journey) for journey in journeys]
    next_at: dict[tuple[int, Leg], datetime] = {}
    heap: list[tuple[datetime, int, int, Leg]] = []
    sequence = 0

    def schedule(
        index: int, leg: Leg, when: datetime | None, now: datetime | None, *, polled: bool
    ) -> None:
        nonlocal sequence
        key = (index, leg)
        if when is None or when > journeys[index].end_at:
            next_at.pop(key, None)
            return
        if now is not None and when <= now:
            if polled:
                raise RuntimeError(f"{poller.name} asked {leg} again at {when}, just after {now}")
            # Overdue (a past confirmation time): due at the coordinator's next wake-up.
            when = now + OVERDUE_DELAY
        next_at[key] = when
        sequence += 1
        heapq.heappush(heap, (when, sequence, index, leg))

    for index, portal in enumerate(portals):
        for leg, when in poller.start(index, portal).items():
            schedule(index, leg, when, None, polled=False)

    while heap:
        now = heap[0][0]
        due: dict[tuple[int, Leg], None] = {}
        while heap and heap[0][0] <= now:
            when, _, index, leg = heapq.heappop(heap)
            if next_at.get((index, leg)) == when:
                due[(index, leg)] = None
        if not due:
            continue
        polled = _batch(due, next_at, now, poller, tally)
        replies: dict[int, dict[Leg, Reply]] = defaultdict(dict)
        for index, leg in polled:
            del next_at[(index, leg)]
            reply = portals[index].answer(leg, now)
            tally.seen(index, leg, now, reply.keys)
            if (stage := poller.stage_of(index)) is not None:
                tally.stage_lookups[stage] += 1
            replies[index][leg] = reply
        for index, by_leg in replies.items():
            for leg, next_when in poller.after_poll(index, now, by_leg).items():
                schedule(index, leg, next_when, now, polled=leg in by_leg)
    return tally


def _batch(
    due: Mapping[tuple[int, Leg], None],
    next_at: Mapping[tuple[int, Leg], datetime],
    now: datetime,
    poller: Poller,
    tally: Tally,
) -> list[tuple[int, Leg]]:
    """What is due, plus what falls due within the poller's early window; requests per source."""
    polled = list(due)
    if poller.early:
        polled.extend(
            key
            for key, when in next_at.items()
            if key not in due
            and is_due(when, now, early=poller.early)
            and poller.may_ride(key[0], key[1], now)
        )
    for source, count in sorted(Counter(leg.source for _, leg in polled).items()):
        tally.request(source, math.ceil(count / BATCH_SIZES[source]))
    return polled


def simulate_oracle(journeys: Sequence[Journey]) -> Tally:
    """One request right when each event first becomes visible, batched per instant."""
    tally = Tally(poller="oracle", journeys=journeys)
    polls: dict[tuple[datetime, Source], set[tuple[int, Leg]]] = defaultdict(set)
    for index, journey in enumerate(journeys):
        first: dict[str, CorpusEvent] = {}
        for event in journey.events:
            kept = first.get(event.key)
            if kept is None or event.visible_at < kept.visible_at:
                first[event.key] = event
        for event in first.values():
            polls[(event.visible_at, event.source)].add((index, Leg(event.source, event.number)))
    portals = [Portal(journey) for journey in journeys]
    for (when, source), legs in sorted(polls.items()):
        tally.request(source, math.ceil(len(legs) / BATCH_SIZES[source]))
        for index, leg in sorted(legs):
            tally.seen(index, leg, when, portals[index].answer(leg, when).keys)
    return tally


# --- figures ---------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """The `fraction` quantile by linear interpolation between closest ranks."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True, slots=True, kw_only=True)
class Figures:
    """One poller's measured figures over the corpus."""

    poller: str
    shipments: int
    requests_by_source: dict[str, int]
    lookups_by_source: dict[str, int]
    delays: dict[Stage, list[float]]
    delays_by_path: dict[str, list[float]]
    undetected: dict[Stage, int]
    rounds: int
    long_rounds: int
    missed_rounds: int
    missed_long_rounds: int
    lookups_by_stage: dict[str, int] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        """Every request to every source."""
        return sum(self.requests_by_source.values())

    @property
    def requests_per_shipment(self) -> float:
        """Requests over the whole corpus per parcel in it."""
        return self.requests / self.shipments

    def delay_summary(self, stage: Stage) -> dict[str, float | int | None]:
        """Median and 95th percentile of a stage's detection delay, in seconds."""
        return _summary(self.delays[stage])


def _summary(values: Sequence[float]) -> dict[str, float | int | None]:
    if not values:
        return {"p50": None, "p95": None, "max": None, "n": 0}
    return {
        "p50": round(percentile(values, 0.5), 1),
        "p95": round(percentile(values, 0.95), 1),
        "max": round(max(values), 1),
        "n": len(values),
    }


def journey_path(journey: Journey) -> str:
    """How the integration follows the parcel's last mile."""
    if journey.origin_source is Source.USPS:
        return "usps_domestic"
    if journey.local_source is Source.USPS:
        return "cainiao_then_usps"
    return "cainiao_only"


def figures(tally: Tally) -> Figures:
    """Detection delays and missed rounds from what a poller saw."""
    delays: dict[Stage, list[float]] = {stage: [] for stage in WATCHED_STAGES}
    by_path: dict[str, list[float]] = defaultdict(list)
    undetected: Counter[Stage] = Counter()
    rounds = long_rounds = missed = missed_long = 0
    for index, journey in enumerate(tally.journeys):
        first_visible = journey.first_visible()
        for event in journey.originals:
            if event.stage not in WATCHED_STAGES:
                continue
            seen = tally.first_seen.get((index, event.key))
            if seen is None:
                undetected[event.stage] += 1
                continue
            delay = (seen - first_visible[event.key]).total_seconds()
            delays[event.stage].append(delay)
            if event.stage is Stage.OUT_FOR_DELIVERY:
                by_path[journey_path(journey)].append(delay)
        for start, end in delivery_rounds(journey):
            long_round = end is None or end.time - start.time >= LONG_ROUND
            rounds += 1
            long_rounds += long_round
            seen = tally.first_seen.get((index, start.key))
            ended = first_visible[end.key] if end is not None else None
            if seen is None or (ended is not None and seen >= ended):
                missed += 1
                missed_long += long_round
    return Figures(
        poller=tally.poller,
        shipments=len(tally.journeys),
        requests_by_source={
            source.value: count for source, count in sorted(tally.requests.items())
        },
        lookups_by_source={source.value: count for source, count in sorted(tally.lookups.items())},
        delays=delays,
        delays_by_path=dict(sorted(by_path.items())),
        undetected=dict(undetected),
        rounds=rounds,
        long_rounds=long_rounds,
        missed_rounds=missed,
        missed_long_rounds=missed_long,
        lookups_by_stage=dict(tally.stage_lookups.most_common()),
    )


FIXED_INTERVALS: Final[Mapping[str, timedelta]] = {
    "fixed_10m": timedelta(minutes=10),  # the core 17TRACK integration
    "fixed_30m": timedelta(minutes=30),
    "fixed_6h": timedelta(hours=6),  # what Cainiao tolerates
}


def pollers() -> list[Poller]:
    """Ours and the fixed-interval pollers it is compared with, fresh."""
    fixed: list[Poller] = [FixedPoller(name, every) for name, every in FIXED_INTERVALS.items()]
    return [AdaptivePoller(), *fixed]


def run_all(journeys: Sequence[Journey]) -> dict[str, Figures]:
    """Every poller over the corpus as one household, then the oracle."""
    results = {poller.name: figures(simulate(journeys, poller)) for poller in pollers()}
    results["oracle"] = figures(simulate_oracle(journeys))
    return results


def run_solo(journeys: Sequence[Journey]) -> dict[str, float]:
    """Requests per parcel when each parcel is alone: no batching across parcels."""
    totals: Counter[str] = Counter()
    for journey in journeys:
        for poller in pollers():
            totals[poller.name] += sum(simulate([journey], poller).requests.values())
        totals["oracle"] += sum(simulate_oracle([journey]).requests.values())
    return {name: total / len(journeys) for name, total in totals.items()}
