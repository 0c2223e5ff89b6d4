"""The CPU time of one refresh on the integration's real path, and the memory it holds.

A refresh with N shipments due, as the Home Assistant coordinator runs it: the
integration's `Tracker`, restored from the state the refresh a day earlier left, with
the real Cainiao and USPS clients (request building, OAuth token, reply reading, error
mapping, batching), the real normalizers, then the tracker's merge, handoff following,
change detection and polling policy. Only the network is replaced: `WireSession` stands
in for aiohttp's session and answers each request in the real wire formats
(`wire.py`), caching each reply so that only the warm-up run renders it.

The shipments are corpus journeys at staggered points of their journey, each shifted in
time so that its point is the refresh instant, under distinct numbers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
import gc
import json
from statistics import median
import time
import tracemalloc
from types import TracebackType
from typing import Any, Final, cast
from urllib.parse import urlsplit

import aiohttp

from custom_components.parcel_handoff.tracking.clients.base import TrackingClient
from custom_components.parcel_handoff.tracking.clients.cainiao import DETAIL_PATH, CainiaoClient
from custom_components.parcel_handoff.tracking.clients.usps import (
    TOKEN_PATH,
    TRACKING_V3R2_PATH,
    UspsClient,
)
from custom_components.parcel_handoff.tracking.model import Source
from custom_components.parcel_handoff.tracking.tracker import (
    RefreshResult,
    ShipmentConfig,
    StoredData,
    Tracker,
)

from .corpus import Journey
from .wire import cainiao_module, cainiao_reply, renumber, usps_item

DUE: Final = 200
SIZES: Final = (10, 200, 2000)
# The instant of the measured refresh; the history is what a refresh this long before kept.
REFRESH_AT: Final = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
HISTORY_AGE: Final = timedelta(days=1)
_TOKEN: Final = b'{"access_token": "benchmark-token", "token_type": "Bearer", "expires_in": 28800}'


def shift(journey: Journey, delta: timedelta) -> Journey:
    """The same journey `delta` later: every instant moved, nothing else."""

    def moved(value: datetime | None) -> datetime | None:
        return value + delta if value is not None else None

    return replace(
        journey,
        added_at=journey.added_at + delta,
        end_at=journey.end_at + delta,
        local_known_at=moved(journey.local_known_at),
        eta_earliest=moved(journey.eta_earliest),
        eta_latest=moved(journey.eta_latest),
        events=tuple(
            replace(event, time=event.time + delta, visible_at=event.visible_at + delta)
            for event in journey.events
        ),
    )


@dataclass(frozen=True, slots=True)
class _Parcel:
    journey: Journey
    index: int
    number: str  # the journey's own number this one stands for


class _Body:
    """The body as `aiohttp.StreamReader` hands it out, in chunks (all already here)."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    async def iter_chunked(self, n: int) -> AsyncIterator[bytes]:
        for start in range(0, len(self._body), n):
            yield self._body[start : start + n]


class _Response:
    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self.headers: dict[str, str] = {"Content-Type": "application/json"}
        self.content_length = len(body)
        self.content = _Body(body)

    def close(self) -> None:
        """Nothing to close: no connection."""


class _Exchange:
    def __init__(self, response: _Response) -> None:
        self._response = response

    async def __aenter__(self) -> _Response:
        return self._response

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None


class WireSession:
    """Stands in for `aiohttp.ClientSession`: replies from the journeys, as of `now`."""

    def __init__(self, parcels: Mapping[str, _Parcel], now: datetime) -> None:
        """Answer for the numbers in `parcels` (by the number the clients send)."""
        self.parcels = parcels
        self.now = now
        self._cache: dict[tuple[str, tuple[str, ...], datetime], bytes] = {}

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        **_: Any,
    ) -> _Exchange:
        """One exchange: the reply body in the real service's format."""
        path = urlsplit(url).path
        if path == TOKEN_PATH:
            return _Exchange(_Response(200, _TOKEN))
        if path == DETAIL_PATH and params is not None:
            numbers = tuple(params["mailNos"].split(","))
        elif path == TRACKING_V3R2_PATH and isinstance(json, list):
            numbers = tuple(item["trackingNumber"] for item in json)
        else:
            return _Exchange(_Response(404, b"{}"))
        key = (path, numbers, self.now)
        if (body := self._cache.get(key)) is None:
            body = self._cache[key] = self._render(path, numbers)
        return _Exchange(_Response(200, body))

    def _render(self, path: str, numbers: Sequence[str]) -> bytes:
        if path == DETAIL_PATH:
            modules = []
            for number in numbers:
                parcel = self.parcels.get(number)
                if parcel is None:
                    modules.append({"mailNo": number, "mailNoSource": "EXTERNAL", "detailList": []})
                else:
                    modules.append(cainiao_module(parcel.journey, self.now, index=parcel.index))
            return _dumps(cainiao_reply(modules))
        items = [
            usps_item(parcel.journey, self.now, number=parcel.number, index=parcel.index)
            for number in numbers
            if (parcel := self.parcels.get(number)) is not None
        ]
        return _dumps(items)


def _dumps(data: object) -> bytes:
    return json.dumps(data).encode()


@dataclass(frozen=True, slots=True, kw_only=True)
class RefreshCase:
    """The shipments of one refresh, the state they start from, and the clients' session."""

    now: datetime
    configs: tuple[ShipmentConfig, ...]
    stored: StoredData
    session: WireSession
    clients: Mapping[Source, TrackingClient]


def _picks(journeys: Sequence[Journey], count: int) -> list[tuple[Journey, int]]:
    picks = []
    for index in range(count):
        journey = journeys[index % len(journeys)]
        last = max((event.visible_at for event in journey.events), default=journey.end_at)
        fraction = (index * 0.618034) % 1.0
        point = journey.added_at + (max(last, journey.added_at) - journey.added_at) * fraction
        picks.append((shift(journey, REFRESH_AT - point), index))
    return picks


def prepare(journeys: Sequence[Journey], count: int = DUE) -> RefreshCase:
    """`count` shipments due at once, restored from the refresh a day before."""
    parcels: dict[str, _Parcel] = {}
    configs = []
    for journey, index in _picks(journeys, count):
        for number in (journey.origin_number, journey.local_number):
            if number is not None:
                parcels[renumber(number, index)] = _Parcel(journey, index, number)
        configs.append(
            ShipmentConfig(
                shipment_id=f"{index:04d}",
                title=journey.id,
                tracking_number=renumber(journey.origin_number, index),
                time_zone=journey.zone,
            )
        )
    session = WireSession(parcels, REFRESH_AT - HISTORY_AGE)
    http = cast("aiohttp.ClientSession", session)
    clients: dict[Source, TrackingClient] = {
        Source.CAINIAO: CainiaoClient(http),
        Source.USPS: UspsClient(http, "benchmark-id", "benchmark-secret"),
    }
    earlier = Tracker(clients, clock=lambda: session.now)
    earlier.sync(configs)
    asyncio.run(earlier.async_refresh())
    stored = _all_due(earlier.persisted(), REFRESH_AT)
    session.now = REFRESH_AT
    return RefreshCase(
        now=REFRESH_AT, configs=tuple(configs), stored=stored, session=session, clients=clients
    )


def _all_due(stored: StoredData, now: datetime) -> StoredData:
    """The same records with every checked leg due at `now`."""
    return replace(
        stored,
        shipments={
            sid: replace(
                record,
                checks={
                    leg: replace(check, next_check=now) for leg, check in record.checks.items()
                },
            )
            for sid, record in stored.shipments.items()
        },
    )


def restored(case: RefreshCase) -> Tracker:
    """A tracker as Home Assistant starts it: the case's clients and stored state."""
    tracker = Tracker(case.clients, clock=lambda: case.now)
    tracker.restore(case.stored, case.configs)
    return tracker


def refresh(case: RefreshCase) -> RefreshResult:
    """One refresh of the case (for tests; the measurement times only the refresh)."""
    return asyncio.run(restored(case).async_refresh())


# The goal of the polling issue: one refresh of DUE shipments under this many ms of CPU (median).
GOAL_MS: Final = 50.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RefreshCpu:
    """CPU milliseconds of one refresh (median and fastest), and the clients' share."""

    median: float
    fastest: float
    clients: float  # the same requests, replies read and parsed, without the tracker
    asked: int = 0  # numbers the refresh asked (the sources' hourly budgets cap it)

    @property
    def tracker(self) -> float:
        """What the tracker itself costs: merges, handoffs, announcements, policy."""
        return max(self.median - self.clients, 0.0)


def refresh_cpu(case: RefreshCase, *, repeat: int = 15) -> RefreshCpu:
    """CPU time of one refresh, median and fastest of `repeat` runs after a warm-up.

    The clients' share is measured apart: every number the refresh asked (within the
    sources' hourly budgets), in one `async_track` per source, replies decoded and
    parsed by the real normalizers.
    """
    loop = asyncio.new_event_loop()
    try:
        first = loop.run_until_complete(restored(case).async_refresh())
        asked = sorted(
            leg
            for state in first.shipments.values()
            for leg, check in state.record.checks.items()
            if check.last_check == case.now
        )
        numbers = {
            source: [number for leg_source, number in asked if leg_source is source]
            for source in case.clients
        }

        async def fetch() -> None:
            await asyncio.gather(
                *(case.clients[source].async_track(wanted) for source, wanted in numbers.items())
            )

        whole: list[float] = []
        clients: list[float] = []
        for run in range(repeat + 1):
            tracker = restored(case)
            gc.collect()
            started = time.process_time()
            loop.run_until_complete(tracker.async_refresh())
            refreshed = time.process_time()
            loop.run_until_complete(fetch())
            if run:  # the first run renders the replies and warms the caches
                whole.append((refreshed - started) * 1000)
                clients.append((time.process_time() - refreshed) * 1000)
    finally:
        loop.close()
    return RefreshCpu(
        median=median(whole), fastest=min(whole), clients=median(clients), asked=len(asked)
    )


def memory_per_shipment(case: RefreshCase) -> float:
    """Bytes the tracker holds per shipment after a refresh (records and views).

    Replies are rendered (cached) before tracing, so that only what the tracker keeps
    is counted; the stored state of the case is not used.
    """
    refresh(replace(case, stored=StoredData()))
    gc.collect()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        tracker = Tracker(case.clients, clock=lambda: case.now)
        tracker.sync(case.configs)
        asyncio.run(tracker.async_refresh())
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
    return held / len(case.configs)
