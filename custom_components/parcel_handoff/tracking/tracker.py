"""The tracking loop: which source follows which number, what is due, what changed.

One `Tracker` follows every shipment of a household (a config entry in Home Assistant,
one run of the command line, one simulated household in the benchmark). Each refresh
asks each source once, in batches, about the numbers whose next check is due; follows a
handoff to the source able to track the local number in a second round at once; merges
every timeline into one shipment view; notes the stage changes and handoffs to announce;
and asks the polling policy when to look again. A failing source rests (its own back-off)
and never blocks the others; what was known stays known.

The clock and the clients are injected; the state that must survive a restart is
`persisted()` (plain frozen records, serialised by `persisted.py`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
import logging
from operator import attrgetter
from typing import Final, Protocol

from ._frozen import fill_slots, replace
from .attention import assess_attention
from .carriers import source_for_carrier
from .clients.seventeen_track import SeventeenTrackClient
from .detection import detect_carriers
from .errors import (
    TrackingAuthenticationError,
    TrackingError,
    TrackingInvalidResponseError,
    TrackingNotFoundError,
    TrackingQuotaExceededError,
    TrackingRateLimitError,
    TrackingResponseTooLargeError,
    TrackingTimeoutError,
)
from .model import Handoff, Shipment, Source, SourceResult, SourceSnapshot, Stage, TrackingEvent
from .policy import (
    SOURCE_BUDGETS,
    SOURCE_FLOORS,
    CheckContext,
    backoff_delay,
    is_due,
    is_quiet,
    next_check,
)
from .timeline import build_shipment

_LOGGER = logging.getLogger(__name__)

# Checks due within this window join the current batch rather than wait for their own.
BATCH_WINDOW: Final = timedelta(minutes=2)
# Bounds of the time between two refreshes, whatever the policy asks.
MIN_REFRESH_INTERVAL: Final = timedelta(seconds=30)
MAX_REFRESH_INTERVAL: Final = timedelta(hours=6)

# A number at least this far to its next check rides along in a request going anyway.
RIDE_AFTER: Final = 0.5
# The window of the sources' hourly request budgets (SOURCE_BUDGETS).
BUDGET_WINDOW: Final = timedelta(hours=1)

# Sources that follow a local carrier's number when the carrier has no client of its own.
AGGREGATORS: Final[tuple[Source, ...]] = (Source.SEVENTEEN_TRACK, Source.AFTERSHIP)

# The event type of a handoff announcement (the others are Stage values).
EVENT_HANDOFF: Final = "handoff"

type LegKey = tuple[Source, str]
"""One number followed by one source: the unit of polling."""


class SourceClient(Protocol):
    """What the tracker needs of a source's client (the real ones, or a simulator's)."""

    @property
    def requests_made(self) -> int:
        """Every request sent so far."""

    @property
    def max_batch(self) -> int:
        """The most numbers one request carries."""

    async def async_track(self, numbers: Sequence[str]) -> dict[str, SourceResult]:
        """A snapshot or an error for every requested number; never raises."""


# --- Configuration -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ShipmentConfig:
    """What the owner set for one shipment.

    `carrier` is the source the owner chose (None: detection decides). `time_zone` is
    the destination's zone when it is not the household's own.
    """

    shipment_id: str
    title: str
    tracking_number: str
    order_number: str | None = None
    carrier: Source | None = None
    local_tracking_number: str | None = None
    local_carrier: str | None = None
    time_zone: tzinfo | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackerSettings:
    """The household's options: polling speed, attention patience, how long to keep."""

    speed: float = 1.0
    patience: float = 1.0
    keep_delivered_days: int = 0
    local_tz: tzinfo | None = None
    batch_window: timedelta = BATCH_WINDOW


# --- The persisted form ------------------------------------------------------------------


@fill_slots
@dataclass(frozen=True, slots=True, kw_only=True)
class LegCheck:
    """When a leg was last asked, when to ask again and what went wrong last time.

    `next_check` None after a check means the policy stopped polling it (final stage).
    """

    last_check: datetime | None = None
    next_check: datetime | None = None
    error: str | None = None


@fill_slots
@dataclass(frozen=True, slots=True, kw_only=True)
class ShipmentRecord:
    """The persisted state of one shipment.

    `snapshots` are the latest good answers per leg, kept without their events (those
    live in `events`, the merged timeline, newest first). `has_data` is true once any
    source answered for the shipment. `announced` holds the keys of the stage changes
    and handoffs already announced, so none is announced twice. `stopped` holds the legs
    whose source said it stopped tracking the number: they are not asked again.
    """

    tracking_number: str
    added_at: datetime
    events: tuple[TrackingEvent, ...] = ()
    snapshots: Mapping[LegKey, SourceSnapshot] = field(default_factory=dict)
    checks: Mapping[LegKey, LegCheck] = field(default_factory=dict)
    handoff: Handoff | None = None
    announced: frozenset[str] = frozenset()
    has_data: bool = False
    stopped: frozenset[LegKey] = frozenset()


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredData:
    """Everything that survives a restart: shipment records by id, and client state.

    `registered` holds, per source, the numbers already registered with it (17TRACK
    and AfterShip charge per registration, so we never register a number twice).
    """

    shipments: Mapping[str, ShipmentRecord] = field(default_factory=dict)
    registered: Mapping[Source, frozenset[str]] = field(default_factory=dict)


# --- What a refresh shows ----------------------------------------------------------------


@fill_slots
@dataclass(frozen=True, slots=True, kw_only=True)
class Leg:
    """One number followed by one source for a shipment.

    `superseded` marks the origin leg once another source follows the local number.
    """

    source: Source
    number: str
    superseded: bool = False

    @property
    def key(self) -> LegKey:
        """The leg's key in the record's checks and snapshots."""
        return (self.source, self.number)


@fill_slots
@dataclass(frozen=True, slots=True, kw_only=True)
class ShipmentState:
    """Everything known about one shipment: config, persisted record and merged view.

    `shipment` is None until a source has answered for it.
    """

    config: ShipmentConfig
    record: ShipmentRecord
    shipment: Shipment | None = None
    legs: tuple[Leg, ...] = ()

    @property
    def next_check(self) -> datetime | None:
        """The earliest next check over the legs; None once polling stopped."""
        times = [
            check.next_check
            for leg in self.legs
            if (check := self.record.checks.get(leg.key)) is not None
            and check.next_check is not None
        ]
        return min(times) if times else None

    @property
    def errors(self) -> dict[str, str]:
        """The last error per source of the legs whose last check failed."""
        return {
            leg.source.value: check.error
            for leg in self.legs
            if (check := self.record.checks.get(leg.key)) is not None and check.error
        }


@fill_slots
@dataclass(frozen=True, slots=True, kw_only=True)
class Announcement:
    """A stage change or handoff seen in a refresh, to be announced once."""

    serial: int
    shipment_id: str
    event_type: str  # a Stage value, or EVENT_HANDOFF
    previous_stage: Stage | None
    stage: Stage
    description: str | None
    carrier: str | None
    tracking_number: str
    local_tracking_number: str | None


@dataclass(slots=True, kw_only=True)
class SourceHealth:
    """How a source is doing: its back-off after errors, and whether it refused our keys."""

    consecutive_errors: int = 0
    retry_at: datetime | None = None
    last_error: str | None = None
    auth_failed: bool = False
    last_success: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RefreshResult:
    """What one refresh did and found.

    `next_due` is the earliest check due (None: nothing to poll); `refused` the sources
    that rejected their credentials in this refresh; `all_failed` is true when every
    request failed and no shipment has ever had an answer; `expired` the delivered
    shipments kept longer than the owner wants, dropped from the tracker.
    """

    shipments: Mapping[str, ShipmentState]
    announcements: tuple[Announcement, ...]
    next_due: datetime | None
    refused: frozenset[Source] = frozenset()
    all_failed: bool = False
    retry_at: datetime | None = None
    errors: tuple[str, ...] = ()
    expired: tuple[str, ...] = ()


def error_key(error: TrackingError) -> str:
    """A stable key for an error (diagnostics, attributes, translations)."""
    match error:
        case TrackingAuthenticationError():
            return "authentication"
        case TrackingRateLimitError():
            return "rate_limited"
        case TrackingQuotaExceededError():
            return "quota_exhausted"
        case TrackingInvalidResponseError(blocked=True):
            return "blocked"
        case TrackingResponseTooLargeError():
            return "too_large"
        case TrackingInvalidResponseError():
            return "invalid_response"
        case TrackingTimeoutError():
            return "timeout"
        case TrackingNotFoundError():
            return "not_found"
        case _:
            return "connection"


def stage_key(shipment: Shipment) -> str:
    """Identifies one stage change, so that it is announced once."""
    since = shipment.stage_since.isoformat() if shipment.stage_since else ""
    return f"stage:{shipment.stage.value}:{since}"


def handoff_key(shipment: Shipment) -> str | None:
    """Identifies one handoff (local carrier and number known), or None before it."""
    if shipment.local_carrier is None or shipment.local_tracking_number is None:
        return None
    return f"handoff:{shipment.local_carrier}:{shipment.local_tracking_number}"


def _utcnow() -> datetime:
    return datetime.now(UTC)


# Per source, per number: the shipments whose legs ask for it.
type _Due = dict[Source, dict[str, list[str]]]


class Tracker:
    """Follows a household's shipments on the configured sources."""

    def __init__(
        self,
        clients: Mapping[Source, SourceClient],
        *,
        settings: TrackerSettings | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        """Use `clients` (one per configured source) and read the time from `clock`."""
        self.clients: dict[Source, SourceClient] = dict(clients)
        self.health: dict[Source, SourceHealth] = {source: SourceHealth() for source in clients}
        self.settings = settings or TrackerSettings()
        self._clock = clock
        self._states: dict[str, ShipmentState] = {}
        self._forced: set[LegKey] = set()
        # The events an answer added, per shipment and leg, until the rebuild merges them.
        self._fresh: dict[str, dict[LegKey, tuple[TrackingEvent, ...]]] = {}
        self._sent: dict[Source, deque[tuple[datetime, int]]] = {}
        self._serial = 0
        self._lock = asyncio.Lock()

    @property
    def shipments(self) -> Mapping[str, ShipmentState]:
        """Every followed shipment by id (a copy)."""
        return dict(self._states)

    @property
    def serial(self) -> int:
        """The serial of the newest announcement so far (0 before any)."""
        return self._serial

    @property
    def seventeen_track_quota_remaining(self) -> int | None:
        """Registrations left on the 17TRACK plan, when 17TRACK is keyed and has told."""
        client = self.clients.get(Source.SEVENTEEN_TRACK)
        quota = client.quota if isinstance(client, SeventeenTrackClient) else None
        return quota.remaining if quota is not None else None

    # --- Shipments in and out -------------------------------------------------------

    def restore(self, stored: StoredData, configs: Iterable[ShipmentConfig]) -> None:
        """Start from what the last run saved; a shipment's record needs its own number.

        What the store shows was shown before the stop: its stage and handoff count as
        announced (a store of a release that kept no announced keys included), so a start
        replays no old news; what the first refresh finds beyond it (the parcel moved while
        Home Assistant was down, or a check was due) is announced as any change is.
        """
        for source, numbers in stored.registered.items():
            if (client := self.clients.get(source)) is not None:
                _seed_registered(client, numbers)
        now = self._clock()
        states: dict[str, ShipmentState] = {}
        for config in configs:
            state = self._initial_state(
                config, stored.shipments.get(config.shipment_id), now, restored=True
            )
            if state.shipment is not None:
                known = {stage_key(state.shipment)}
                if (key := handoff_key(state.shipment)) is not None:
                    known.add(key)
                if not known <= state.record.announced:
                    announced = state.record.announced | known
                    state = replace(state, record=replace(state.record, announced=announced))
            states[config.shipment_id] = state
        self._states = states

    def sync(self, configs: Iterable[ShipmentConfig]) -> bool:
        """Follow exactly these shipments: add new ones, drop gone ones, apply changes.

        A changed shipment keeps what is known about its numbers. Returns True when a
        shipment was added or removed.
        """
        now = self._clock()
        wanted = {config.shipment_id: config for config in configs}
        added_or_removed = set(wanted) != set(self._states)
        states: dict[str, ShipmentState] = {}
        for sid, config in wanted.items():
            state = self._states.get(sid)
            if state is None:
                states[sid] = self._initial_state(config, None, now)
            elif state.config != config:
                states[sid] = self._initial_state(config, _rebase(state.record, config), now)
            else:
                states[sid] = state
        self._states = states
        return added_or_removed

    def force(self, shipment_ids: Iterable[str] | None = None) -> None:
        """Ask about these shipments (default: all) at the next refresh, whatever is due."""
        wanted = set(self._states) if shipment_ids is None else set(shipment_ids)
        for sid in wanted:
            if (state := self._states.get(sid)) is not None:
                self._forced.update(leg.key for leg in state.legs)

    def persisted(self) -> StoredData:
        """The state to save: frozen records, safe to serialise from any thread."""
        return StoredData(
            shipments={sid: state.record for sid, state in self._states.items()},
            registered={
                source: frozenset(numbers)
                for source, client in self.clients.items()
                if (numbers := _registered_numbers(client)) is not None
            },
        )

    def _initial_state(
        self,
        config: ShipmentConfig,
        record: ShipmentRecord | None,
        now: datetime,
        *,
        restored: bool = False,
    ) -> ShipmentState:
        if record is None or record.tracking_number != config.tracking_number:
            record = ShipmentRecord(tracking_number=config.tracking_number, added_at=now)
        elif restored and any(check.error for check in record.checks.values()):
            # A failure of the last run (e.g. rejected credentials, since replaced) is
            # retried at once rather than after its back-off.
            record = replace(
                record,
                checks={
                    leg: replace(check, next_check=now) if check.error else check
                    for leg, check in record.checks.items()
                },
            )
        state = ShipmentState(config=config, record=record)
        shipment = self._build(state, now) if record.has_data else None
        return replace(state, shipment=shipment, legs=self._legs(config, shipment, record))

    # --- The refresh ------------------------------------------------------------------

    async def async_refresh(self) -> RefreshResult:
        """Ask what is due, merge, note what changed and plan the next looks."""
        async with self._lock:
            return await self._async_refresh(self._clock())

    async def _async_refresh(self, now: datetime) -> RefreshResult:
        previous = {sid: state.shipment for sid, state in self._states.items()}
        refused: set[Source] = set()
        asked = failed = 0
        rebuilt: set[str] = set()
        asked_about: set[str] = set()
        retries_before = {source: h.retry_at for source, h in self.health.items()}
        # A handoff found in the first round is followed in a second one, at once.
        for round_number in range(2):
            due = self._due(now, only_new=round_number > 0)
            if not due:
                break
            results = await self._async_fetch(due)
            asked += len(results)
            news: set[str] = set()
            for source, answers in results.items():
                if self._note_health(source, due[source], answers, now):
                    failed += 1
                    if self.health[source].auth_failed:
                        refused.add(source)
                for number, sids in due[source].items():
                    result = answers.get(number) or TrackingNotFoundError(number)
                    for sid in sids:
                        if self._apply(sid, (source, number), result, now):
                            news.add(sid)
                        asked_about.add(sid)
            self._rebuild(now, news)
            rebuilt |= news
        self._forced.clear()
        self._refresh_attention(now, rebuilt)
        announcements = self._announce(previous)
        resting = {s for s, h in self.health.items() if h.retry_at != retries_before.get(s)}
        self._reschedule(now, asked_about, resting)
        expired = self._expire(now)
        retries = [h.retry_at for h in self.health.values() if h.retry_at is not None]
        return RefreshResult(
            shipments=dict(self._states),
            announcements=announcements,
            next_due=self.next_due(now),
            refused=frozenset(refused),
            all_failed=bool(asked)
            and failed == asked
            and not any(state.record.has_data for state in self._states.values()),
            retry_at=min(retries) if retries else None,
            errors=tuple(sorted({h.last_error for h in self.health.values() if h.last_error})),
            expired=expired,
        )

    def next_due(self, now: datetime) -> datetime | None:
        """The earliest check due on an available source; None when nothing is polled."""
        upcoming: list[datetime] = []
        free: dict[Source, datetime | None] = {}  # per source: the same answer for every leg
        for state in self._states.values():
            for leg in state.legs:
                health = self.health.get(leg.source)
                if health is None or health.auth_failed:
                    continue
                check = state.record.checks.get(leg.key)
                if check is None or check.last_check is None:
                    at = now
                elif check.next_check is None:
                    continue
                else:
                    at = check.next_check
                if health.retry_at is not None:
                    at = max(at, health.retry_at)
                if leg.source not in free:
                    free[leg.source] = self._budget_free_at(leg.source, now)
                if (free_at := free[leg.source]) is not None:
                    at = max(at, free_at)
                upcoming.append(at)
        return min(upcoming) if upcoming else None

    def refresh_interval(self, now: datetime, next_due: datetime | None) -> timedelta:
        """How long to sleep until `next_due`, within the refresh bounds."""
        if next_due is None:
            return MAX_REFRESH_INTERVAL
        return min(max(next_due - now, MIN_REFRESH_INTERVAL), MAX_REFRESH_INTERVAL)

    def _available(self, source: Source, now: datetime) -> bool:
        health = self.health.get(source)
        if health is None or health.auth_failed:
            return False
        return health.retry_at is None or health.retry_at <= now

    def _due(self, now: datetime, *, only_new: bool) -> _Due:
        """Per available source, the due numbers and the shipments that asked for them.

        Numbers well on their way to their next check ride along in the room a batch
        going anyway has left, so that they cost no request of their own later; no source
        is asked more than its hourly budget allows.
        """
        due: _Due = {}
        riders: dict[Source, list[tuple[datetime, str, str]]] = {}
        early = self.settings.batch_window
        for sid, state in self._states.items():
            for leg in state.legs:
                if not self._available(leg.source, now):
                    continue
                check = state.record.checks.get(leg.key)
                never = check is None or check.last_check is None
                if only_new and not never:
                    continue
                if never or leg.key in self._forced or _due_now(check, now):
                    due.setdefault(leg.source, {}).setdefault(leg.number, []).append(sid)
                    continue
                if check is None or check.next_check is None:
                    continue
                soon = _soon(check, leg.source, now, early)
                ride = soon or _may_ride(check, leg.source, now)
                if not ride or is_quiet(self._view(state), now, self._context(state, leg, check)):
                    continue  # a look in the carrier's night shows nothing new
                if soon:
                    due.setdefault(leg.source, {}).setdefault(leg.number, []).append(sid)
                else:
                    riders.setdefault(leg.source, []).append((check.next_check, leg.number, sid))
        return {
            source: numbers
            for source, wanted in due.items()
            if (numbers := self._within_budget(source, wanted, riders.get(source, []), now))
        }

    def _within_budget(
        self,
        source: Source,
        wanted: dict[str, list[str]],
        riders: list[tuple[datetime, str, str]],
        now: datetime,
    ) -> dict[str, list[str]]:
        """The due numbers the source's budget allows, most overdue first, and riders."""
        size = self._batch_size(source)
        allowed = self._budget_left(source, now) * size
        numbers = wanted
        if allowed < len(wanted):
            # Over budget: the most overdue first, the rest at a later refresh.
            kept = sorted(wanted, key=lambda n: self._due_since(source, n, wanted[n]))
            numbers = {number: wanted[number] for number in kept[:allowed]}
        room = min(-len(numbers) % size, allowed - len(numbers))
        for _, number, sid in sorted(riders):
            if number in numbers:
                numbers[number].append(sid)
            elif room > 0 and numbers:
                numbers[number] = [sid]
                room -= 1
        return numbers

    def _batch_size(self, source: Source) -> int:
        return max(self.clients[source].max_batch, 1)

    def _due_since(self, source: Source, number: str, sids: Sequence[str]) -> datetime:
        """When a number fell due (never asked: the earliest instant)."""
        times = [
            check.next_check
            for sid in sids
            if (check := self._states[sid].record.checks.get((source, number))) is not None
            and check.last_check is not None
            and check.next_check is not None
        ]
        return min(times) if len(times) == len(sids) else datetime.min.replace(tzinfo=UTC)

    def _budget_left(self, source: Source, now: datetime) -> int:
        """Requests the source may still get in the hour that ends now."""
        sent = self._sent.setdefault(source, deque())
        while sent and sent[0][0] <= now - BUDGET_WINDOW:
            sent.popleft()
        return max(SOURCE_BUDGETS[source] - sum(count for _, count in sent), 0)

    def _budget_free_at(self, source: Source, now: datetime) -> datetime | None:
        """When the source may be asked again, if its budget is spent now."""
        if self._budget_left(source, now) > 0:
            return None
        return self._sent[source][0][0] + BUDGET_WINDOW

    async def _async_fetch(self, due: _Due) -> dict[Source, dict[str, SourceResult]]:
        """One batched request per source, all sources at once."""
        sources = list(due)
        answers = await asyncio.gather(
            *(self._async_track(source, list(due[source])) for source in sources)
        )
        return dict(zip(sources, answers, strict=True))

    async def _async_track(self, source: Source, numbers: list[str]) -> dict[str, SourceResult]:
        client = self.clients[source]
        if isinstance(client, SeventeenTrackClient) and client.quota is None:
            # Each new number costs quota: learn what is left once, before registering any.
            try:
                await client.async_get_quota()
            except TrackingError as err:
                _LOGGER.debug("17TRACK quota could not be read: %s", err)
        before = client.requests_made
        answers = await client.async_track(numbers)
        if (sent := client.requests_made - before) > 0:
            self._sent.setdefault(source, deque()).append((self._clock(), sent))
        return answers

    def _note_health(
        self,
        source: Source,
        numbers: Iterable[str],
        answers: Mapping[str, SourceResult],
        now: datetime,
    ) -> bool:
        """Record how the source did; True when the whole source failed."""
        problems = [answers.get(number) for number in numbers]
        health = self.health[source]
        if not all(isinstance(p, TrackingError) and _is_source_error(p) for p in problems):
            errors = [p for p in problems if isinstance(p, TrackingError) and _is_source_error(p)]
            health.consecutive_errors = 0
            health.retry_at = None
            health.last_success = now
            health.last_error = error_key(errors[0]) if errors else None
            return False
        error = next(p for p in problems if isinstance(p, TrackingError))
        health.last_error = error_key(error)
        if isinstance(error, TrackingAuthenticationError):
            # Other sources keep going: a revoked USPS key must not stop Cainiao.
            _LOGGER.debug("%s rejected the credentials", source)
            health.auth_failed = True
            return True
        health.consecutive_errors += 1
        delay = backoff_delay(
            health.consecutive_errors,
            retry_after=_retry_after(error),  # ha-compat: ok (the engine's back-off)
            blocked=isinstance(error, TrackingQuotaExceededError)
            or (isinstance(error, TrackingInvalidResponseError) and error.blocked),
        )
        health.retry_at = now + delay
        _LOGGER.debug("%s failed (%s); resting until %s", source, health.last_error, delay)
        return True

    def _apply(self, sid: str, leg: LegKey, result: SourceResult, now: datetime) -> bool:
        """Store one answer on a shipment; True when it tells something new."""
        if (state := self._states.get(sid)) is None:
            return False  # removed while the request was under way
        record = state.record
        checks = {**record.checks, leg: LegCheck(last_check=now)}
        news = not record.has_data
        if isinstance(result, SourceSnapshot) and result.tracking_stopped:
            # The source stopped following the number: what it said last stays known.
            record = self._stop(replace(record, checks=checks, has_data=True), leg)
            news = True
        elif isinstance(result, SourceSnapshot):
            # Portals repeat their whole timeline: keep only what the merged one lacks.
            known = frozenset(record.events)
            fresh = tuple(event for event in result.events if event not in known)
            previous = record.snapshots.get(leg)
            if fresh or previous is None or not _same_summary(previous, result):
                news = True
                # The record keeps the snapshot without events; the rebuild merges the fresh.
                snapshot = replace(result, events=()) if result.events else result
                self._fresh.setdefault(sid, {})[leg] = fresh
                record = replace(
                    record,
                    snapshots={**record.snapshots, leg: snapshot},
                    checks=checks,
                    has_data=True,
                )
            else:
                record = replace(record, checks=checks, has_data=True)
        elif isinstance(result, TrackingNotFoundError):
            # Nothing to add, but the source answered: keep what we knew.
            record = replace(record, checks=checks, has_data=True)
        else:
            check = LegCheck(last_check=now, error=error_key(result))
            record = replace(record, checks={**record.checks, leg: check})
        self._states[sid] = replace(state, record=record)
        return news

    def _stop(self, record: ShipmentRecord, leg: LegKey) -> ShipmentRecord:
        """The source stopped tracking the number: forget the registration, ask elsewhere."""
        source, number = leg
        if (registered := _registered_numbers(self.clients.get(source))) is not None:
            registered.discard(number)
        _LOGGER.debug("%s stopped tracking a number; it is no longer asked there", source)
        return replace(record, stopped=record.stopped | {leg})

    # --- Merging, announcing, scheduling ---------------------------------------------

    def _build(
        self,
        state: ShipmentState,
        now: datetime,
        fresh: Mapping[LegKey, tuple[TrackingEvent, ...]] | None = None,
    ) -> Shipment:
        """The shipment view of a record, with the `fresh` events its answers added."""
        config, record = state.config, state.record
        history: Sequence[TrackingEvent] = record.events
        snapshots: Collection[SourceSnapshot] = record.snapshots.values()
        if fresh:
            # In the order the snapshots' own events would come: the merge keeps it on ties.
            history = (
                *history,
                *(e for leg, s in record.snapshots.items() for e in fresh.get(leg, s.events)),
            )
            snapshots = [replace(s, events=()) if s.events else s for s in snapshots]

        def build(local_carrier: str | None, local_number: str | None) -> Shipment:
            return build_shipment(
                config.tracking_number,
                snapshots,
                now=now,
                history=history,
                local_carrier=local_carrier,
                local_tracking_number=local_number,
                added_at=record.added_at,
                patience=self.settings.patience,
            )

        shipment = build(config.local_carrier, config.local_tracking_number)
        if shipment.handoff is None and record.handoff is not None:
            # The portal stopped naming the local carrier; we remember it.
            shipment = build(
                config.local_carrier or record.handoff.carrier,
                config.local_tracking_number or record.handoff.tracking_number,
            )
        return shipment

    def _rebuild(self, now: datetime, sids: Iterable[str]) -> None:
        """Rebuild the shipments that got answers, and their legs."""
        for sid in sids:
            state = self._states.get(sid)
            fresh = self._fresh.pop(sid, None)
            if state is None or not state.record.has_data:
                continue
            shipment = self._build(state, now, fresh)
            record = replace(
                state.record,
                events=shipment.events,
                handoff=shipment.handoff or state.record.handoff,
                # The merged timeline holds the events now; snapshots keep the rest (as saved).
                snapshots={
                    leg: replace(s, events=()) if s.events else s
                    for leg, s in state.record.snapshots.items()
                },
            )
            self._states[sid] = replace(
                state,
                record=record,
                shipment=shipment,
                legs=self._legs(state.config, shipment, record),
            )
        self._fresh.clear()

    def _refresh_attention(self, now: datetime, rebuilt: set[str]) -> None:
        """Attention depends on the clock: reassess it for the shipments not rebuilt."""
        for sid, state in self._states.items():
            if sid in rebuilt or state.shipment is None:
                continue
            attention = assess_attention(
                state.shipment,
                now,
                added_at=state.record.added_at,
                patience=self.settings.patience,
            )
            if attention != state.shipment.attention:
                self._states[sid] = replace(
                    state, shipment=replace(state.shipment, attention=attention)
                )

    def _announce(self, previous: Mapping[str, Shipment | None]) -> tuple[Announcement, ...]:
        """Note every new stage and handoff; return them, but for a first answer.

        A shipment's first answer is a baseline (what it shows is recorded as announced
        without an announcement): a parcel added already in customs is no news.
        """
        found: list[Announcement] = []
        for sid, state in self._states.items():
            if state.shipment is None:
                continue
            before = previous.get(sid)
            if before is state.shipment:
                continue
            record, news = self._note_changes(sid, before, state.shipment, state.record)
            if before is not None:
                found.extend(news)
            if record is not state.record:
                self._states[sid] = replace(state, record=record)
        return tuple(found)

    def _note_changes(
        self,
        sid: str,
        before: Shipment | None,
        shipment: Shipment,
        record: ShipmentRecord,
    ) -> tuple[ShipmentRecord, list[Announcement]]:
        """Record this shipment's new stage and handoff as announced; return the news."""
        news: list[Announcement] = []
        previous_stage = before.stage if before is not None else None
        keys: list[tuple[str, str]] = []
        if previous_stage != shipment.stage:
            keys.append((stage_key(shipment), shipment.stage.value))
        if (key := handoff_key(shipment)) is not None:
            keys.append((key, EVENT_HANDOFF))
        fresh = [(key, kind) for key, kind in keys if key not in record.announced]
        if not fresh:
            return record, news
        latest = shipment.latest_event
        for _key, event_type in fresh:
            self._serial += 1
            news.append(
                Announcement(
                    serial=self._serial,
                    shipment_id=sid,
                    event_type=event_type,
                    previous_stage=previous_stage,
                    stage=shipment.stage,
                    description=latest.description if latest else None,
                    carrier=shipment.carrier,
                    tracking_number=shipment.tracking_number,
                    local_tracking_number=shipment.local_tracking_number,
                )
            )
        announced = record.announced | {key for key, _ in fresh}
        return replace(record, announced=announced), news

    def _reschedule(self, now: datetime, asked: set[str], resting: set[Source]) -> None:
        """Recompute the next checks of the shipments asked about, and of the legs whose
        source's back-off changed (the others' next checks stand)."""
        for sid, state in self._states.items():
            if sid not in asked and not (
                resting and any(leg.source in resting for leg in state.legs)
            ):
                continue
            record = state.record
            shipment = self._view(state)
            checks = dict(record.checks)
            changed = False
            for leg in state.legs:
                check = checks.get(leg.key)
                if check is None or check.last_check is None:
                    continue
                upcoming = next_check(shipment, now, self._context(state, leg, check))
                if upcoming != check.next_check:
                    checks[leg.key] = replace(check, next_check=upcoming)
                    changed = True
            if changed:
                self._states[sid] = replace(state, record=replace(record, checks=checks))

    @staticmethod
    def _view(state: ShipmentState) -> Shipment:
        """The shipment view the policy reads (not found until a source answered)."""
        return state.shipment or Shipment(
            tracking_number=state.config.tracking_number, stage=Stage.NOT_FOUND
        )

    def _context(self, state: ShipmentState, leg: Leg, check: LegCheck) -> CheckContext:
        """What the policy needs about one leg besides the shipment."""
        shipment = state.shipment
        # The source of the carrier that holds the parcel: the others relay its scans.
        holder = (shipment.local_carrier or shipment.carrier) if shipment is not None else None
        health = self.health.get(leg.source)
        return CheckContext(
            source=leg.source,
            last_check=check.last_check,
            speed=self.settings.speed,
            local_tz=state.config.time_zone or self.settings.local_tz,
            superseded=leg.superseded,
            relayed=leg.source is not source_for_carrier(holder),
            retry_at=health.retry_at if health is not None else None,
        )

    def _expire(self, now: datetime) -> tuple[str, ...]:
        """Drop delivered shipments kept longer than the owner wants; return their ids."""
        days = self.settings.keep_delivered_days
        if days <= 0:
            return ()
        keep = timedelta(days=days)
        expired = tuple(
            sid
            for sid, state in self._states.items()
            if (shipment := state.shipment) is not None
            and shipment.stage is Stage.DELIVERED
            and (shipment.stage_since or state.record.added_at) + keep <= now
        )
        for sid in expired:
            del self._states[sid]
        return expired

    # --- Which source follows which number -------------------------------------------

    def _legs(
        self, config: ShipmentConfig, shipment: Shipment | None, record: ShipmentRecord
    ) -> tuple[Leg, ...]:
        """Which source follows which number: the main one, then the local one if any."""
        main_source = self._main_source(config)
        local_number = (
            config.local_tracking_number
            or (shipment.local_tracking_number if shipment else None)
            or (record.handoff.tracking_number if record.handoff else None)
            or _portal_local_number(record, config, main_source)
        )
        local_carrier = (
            config.local_carrier
            or (shipment.local_carrier if shipment else None)
            or (record.handoff.carrier if record.handoff else None)
        )
        local: Leg | None = None
        if local_number is not None:
            source = self._local_source(
                local_number,
                local_carrier,
                trusted=bool(config.local_tracking_number),
                stopped=record.stopped,
            )
            if source is not None and (source, local_number) != (
                main_source,
                config.tracking_number,
            ):
                local = Leg(source=source, number=local_number)
        main = Leg(
            source=main_source,
            number=config.tracking_number,
            superseded=local is not None and local.source != main_source,
        )
        return (main, local) if local is not None else (main,)

    def _local_source(
        self, number: str, carrier: str | None, *, trusted: bool, stopped: frozenset[LegKey]
    ) -> Source | None:
        """The configured source to follow a local number on.

        A number the owner typed is trusted; one a portal gave must fit the source
        (Cainiao may name USPS before it has the USPS number). A number whose carrier
        is unknown goes to a source detection says can track its format. A source that
        stopped tracking the number is passed over.
        """
        able = None if trusted else _sources_able_to_track(number)
        preferred: list[Source | None]
        if carrier is None:
            preferred = [*_detected_sources(number), *AGGREGATORS]
        else:
            preferred = [source_for_carrier(carrier), *AGGREGATORS]
        return next(
            (
                s
                for s in preferred
                if s is not None
                and s in self.clients
                and (able is None or s in able)
                and (s, number) not in stopped
            ),
            None,
        )

    def _main_source(self, config: ShipmentConfig) -> Source:
        """The owner's choice when it is configured, else the best detected source."""
        if config.carrier is not None and config.carrier in self.clients:
            return config.carrier
        for source in _detected_sources(config.tracking_number):
            if source in self.clients:
                return source
        return Source.CAINIAO


def _due_now(check: LegCheck | None, now: datetime) -> bool:
    """Due now (or overdue)."""
    return check is not None and check.next_check is not None and check.next_check <= now


def _floor_passed(check: LegCheck, source: Source, now: datetime) -> bool:
    return check.last_check is None or now - check.last_check >= SOURCE_FLOORS[source]


def _soon(check: LegCheck, source: Source, now: datetime, early: timedelta) -> bool:
    """Due within `early`, and the source's floor has passed: asked now, with the rest."""
    return _floor_passed(check, source, now) and is_due(check.next_check, now, early=early)


def _may_ride(check: LegCheck, source: Source, now: datetime) -> bool:
    """RIDE_AFTER of the way to its next check, past the floor: it may fill a batch's room."""
    last, upcoming = check.last_check, check.next_check
    if last is None or upcoming is None or not _floor_passed(check, source, now):
        return False
    return now >= last + (upcoming - last) * RIDE_AFTER


# What a snapshot says besides its events (whatever fields the model gains).
_SUMMARY_FIELDS: Final = tuple(f.name for f in fields(SourceSnapshot) if f.name != "events")
_summary: Final = attrgetter(*_SUMMARY_FIELDS)


def _same_summary(a: SourceSnapshot, b: SourceSnapshot) -> bool:
    """True when two snapshots say the same but for their events."""
    return type(a) is type(b) and _summary(a) == _summary(b)


def _portal_local_number(
    record: ShipmentRecord, config: ShipmentConfig, main_source: Source
) -> str | None:
    """A local number the main portal gave, even when no carrier is named for it."""
    snapshot = record.snapshots.get((main_source, config.tracking_number))
    number = snapshot.local_tracking_number if snapshot is not None else None
    return number if number and number != config.tracking_number else None


@lru_cache(maxsize=4096)
def _detected_sources(number: str) -> tuple[Source, ...]:
    """The sources detection names for a number, best candidate first."""
    try:
        candidates = detect_carriers(number)
    except TrackingError:
        return ()
    return tuple(dict.fromkeys(s for candidate in candidates for s in candidate.sources))


@lru_cache(maxsize=4096)
def _sources_able_to_track(number: str) -> frozenset[Source] | None:
    """Sources that can track a number of this shape; None when it fits no rule."""
    try:
        candidates = detect_carriers(number)
    except TrackingError:
        return None
    return frozenset(source for candidate in candidates for source in candidate.sources)


def _rebase(record: ShipmentRecord, config: ShipmentConfig) -> ShipmentRecord:
    """A record for a changed shipment: drop what came from a local number no longer its."""
    local = config.local_tracking_number
    if local is None or record.handoff is None or record.handoff.tracking_number == local:
        return record
    dropped = record.handoff.tracking_number
    return replace(
        record,
        handoff=None,
        snapshots={leg: s for leg, s in record.snapshots.items() if leg[1] != dropped},
        checks={leg: c for leg, c in record.checks.items() if leg[1] != dropped},
        events=tuple(e for e in record.events if e.tracking_number != dropped),
    )


def _retry_after(error: TrackingError) -> float | None:
    return error.retry_after if isinstance(error, TrackingRateLimitError) else None


def _is_source_error(error: TrackingError) -> bool:
    """True for errors about the source itself rather than one number."""
    return not isinstance(error, TrackingNotFoundError)


# 17TRACK and AfterShip keep the numbers they registered; their attribute names differ.
_REGISTRATION_ATTRS: Final[tuple[str, ...]] = ("registered", "created")


def _registered_numbers(client: object) -> set[str] | None:
    for attr in _REGISTRATION_ATTRS:
        numbers = getattr(client, attr, None)
        if isinstance(numbers, set):
            return numbers
    return None


def _seed_registered(client: object, numbers: Iterable[str]) -> None:
    if (known := _registered_numbers(client)) is not None:
        known.update(numbers)
