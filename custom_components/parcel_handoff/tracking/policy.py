"""When to look again: a pure function of the shipment, the source and the clock.

Rarely during a quiet line-haul leg, often while the parcel is out for delivery, never
after a delivery has been confirmed. Local carriers do not scan at night and start
their rounds in the morning, so the last mile is watched closely only then; a source
that relays the carrier's scans (Cainiao for a post, an aggregator) shows that morning
hours later, so its window is shifted and widened by its relay lag. Each source keeps
its own floor per number and the household its hourly budget per source (the tracker
enforces it): Alibaba soft-bans addresses that poll Cainiao hard, USPS allows 60 an hour.
The figures behind each constant are in benchmarks/README.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Final

from ._frozen import fill_slots
from .model import FINAL_STAGES, Shipment, Source, Stage

# How often to look, per stage, at normal speed: the one table to tune.
STAGE_INTERVALS: Final[dict[Stage, timedelta]] = {
    Stage.NOT_FOUND: timedelta(hours=12),
    Stage.INFO_RECEIVED: timedelta(hours=12),
    Stage.ORIGIN_PROCESSING: timedelta(hours=8),
    Stage.IN_TRANSIT: timedelta(hours=12),
    Stage.CUSTOMS: timedelta(hours=8),
    Stage.LAST_MILE: timedelta(minutes=90),
    Stage.OUT_FOR_DELIVERY: timedelta(minutes=20),
    Stage.AVAILABLE_FOR_PICKUP: timedelta(hours=3),
    Stage.DELIVERY_FAILED: timedelta(hours=1),
    Stage.EXCEPTION: timedelta(hours=3),
    Stage.RETURNING: timedelta(hours=12),
    Stage.DELIVERED: timedelta(hours=2),
    Stage.RETURNED: timedelta(hours=2),
}

# In these stages a delivery round can start any morning: look often then. The window
# runs to 14:00 because some rounds start late; 14 minutes keeps a round's detection
# under 15 (benchmarks/README.md). Outside it the last mile has nothing time-critical.
ROUND_STAGES: Final = frozenset({Stage.LAST_MILE, Stage.DELIVERY_FAILED})
ROUND_INTERVAL: Final = timedelta(minutes=14)
ROUND_START: Final = time(6, 0)
ROUND_END: Final = time(14, 0)

# Before the last mile, a parcel whose estimated delivery is this close is watched as if
# in it: a domestic parcel goes from "in transit" to "out for delivery" within hours.
# Only a carrier's own narrow estimate counts: a marketplace's spans a week or more.
ETA_LEAD: Final = timedelta(days=1)
ETA_NARROW: Final = timedelta(days=2)
ETA_STAGES: Final = frozenset({Stage.ORIGIN_PROCESSING, Stage.IN_TRANSIT, Stage.CUSTOMS})

# Before the last mile, one look as each morning round starts: a parcel handed to the local
# carrier overnight is then watched from its first possible round, however rare the looks.
MORNING_LOOK_STAGES: Final = frozenset({Stage.CUSTOMS})

# The final-mile carrier scans only by day; at night the next look waits for morning.
DAYTIME_STAGES: Final = frozenset(
    {
        Stage.LAST_MILE,
        Stage.OUT_FOR_DELIVERY,
        Stage.AVAILABLE_FOR_PICKUP,
        Stage.DELIVERY_FAILED,
    }
)
DAY_START: Final = time(6, 0)
DAY_END: Final = time(21, 0)

# A source that relays the local carrier's scans (Cainiao for a post it hands over to, an
# aggregator for any carrier) shows them this much later: at least the first, at most the
# second. Its round and its day are the carrier's, that much later and that much longer.
RELAY_LAGS: Final[dict[Source, tuple[timedelta, timedelta]]] = {
    Source.CAINIAO: (timedelta(hours=1, minutes=30), timedelta(hours=5, minutes=30)),
    Source.SEVENTEEN_TRACK: (timedelta(minutes=30), timedelta(hours=2)),
    Source.AFTERSHIP: (timedelta(minutes=30), timedelta(hours=2)),
}

# Never ask a source about one number more often than this, whatever the stage.
SOURCE_FLOORS: Final[dict[Source, timedelta]] = {
    Source.CAINIAO: timedelta(minutes=14),
    Source.USPS: timedelta(minutes=5),
    Source.SEVENTEEN_TRACK: timedelta(minutes=10),
    Source.AFTERSHIP: timedelta(minutes=10),
}

# Requests per hour a household may send each source, whatever is due or forced: USPS's
# published quota (60 an hour); AfterShip's 10 a second and 17TRACK's 3 a second, taken
# per hour; for Cainiao, which publishes none, our own pace: one request a minute (each up
# to 10 numbers), the pace of a person reloading the tracking page.
SOURCE_BUDGETS: Final[dict[Source, int]] = {
    Source.CAINIAO: 60,
    Source.USPS: 60,
    Source.SEVENTEEN_TRACK: 3 * 3600,
    Source.AFTERSHIP: 10 * 3600,
}

# Once the local carrier's own portal follows the parcel, the origin portal only
# needs an occasional look (it may still relay a return or an exception).
SUPERSEDED_LEG_INTERVAL: Final = timedelta(hours=12)

# Errors: exponential backoff from the first delay, capped; a block page backs off hard.
BACKOFF_FIRST: Final = timedelta(minutes=5)
BACKOFF_MAX: Final = timedelta(hours=6)
BLOCKED_BACKOFF: Final = timedelta(hours=6)


@fill_slots
@dataclass(frozen=True, slots=True, kw_only=True)
class CheckContext:
    """What the policy needs to know besides the shipment itself.

    `speed` divides every stage interval (2 is twice as often), never the source
    floors. `local_tz` is the final-mile carrier's time zone when no event tells it.
    `superseded` marks the origin leg once another source follows the local number.
    `relayed` marks a leg whose source shows the final-mile carrier's scans second-hand
    (RELAY_LAGS). `retry_at` is the source's own backoff, after an error or a rate limit.
    """

    source: Source
    last_check: datetime | None = None
    speed: float = 1.0
    local_tz: tzinfo | None = None
    superseded: bool = False
    relayed: bool = False
    retry_at: datetime | None = None


def stage_interval(stage: Stage, *, speed: float = 1.0) -> timedelta:
    """The base interval of a stage at the given speed."""
    return STAGE_INTERVALS[stage] / max(speed, 0.05)


def _local_zone(shipment: Shipment, context: CheckContext) -> tzinfo:
    """The carrier's clock: the newest event's offset, else the configured zone."""
    newest = shipment.latest_event
    if newest is not None and shipment.local_carrier in (None, newest.carrier):
        zone = newest.time.tzinfo
        if zone is not None and newest.time.utcoffset():
            return zone
    return context.local_tz or (newest.time.tzinfo if newest and newest.time.tzinfo else UTC)


@dataclass(frozen=True, slots=True)
class _Window:
    """A daily window of the carrier's clock as one source shows it: later and longer."""

    start: time
    end: time
    zone: tzinfo
    lead: timedelta = timedelta()
    lag: timedelta = timedelta()

    def on(self, day: date) -> tuple[datetime, datetime]:
        """The window that opens on `day` (the carrier's day), as instants."""
        begin = datetime.combine(day, self.start, tzinfo=self.zone) + self.lead
        return begin, datetime.combine(day, self.end, tzinfo=self.zone) + self.lag

    def _days(self, at: datetime) -> tuple[date, ...]:
        first = (at - self.lag).astimezone(self.zone).date()
        last = (at - self.lead).astimezone(self.zone).date()
        return (first,) if first == last else (first, last)

    def contains(self, at: datetime) -> bool:
        """True while one of the windows is open."""
        return any(begin <= at < end for begin, end in map(self.on, self._days(at)))

    def next_start(self, at: datetime) -> datetime:
        """The first window opening after `at`."""
        day = (at - self.lead).astimezone(self.zone).date()
        begin, _ = self.on(day)
        return begin if begin > at else self.on(day + timedelta(days=1))[0]


_NO_LAG: Final = (timedelta(), timedelta())


def _windows(zone: tzinfo, context: CheckContext) -> tuple[_Window, _Window]:
    """The carrier's day and its morning round, as this leg's source shows them."""
    lead, lag = RELAY_LAGS.get(context.source, _NO_LAG) if context.relayed else _NO_LAG
    bounds = (DAY_START, DAY_END, ROUND_START, ROUND_END)
    return _window_pair(id(zone), zone, lead, lag, bounds)


@lru_cache(maxsize=256)
def _window_pair(
    _zone_id: int,  # equal zones of other names stay apart: the windows keep the zone given
    zone: tzinfo,
    lead: timedelta,
    lag: timedelta,
    bounds: tuple[time, time, time, time],
) -> tuple[_Window, _Window]:
    """`_windows` for one zone and relay lag: a household has few of either."""
    day_start, day_end, round_start, round_end = bounds
    return (
        _Window(day_start, day_end, zone, lead, lag),
        _Window(round_start, round_end, zone, lead, lag),
    )


def _next_daytime(candidate: datetime, day: _Window) -> datetime:
    """Move a check that falls in the carrier's night to the next morning."""
    return candidate if day.contains(candidate) else day.next_start(candidate)


def _round_candidate(after: datetime, interval: timedelta, window: _Window) -> datetime:
    """Inside the morning round window look every ROUND_INTERVAL, else at the interval."""
    if window.contains(after):
        return min(after + ROUND_INTERVAL, after + interval)
    return min(after + interval, window.next_start(after))


def _delivery_due(shipment: Shipment, at: datetime) -> bool:
    """True once the estimated delivery window begins within ETA_LEAD."""
    eta = shipment.eta
    if eta is None or eta.earliest is None:
        return False
    narrow = eta.latest is None or eta.latest - eta.earliest <= ETA_NARROW
    return narrow and at >= eta.earliest - ETA_LEAD


def next_check(shipment: Shipment, now: datetime, context: CheckContext) -> datetime | None:
    """When to ask `context.source` about this shipment again; None means never.

    Delivered and returned parcels get one confirmation look after the stage began
    (portals correct themselves, late events arrive), then polling stops.
    """
    stage = shipment.stage
    last = context.last_check
    interval = stage_interval(stage, speed=context.speed)

    if stage in FINAL_STAGES:
        began = shipment.stage_since or last or now
        confirm_at = began + interval
        if last is not None and last >= confirm_at:
            return None
        candidate = confirm_at
    else:
        base = last or now
        day, delivery_round = _windows(_local_zone(shipment, context), context)
        if context.superseded:
            candidate = base + max(interval, SUPERSEDED_LEG_INTERVAL)
        elif stage in ROUND_STAGES:
            candidate = _round_candidate(base, interval, delivery_round)
        elif stage in ETA_STAGES and _delivery_due(shipment, base):
            last_mile = stage_interval(Stage.LAST_MILE, speed=context.speed)
            candidate = _next_daytime(_round_candidate(base, last_mile, delivery_round), day)
        elif stage in MORNING_LOOK_STAGES:
            candidate = min(base + interval, delivery_round.next_start(base))
        else:
            candidate = base + interval
        if stage in DAYTIME_STAGES:
            candidate = _next_daytime(candidate, day)

    if last is not None:
        candidate = max(candidate, last + SOURCE_FLOORS[context.source])
    if context.retry_at is not None:
        candidate = max(candidate, context.retry_at)
    return candidate


def is_quiet(shipment: Shipment, at: datetime, context: CheckContext) -> bool:
    """True in the carrier's night, as this leg's source shows it, for a stage it scans
    only by day: a look then can show nothing new."""
    if shipment.stage not in DAYTIME_STAGES:
        return False
    day, _ = _windows(_local_zone(shipment, context), context)
    return not day.contains(at)


def backoff_delay(
    consecutive_errors: int, *, retry_after: float | None = None, blocked: bool = False
) -> timedelta:
    """How long a source rests after `consecutive_errors` failures in a row.

    A Retry-After from the source is honoured (it knows best), up to BACKOFF_MAX: a date
    decades away must not silence a source for good; a block or captcha page means we
    were too eager, so the rest is long.
    """
    if retry_after is not None and retry_after > 0:
        # Compared in seconds: a huge value would overflow timedelta.
        return timedelta(seconds=min(retry_after, BACKOFF_MAX.total_seconds()))
    if blocked:
        return BLOCKED_BACKOFF
    exponent = max(consecutive_errors - 1, 0)
    delay: timedelta = BACKOFF_FIRST * (2 ** min(exponent, 16))
    return min(delay, BACKOFF_MAX)


def is_due(next_at: datetime | None, now: datetime, *, early: timedelta = timedelta()) -> bool:
    """True when a check is due now, or within `early` (to share a batched request)."""
    return next_at is not None and next_at <= now + early
