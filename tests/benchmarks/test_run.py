"""The runner: results.json in the documented shape; the refresh it measures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import run
from benchmarks.corpus import Journey, Scenario, load_corpus, write_corpus
from benchmarks.refresh import memory_per_shipment, prepare, refresh
from custom_components.parcel_handoff.tracking import policy, tracker
from custom_components.parcel_handoff.tracking.model import Source, Stage

POLLERS = {"adaptive", "fixed_10m", "fixed_30m", "fixed_6h", "oracle"}


@pytest.fixture(scope="module")
def small() -> list[Journey]:
    """One journey of each way of following the last mile, plus a number nobody knows."""
    corpus = load_corpus()
    wanted = (
        Scenario.CAINIAO_USPS,
        Scenario.SAME_NUMBER,
        Scenario.DOMESTIC_USPS,
        Scenario.NEVER_APPEARS,
    )
    return [next(j for j in corpus if j.scenario is scenario) for scenario in wanted]


def test_main_writes_the_documented_shape(
    tmp_path: Path, small: list[Journey], capsys: pytest.CaptureFixture[str]
) -> None:
    """Every key the issue lists, per poller, with sane values; the table is printed."""
    corpus_dir = tmp_path / "corpus"
    write_corpus(small, corpus_dir)
    output = tmp_path / "results.json"
    floors = dict(policy.SOURCE_FLOORS)
    intervals = dict(policy.STAGE_INTERVALS)
    ride_after = tracker.RIDE_AFTER
    argv = ["--corpus", str(corpus_dir), "--output", str(output), "--what-if", "--sizes", "10"]
    assert run.main(argv) == 0
    assert floors == policy.SOURCE_FLOORS  # the what-if put everything back
    assert intervals == policy.STAGE_INTERVALS
    assert ride_after == tracker.RIDE_AFTER
    data = json.loads(output.read_text())
    assert data["shipments"] == 4
    assert set(data["pollers"]) == POLLERS
    for name, figures in data["pollers"].items():
        assert figures["requests_per_shipment"] > 0, name
        assert set(figures["requests_by_source"]) <= {"cainiao", "usps"}
        assert set(figures["detect_delay_s"]) == {
            "out_for_delivery",
            "available_for_pickup",
            "delivered",
        }
        ofd = figures["detect_delay_s"]["out_for_delivery"]
        assert ofd["n"] == 3
        assert 0 <= ofd["p50"] <= ofd["p95"]
        assert isinstance(figures["missed_out_for_delivery"], int)
    assert data["pollers"]["oracle"]["detect_delay_s"]["delivered"]["p95"] == 0
    ratios = data["ratios"]
    assert ratios["fixed_10m_over_adaptive_requests"] > 1
    assert ratios["adaptive_over_oracle_requests"] > 1
    assert data["refresh_cpu_ms_200_due"] > 0
    assert set(data["refresh_cpu_ms_by_due"]) == {"10", "200"}
    split = data["refresh_cpu_ms_split_by_due"]["200"]
    assert split["clients"] > 0
    assert data["refresh_cpu_ms_fastest_by_due"]["200"] <= data["refresh_cpu_ms_200_due"]
    asked = data["refresh_numbers_asked_by_due"]
    assert 10 <= asked["10"] < asked["200"]
    assert set(data["refresh_cpu_us_per_shipment_by_due"]) == {"10", "200"}
    goal = data["refresh_cpu_goal"]
    assert goal["due"] == 200
    assert goal["median_ms_below"] == 50
    assert goal["met"] is (data["refresh_cpu_ms_200_due"] < 50)
    assert data["memory_bytes_per_shipment"] > 0
    assert data["corpus"]["journeys"] == 4
    printed = capsys.readouterr().out
    assert "| adaptive |" in printed
    assert "what if" in printed
    assert "| no riders (nothing piggy-backs) |" in printed
    assert "| cainiao_then_usps | cainiao_usps |" in printed
    assert "| shipments due | numbers asked |" in printed
    assert "goal: one refresh of 200 due under 50 ms of CPU (median)" in printed
    modes = data["follow_modes"]
    assert set(modes) == {"aggregator", "cainiao_only", "cainiao_then_usps", "usps_domestic"}
    for mode in modes.values():
        assert set(mode) == {
            "household",
            "out_for_delivery",
            "available_for_pickup",
            "missed_rounds",
        }
        assert set(mode["out_for_delivery"]) == {"p50", "p95", "n"}
    assert set(data["oracle_ratio"]) == {"cainiao_usps", "cainiao_17track"}
    peaks = data["peak_requests_per_hour"]
    assert peaks["cainiao_17track"]["17track"]["limit"] == 3 * 3600
    assert 0 < peaks["cainiao_usps"]["usps"]["peak"] <= peaks["cainiao_usps"]["usps"]["limit"]


def test_refresh_rebuilds_every_due_shipment(small: list[Journey]) -> None:
    """The real clients and the tracker: one shipment per due parcel, from a day's history."""
    case = prepare(small, count=12)
    assert len(case.configs) == 12
    assert len({config.tracking_number for config in case.configs}) == 12
    assert any(record.events for record in case.stored.shipments.values())
    cainiao, usps = (case.clients[source].requests_made for source in (Source.CAINIAO, Source.USPS))
    result = refresh(case)
    assert set(result.shipments) == {config.shipment_id for config in case.configs}
    # 9 Cainiao numbers fit one request; USPS is asked about its numbers in one.
    assert case.clients[Source.CAINIAO].requests_made == cainiao + 1
    assert case.clients[Source.USPS].requests_made == usps + 1
    stages = {s.shipment.stage for s in result.shipments.values() if s.shipment is not None}
    assert Stage.NOT_FOUND in stages
    assert len(stages) >= 3
    assert all(state.record.checks for state in result.shipments.values())
    assert memory_per_shipment(case) > 1000
