"""A virtual-clock simulator: pollers against portals that answer from the journey corpus.

The carrier side (`Portal`) answers a poll of one (source, number) with the events that
portal shows at that instant (`visible_at <= now`). Who decides when to ask what:

- `simulate_tracker` runs the integration's own `Tracker` (tracking/tracker.py), the
  object the Home Assistant coordinator and the `track` command run, for the whole
  household on a virtual clock. Its clients are in-process fakes (`CorpusClient`) that
  answer from the portals at that clock and batch as the real clients do; shipments are
  added when their owner added them and removed at the end of observation, and the next
  refresh comes when the tracker says (within its refresh bounds), as the coordinator
  schedules it.
- `FixedPoller` asks about every number of every parcel it follows at a fixed interval on
  one household clock (one coordinator refresh), follows the local number once Cainiao
  names it, and stops once it has seen the parcel delivered (or returned).
- `oracle` asks once, right when each event first becomes visible: the limit.

The fixed pollers' loop is event-driven (a heap of the next poll instants), so five
months of a household run in seconds.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import asyncio
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
import heapq
import math
import random
from typing import Final

from custom_components.parcel_handoff.tracking.carriers import source_for_carrier
from custom_components.parcel_handoff.tracking.clients import (
    AfterShipClient,
    CainiaoClient,
    SeventeenTrackClient,
    UspsClient,
)
from custom_components.parcel_handoff.tracking.clients.base import unique_numbers
from custom_components.parcel_handoff.tracking.errors import TrackingNotFoundError
from custom_components.parcel_handoff.tracking.model import (
    FINAL_STAGES,
    EtaWindow,
    Shipment,
    Source,
    SourceResult,
    SourceSnapshot,
    Stage,
    TrackingEvent,
)
from custom_components.parcel_handoff.tracking.tracker import (
    AGGREGATORS,
    ShipmentConfig,
    Tracker,
    TrackerSettings,
)

from .corpus import HOUSEHOLD_START, CorpusEvent, Journey, delivery_rounds

# Numbers per request: the real clients' `max_batch`.
BATCH_SIZES: Final[Mapping[Source, int]] = {
    Source.CAINIAO: CainiaoClient.max_batch,
    Source.USPS: UspsClient.max_batch,
    Source.SEVENTEEN_TRACK: SeventeenTrackClient.max_batch,
    Source.AFTERSHIP: AfterShipClient.max_batch,
}
# The sources a household with a USPS key has (the corpus's default).
HOUSEHOLD_SOURCES: Final = (Source.CAINIAO, Source.USPS)
# A household with a 17TRACK key instead: 17TRACK follows every local carrier.
AGGREGATOR_SOURCES: Final = (Source.CAINIAO, Source.SEVENTEEN_TRACK)
# How late an aggregator shows a local carrier's scan (one lag per journey, in this range):
# it reads the carrier's own portal on its own schedule. An assumption, not a measurement.
AGGREGATOR_LAG: Final = (timedelta(minutes=30), timedelta(hours=2))
# A fixed poller's leg found overdue is asked at the next wake-up, this much later.
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


def with_aggregator(journey: Journey, source: Source = Source.SEVENTEEN_TRACK) -> Journey:
    """The journey with an aggregator's copies of every scan of the local carrier.

    The aggregator shows a scan `lag` after it happened (one lag per journey, drawn from
    AGGREGATOR_LAG by the journey's id), never before the carrier's own portal does; a
    copy is a relay of the scan (same key).
    """
    low, high = AGGREGATOR_LAG
    lag = low + (high - low) * random.Random(journey.id).random()
    copies = []
    for event in journey.originals:
        if event.carrier == "Cainiao":
            continue
        own = event.visible_at if event.source is not Source.CAINIAO else event.time
        copies.append(
            replace(
                event,
                id=f"{event.id}-{source.value}",
                source=source,
                visible_at=max(own, event.time + lag),
                relay_of=event.id,
            )
        )
    return replace(journey, events=(*journey.events, *copies))


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
    def numbers(self) -> tuple[str, ...]:
        """Every number of the journey: the one the owner added, then the local one."""
        journey = self.journey
        local = (journey.local_number,) if journey.local_number else ()
        return (journey.origin_number, *local)

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
        # The carrier's own estimate; an aggregator relays it for the same number.
        is_origin = leg == self.origin or (
            leg.source in AGGREGATORS and leg.number == journey.origin_number
        )
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
        if leg.source is Source.USPS:
            carrier: str | None = "USPS"
        else:  # an aggregator names the carrier it follows
            carrier = events[0].carrier if events else journey.local_carrier
        return SourceSnapshot(
            source=leg.source,
            tracking_number=leg.number,
            found=bool(events),
            carrier=carrier,
            events=events,
            eta=self._eta if is_origin else None,
        )


# --- pollers ---------------------------------------------------------------------------


class Poller(ABC):
    """Decides when to ask about which number of each parcel."""

    name: str

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
    views: dict[int, Shipment] = field(default_factory=dict)
    sources: tuple[Source, ...] = HOUSEHOLD_SOURCES
    sent: list[tuple[datetime, Source, int]] = field(default_factory=list)

    def request(self, source: Source, count: int = 1, *, at: datetime | None = None) -> None:
        """Count requests sent to `source` (at the instant `at`, when known)."""
        self.requests[source] += count
        if at is not None and count:
            self.sent.append((at, source, count))

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
        polled = _batch(due, tally, now)
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
    due: Mapping[tuple[int, Leg], None], tally: Tally, now: datetime | None = None
) -> list[tuple[int, Leg]]:
    """What is due, and the requests it takes per source (batched as the clients do)."""
    polled = list(due)
    for source, count in sorted(Counter(leg.source for _, leg in polled).items()):
        tally.request(source, math.ceil(count / BATCH_SIZES[source]), at=now)
    return polled


# --- the tracker -----------------------------------------------------------------------


class VirtualClock:
    """The simulated instant, moved by the simulation loop."""

    def __init__(self, now: datetime) -> None:
        """Start at `now`."""
        self.now = now

    def __call__(self) -> datetime:
        """The current simulated instant."""
        return self.now


class CorpusClient:
    """One source's client, in process: answers from the portals at the virtual clock.

    It batches as the real client does (`BATCH_SIZES`) and counts each batch as one
    request; every number it answers for is noted in the tally as a poll of that leg.
    """

    def __init__(
        self,
        source: Source,
        portals: Sequence[Portal],
        clock: VirtualClock,
        tally: Tally,
        stage_of: Callable[[int], str | None],
    ) -> None:
        """Answer for the numbers of `portals` on `source`."""
        self.source = source
        self.max_batch = BATCH_SIZES[source]
        self.requests_made = 0
        self._portals = portals
        self._owner: dict[str, int] = {}
        for index, portal in enumerate(portals):
            for number in portal.numbers:
                self._owner.setdefault(number, index)
        self._clock = clock
        self._tally = tally
        self._stage_of = stage_of

    async def async_track(self, numbers: Sequence[str]) -> dict[str, SourceResult]:
        """Every number's snapshot as its portal shows it now (not found: unknown)."""
        now = self._clock()
        wanted = unique_numbers(numbers)
        requests = math.ceil(len(wanted) / BATCH_SIZES[self.source])
        self.requests_made += requests
        self._tally.request(self.source, requests, at=now)
        results: dict[str, SourceResult] = {}
        for number in wanted:
            index = self._owner.get(number)
            if index is None:
                results[number] = TrackingNotFoundError(f"{self.source} does not know it")
                continue
            leg = Leg(self.source, number)
            reply = self._portals[index].answer(leg, now)
            self._tally.seen(index, leg, now, reply.keys)
            if (stage := self._stage_of(index)) is not None:
                self._tally.stage_lookups[stage] += 1
            results[number] = reply.snapshot
        return results


def simulate_tracker(
    journeys: Sequence[Journey],
    *,
    sources: Sequence[Source] = HOUSEHOLD_SOURCES,
    settings: TrackerSettings | None = None,
    record: bool = False,
) -> Tally:
    """Replay every journey through the integration's Tracker, all in one household.

    A shipment is added at its `added_at` (and refreshed at once, as the integration
    does for a new subentry) and removed at its `end_at`; in between the tracker is
    refreshed when it asks to be. With `record`, the tally keeps every poll.
    """
    return asyncio.run(_simulate_tracker(journeys, sources, settings, record=record))


async def _simulate_tracker(
    journeys: Sequence[Journey],
    sources: Sequence[Source],
    settings: TrackerSettings | None,
    *,
    record: bool,
) -> Tally:
    tally = Tally(
        poller="adaptive", journeys=journeys, polls=[] if record else None, sources=tuple(sources)
    )
    portals = [Portal(journey) for journey in journeys]
    if not journeys:
        return tally
    clock = VirtualClock(min(journey.added_at for journey in journeys))
    ids = [f"{index:04d}" for index in range(len(journeys))]
    tracker: Tracker

    def stage_of(index: int) -> str | None:
        state = tracker.shipments.get(ids[index])
        if state is None or state.shipment is None:
            return "added"
        return state.shipment.stage.value

    tracker = Tracker(
        {source: CorpusClient(source, portals, clock, tally, stage_of) for source in sources},
        settings=settings,
        clock=clock,
    )
    configs = [
        ShipmentConfig(
            shipment_id=ids[index],
            title=journey.id,
            tracking_number=journey.origin_number,
            time_zone=journey.zone,
        )
        for index, journey in enumerate(journeys)
    ]
    # The instants the household changes: parcels added, parcels given up.
    changes = sorted({j.added_at for j in journeys} | {j.end_at for j in journeys})
    following: list[ShipmentConfig] = []
    next_refresh: datetime | None = None
    while changes or (next_refresh is not None and following):
        if changes and (next_refresh is None or changes[0] <= next_refresh):
            clock.now = changes.pop(0)
            following = [
                config
                for config, journey in zip(configs, journeys, strict=True)
                if journey.added_at <= clock.now < journey.end_at
            ]
            tracker.sync(following)
        else:
            assert next_refresh is not None
            clock.now = next_refresh
        result = await tracker.async_refresh()
        next_refresh = clock.now + tracker.refresh_interval(clock.now, result.next_due)
        for sid, state in result.shipments.items():
            if state.shipment is not None:
                tally.views[int(sid)] = state.shipment
    return tally


def simulate_oracle(
    journeys: Sequence[Journey], sources: Sequence[Source] = HOUSEHOLD_SOURCES
) -> Tally:
    """One request right when each event first becomes visible, batched per instant."""
    tally = Tally(poller="oracle", journeys=journeys, sources=tuple(sources))
    polls: dict[tuple[datetime, Source], set[tuple[int, Leg]]] = defaultdict(set)
    for index, journey in enumerate(journeys):
        first: dict[str, CorpusEvent] = {}
        for event in journey.events:
            if event.source not in sources:
                continue
            kept = first.get(event.key)
            if kept is None or event.visible_at < kept.visible_at:
                first[event.key] = event
        for event in first.values():
            polls[(event.visible_at, event.source)].add((index, Leg(event.source, event.number)))
    portals = [Portal(journey) for journey in journeys]
    for (when, source), legs in sorted(polls.items()):
        tally.request(source, math.ceil(len(legs) / BATCH_SIZES[source]), at=when)
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
    delays_by_mode: dict[str, dict[Stage, list[float]]] = field(default_factory=dict)
    missed_by_mode: dict[str, int] = field(default_factory=dict)
    peak_per_hour: dict[str, int] = field(default_factory=dict)

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


def journey_path(journey: Journey, sources: Sequence[Source] = HOUSEHOLD_SOURCES) -> str:
    """How the integration follows the parcel's last mile with the household's sources."""
    if Source.USPS not in sources and any(s in sources for s in AGGREGATORS):
        return "aggregator"
    if journey.origin_source is Source.USPS:
        return "usps_domestic"
    if journey.local_source is Source.USPS:
        return "cainiao_then_usps"
    return "cainiao_only"


# The stages whose delay is reported per way of following the last mile.
MODE_STAGES: Final = (Stage.OUT_FOR_DELIVERY, Stage.AVAILABLE_FOR_PICKUP)


def figures(tally: Tally) -> Figures:
    """Detection delays and missed rounds from what a poller saw.

    A delay runs from the instant the event first shows at a source the household
    follows the parcel with (a relay's lag is the portal's, not the poller's).
    """
    delays: dict[Stage, list[float]] = {stage: [] for stage in WATCHED_STAGES}
    by_path: dict[str, list[float]] = defaultdict(list)
    by_mode: dict[str, dict[Stage, list[float]]] = defaultdict(
        lambda: {stage: [] for stage in MODE_STAGES}
    )
    missed_by_mode: Counter[str] = Counter()
    undetected: Counter[Stage] = Counter()
    rounds = long_rounds = missed = missed_long = 0
    for index, journey in enumerate(tally.journeys):
        first_visible = journey.first_visible(tally.sources)
        mode = journey_path(journey, tally.sources)
        for event in journey.originals:
            if event.stage not in WATCHED_STAGES or event.key not in first_visible:
                continue
            seen = tally.first_seen.get((index, event.key))
            if seen is None:
                undetected[event.stage] += 1
                continue
            delay = (seen - first_visible[event.key]).total_seconds()
            delays[event.stage].append(delay)
            if event.stage is Stage.OUT_FOR_DELIVERY:
                by_path[mode].append(delay)
            if event.stage in MODE_STAGES:
                by_mode[mode][event.stage].append(delay)
        for start, end in delivery_rounds(journey):
            long_round = end is None or end.time - start.time >= LONG_ROUND
            rounds += 1
            long_rounds += long_round
            seen = tally.first_seen.get((index, start.key))
            ended = first_visible.get(end.key) if end is not None else None
            if seen is None or (ended is not None and seen >= ended):
                missed += 1
                missed_long += long_round
                missed_by_mode[mode] += 1
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
        delays_by_mode={mode: dict(values) for mode, values in sorted(by_mode.items())},
        missed_by_mode=dict(missed_by_mode),
        peak_per_hour={source.value: peak for source, peak in peak_per_hour(tally).items()},
    )


def peak_per_hour(tally: Tally) -> dict[Source, int]:
    """The most requests each source got within any one hour (a sliding window)."""
    peaks: dict[Source, int] = {}
    for source in {source for _, source, _ in tally.sent}:
        sent = sorted((at, count) for at, s, count in tally.sent if s is source)
        window = 0
        start = 0
        peak = 0
        for at, count in sent:
            window += count
            while sent[start][0] <= at - timedelta(hours=1):
                window -= sent[start][1]
                start += 1
            peak = max(peak, window)
        peaks[source] = peak
    return dict(sorted(peaks.items()))


FIXED_INTERVALS: Final[Mapping[str, timedelta]] = {
    "fixed_10m": timedelta(minutes=10),  # the core 17TRACK integration
    "fixed_30m": timedelta(minutes=30),
    "fixed_6h": timedelta(hours=6),  # what Cainiao tolerates
}


def pollers() -> list[Poller]:
    """The fixed-interval pollers the tracker is compared with, fresh."""
    return [FixedPoller(name, every) for name, every in FIXED_INTERVALS.items()]


def run_all(journeys: Sequence[Journey]) -> dict[str, Figures]:
    """The tracker and every fixed poller over the corpus as one household, then the oracle.

    `adaptive_aggregator` and `oracle_aggregator` are the same corpus in a household that
    follows local carriers through 17TRACK (no USPS key).
    """
    results = {"adaptive": figures(simulate_tracker(journeys))}
    results.update({poller.name: figures(simulate(journeys, poller)) for poller in pollers()})
    results["oracle"] = figures(simulate_oracle(journeys))
    aggregated = [with_aggregator(journey) for journey in journeys]
    results["adaptive_aggregator"] = figures(
        simulate_tracker(aggregated, sources=AGGREGATOR_SOURCES)
    )
    results["oracle_aggregator"] = figures(simulate_oracle(aggregated, AGGREGATOR_SOURCES))
    return results


def run_solo(journeys: Sequence[Journey]) -> dict[str, float]:
    """Requests per parcel when each parcel is alone: no batching across parcels."""
    totals: Counter[str] = Counter()
    for journey in journeys:
        totals["adaptive"] += sum(simulate_tracker([journey]).requests.values())
        for poller in pollers():
            totals[poller.name] += sum(simulate([journey], poller).requests.values())
        totals["oracle"] += sum(simulate_oracle([journey]).requests.values())
    return {name: total / len(journeys) for name, total in totals.items()}
