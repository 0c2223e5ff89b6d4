"""The CPU time of one coordinator refresh, and the memory a shipment holds.

A refresh with 200 shipments due: decode and parse every reply with the real normalizers
(Cainiao detail.json with 10 numbers each, USPS Tracking 3.2 arrays with 35), merge each
shipment with `build_shipment` and the history kept from the refresh before, and ask
`next_check` about each of its numbers. The 200 shipments are corpus journeys at
staggered points of their journey, each under distinct numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
import gc
import json
from statistics import median
import time
import tracemalloc
from typing import Any, Final

from custom_components.parcel_handoff.tracking.carriers import source_for_carrier
from custom_components.parcel_handoff.tracking.model import (
    Shipment,
    Source,
    SourceResult,
    SourceSnapshot,
    TrackingEvent,
)
from custom_components.parcel_handoff.tracking.normalizers._util import decode_json
from custom_components.parcel_handoff.tracking.normalizers.cainiao import parse_cainiao
from custom_components.parcel_handoff.tracking.normalizers.usps import parse_usps
from custom_components.parcel_handoff.tracking.policy import CheckContext, next_check
from custom_components.parcel_handoff.tracking.timeline import build_shipment

from .corpus import Journey
from .simulator import BATCH_SIZES
from .wire import cainiao_module, cainiao_reply, renumber, usps_item

DUE: Final = 200
# The history a refresh starts from is what the refresh this long before kept.
HISTORY_AGE: Final = timedelta(days=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class DueParcel:
    """One shipment due in the refresh: its numbers, clock and kept history."""

    number: str
    legs: tuple[tuple[Source, str], ...]
    now: datetime
    added_at: datetime
    zone: tzinfo
    history: tuple[TrackingEvent, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class RefreshCase:
    """The replies of one refresh (raw bytes, as they come off the wire) and its parcels."""

    cainiao_bodies: tuple[bytes, ...]
    usps_bodies: tuple[bytes, ...]
    parcels: tuple[DueParcel, ...]


def _legs(journey: Journey, index: int, now: datetime) -> tuple[tuple[Source, str], ...]:
    legs = [(journey.origin_source, renumber(journey.origin_number, index))]
    known = journey.local_known_at
    if journey.local_number is not None and known is not None and now >= known:
        legs.append((Source.USPS, renumber(journey.local_number, index)))
    return tuple(legs)


def _bodies(
    entries: Sequence[tuple[Journey, int, datetime, Source, str]],
) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    cainiao: list[dict[str, Any]] = []
    usps: list[dict[str, Any]] = []
    for journey, index, now, source, _ in entries:
        if source is Source.CAINIAO:
            cainiao.append(cainiao_module(journey, now, index=index))
        else:
            number = journey.origin_number if journey.local_number is None else journey.local_number
            usps.append(usps_item(journey, now, number=number, index=index))
    size_c, size_u = BATCH_SIZES[Source.CAINIAO], BATCH_SIZES[Source.USPS]
    cainiao_bodies = tuple(
        json.dumps(cainiao_reply(cainiao[i : i + size_c])).encode()
        for i in range(0, len(cainiao), size_c)
    )
    usps_bodies = tuple(
        json.dumps(usps[i : i + size_u]).encode() for i in range(0, len(usps), size_u)
    )
    return cainiao_bodies, usps_bodies


def prepare(journeys: Sequence[Journey], count: int = DUE) -> RefreshCase:
    """`count` parcels due at once, from the corpus at staggered points of each journey."""
    picks: list[tuple[Journey, int, datetime]] = []
    for index in range(count):
        journey = journeys[index % len(journeys)]
        last = max((event.visible_at for event in journey.events), default=journey.end_at)
        fraction = (index * 0.618034) % 1.0
        now = journey.added_at + (max(last, journey.added_at) - journey.added_at) * fraction
        picks.append((journey, index, now))
    before = [(journey, index, now - HISTORY_AGE) for journey, index, now in picks]
    kept = {
        parcel.number: shipment.events
        for parcel, shipment in zip(_parcels(before), refresh(_case(before)), strict=True)
    }
    parcels = tuple(
        DueParcel(
            number=parcel.number,
            legs=parcel.legs,
            now=parcel.now,
            added_at=parcel.added_at,
            zone=parcel.zone,
            history=kept.get(parcel.number, ()),
        )
        for parcel in _parcels(picks)
    )
    case = _case(picks)
    return RefreshCase(
        cainiao_bodies=case.cainiao_bodies, usps_bodies=case.usps_bodies, parcels=parcels
    )


def _parcels(picks: Sequence[tuple[Journey, int, datetime]]) -> list[DueParcel]:
    return [
        DueParcel(
            number=renumber(journey.origin_number, index),
            legs=_legs(journey, index, now),
            now=now,
            added_at=journey.added_at,
            zone=journey.zone,
        )
        for journey, index, now in picks
    ]


def _case(picks: Sequence[tuple[Journey, int, datetime]]) -> RefreshCase:
    entries = [
        (journey, index, now, source, number)
        for journey, index, now in picks
        for source, number in _legs(journey, index, now)
    ]
    cainiao, usps = _bodies(entries)
    return RefreshCase(cainiao_bodies=cainiao, usps_bodies=usps, parcels=tuple(_parcels(picks)))


def refresh(case: RefreshCase, *, with_history: bool = True) -> list[Shipment]:
    """One refresh: parse every reply, rebuild every due shipment, plan its next looks."""
    results: dict[tuple[Source, str], SourceResult] = {}
    for body in case.cainiao_bodies:
        for number, result in parse_cainiao(decode_json(body, what="Cainiao")).items():
            results[(Source.CAINIAO, number)] = result
    for body in case.usps_bodies:
        for number, result in parse_usps(decode_json(body, what="USPS")).items():
            results[(Source.USPS, number)] = result
    shipments = []
    for parcel in case.parcels:
        snapshots = [
            answer for leg in parcel.legs if isinstance(answer := results.get(leg), SourceSnapshot)
        ]
        shipment = build_shipment(
            parcel.number,
            snapshots,
            now=parcel.now,
            history=parcel.history if with_history else (),
            added_at=parcel.added_at,
        )
        local_found = any(s.found and s.tracking_number != parcel.number for s in snapshots)
        local_source = source_for_carrier(shipment.local_carrier)
        for source, _number in parcel.legs:
            next_check(
                shipment,
                parcel.now,
                CheckContext(
                    source=source,
                    last_check=parcel.now,
                    local_tz=parcel.zone,
                    superseded=local_found and source is not local_source,
                ),
            )
        shipments.append(shipment)
    return shipments


def refresh_cpu_ms(case: RefreshCase, *, repeat: int = 9) -> float:
    """The median CPU time of one refresh, in milliseconds (after one warm-up)."""
    refresh(case)
    samples = []
    for _ in range(repeat):
        started = time.process_time()
        refresh(case)
        samples.append((time.process_time() - started) * 1000)
    return median(samples)


def memory_per_shipment(case: RefreshCase) -> float:
    """Bytes held per shipment: 200 Shipments with their whole timelines, over 200.

    Built without a prior history, so that every event the shipments hold is allocated
    while tracing; the replies and snapshots are let go before measuring.
    """
    gc.collect()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        shipments = refresh(case, with_history=False)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
    return held / len(shipments)
