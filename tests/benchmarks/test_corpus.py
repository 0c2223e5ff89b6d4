"""The journey corpus: complete, plausible, and what the real normalizers read."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
import json
from pathlib import Path

import pytest

from benchmarks.corpus import (
    CORPUS_DIR,
    Journey,
    Scenario,
    delivery_rounds,
    generate,
    journey_from_dict,
    journey_to_dict,
    load_corpus,
    main,
    parse_zone,
    phase_days,
    write_corpus,
)
from benchmarks.wire import (
    cainiao_module,
    cainiao_reply,
    renumber,
    usps_item,
    visible_events,
)
from custom_components.parcel_handoff.tracking.model import Source, SourceSnapshot, Stage
from custom_components.parcel_handoff.tracking.normalizers.cainiao import parse_cainiao
from custom_components.parcel_handoff.tracking.normalizers.usps import parse_usps


@pytest.fixture(scope="module")
def corpus() -> list[Journey]:
    """The committed corpus."""
    return load_corpus()


def test_corpus_has_forty_journeys_covering_every_scenario(corpus: list[Journey]) -> None:
    """At least 40 journeys, every scenario at least twice."""
    assert len(corpus) >= 40
    counts = Counter(journey.scenario for journey in corpus)
    assert set(counts) == set(Scenario)
    assert min(counts.values()) >= 2


def test_committed_files_are_what_the_generator_makes(corpus: list[Journey]) -> None:
    """The files are reproducible from the seed (regenerate with --write otherwise)."""
    assert main(["--check"]) == 0
    assert generate() == corpus


def test_phase_lengths_follow_the_published_ranges(corpus: list[Journey]) -> None:
    """Origin 1-4 days, line-haul 3-20, customs 1-10, last mile at most 5."""
    limits = {"origin": (1, 4), "line_haul": (3, 20), "customs": (1, 10), "last_mile": (0.25, 5)}
    seen = Counter[str]()
    for journey in corpus:
        for phase, days in phase_days(journey).items():
            low, high = limits[phase]
            assert low <= days <= high, (journey.id, phase, days)
            seen[phase] += 1
    assert min(seen.values()) >= 30


def test_local_scans_happen_by_day_and_rounds_mostly_in_the_morning(
    corpus: list[Journey],
) -> None:
    """Local carriers scan 06:00-21:00; most rounds start 06:30-10:30; rounds last hours."""
    starts = []
    for journey in corpus:
        for event in journey.originals:
            if event.carrier == "Cainiao" or event.code in {"MA", "GX"}:
                continue  # Cainiao's network never sleeps; label data is not a scan
            local = event.time.astimezone(journey.zone)
            assert 6 <= local.hour < 21, (journey.id, event.id)
        for start, end in delivery_rounds(journey):
            assert end is not None
            starts.append(start.time.astimezone(journey.zone))
            assert end.time - start.time <= timedelta(hours=9)
    morning = [s for s in starts if (6, 30) <= (s.hour, s.minute) < (10, 30)]
    assert len(starts) >= 40
    assert len(morning) >= 0.7 * len(starts)


def test_events_are_visible_after_they_happen_and_relays_lag(corpus: list[Journey]) -> None:
    """No portal shows the future; a relay shows up later than its original."""
    for journey in corpus:
        by_id = {event.id: event for event in journey.events}
        for event in journey.events:
            assert event.visible_at >= event.time
            if event.relay_of is not None:
                original = by_id[event.relay_of]
                assert event.source is Source.CAINIAO
                assert event.visible_at > original.visible_at
                assert event.time == original.time


def test_scenarios_have_their_shape(corpus: list[Journey]) -> None:
    """Same number: Cainiao only; new number: a USPS leg; never appears: no event."""
    for journey in corpus:
        sources = {event.source for event in journey.events}
        stages = {event.stage for event in journey.originals}
        if journey.scenario is Scenario.NEVER_APPEARS:
            assert journey.events == ()
            assert journey.end_at - journey.added_at == timedelta(days=30)
        elif journey.local_number is not None:
            assert sources == {Source.CAINIAO, Source.USPS}
            assert journey.local_known_at is not None
        elif journey.origin_source is Source.USPS:
            assert sources == {Source.USPS}
        else:
            assert sources == {Source.CAINIAO}
            assert journey.local_carrier in {"Israel Post", "Poczta Polska", "Correos"}
        if journey.scenario is Scenario.FAILED_DELIVERY:
            assert Stage.DELIVERY_FAILED in stages
        if journey.scenario is Scenario.LOCKER_PICKUP:
            assert Stage.AVAILABLE_FOR_PICKUP in stages
        if journey.scenario is Scenario.RETURN_TO_SENDER:
            assert journey.originals[-1].stage is Stage.RETURNED
        if journey.scenario is Scenario.CUSTOMS_HOLD:
            assert any(event.code == "CC_IM_EXCEPTION" for event in journey.events)
        if journey.scenario is Scenario.LAGGING_PORTAL:
            assert any(e.visible_at - e.time >= timedelta(hours=2) for e in journey.originals)


def test_rendered_replies_parse_back_to_the_corpus(corpus: list[Journey]) -> None:
    """The real normalizers read rendered replies as the corpus says: codes, stages, instants."""
    for journey in corpus:
        now = journey.end_at
        replies = parse_cainiao(
            json.loads(json.dumps(cainiao_reply([cainiao_module(journey, now)])))
        )
        cainiao = replies[journey.origin_number]
        if journey.origin_source is Source.CAINIAO:
            assert isinstance(cainiao, SourceSnapshot)
            expected = visible_events(journey, Source.CAINIAO, journey.origin_number, now)
            assert [(e.code, e.stage, e.time) for e in cainiao.events] == [
                (e.code, e.stage, e.time) for e in expected
            ]
            assert cainiao.found is bool(journey.events)
            assert cainiao.local_tracking_number == (
                journey.local_number or (journey.origin_number if journey.local_carrier else None)
            )
        numbers = {e.number for e in journey.events if e.source is Source.USPS}
        for number in numbers:
            result = parse_usps([usps_item(journey, now, number=number)])[number]
            assert isinstance(result, SourceSnapshot)
            expected = visible_events(journey, Source.USPS, number, now)
            assert [(e.code, e.stage, e.time) for e in result.events] == [
                (e.code, e.stage, e.time) for e in expected
            ]


def test_a_usps_number_without_scans_is_not_found_yet(corpus: list[Journey]) -> None:
    """Before its first scan, USPS answers "no status yet": found=False, not an error."""
    journey = next(j for j in corpus if j.local_number is not None)
    result = parse_usps([usps_item(journey, journey.added_at, number=journey.local_number or "")])
    snapshot = next(iter(result.values()))
    assert isinstance(snapshot, SourceSnapshot)
    assert snapshot.found is False


def test_renumber_keeps_the_shape() -> None:
    """Distinct numbers of the same shape, for many parcels from one journey."""
    assert renumber("LP00123456789012", 7) == "LP00123456780007"
    assert renumber("RS1234567890Y", 42) == "RS1234560042Y"
    assert renumber("RS1234567890Y", 1999) == "RS1234561999Y"
    with pytest.raises(ValueError, match="cannot renumber"):
        renumber("AB12", 1)


def test_round_trip_and_invariants(tmp_path: Path, corpus: list[Journey]) -> None:
    """Journeys survive writing and reading; broken files are refused."""
    written = write_corpus(corpus[:3], tmp_path)
    assert [path.name for path in written] == [f"{j.id}.json" for j in corpus[:3]]
    assert load_corpus(tmp_path) == corpus[:3]
    data = journey_to_dict(corpus[0])
    data["events"] = list(reversed(data["events"]))
    with pytest.raises(ValueError, match="oldest first"):
        journey_from_dict(data)
    data = journey_to_dict(corpus[0])
    data["events"][1]["visible_at"] = "2000-01-01T00:00:00+00:00"
    with pytest.raises(ValueError, match="visible before"):
        journey_from_dict(data)
    data = journey_to_dict(corpus[0])
    data["events"][1]["id"] = data["events"][0]["id"]
    with pytest.raises(ValueError, match="duplicate"):
        journey_from_dict(data)
    data = journey_to_dict(corpus[0])
    data["added_at"] = "2025-09-01T00:00:00"
    with pytest.raises(ValueError, match="without offset"):
        journey_from_dict(data)
    with pytest.raises(FileNotFoundError):
        load_corpus(tmp_path / "empty")


def test_zones_are_iana_names_or_fixed_offsets() -> None:
    """`+HH:MM` is a fixed offset, anything else an IANA zone."""
    fixed = parse_zone("-07:00")
    assert fixed.utcoffset(None) == timedelta(hours=-7)
    assert str(parse_zone("America/Chicago")) == "America/Chicago"


def test_check_reports_a_stale_corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--check fails when a file differs from the generator; --write fixes it."""
    import benchmarks.corpus as corpus_module

    monkeypatch.setattr(corpus_module, "CORPUS_DIR", tmp_path)
    write_corpus(generate()[:2], tmp_path)
    assert main(["--check"]) == 1
    assert main(["--write"]) == 0
    assert main(["--check"]) == 0
    assert len(list(CORPUS_DIR.glob("*.json"))) >= 40
