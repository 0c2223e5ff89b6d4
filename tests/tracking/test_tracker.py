"""The tracker on a virtual clock with scripted clients: legs, batching, handoffs, back-off."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest

from custom_components.parcel_handoff.tracking.errors import (
    TrackingAuthenticationError,
    TrackingConnectionError,
    TrackingError,
    TrackingInvalidResponseError,
    TrackingNotFoundError,
    TrackingRateLimitError,
)
from custom_components.parcel_handoff.tracking.model import (
    Source,
    SourceResult,
    SourceSnapshot,
    Stage,
)
from custom_components.parcel_handoff.tracking.policy import (
    BACKOFF_FIRST,
    BLOCKED_BACKOFF,
    SOURCE_BUDGETS,
    SOURCE_FLOORS,
    STAGE_INTERVALS,
)
from custom_components.parcel_handoff.tracking.tracker import (
    BUDGET_WINDOW,
    EVENT_HANDOFF,
    MAX_REFRESH_INTERVAL,
    MIN_REFRESH_INTERVAL,
    RIDE_AFTER,
    Leg,
    ShipmentConfig,
    Tracker,
    TrackerSettings,
)

from .helpers import T0, ev, snap, usps

CAINIAO_NUMBER = "LP00712196096435"
USPS_NUMBER = "9261398887145239041437"
OTHER_USPS = "9400111899223344556677"


class Clock:
    """A virtual clock the test moves."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def tick(self, delta: timedelta) -> None:
        self.now += delta


class ScriptedClient:
    """A source that answers from `answers` (unknown: not found) or fails with `error`."""

    def __init__(self, source: Source) -> None:
        self.max_batch = 50
        self.source = source
        self.requests_made = 0
        self.calls: list[list[str]] = []
        self.answers: dict[str, SourceResult] = {}
        self.error: TrackingError | None = None

    async def async_track(self, numbers: Sequence[str]) -> dict[str, SourceResult]:
        self.calls.append(list(numbers))
        self.requests_made += -(-len(numbers) // self.max_batch)
        if self.error is not None:
            return dict.fromkeys(numbers, self.error)
        return {n: self.answers.get(n) or TrackingNotFoundError(n) for n in numbers}

    @property
    def asked(self) -> list[str]:
        """Every number asked, in order."""
        return [number for call in self.calls for number in call]


class RegisteringClient(ScriptedClient):
    """An aggregator that keeps the numbers registered with it."""

    def __init__(self, source: Source) -> None:
        super().__init__(source)
        self.registered: set[str] = set()

    async def async_track(self, numbers: Sequence[str]) -> dict[str, SourceResult]:
        self.registered.update(numbers)
        return await super().async_track(numbers)


def config(number: str = CAINIAO_NUMBER, sid: str = "a", **kwargs: object) -> ShipmentConfig:
    kwargs.setdefault("title", sid)
    return ShipmentConfig(shipment_id=sid, tracking_number=number, **kwargs)  # type: ignore[arg-type]


def tracker(
    *sources: Source, clock: Clock | None = None, **settings: object
) -> tuple[Tracker, dict[Source, ScriptedClient], Clock]:
    clock = clock or Clock()
    clients: dict[Source, ScriptedClient] = {
        source: RegisteringClient(source)
        if source in (Source.SEVENTEEN_TRACK, Source.AFTERSHIP)
        else ScriptedClient(source)
        for source in sources
    }
    return Tracker(clients, settings=TrackerSettings(**settings), clock=clock), clients, clock  # type: ignore[arg-type]


def handed_to_usps(local_carrier: str | None = "USPS") -> SourceSnapshot:
    """Cainiao: in the destination's customs, the local number known."""
    return snap(
        CAINIAO_NUMBER,
        ev(-30, Stage.ORIGIN_PROCESSING),
        ev(-2, Stage.CUSTOMS),
        local_carrier=local_carrier,
        local_tracking_number=USPS_NUMBER,
    )


# --- Legs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "sources", "expected"),
    [
        (CAINIAO_NUMBER, (Source.CAINIAO, Source.USPS), Source.CAINIAO),
        (USPS_NUMBER, (Source.CAINIAO, Source.USPS), Source.USPS),
        (USPS_NUMBER, (Source.CAINIAO, Source.AFTERSHIP), Source.AFTERSHIP),
        (USPS_NUMBER, (Source.CAINIAO,), Source.CAINIAO),
        ("N/A", (Source.CAINIAO, Source.USPS), Source.CAINIAO),
    ],
)
def test_main_leg_is_the_best_configured_source(
    number: str, sources: tuple[Source, ...], expected: Source
) -> None:
    """Detection picks the source; a number it refuses, or no able source, goes to Cainiao."""
    tracked, _, _ = tracker(*sources)
    tracked.sync([config(number)])
    (leg,) = tracked.shipments["a"].legs
    assert leg == Leg(source=expected, number=number)


def test_owner_chosen_source_wins() -> None:
    """The source the owner picked follows the number, when it is configured."""
    tracked, _, _ = tracker(Source.CAINIAO, Source.USPS, Source.SEVENTEEN_TRACK)
    tracked.sync([config(USPS_NUMBER, carrier=Source.SEVENTEEN_TRACK)])
    assert tracked.shipments["a"].legs[0].source is Source.SEVENTEEN_TRACK


async def test_handoff_is_followed_in_the_same_refresh() -> None:
    """Cainiao names USPS and the local number: USPS is asked at once; Cainiao rests."""
    tracked, clients, _ = tracker(Source.CAINIAO, Source.USPS)
    clients[Source.CAINIAO].answers[CAINIAO_NUMBER] = handed_to_usps()
    clients[Source.USPS].answers[USPS_NUMBER] = snap(
        USPS_NUMBER, usps(-1, Stage.ORIGIN_PROCESSING), source=Source.USPS
    )
    tracked.sync([config()])
    result = await tracked.async_refresh()

    state = result.shipments["a"]
    assert [(leg.source, leg.number, leg.superseded) for leg in state.legs] == [
        (Source.CAINIAO, CAINIAO_NUMBER, True),
        (Source.USPS, USPS_NUMBER, False),
    ]
    assert clients[Source.USPS].calls == [[USPS_NUMBER]]
    assert state.shipment is not None
    assert state.shipment.stage is Stage.LAST_MILE  # the local carrier's scan, lifted
    assert state.shipment.local_carrier == "USPS"
    cainiao_next = state.record.checks[(Source.CAINIAO, CAINIAO_NUMBER)].next_check
    assert cainiao_next is not None
    assert cainiao_next - T0 >= timedelta(hours=12)  # superseded


@pytest.mark.parametrize(
    ("sources", "follower"),
    [
        ((Source.CAINIAO, Source.USPS), Source.USPS),
        ((Source.CAINIAO, Source.SEVENTEEN_TRACK), Source.SEVENTEEN_TRACK),
        ((Source.CAINIAO,), None),
    ],
)
async def test_local_number_of_unknown_carrier_follows_detection(
    sources: tuple[Source, ...], follower: Source | None
) -> None:
    """A local number with no carrier named: its format says who can follow it."""
    tracked, clients, _ = tracker(*sources)
    clients[Source.CAINIAO].answers[CAINIAO_NUMBER] = handed_to_usps(local_carrier=None)
    if follower is not None:
        clients[follower].answers[USPS_NUMBER] = snap(
            USPS_NUMBER, usps(-1, Stage.LAST_MILE), source=follower
        )
    tracked.sync([config()])
    result = await tracked.async_refresh()

    legs = result.shipments["a"].legs
    if follower is None:
        assert [leg.source for leg in legs] == [Source.CAINIAO]
        return
    assert legs[1] == Leg(source=follower, number=USPS_NUMBER)
    assert clients[follower].asked == [USPS_NUMBER]
    shipment = result.shipments["a"].shipment
    assert shipment is not None
    assert shipment.local_carrier == "USPS"  # the local portal named itself


async def test_carrier_named_before_its_number_is_not_asked_about_ours() -> None:
    """Cainiao names USPS with no USPS number yet: USPS is never asked about an LP number."""
    tracked, clients, _ = tracker(Source.CAINIAO, Source.USPS)
    clients[Source.CAINIAO].answers[CAINIAO_NUMBER] = snap(
        CAINIAO_NUMBER, ev(-2, Stage.CUSTOMS), local_carrier="USPS"
    )
    tracked.sync([config()])
    await tracked.async_refresh()
    assert clients[Source.USPS].calls == []
    assert [leg.source for leg in tracked.shipments["a"].legs] == [Source.CAINIAO]


async def test_owner_typed_local_number_is_trusted() -> None:
    """A local number the owner typed is followed whatever its shape."""
    tracked, clients, _ = tracker(Source.CAINIAO, Source.USPS)
    tracked.sync([config(local_tracking_number="ABC123", local_carrier="USPS")])
    await tracked.async_refresh()
    assert clients[Source.USPS].asked == ["ABC123"]


# --- Batching and due checks -----------------------------------------------------------


async def test_one_call_per_source_with_every_due_number() -> None:
    """Twelve Cainiao numbers and one USPS number: one call each, all at once."""
    tracked, clients, clock = tracker(Source.CAINIAO, Source.USPS)
    numbers = [f"LP00755{index:09d}" for index in range(12)]
    tracked.sync([config(n, sid=n) for n in numbers] + [config(OTHER_USPS, sid="u")])
    await tracked.async_refresh()
    assert clients[Source.CAINIAO].calls == [numbers]
    assert clients[Source.USPS].calls == [[OTHER_USPS]]

    # Right after, nothing is due: no call at all.
    clock.tick(MIN_REFRESH_INTERVAL)
    await tracked.async_refresh()
    assert len(clients[Source.CAINIAO].calls) == 1
    assert len(clients[Source.USPS].calls) == 1


async def test_numbers_due_soon_share_the_request_after_their_floor() -> None:
    """Due within the batch window: asked now; never before the source's floor."""
    tracked, clients, clock = tracker(Source.CAINIAO, batch_window=timedelta(hours=13))
    tracked.sync([config(sid="a")])
    await tracked.async_refresh()
    clock.tick(timedelta(minutes=10))
    tracked.sync([config(sid="a"), config("LP00755000000001", sid="b")])
    await tracked.async_refresh()
    # "a" is due within the window, but Cainiao's floor has not passed since its check.
    assert clients[Source.CAINIAO].calls[-1] == ["LP00755000000001"]
    clock.tick(SOURCE_FLOORS[Source.CAINIAO] - timedelta(minutes=5))  # "a" past it, "b" not
    tracked.sync(
        [config(sid="a"), config("LP00755000000001", sid="b"), config("LP00755000000002", sid="c")]
    )
    await tracked.async_refresh()
    assert clients[Source.CAINIAO].calls[-1] == [CAINIAO_NUMBER, "LP00755000000002"]


async def test_numbers_half_way_to_their_check_ride_in_the_batch_room() -> None:
    """A request going anyway carries the numbers past RIDE_AFTER of their wait, if room."""
    tracked, clients, clock = tracker(Source.CAINIAO)
    clients[Source.CAINIAO].max_batch = 2
    waiting = [config(f"LP00755{i:09d}", sid=f"w{i}") for i in range(3)]
    tracked.sync(waiting)
    await tracked.async_refresh()  # not found: looked at again in 12 hours
    interval = STAGE_INTERVALS[Stage.NOT_FOUND]
    clock.tick(interval * RIDE_AFTER / 2)
    tracked.sync([*waiting, config(sid="new")])
    await tracked.async_refresh()
    assert clients[Source.CAINIAO].calls[-1] == [CAINIAO_NUMBER]  # not far enough yet
    clock.tick(interval * RIDE_AFTER / 2)
    tracked.sync([*waiting, config(sid="new"), config("LP00755000000099", sid="newer")])
    await tracked.async_refresh()
    # One request's room (2 numbers a request, 1 due): one rider, the one due first.
    assert clients[Source.CAINIAO].calls[-1] == ["LP00755000000099", "LP00755000000000"]
    state = tracked.shipments["w0"]
    check = state.record.checks[(Source.CAINIAO, "LP00755000000000")]
    assert check.last_check == clock.now  # its own request is no longer needed


async def test_a_source_is_never_asked_beyond_its_hourly_budget() -> None:
    """Past its budget a source waits, the most overdue numbers first, then resumes."""
    tracked, clients, clock = tracker(Source.USPS)
    clients[Source.USPS].max_batch = 1
    budget = SOURCE_BUDGETS[Source.USPS]
    numbers = [f"9400111899223344{i:06d}" for i in range(budget + 5)]
    tracked.sync([config(number, sid=number) for number in numbers])
    result = await tracked.async_refresh()
    assert clients[Source.USPS].requests_made == budget
    assert result.next_due == clock.now + BUDGET_WINDOW
    clock.tick(timedelta(minutes=10))
    await tracked.async_refresh()
    assert clients[Source.USPS].requests_made == budget
    clock.tick(BUDGET_WINDOW)
    await tracked.async_refresh()
    assert clients[Source.USPS].requests_made == budget + 5
    assert all(state.record.checks for state in tracked.shipments.values())


async def test_force_asks_whatever_is_due() -> None:
    """A forced check asks at once, but only the shipments asked for."""
    tracked, clients, clock = tracker(Source.CAINIAO)
    tracked.sync([config(sid="a"), config("LP00755000000001", sid="b")])
    await tracked.async_refresh()
    clock.tick(timedelta(minutes=1))
    tracked.force(["b"])
    await tracked.async_refresh()
    assert clients[Source.CAINIAO].calls[-1] == ["LP00755000000001"]
    tracked.force()
    await tracked.async_refresh()
    assert clients[Source.CAINIAO].calls[-1] == [CAINIAO_NUMBER, "LP00755000000001"]


async def test_next_due_and_refresh_bounds() -> None:
    """The next refresh is the earliest due check, within the refresh bounds."""
    tracked, clients, clock = tracker(Source.CAINIAO)
    assert tracked.refresh_interval(clock.now, None) == MAX_REFRESH_INTERVAL
    tracked.sync([config()])
    assert tracked.next_due(clock.now) == clock.now  # never asked: now
    clients[Source.CAINIAO].answers[CAINIAO_NUMBER] = snap(
        CAINIAO_NUMBER, ev(-1, Stage.ORIGIN_PROCESSING)
    )
    result = await tracked.async_refresh()
    interval = STAGE_INTERVALS[Stage.ORIGIN_PROCESSING]
    assert result.next_due == clock.now + interval
    assert tracked.refresh_interval(clock.now, result.next_due) == min(
        interval, MAX_REFRESH_INTERVAL
    )
    assert tracked.refresh_interval(clock.now, clock.now) == MIN_REFRESH_INTERVAL
    assert tracked.refresh_interval(clock.now, clock.now + timedelta(days=3)) == (
        MAX_REFRESH_INTERVAL
    )


async def test_delivered_then_confirmed_stops_polling() -> None:
    """Delivered: one confirmation look, then no due check at all."""
    tracked, clients, clock = tracker(Source.USPS)
    clients[Source.USPS].answers[OTHER_USPS] = snap(
        OTHER_USPS, usps(-1, Stage.DELIVERED), source=Source.USPS
    )
    tracked.sync([config(OTHER_USPS)])
    result = await tracked.async_refresh()
    assert result.next_due is not None
    clock.now = result.next_due
    result = await tracked.async_refresh()
    assert result.next_due is None
    assert result.shipments["a"].next_check is None


# --- Source health -----------------------------------------------------------------------


async def test_failing_source_rests_and_others_keep_going() -> None:
    """Cainiao fails: it rests, doubling; USPS is asked; what was known stays."""
    tracked, clients, clock = tracker(Source.CAINIAO, Source.USPS)
    clients[Source.CAINIAO].answers[CAINIAO_NUMBER] = snap(
        CAINIAO_NUMBER, ev(-1, Stage.ORIGIN_PROCESSING)
    )
    tracked.sync([config(), config(OTHER_USPS, sid="u")])
    await tracked.async_refresh()
    clients[Source.CAINIAO].error = TrackingConnectionError("down")
    tracked.force()
    result = await tracked.async_refresh()

    health = tracked.health[Source.CAINIAO]
    assert (health.consecutive_errors, health.last_error) == (1, "connection")
    assert health.retry_at == clock.now + BACKOFF_FIRST
    assert result.shipments["a"].errors == {"cainiao": "connection"}
    shipment = result.shipments["a"].shipment
    assert shipment is not None
    assert shipment.stage is Stage.ORIGIN_PROCESSING
    assert not result.all_failed  # USPS answered
    assert result.retry_at == health.retry_at
    assert result.errors == ("connection",)
    calls = len(clients[Source.CAINIAO].calls)
    tracked.force()
    await tracked.async_refresh()
    assert len(clients[Source.CAINIAO].calls) == calls  # resting
    clock.tick(BACKOFF_FIRST)
    tracked.force()
    await tracked.async_refresh()
    assert health.consecutive_errors == 2
    assert health.retry_at == clock.now + 2 * BACKOFF_FIRST

    clients[Source.CAINIAO].error = None
    clock.tick(2 * BACKOFF_FIRST)
    tracked.force()
    result = await tracked.async_refresh()
    assert (health.consecutive_errors, health.retry_at, health.last_error) == (0, None, None)
    assert result.shipments["a"].errors == {}


@pytest.mark.parametrize(
    ("error", "rest"),
    [
        (TrackingRateLimitError("slow down", retry_after=900), timedelta(seconds=900)),
        (TrackingInvalidResponseError("captcha", blocked=True), BLOCKED_BACKOFF),
    ],
)
async def test_rate_limit_and_block_rest(error: TrackingError, rest: timedelta) -> None:
    """A rate limit rests as long as the source asks; a block page for hours."""
    tracked, clients, clock = tracker(Source.CAINIAO)
    clients[Source.CAINIAO].error = error
    tracked.sync([config()])
    result = await tracked.async_refresh()
    assert tracked.health[Source.CAINIAO].retry_at == clock.now + rest
    assert result.all_failed
    assert result.next_due is not None
    assert result.next_due >= clock.now + rest


async def test_rejected_credentials_stop_that_source_only() -> None:
    """USPS refuses its key: reported once, never asked again; Cainiao goes on."""
    tracked, clients, clock = tracker(Source.CAINIAO, Source.USPS)
    clients[Source.USPS].error = TrackingAuthenticationError("revoked")
    tracked.sync([config(), config(OTHER_USPS, sid="u")])
    result = await tracked.async_refresh()
    assert result.refused == {Source.USPS}
    assert tracked.health[Source.USPS].auth_failed
    clock.tick(timedelta(hours=1))
    tracked.force()
    result = await tracked.async_refresh()
    assert result.refused == frozenset()
    assert len(clients[Source.USPS].calls) == 1
    assert len(clients[Source.CAINIAO].calls) == 2


async def test_a_number_not_found_is_no_source_error() -> None:
    """An unknown number is an answer: no back-off, the shipment has data."""
    tracked, clients, _ = tracker(Source.CAINIAO)
    tracked.sync([config()])
    result = await tracked.async_refresh()
    assert tracked.health[Source.CAINIAO].retry_at is None
    assert result.shipments["a"].record.has_data
    assert result.shipments["a"].errors == {}
    assert clients[Source.CAINIAO].calls == [[CAINIAO_NUMBER]]


# --- Announcements -----------------------------------------------------------------------


async def test_changes_are_announced_once_after_a_baseline() -> None:
    """The first answer is a baseline; a new stage and a handoff are announced once."""
    tracked, clients, clock = tracker(Source.CAINIAO, Source.USPS)
    cainiao = clients[Source.CAINIAO]
    cainiao.answers[CAINIAO_NUMBER] = snap(CAINIAO_NUMBER, ev(-30, Stage.ORIGIN_PROCESSING))
    tracked.sync([config()])
    assert (await tracked.async_refresh()).announcements == ()

    cainiao.answers[CAINIAO_NUMBER] = handed_to_usps()
    clock.tick(STAGE_INTERVALS[Stage.ORIGIN_PROCESSING])
    result = await tracked.async_refresh()
    kinds = [(a.event_type, a.previous_stage, a.stage) for a in result.announcements]
    assert kinds == [
        ("customs", Stage.ORIGIN_PROCESSING, Stage.CUSTOMS),
        (EVENT_HANDOFF, Stage.ORIGIN_PROCESSING, Stage.CUSTOMS),
    ]
    first, second = (a.serial for a in result.announcements)
    assert second == first + 1 == tracked.serial
    assert result.announcements[1].local_tracking_number == USPS_NUMBER

    clock.tick(timedelta(hours=13))
    tracked.force()
    assert (await tracked.async_refresh()).announcements == ()


# --- Shipments in and out ----------------------------------------------------------------


async def test_sync_adds_removes_and_applies_changes() -> None:
    """A new shipment is added, a gone one dropped; a new local number replaces the old."""
    tracked, clients, _ = tracker(Source.CAINIAO, Source.USPS)
    clients[Source.CAINIAO].answers[CAINIAO_NUMBER] = handed_to_usps()
    clients[Source.USPS].answers[USPS_NUMBER] = snap(
        USPS_NUMBER, usps(-1, Stage.LAST_MILE), source=Source.USPS
    )
    assert tracked.sync([config(), config(OTHER_USPS, sid="u")])
    await tracked.async_refresh()
    assert not tracked.sync([config(), config(OTHER_USPS, sid="u")])
    assert tracked.sync([config()])
    assert list(tracked.shipments) == ["a"]

    renamed = config(title="Phone case")
    assert not tracked.sync([renamed])
    assert tracked.shipments["a"].record.handoff is not None  # kept

    changed = config(local_tracking_number=OTHER_USPS, local_carrier="USPS")
    tracked.sync([changed])
    state = tracked.shipments["a"]
    assert state.record.handoff is None
    assert all(number != USPS_NUMBER for _, number in state.record.snapshots)
    assert state.legs[1] == Leg(source=Source.USPS, number=OTHER_USPS)


async def test_delivered_shipments_expire_after_keep_days() -> None:
    """keep_delivered_days: a shipment delivered that long ago is dropped and reported."""
    tracked, clients, clock = tracker(Source.USPS, keep_delivered_days=2)
    clients[Source.USPS].answers[OTHER_USPS] = snap(
        OTHER_USPS, usps(-1, Stage.DELIVERED), source=Source.USPS
    )
    tracked.sync([config(OTHER_USPS)])
    assert (await tracked.async_refresh()).expired == ()
    clock.tick(timedelta(days=2))
    result = await tracked.async_refresh()
    assert result.expired == ("a",)
    assert result.shipments == {}


# --- A source that stopped tracking --------------------------------------------------------


def stopped(number: str) -> SourceSnapshot:
    """A snapshot as the 17TRACK normalizer makes it for TRACKING_STOPPED."""
    return SourceSnapshot(
        source=Source.SEVENTEEN_TRACK, tracking_number=number, found=False, tracking_stopped=True
    )


async def test_number_17track_stopped_tracking_moves_to_another_source() -> None:
    """17TRACK stopped tracking the local number: forgotten there, AfterShip follows it."""
    tracked, clients, clock = tracker(Source.CAINIAO, Source.SEVENTEEN_TRACK, Source.AFTERSHIP)
    clients[Source.CAINIAO].answers[CAINIAO_NUMBER] = handed_to_usps()
    seventeen = clients[Source.SEVENTEEN_TRACK]
    seventeen.answers[USPS_NUMBER] = stopped(USPS_NUMBER)
    tracked.sync([config()])
    result = await tracked.async_refresh()

    state = result.shipments["a"]
    assert (Source.SEVENTEEN_TRACK, USPS_NUMBER) in state.record.stopped
    assert state.legs[1] == Leg(source=Source.AFTERSHIP, number=USPS_NUMBER)
    assert USPS_NUMBER not in tracked.persisted().registered[Source.SEVENTEEN_TRACK]
    assert clients[Source.AFTERSHIP].asked == []
    clock.tick(timedelta(hours=1))
    tracked.force()
    await tracked.async_refresh()
    assert seventeen.asked == [USPS_NUMBER]
    assert clients[Source.AFTERSHIP].asked == [USPS_NUMBER]


async def test_number_17track_stopped_tracking_keeps_its_last_answer() -> None:
    """TRACKING_STOPPED says nothing of the parcel: what 17TRACK said before stays."""
    tracked, clients, clock = tracker(Source.SEVENTEEN_TRACK)
    seventeen = clients[Source.SEVENTEEN_TRACK]
    leg = (Source.SEVENTEEN_TRACK, OTHER_USPS)
    seventeen.answers[OTHER_USPS] = snap(
        OTHER_USPS, usps(-5, Stage.IN_TRANSIT), usps(-1, Stage.LAST_MILE), source=leg[0]
    )
    tracked.sync([config(OTHER_USPS)])
    before = (await tracked.async_refresh()).shipments["a"]
    assert before.shipment is not None
    assert before.shipment.stage is Stage.LAST_MILE

    seventeen.answers[OTHER_USPS] = stopped(OTHER_USPS)
    clock.tick(timedelta(hours=2))
    tracked.force()
    after = (await tracked.async_refresh()).shipments["a"]
    assert leg in after.record.stopped
    assert after.record.snapshots[leg] == before.record.snapshots[leg]
    assert after.record.snapshots[leg].found
    assert after.shipment is not None
    assert after.shipment.stage is Stage.LAST_MILE
    assert len(after.record.events) == 2


async def test_an_answer_with_nothing_new_keeps_the_view() -> None:
    """The same timeline again: the view is not rebuilt; the snapshot keeps no events."""
    tracked, clients, clock = tracker(Source.CAINIAO)
    clients[Source.CAINIAO].answers[CAINIAO_NUMBER] = snap(
        CAINIAO_NUMBER, ev(-30, Stage.ORIGIN_PROCESSING), ev(-2, Stage.IN_TRANSIT)
    )
    tracked.sync([config()])
    first = (await tracked.async_refresh()).shipments["a"]
    assert first.record.snapshots[(Source.CAINIAO, CAINIAO_NUMBER)].events == ()
    assert len(first.record.events) == 2
    clock.tick(timedelta(days=1))
    tracked.force()
    again = (await tracked.async_refresh()).shipments["a"]
    assert again.shipment is first.shipment
    assert again.record.checks[(Source.CAINIAO, CAINIAO_NUMBER)].last_check == clock.now
    assert again.next_check is not None
    assert again.next_check > clock.now

    clients[Source.CAINIAO].answers[CAINIAO_NUMBER] = snap(
        CAINIAO_NUMBER,
        ev(-30, Stage.ORIGIN_PROCESSING),
        ev(-2, Stage.IN_TRANSIT),
        ev(20, Stage.CUSTOMS),
    )
    clock.tick(timedelta(hours=1))
    tracked.force()
    news = (await tracked.async_refresh()).shipments["a"]
    assert news.shipment is not None
    assert news.shipment.stage is Stage.CUSTOMS
    assert len(news.record.events) == 3
