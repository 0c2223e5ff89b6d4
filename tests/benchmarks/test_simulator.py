"""The simulator: virtual clock, portals answering as of an instant, pollers, figures."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from benchmarks.corpus import CorpusEvent, Journey, Scenario, load_corpus
from benchmarks.simulator import (
    BATCH_SIZES,
    CorpusClient,
    FixedPoller,
    Leg,
    Poller,
    Portal,
    Reply,
    Tally,
    VirtualClock,
    _batch,
    figures,
    journey_path,
    percentile,
    simulate,
    simulate_oracle,
    simulate_tracker,
    tracking_event,
)
from benchmarks.wire import renumber
from custom_components.parcel_handoff.tracking.clients.cainiao import CainiaoClient
from custom_components.parcel_handoff.tracking.clients.usps import UspsClient
from custom_components.parcel_handoff.tracking.errors import TrackingNotFoundError
from custom_components.parcel_handoff.tracking.model import Source, Stage
from custom_components.parcel_handoff.tracking.policy import SOURCE_FLOORS
from custom_components.parcel_handoff.tracking.tracker import BATCH_WINDOW

TEN_MINUTES = timedelta(minutes=10)


@pytest.fixture(scope="module")
def corpus() -> list[Journey]:
    """The committed corpus."""
    return load_corpus()


def pick(corpus: list[Journey], scenario: Scenario, nth: int = 0) -> Journey:
    """The nth journey of a scenario."""
    return [journey for journey in corpus if journey.scenario is scenario][nth]


@pytest.fixture(scope="module")
def three(corpus: list[Journey]) -> list[Journey]:
    """A new-number journey, a same-number one and a domestic one."""
    return [
        pick(corpus, Scenario.CAINIAO_USPS),
        pick(corpus, Scenario.SAME_NUMBER),
        pick(corpus, Scenario.DOMESTIC_USPS),
    ]


def copy_of(journey: Journey, index: int) -> Journey:
    """The same journey under other numbers."""

    def event(e: CorpusEvent) -> CorpusEvent:
        return replace(e, number=renumber(e.number, index))

    return replace(
        journey,
        id=f"{journey.id}-{index}",
        origin_number=renumber(journey.origin_number, index),
        local_number=renumber(journey.local_number, index) if journey.local_number else None,
        events=tuple(event(e) for e in journey.events),
    )


def test_batch_sizes_are_the_clients() -> None:
    """The simulator batches as the real clients do."""
    assert BATCH_SIZES[Source.CAINIAO] == CainiaoClient.max_batch
    assert BATCH_SIZES[Source.USPS] == UspsClient.max_batch


def test_oracle_asks_once_per_visible_event(three: list[Journey]) -> None:
    """One request per event, right when it shows; nothing detected late, no round missed."""
    tally = simulate_oracle(three)
    first_sightings = set()
    events = 0
    for journey in three:
        first_visible = journey.first_visible()
        for event in journey.originals:
            events += 1
            source = min(
                (e for e in journey.events if e.key == event.key), key=lambda e: e.visible_at
            ).source
            first_sightings.add((source, first_visible[event.key]))
    assert sum(tally.requests.values()) == len(first_sightings)
    assert len(first_sightings) == events
    result = figures(tally)
    assert all(delay == 0 for delays in result.delays.values() for delay in delays)
    assert result.missed_rounds == 0
    assert result.rounds == 3


def test_fixed_ten_minutes_sees_everything_within_ten_minutes(three: list[Journey]) -> None:
    """A 10-minute poller detects every watched event within 10 minutes."""
    result = figures(simulate(three, FixedPoller("fixed_10m", TEN_MINUTES)))
    delays = [delay for values in result.delays.values() for delay in values]
    assert len(delays) == 6
    assert all(0 <= delay <= TEN_MINUTES.total_seconds() for delay in delays)
    assert result.missed_rounds == 0
    assert result.undetected == {}


def test_a_batched_request_counts_once_per_source_call(corpus: list[Journey]) -> None:
    """23 parcels in lockstep: 3 Cainiao requests (10 a call) and 1 USPS request (35) a tick."""
    journey = pick(corpus, Scenario.CAINIAO_USPS)
    one = simulate([journey], FixedPoller("fixed_6h", timedelta(hours=6)))
    many = simulate(
        [copy_of(journey, i) for i in range(23)], FixedPoller("fixed_6h", timedelta(hours=6))
    )
    assert many.requests[Source.CAINIAO] == 3 * one.requests[Source.CAINIAO]
    assert many.requests[Source.USPS] == one.requests[Source.USPS]
    assert many.lookups[Source.CAINIAO] == 23 * one.lookups[Source.CAINIAO]


def test_batch_counts_one_request_per_client_batch() -> None:
    """ceil(n / size) requests per source for what is due at one instant."""
    due = {(i, Leg(Source.CAINIAO, f"C{i}")): None for i in range(12)}
    due |= {(100 + i, Leg(Source.USPS, f"U{i}")): None for i in range(36)}
    tally = Tally(poller="test", journeys=[])
    assert _batch(due, tally) == list(due)
    assert tally.requests == {Source.CAINIAO: 2, Source.USPS: 2}


def test_the_simulated_tracker_is_the_integrations() -> None:
    """The benchmark drives the very class the coordinator and the CLI run."""
    from benchmarks import simulator
    from custom_components.parcel_handoff import coordinator
    from custom_components.parcel_handoff.tracking import cli

    assert simulator.Tracker is coordinator.Tracker is cli.Tracker


async def test_corpus_client_answers_as_of_the_clock(corpus: list[Journey]) -> None:
    """A fake client batches like the real one and notes what each number showed."""
    journey = pick(corpus, Scenario.CAINIAO_USPS)
    portal = Portal(journey)
    clock = simulator_clock(journey.end_at)
    tally = Tally(poller="test", journeys=[journey])
    client = CorpusClient(Source.CAINIAO, [portal], clock, tally, lambda index: "added")
    numbers = [journey.origin_number.lower(), *(f"LP0000000000{i:04d}" for i in range(10))]
    results = await client.async_track(numbers)
    assert client.requests_made == 2 == tally.requests[Source.CAINIAO]
    snapshot = results[journey.origin_number]
    assert snapshot == portal.answer(portal.origin, journey.end_at).snapshot
    assert isinstance(results["LP00000000000003"], TrackingNotFoundError)
    assert tally.lookups[Source.CAINIAO] == 1
    assert tally.stage_lookups == {"added": 1}


def simulator_clock(now: datetime) -> VirtualClock:
    """A virtual clock stopped at `now`."""
    return VirtualClock(now)


def test_portal_answers_as_of_the_instant(corpus: list[Journey]) -> None:
    """Nothing before it shows; the local number once Cainiao names it; USPS not found before."""
    journey = pick(corpus, Scenario.CAINIAO_USPS)
    portal = Portal(journey)
    assert journey.local_known_at is not None
    assert journey.local_number is not None
    early = portal.answer(portal.origin, journey.events[0].visible_at - timedelta(seconds=1))
    assert early.snapshot.found
    assert early.snapshot.events == ()
    assert early.snapshot.status_stage is Stage.INFO_RECEIVED
    before = portal.answer(portal.origin, journey.local_known_at - timedelta(seconds=1))
    assert before.snapshot.local_tracking_number is None
    after = portal.answer(portal.origin, journey.local_known_at)
    assert after.snapshot.local_tracking_number == journey.local_number
    assert after.snapshot.local_carrier == "USPS"
    assert portal.answer(portal.origin, journey.local_known_at) is after  # cached
    local = Leg(Source.USPS, journey.local_number)
    assert not portal.answer(local, journey.added_at).snapshot.found
    end = portal.answer(local, journey.end_at)
    assert end.snapshot.found
    assert end.snapshot.events[0].stage is Stage.DELIVERED
    assert end.keys == {e.key for e in journey.events if e.source is Source.USPS}
    nobody = Portal(pick(corpus, Scenario.NEVER_APPEARS))
    assert not nobody.answer(nobody.origin, nobody.journey.end_at).snapshot.found


def test_events_come_out_as_the_normalizers_present_them(corpus: list[Journey]) -> None:
    """Cainiao's own scans in UTC, local carriers' scans with their fixed offset."""
    journey = pick(corpus, Scenario.SAME_NUMBER)
    own = next(e for e in journey.events if e.carrier == "Cainiao")
    local = next(e for e in journey.events if e.carrier != "Cainiao")
    assert tracking_event(own).time.utcoffset() == timedelta()
    converted = tracking_event(local)
    assert converted.time == local.time
    assert converted.time.utcoffset() == local.time.utcoffset()
    assert converted.carrier == journey.local_carrier


def test_tracker_follows_the_local_number_and_stops_after_delivery(corpus: list[Journey]) -> None:
    """The tracker's handoff adds the USPS leg; Cainiao goes quiet; one confirmation, then none."""
    journey = pick(corpus, Scenario.CAINIAO_USPS)
    tally = simulate_tracker([journey], record=True)
    assert tally.polls is not None
    local = Leg(Source.USPS, journey.local_number or "")
    usps_found = min(e.visible_at for e in journey.events if e.source is Source.USPS)
    delivered = min(e.visible_at for e in journey.originals if e.stage is Stage.DELIVERED)
    assert any(leg == local for _, _, leg in tally.polls)
    cainiao_after = [
        when
        for when, _, leg in tally.polls
        if leg.source is Source.CAINIAO and usps_found < when < delivered
    ]
    gaps = [b - a for a, b in pairwise(cainiao_after)]
    assert all(gap >= timedelta(hours=12) - BATCH_WINDOW for gap in gaps)  # may ride early
    after_delivery = [when for when, _, _ in tally.polls if when > delivered]
    assert 1 <= len(after_delivery) <= 3
    assert max(after_delivery) < delivered + timedelta(hours=13)  # then polling stopped
    shipment = tally.views[0]
    assert shipment.stage is Stage.DELIVERED
    assert shipment.local_tracking_number == journey.local_number
    result = figures(tally)
    assert result.delays[Stage.OUT_FOR_DELIVERY][0] <= 15 * 60
    assert result.missed_rounds == 0


def test_tracker_keeps_the_floors_and_the_carriers_night(corpus: list[Journey]) -> None:
    """Never faster than a source's floor; no USPS look at night once in the last mile."""
    journeys = [j for j in corpus if j.scenario is not Scenario.NEVER_APPEARS][:12]
    tally = simulate_tracker(journeys, record=True)
    assert tally.polls is not None
    last: dict[tuple[int, Leg], datetime] = {}
    for when, index, leg in tally.polls:
        previous = last.get((index, leg))
        if previous is not None:
            assert when - previous >= SOURCE_FLOORS[leg.source], (journeys[index].id, leg)
        last[(index, leg)] = when
    known: set[int] = set()
    for when, index, leg in tally.polls:
        journey = journeys[index]
        if leg.source is not Source.USPS or journey.local_number is None:
            continue
        accepted = min(e.visible_at for e in journey.events if e.code == "AD")
        delivered = min(e.visible_at for e in journey.originals if e.stage is Stage.DELIVERED)
        if index in known and when < delivered:
            assert 6 <= when.astimezone(journey.zone).hour < 21, (journey.id, when)
        if when >= accepted:
            known.add(index)  # from the next look on, the engine knows the last mile began


def test_fixed_poller_follows_the_local_number_then_stops(corpus: list[Journey]) -> None:
    """Both numbers once Cainiao names the local one; nothing after delivery is seen."""
    journey = pick(corpus, Scenario.CAINIAO_USPS)
    tally = simulate([journey], FixedPoller("fixed_30m", timedelta(minutes=30)), record=True)
    assert tally.polls is not None
    delivered = min(e.visible_at for e in journey.originals if e.stage is Stage.DELIVERED)
    assert {leg.source for _, _, leg in tally.polls} == {Source.CAINIAO, Source.USPS}
    assert max(when for when, _, _ in tally.polls) < delivered + timedelta(minutes=30)
    ticks = sorted({when for when, _, _ in tally.polls})[1:]
    assert all(
        (tick - datetime(2025, 9, 1, tzinfo=UTC)) % timedelta(minutes=30) == timedelta()
        for tick in ticks
    )


def test_a_round_never_seen_while_newest_is_missed(corpus: list[Journey]) -> None:
    """Seen only after the next event showed: missed; never seen: undetected too."""
    journey = pick(corpus, Scenario.CAINIAO_USPS)
    ofd = next(e for e in journey.originals if e.stage is Stage.OUT_FOR_DELIVERY)
    ended = journey.originals[journey.originals.index(ofd) + 1]
    first_visible = journey.first_visible()
    tally = Tally(poller="late", journeys=[journey])
    tally.first_seen[(0, ofd.key)] = first_visible[ended.key]
    result = figures(tally)
    assert result.rounds == 1
    assert result.missed_rounds == 1
    assert result.missed_long_rounds == int(ended.time - ofd.time >= timedelta(hours=1))
    assert result.undetected == {Stage.DELIVERED: 1}
    assert result.delays_by_path == {
        "cainiao_then_usps": [
            first_visible[ended.key].timestamp() - first_visible[ofd.key].timestamp()
        ]
    }
    assert result.delay_summary(Stage.DELIVERED) == {"p50": None, "p95": None, "max": None, "n": 0}
    assert figures(Tally(poller="none", journeys=[journey])).missed_rounds == 1


def test_paths(corpus: list[Journey]) -> None:
    """How each kind of parcel's last mile is followed."""
    assert journey_path(pick(corpus, Scenario.CAINIAO_USPS)) == "cainiao_then_usps"
    assert journey_path(pick(corpus, Scenario.SAME_NUMBER)) == "cainiao_only"
    assert journey_path(pick(corpus, Scenario.DOMESTIC_USPS)) == "usps_domestic"


def test_percentile_interpolates() -> None:
    """Linear interpolation between closest ranks."""
    assert percentile([4, 1, 3, 2], 0.5) == 2.5
    assert percentile([0, 100], 0.95) == 95
    assert percentile([7], 0.95) == 7
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)


class _Stubborn(Poller):
    """Asks again at the same instant (a bug the loop must refuse) or in the past."""

    name = "stubborn"

    def __init__(self, *, again_now: bool) -> None:
        self.again_now = again_now
        self.portal: Portal | None = None
        self.polls: list[datetime] = []

    def start(self, index: int, portal: Portal) -> dict[Leg, datetime]:
        self.portal = portal
        return {portal.origin: portal.journey.added_at}

    def after_poll(
        self, index: int, now: datetime, replies: Mapping[Leg, Reply]
    ) -> dict[Leg, datetime | None]:
        self.polls.append(now)
        assert self.portal is not None
        other = Leg(Source.USPS, "OTHER")
        if self.again_now:
            return {self.portal.origin: now}
        if other in replies:
            return {other: None, self.portal.origin: None}
        return {self.portal.origin: None, other: now - timedelta(hours=1)}


def test_the_loop_refuses_a_poll_at_the_same_instant(corpus: list[Journey]) -> None:
    """A leg just asked may not be due again at once; an overdue other leg goes next."""
    journey = pick(corpus, Scenario.CAINIAO_USPS)
    with pytest.raises(RuntimeError, match="asked"):
        simulate([journey], _Stubborn(again_now=True))
    poller = _Stubborn(again_now=False)
    simulate([journey], poller)
    assert poller.polls == [journey.added_at, journey.added_at + timedelta(seconds=1)]
