"""Run the polling benchmark: every poller over the corpus, a table, benchmarks/results.json.

`python -m benchmarks.run` (or `scripts/benchmark`). `--what-if` adds the same run with a
few policy constants changed, to show what each costs and buys; the constants are put
back afterwards and nothing of it goes into results.json.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import timedelta
import json
from pathlib import Path
import statistics
import sys
import time as clock
from typing import Any, Final

from custom_components.parcel_handoff.tracking import policy, tracker
from custom_components.parcel_handoff.tracking.model import Source, Stage
from custom_components.parcel_handoff.tracking.policy import SOURCE_BUDGETS
from custom_components.parcel_handoff.tracking.tracker import BATCH_WINDOW, TrackerSettings

from . import simulator
from .corpus import CORPUS_DIR, Journey, load_corpus, phase_days
from .refresh import DUE, GOAL_MS, SIZES, RefreshCpu, memory_per_shipment, prepare, refresh_cpu
from .simulator import WATCHED_STAGES, Figures, percentile, run_all, run_solo

RESULTS: Final = Path(__file__).parent / "results.json"
ORDER: Final = ("adaptive", "fixed_10m", "fixed_30m", "fixed_6h", "oracle")
_SHORT: Final = {
    Stage.OUT_FOR_DELIVERY: "out for delivery",
    Stage.AVAILABLE_FOR_PICKUP: "pickup",
    Stage.DELIVERED: "delivered",
}


def corpus_stats(journeys: Sequence[Journey]) -> dict[str, Any]:
    """What the corpus holds: scenarios, phase lengths, parcels in flight at once."""
    phases: dict[str, list[float]] = {}
    for journey in journeys:
        for name, days in phase_days(journey).items():
            phases.setdefault(name, []).append(days)
    start = min(journey.added_at for journey in journeys)
    end = max(journey.end_at for journey in journeys)
    in_flight = sum(
        (max(event.visible_at for event in journey.events) - journey.added_at) / timedelta(days=1)
        if journey.events
        else (journey.end_at - journey.added_at) / timedelta(days=1)
        for journey in journeys
    ) / ((end - start) / timedelta(days=1))
    rounds = sum(1 for j in journeys for e in j.originals if e.stage is Stage.OUT_FOR_DELIVERY)
    return {
        "journeys": len(journeys),
        "scenarios": dict(sorted(Counter(j.scenario.value for j in journeys).items())),
        "events": sum(len(journey.originals) for journey in journeys),
        "out_for_delivery_rounds": rounds,
        "phase_days": {
            name: {
                "min": round(min(days), 2),
                "p50": round(statistics.median(days), 2),
                "max": round(max(days), 2),
                "n": len(days),
            }
            for name, days in phases.items()
        },
        "days_covered": round((end - start) / timedelta(days=1), 1),
        "parcels_in_flight_mean": round(in_flight, 1),
    }


def poller_json(figures: Figures, alone: float) -> dict[str, Any]:
    """One poller's figures in the results.json shape (plus a few extra keys)."""
    return {
        "requests_per_shipment": round(figures.requests_per_shipment, 2),
        "requests_by_source": figures.requests_by_source,
        "detect_delay_s": {stage.value: figures.delay_summary(stage) for stage in WATCHED_STAGES},
        "missed_out_for_delivery": figures.missed_rounds,
        "missed_out_for_delivery_1h_plus": figures.missed_long_rounds,
        "out_for_delivery_rounds": figures.rounds,
        "undetected": {stage.value: count for stage, count in figures.undetected.items()},
        "requests_per_shipment_alone": round(alone, 2),
        "lookups_per_shipment": round(
            sum(figures.lookups_by_source.values()) / figures.shipments, 2
        ),
        "lookups_by_stage": figures.lookups_by_stage,
        "out_for_delivery_delay_s_by_path": {
            path: {
                "p50": round(percentile(values, 0.5), 1),
                "p95": round(percentile(values, 0.95), 1),
                "n": len(values),
            }
            for path, values in figures.delays_by_path.items()
        },
    }


# Each household's tracker run and its oracle (keys of `run_all`).
HOUSEHOLDS: Final = {
    "cainiao_usps": ("adaptive", "oracle"),
    "cainiao_17track": ("adaptive_aggregator", "oracle_aggregator"),
}


def follow_modes(results: Mapping[str, Figures]) -> dict[str, Any]:
    """Per way of following the last mile: OFD and pickup delays, rounds missed."""
    modes: dict[str, Any] = {}
    for household, (adaptive_name, _) in HOUSEHOLDS.items():
        figures = results[adaptive_name]
        for mode, delays in figures.delays_by_mode.items():
            modes[mode] = {
                "household": household,
                **{
                    stage.value: {
                        key: value
                        for key, value in _summary_of(delays.get(stage, [])).items()
                        if key != "max"
                    }
                    for stage in simulator.MODE_STAGES
                },
                "missed_rounds": figures.missed_by_mode.get(mode, 0),
            }
    return dict(sorted(modes.items()))


def _summary_of(values: Sequence[float]) -> dict[str, float | int | None]:
    if not values:
        return {"p50": None, "p95": None, "n": 0}
    return {
        "p50": round(percentile(values, 0.5), 1),
        "p95": round(percentile(values, 0.95), 1),
        "n": len(values),
    }


def modes_table(data: Mapping[str, Any]) -> str:
    """OFD and pickup p50 / p95 per way of following the last mile, as Markdown."""
    lines = [
        "| follow mode | household | out for delivery p50 / p95 (n) | pickup p50 / p95 (n) |"
        " rounds missed |",
        "|" + " --- |" * 5,
    ]
    for mode, row in data["follow_modes"].items():
        cells = [
            f"{_duration(v['p50'])} / {_duration(v['p95'])} ({v['n']})"
            for v in (row["out_for_delivery"], row["available_for_pickup"])
        ]
        lines.append(
            f"| {mode} | {row['household']} | {cells[0]} | {cells[1]} | {row['missed_rounds']} |"
        )
    return "\n".join(lines)


def _duration(seconds: float | int | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def table(results: Mapping[str, Figures], alone: Mapping[str, float]) -> str:
    """The figures as a Markdown table."""
    head = (
        "| poller | requests/shipment | alone | cainiao | usps |"
        " out for delivery p50 / p95 | pickup p50 / p95 | delivered p50 / p95 |"
        " OFD rounds missed (>= 1 h) |"
    )
    lines = [head, "|" + " --- |" * 9]
    for name in ORDER:
        figures = results[name]
        delays = []
        for stage in WATCHED_STAGES:
            summary = figures.delay_summary(stage)
            delays.append(f"{_duration(summary['p50'])} / {_duration(summary['p95'])}")
        lines.append(
            f"| {name} | {figures.requests_per_shipment:.1f} | {alone[name]:.1f} |"
            f" {figures.requests_by_source.get(Source.CAINIAO.value, 0)} |"
            f" {figures.requests_by_source.get(Source.USPS.value, 0)} |"
            f" {' | '.join(delays)} |"
            f" {figures.missed_rounds} ({figures.missed_long_rounds}) |"
        )
    return "\n".join(lines)


def results_json(
    journeys: Sequence[Journey],
    results: Mapping[str, Figures],
    alone: Mapping[str, float],
    *,
    cpu: Mapping[int, RefreshCpu],
    memory: float,
) -> dict[str, Any]:
    """Everything measured, in the documented shape."""
    adaptive = results["adaptive"].requests_per_shipment
    return {
        "shipments": len(journeys),
        "pollers": {name: poller_json(results[name], alone[name]) for name in ORDER},
        "ratios": {
            "fixed_10m_over_adaptive_requests": round(
                results["fixed_10m"].requests_per_shipment / adaptive, 2
            ),
            "adaptive_over_oracle_requests": round(
                adaptive / results["oracle"].requests_per_shipment, 2
            ),
            "fixed_30m_over_adaptive_requests": round(
                results["fixed_30m"].requests_per_shipment / adaptive, 2
            ),
            "fixed_6h_over_adaptive_requests": round(
                results["fixed_6h"].requests_per_shipment / adaptive, 2
            ),
            "fixed_10m_over_adaptive_requests_alone": round(
                alone["fixed_10m"] / alone["adaptive"], 2
            ),
            "adaptive_over_oracle_requests_alone": round(alone["adaptive"] / alone["oracle"], 2),
        },
        "follow_modes": follow_modes(results),
        "oracle_ratio": {
            household: round(
                results[adaptive_name].requests_per_shipment
                / results[oracle_name].requests_per_shipment,
                2,
            )
            for household, (adaptive_name, oracle_name) in HOUSEHOLDS.items()
        },
        "peak_requests_per_hour": {
            household: {
                source: {"peak": peak, "limit": SOURCE_BUDGETS[Source(source)]}
                for source, peak in results[adaptive_name].peak_per_hour.items()
            }
            for household, (adaptive_name, _) in HOUSEHOLDS.items()
        },
        "refresh_cpu_ms_200_due": round(cpu[DUE].median, 1),
        "refresh_cpu_ms_by_due": {str(size): round(c.median, 1) for size, c in cpu.items()},
        "refresh_cpu_ms_fastest_by_due": {
            str(size): round(c.fastest, 1) for size, c in cpu.items()
        },
        "refresh_cpu_ms_split_by_due": {
            str(size): {"clients": round(c.clients, 1), "tracker": round(c.tracker, 1)}
            for size, c in cpu.items()
        },
        "refresh_numbers_asked_by_due": {str(size): c.asked for size, c in cpu.items()},
        "refresh_cpu_us_per_shipment_by_due": {
            str(size): round(c.median * 1000 / size) for size, c in cpu.items()
        },
        "refresh_cpu_goal": {
            "due": DUE,
            "median_ms_below": GOAL_MS,
            "met": cpu[DUE].median < GOAL_MS,
        },
        "memory_bytes_per_shipment": round(memory),
        "settings": {
            "batch_sizes": {source.value: size for source, size in simulator.BATCH_SIZES.items()},
            "batch_window_s": BATCH_WINDOW.total_seconds(),
            "due_in_refresh": DUE,
        },
        "corpus": corpus_stats(journeys),
    }


def cpu_table(data: Mapping[str, Any]) -> str:
    """CPU of one refresh by shipments due, and how it grows from the smallest, as Markdown."""
    sizes = list(data["refresh_cpu_ms_by_due"])
    lines = [
        "| shipments due | numbers asked | CPU median | fastest | clients + tracker |"
        " per shipment | growth |",
        "|" + " --- |" * 7,
    ]
    first = data["refresh_cpu_ms_by_due"][sizes[0]]
    for size in sizes:
        median = data["refresh_cpu_ms_by_due"][size]
        split = data["refresh_cpu_ms_split_by_due"][size]
        growth = (
            f"x{median / first:.0f} for x{int(size) // int(sizes[0])} shipments"
            if first and size != sizes[0]
            else "-"
        )
        lines.append(
            f"| {size} | {data['refresh_numbers_asked_by_due'][size]} | {median} ms |"
            f" {data['refresh_cpu_ms_fastest_by_due'][size]} ms |"
            f" {split['clients']} + {split['tracker']} ms |"
            f" {data['refresh_cpu_us_per_shipment_by_due'][size]} µs |"
            f" {growth} |"
        )
    return "\n".join(lines)


# --- what if ---------------------------------------------------------------------------


@contextmanager
def _patched(changes: Mapping[str, Any]) -> Iterator[None]:
    """Change policy (or `tracker.`) constants for the duration of a run, then put them back.

    A name maps to a new value; a (table, key) name maps to a new entry of that table.
    """
    modules = {"policy": policy, "tracker": tracker}
    saved: list[tuple[Any, str, Any]] = []
    saved_intervals = dict(policy.STAGE_INTERVALS)
    saved_floors = dict(policy.SOURCE_FLOORS)
    try:
        for name, value in changes.items():
            module_name, _, rest = name.rpartition(":")
            module = modules[module_name or "policy"]
            if "." in rest:
                table_name, key = rest.split(".", 1)
                table = getattr(module, table_name)
                table[next(k for k in table if str(k) == key)] = value
            else:
                saved.append((module, rest, getattr(module, rest)))
                setattr(module, rest, value)
        yield
    finally:
        for module, attr, value in reversed(saved):
            setattr(module, attr, value)
        policy.STAGE_INTERVALS.clear()
        policy.STAGE_INTERVALS.update(saved_intervals)
        policy.SOURCE_FLOORS.clear()
        policy.SOURCE_FLOORS.update(saved_floors)


# Variants of the tracker: constants to change, and its batch window.
WHAT_IF: Final[Mapping[str, tuple[Mapping[str, Any], timedelta]]] = {
    "as configured": ({}, BATCH_WINDOW),
    "no riders (nothing piggy-backs)": ({"tracker:RIDE_AFTER": 2.0}, BATCH_WINDOW),
    "Cainiao floor 30 min (before tuning)": (
        {"SOURCE_FLOORS.cainiao": timedelta(minutes=30)},
        BATCH_WINDOW,
    ),
    "last mile hourly outside the round": (
        {"STAGE_INTERVALS.last_mile": timedelta(hours=1)},
        BATCH_WINDOW,
    ),
    "out for delivery every 10 min": (
        {"STAGE_INTERVALS.out_for_delivery": timedelta(minutes=10)},
        BATCH_WINDOW,
    ),
    "customs every 4 h": ({"STAGE_INTERVALS.customs": timedelta(hours=4)}, BATCH_WINDOW),
    "last mile every 3 h outside the round": (
        {"STAGE_INTERVALS.last_mile": timedelta(hours=3)},
        BATCH_WINDOW,
    ),
}


def what_if(journeys: Sequence[Journey]) -> str:
    """The adaptive poller under each variant of WHAT_IF, as a Markdown table."""
    lines = [
        "| variant | requests/shipment | x oracle | OFD p50 / p95 | OFD p95: cainiao_then_usps"
        " / cainiao_only / usps_domestic | delivered p95 | rounds missed (>= 1 h) |",
        "|" + " --- |" * 7,
    ]
    oracle = simulator.figures(simulator.simulate_oracle(journeys)).requests_per_shipment
    for label, (changes, early) in WHAT_IF.items():
        with _patched(changes):
            tally = simulator.simulate_tracker(
                journeys, settings=TrackerSettings(batch_window=early)
            )
        figures = simulator.figures(tally)
        ofd = figures.delay_summary(Stage.OUT_FOR_DELIVERY)
        paths = " / ".join(
            _duration(
                percentile(values, 0.95) if (values := figures.delays_by_path.get(path)) else None
            )
            for path in ("cainiao_then_usps", "cainiao_only", "usps_domestic")
        )
        delivered = figures.delay_summary(Stage.DELIVERED)
        lines.append(
            f"| {label} | {figures.requests_per_shipment:.1f} |"
            f" {figures.requests_per_shipment / oracle:.2f} |"
            f" {_duration(ofd['p50'])} / {_duration(ofd['p95'])} |"
            f" {paths} | {_duration(delivered['p95'])} |"
            f" {figures.missed_rounds} ({figures.missed_long_rounds}) |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run everything, print the table, write the JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON")
    parser.add_argument("--what-if", action="store_true", help="also run policy variants")
    parser.add_argument("--corpus", type=Path, default=CORPUS_DIR, help="journey files to replay")
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(size) for size in text.split(",")],
        default=list(SIZES),
        help="shipments due in the refreshes whose CPU is measured (default 10,200,2000)",
    )
    args = parser.parse_args(argv)

    started = clock.monotonic()
    journeys = load_corpus(args.corpus)
    results = run_all(journeys)
    alone = run_solo(journeys)
    cpu = {size: refresh_cpu(prepare(journeys, size)) for size in sorted({*args.sizes, DUE})}
    memory = memory_per_shipment(prepare(journeys, DUE))
    data = results_json(journeys, results, alone, cpu=cpu, memory=memory)
    args.output.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

    stats = data["corpus"]
    print(
        f"{len(journeys)} journeys over {stats['days_covered']} days,"
        f" {stats['parcels_in_flight_mean']} parcels in flight on average,"
        f" {stats['out_for_delivery_rounds']} delivery rounds\n"
    )
    print(table(results, alone))
    ratios = data["ratios"]
    print(
        f"\nfixed_10m / adaptive requests: {ratios['fixed_10m_over_adaptive_requests']}x"
        f" (each parcel alone: {ratios['fixed_10m_over_adaptive_requests_alone']}x);"
        f" adaptive / oracle: {ratios['adaptive_over_oracle_requests']}x"
        f" (alone: {ratios['adaptive_over_oracle_requests_alone']}x)"
    )
    by_path = data["pollers"]["adaptive"]["out_for_delivery_delay_s_by_path"]
    print(
        "adaptive, out for delivery by how the last mile is followed: "
        + ", ".join(
            f"{path} p50 {_duration(v['p50'])} p95 {_duration(v['p95'])} (n={v['n']})"
            for path, v in by_path.items()
        )
    )
    print("\nby how the last mile is followed (adaptive; delays from the event's visibility at")
    print("the source that follows the parcel):\n")
    print(modes_table(data))
    print()
    for household, ratio in data["oracle_ratio"].items():
        peaks = ", ".join(
            f"{source} {v['peak']} (limit {v['limit']})"
            for source, v in data["peak_requests_per_hour"][household].items()
        )
        print(f"household {household}: {ratio}x the oracle; peak requests per hour: {peaks}")
    stages = results["adaptive"].lookups_by_stage
    shipments = len(journeys)
    print(
        "adaptive numbers asked per shipment, by the stage it was in: "
        + ", ".join(f"{stage} {count / shipments:.1f}" for stage, count in stages.items())
    )
    print(f"\n{cpu_table(data)}\n")
    goal = data["refresh_cpu_goal"]
    print(
        f"goal: one refresh of {goal['due']} due under {goal['median_ms_below']:g} ms of CPU"
        f" (median): {data['refresh_cpu_ms_by_due'][str(goal['due'])]} ms,"
        f" {'met' if goal['met'] else 'NOT met'};"
        f" {data['memory_bytes_per_shipment']} bytes per shipment held"
    )
    if args.what_if:
        print("\nwhat if (adaptive only):\n")
        print(what_if(journeys))
    print(f"\nwrote {args.output} in {clock.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
