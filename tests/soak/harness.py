"""The soak: a household's Home Assistant run for weeks against faulty portals.

One config entry with the household's shipments (`scenario.py`) runs on Home
Assistant's test instance against the local carrier server, on a frozen clock moved
from one scheduled refresh to the next. Faults are queued at random on every source
(`faults.py`); Home Assistant restarts at random instants (a clean stop, a kill with a
store write in flight, once a power cut that leaves a torn store file). After every step
the invariants are checked; `SoakReport` holds the figures and every violation.

The store of the entry is written to real files (in `store_dir`) rather than Home
Assistant's test dictionary, so that a torn file is a torn file.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import heapq
import inspect
import json
import logging
from pathlib import Path
import random
import resource
import time
from types import MappingProxyType
from typing import Any, Final
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState, ConfigSubentry, ConfigSubentryData
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.parcel_handoff.const import (
    CARRIER_AUTO,
    CONF_AFTERSHIP_API_KEY,
    CONF_CARRIER,
    CONF_ENDPOINTS,
    CONF_KEEP_DELIVERED_DAYS,
    CONF_SEVENTEEN_TRACK_API_KEY,
    CONF_TRACKING_NUMBER,
    CONF_USPS_CLIENT_ID,
    CONF_USPS_CLIENT_SECRET,
    DOMAIN,
    SUBENTRY_SHIPMENT,
)
from custom_components.parcel_handoff.coordinator import ParcelHandoffCoordinator
from custom_components.parcel_handoff.event import EVENT_JOURNEY
from custom_components.parcel_handoff.store import storage_key, stored_from_dict
from custom_components.parcel_handoff.tracking.model import Source, TrackingEvent
from custom_components.parcel_handoff.tracking.timeline import DUPLICATE_TOLERANCE
from tests.carrier_server import DEFAULT_CREDENTIALS, CarrierServer, running_carrier_server

from .faults import (
    CLIENT_TIMEOUT,
    RATES,
    RETRY_AFTER_2099,
    WINDOW_HOURS,
    SoakServerState,
    fault_options,
    huge_cainiao_body,
)
from .scenario import SHIPMENTS, SoakShipment, build_household

START: Final = datetime(2025, 10, 6, 5, 17, tzinfo=UTC)
ENTRY_ID: Final = "01JPARCELHANDOFFSOAK000000"
# A source resting longer than this after one answer is obeying a hostile Retry-After.
SANE_REST: Final = timedelta(hours=24)
# Restarts per simulated day (Poisson), and the share of them that are kills.
RESTARTS_PER_DAY: Final = 0.3
KILL_SHARE: Final = 0.35
# Forgetful portals are kept this far from the torn store (what they forget is gone then).
TORN_QUIET: Final = timedelta(days=3)
# Loggers that are not Home Assistant's or ours: the test harness and the fake portals.
FOREIGN_LOGGERS: Final = ("aiohttp.access", "aiohttp.server", "aiohttp.web", "tests.")

CREDENTIALS: Final = {
    CONF_USPS_CLIENT_ID: DEFAULT_CREDENTIALS["usps_client_id"],
    CONF_USPS_CLIENT_SECRET: DEFAULT_CREDENTIALS["usps_client_secret"],
    CONF_SEVENTEEN_TRACK_API_KEY: DEFAULT_CREDENTIALS["seventeen_track_key"],
    CONF_AFTERSHIP_API_KEY: DEFAULT_CREDENTIALS["aftership_key"],
}

type EventKey = tuple[str, str, str, str]


def _wall() -> float:
    """Seconds on the real monotonic clock (freezegun freezes time.perf_counter)."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


@dataclass(frozen=True, slots=True, kw_only=True)
class SoakSettings:
    """How long, how many parcels, which seed."""

    days: float = 60.0
    seed: int = 1
    shipments: int = SHIPMENTS


@dataclass(kw_only=True)
class SoakReport:
    """The figures of one run and every invariant it broke."""

    settings: SoakSettings
    refreshes: int = 0
    steps: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    restarts: Counter[str] = field(default_factory=Counter)
    events_seen: int = 0
    events_kept: int = 0
    events_merged: int = 0
    events_lost: int = 0
    stage_changes: int = 0
    stage_events: int = 0
    duplicates: int = 0
    missed: int = 0
    handoffs: int = 0
    handoff_events: int = 0
    changes_at_restart: int = 0
    store_loads: int = 0
    store_loads_failed: int = 0
    torn_files_set_aside: int = 0
    repair_issues: int = 0
    reauths: int = 0
    log_lines: int = 0
    leaking_log_lines: int = 0
    peak_rss_mb: float = 0.0
    wall_seconds: float = 0.0
    huge_reply_seconds: float | None = None
    violations: list[str] = field(default_factory=list)

    def violate(self, message: str) -> None:
        """Note a broken invariant (the first five of each kind are kept, each once)."""
        kind = message.split(":", 1)[0]
        if message not in self.violations and sum(v.startswith(kind) for v in self.violations) < 5:
            self.violations.append(message)

    @property
    def ok(self) -> bool:
        """True when every invariant held."""
        return not self.violations

    def lines(self) -> list[str]:
        """One figure per line, as the issue asks."""
        faults = ", ".join(
            f"{kind} {count}" for kind, count in sorted(self.faults.items()) if count
        )
        restarts = ", ".join(f"{kind} {count}" for kind, count in sorted(self.restarts.items()))
        huge = f"{self.huge_reply_seconds:.2f} s" if self.huge_reply_seconds is not None else "n/a"
        return [
            f"soak: {self.settings.days:g} days, seed {self.settings.seed}, "
            f"{self.settings.shipments} shipments, {self.wall_seconds:.0f} s wall time",
            f"refreshes run: {self.refreshes} ({self.steps} steps)",
            f"faults injected: {sum(self.faults.values())} ({faults})",
            f"restarts: {sum(self.restarts.values())} ({restarts})",
            f"events seen vs kept: {self.events_seen} seen, {self.events_kept} kept, "
            f"{self.events_merged} merged into a better copy, {self.events_lost} lost",
            f"journey events fired vs stage changes: {self.stage_events} fired, "
            f"{self.stage_changes} changes, {self.duplicates} duplicates, {self.missed} missed; "
            f"handoffs {self.handoff_events} fired of {self.handoffs}; "
            f"{self.changes_at_restart} changes found by a first answer after the torn store "
            "(a baseline, not announced)",
            f"store loads that failed: {self.store_loads_failed} of {self.store_loads} "
            f"(torn files set aside {self.torn_files_set_aside}, repair issues "
            f"{self.repair_issues})",
            f"re-authentications asked: {self.reauths}",
            f"huge reply handled in: {huge}",
            f"peak memory: {self.peak_rss_mb:.0f} MB (ru_maxrss)",
            f"log lines carrying a secret or a full tracking number: {self.leaking_log_lines} "
            f"of {self.log_lines}",
            f"invariants: {'all held' if self.ok else f'{len(self.violations)} broken'}",
            *(f"  broken: {violation}" for violation in self.violations),
        ]

    def to_json(self) -> dict[str, Any]:
        """The figures as JSON-friendly data."""
        return {
            "days": self.settings.days,
            "seed": self.settings.seed,
            "shipments": self.settings.shipments,
            "wall_seconds": round(self.wall_seconds, 1),
            "refreshes": self.refreshes,
            "faults": dict(sorted(self.faults.items())),
            "restarts": dict(sorted(self.restarts.items())),
            "events": {
                "seen": self.events_seen,
                "kept": self.events_kept,
                "merged": self.events_merged,
                "lost": self.events_lost,
            },
            "journey_events": {
                "fired": self.stage_events,
                "stage_changes": self.stage_changes,
                "duplicates": self.duplicates,
                "missed": self.missed,
                "handoffs": self.handoffs,
                "handoff_events": self.handoff_events,
                "changes_at_restart": self.changes_at_restart,
            },
            "store": {
                "loads": self.store_loads,
                "failed": self.store_loads_failed,
                "torn_set_aside": self.torn_files_set_aside,
                "repair_issues": self.repair_issues,
            },
            "reauths": self.reauths,
            "huge_reply_seconds": self.huge_reply_seconds,
            "peak_rss_mb": round(self.peak_rss_mb),
            "log_lines": self.log_lines,
            "leaking_log_lines": self.leaking_log_lines,
            "violations": self.violations,
        }


class LogScanner(logging.Handler):
    """Counts every log record and keeps those carrying a secret or a full number."""

    def __init__(self, needles: Callable[[], set[str]]) -> None:
        """Look for the strings `needles()` returns (secrets, tokens, numbers)."""
        super().__init__(logging.DEBUG)
        self._needles = needles
        self.lines = 0
        self.leaks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Scan one record: its message, its arguments' text and its traceback."""
        if record.name.startswith(FOREIGN_LOGGERS):
            return
        self.lines += 1
        try:
            text = record.getMessage()
        except (TypeError, ValueError):
            text = f"{record.msg} {record.args}"
        if record.exc_info and record.exc_info[1] is not None:
            text += f" {record.exc_info[1]!r} {record.exc_info[1].__cause__!r}"
        if record.stack_info:
            text += record.stack_info
        if any(needle in text for needle in self._needles()):
            self.leaks.append(f"{record.name}: {text[:200]}")


def _event_key(event: TrackingEvent) -> EventKey:
    return (
        event.source.value,
        event.time.astimezone(UTC).isoformat(),
        " ".join(event.description.lower().split()),
        event.code or "",
    )


@contextlib.contextmanager
def real_store_files(directory: Path) -> Iterator[None]:
    """Our stores read and write real files in `directory`; the others stay in memory."""
    mocked_load = Store._async_load
    mocked_write = Store._async_write_data
    prefix = f"{DOMAIN}."

    def place(store: Store[Any]) -> str:
        path = str(directory / store.key)
        store.__dict__["path"] = path  # the cached property, pointed at our directory
        return path

    async def load(store: Store[Any]) -> Any:
        if not store.key.startswith(prefix):
            return await mocked_load(store)  # type: ignore[misc]
        place(store)
        store._manager.async_invalidate(store.key)
        return await store._async_load_data()

    # Store._write_data takes (path, data) up to 2025.x and (data) from 2026.x.
    takes_path = len(inspect.signature(Store._write_data).parameters) == 3

    async def write(store: Store[Any], *args: Any) -> None:
        if not store.key.startswith(prefix):
            await mocked_write(store, *args)  # type: ignore[misc]
            return
        data = args[-1]
        path = place(store)
        await store.hass.async_add_executor_job(
            store._write_data, *((path, data) if takes_path else (data,))
        )

    with (
        patch.object(Store, "_async_load", load),
        patch.object(Store, "_async_write_data", write),
    ):
        yield


@dataclass(order=True, frozen=True, slots=True)
class _Action:
    when: datetime
    seq: int
    kind: str = field(compare=False)
    arg: Any = field(compare=False, default=None)


class Soak:
    """One soak run (see the module's docstring)."""

    def __init__(
        self,
        hass: HomeAssistant,
        freezer: FrozenDateTimeFactory,
        server: CarrierServer,
        settings: SoakSettings,
        store_dir: Path,
    ) -> None:
        """Run `settings` on `hass`, against `server` (its state a SoakServerState)."""
        assert isinstance(server.state, SoakServerState)
        self.hass = hass
        self.freezer = freezer
        self.server = server
        self.state: SoakServerState = server.state
        self.settings = settings
        self.store_path = store_dir / storage_key(ENTRY_ID)
        self.rng = random.Random(settings.seed * 7919 + 1)
        self.report = SoakReport(settings=settings)
        self.end = START + timedelta(days=settings.days)
        self.shipments = build_household(
            START, settings.days, settings.seed, count=settings.shipments
        )
        self.by_title = {shipment.title: shipment for shipment in self.shipments}
        self.sid_of_title: dict[str, str] = {}
        self._actions: list[_Action] = []
        self._seq = 0
        # What Home Assistant showed: stage per shipment, every event seen.
        self.stage: dict[str, str | None] = {}
        self.local: dict[str, str | None] = {}
        self.seen: dict[str, dict[EventKey, TrackingEvent]] = defaultdict(dict)
        self.changes: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self.handoffs: dict[str, int] = defaultdict(int)
        self.fired: dict[str, list[tuple[str | None, str]]] = defaultdict(list)
        self.fired_handoffs: dict[str, int] = defaultdict(int)
        self.fired_keys: Counter[tuple[str, str, str]] = Counter()
        self.emptied: set[str] = set()
        # Shipments whose timeline a torn store lost: it must come back by the run's end.
        self.recovering: set[str] = set()
        # The timeline last checked per shipment (an unchanged one needs no new look).
        self._looked_at: dict[str, tuple[TrackingEvent, ...]] = {}
        self.torn_at: datetime | None = None
        self.huge_pending = False
        self.entry: MockConfigEntry | None = None
        self._unsub: list[Callable[[], None]] = []

    # --- plan ---------------------------------------------------------------------------

    def _plan(self, when: datetime, kind: str, arg: Any = None) -> None:
        self._seq += 1
        heapq.heappush(self._actions, _Action(when, self._seq, kind, arg))

    def _plan_all(self) -> None:
        days = self.settings.days
        for shipment in self.shipments:
            if shipment.added_at > START:
                self._plan(shipment.added_at, "add", shipment)
        for source, kinds in RATES.items():
            for kind, rate in kinds.items():
                at = START
                while (at := at + timedelta(days=self.rng.expovariate(rate))) < self.end:
                    self._plan(at, "fault", (source, kind))
        count = max(2, round(days * RESTARTS_PER_DAY))
        instants = sorted(START + timedelta(days=self.rng.uniform(0.3, days)) for _ in range(count))
        for index, at in enumerate(instants):
            kind = "kill" if index == 0 or self.rng.random() < KILL_SHARE else "restart"
            self._plan(at, "restart", kind)
        self.torn_at = START + timedelta(days=days * self.rng.uniform(0.5, 0.6))
        self._plan(self.torn_at, "restart", "torn")
        self._plan(START + timedelta(days=days * 0.25), "fault", ("aftership", "retry_2099"))
        self._plan(START + timedelta(days=days * 0.4), "fault", ("cainiao", "huge_reply"))

    # --- Home Assistant -----------------------------------------------------------------

    def _entry(self) -> MockConfigEntry:
        subentries = [
            self._subentry_data(shipment)
            for shipment in self.shipments
            if shipment.added_at <= START
        ]
        return MockConfigEntry(
            domain=DOMAIN,
            title="Parcel Handoff",
            entry_id=ENTRY_ID,
            data={
                **CREDENTIALS,
                CONF_ENDPOINTS: {source.value: self.server.base_url for source in Source},
            },
            options={CONF_KEEP_DELIVERED_DAYS: 0},
            subentries_data=subentries,
        )

    @staticmethod
    def _subentry_data(shipment: SoakShipment) -> ConfigSubentryData:
        carrier = shipment.carrier.value if shipment.carrier is not None else CARRIER_AUTO
        return ConfigSubentryData(
            data={CONF_TRACKING_NUMBER: shipment.tracking_number, CONF_CARRIER: carrier},
            subentry_type=SUBENTRY_SHIPMENT,
            title=shipment.title,
            unique_id=shipment.tracking_number,
        )

    @property
    def coordinator(self) -> ParcelHandoffCoordinator:
        assert self.entry is not None
        coordinator: ParcelHandoffCoordinator = self.entry.runtime_data
        return coordinator

    def _needles(self) -> set[str]:
        needles = set(DEFAULT_CREDENTIALS.values())
        needles.update(self.state.usps_issued_tokens)
        for shipment in self.shipments:
            needles.update(shipment.numbers)
        return needles

    async def _until[T](self, work: Awaitable[T]) -> T:
        """Await `work`; a request hanging on a timeout fault times out meanwhile.

        The clock is frozen: a client's timeout only fires when the clock moves past it.
        """
        done = asyncio.ensure_future(work)
        while True:
            hung = asyncio.ensure_future(self.state.hung.wait())
            finished, _ = await asyncio.wait({done, hung}, return_when=asyncio.FIRST_COMPLETED)
            if done in finished:
                hung.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await hung
                return done.result()
            self.state.hung.clear()
            self.freezer.tick(timedelta(seconds=CLIENT_TIMEOUT + 1))
            async_fire_time_changed(self.hass)

    async def _settle(self) -> None:
        """Let everything due run."""
        await self._until(self.hass.async_block_till_done(wait_background_tasks=True))

    async def _advance(self, delta: timedelta) -> None:
        self.freezer.tick(delta)
        async_fire_time_changed(self.hass)
        await self._settle()

    def _attach(self) -> None:
        """Watch the new coordinator: count refreshes, observe every update."""
        coordinator = self.coordinator
        tracker = coordinator.tracker
        original = tracker.async_refresh

        async def counted() -> Any:
            self.report.refreshes += 1
            return await original()

        tracker.async_refresh = counted  # type: ignore[method-assign]
        self._unsub.append(coordinator.async_add_listener(self._observe))

    async def _start(self) -> None:
        """Set the entry up from its store (first start or restart)."""
        assert self.entry is not None
        self.report.store_loads += 1
        await self._until(self.hass.config_entries.async_setup(self.entry.entry_id))
        await self._settle()
        waited = timedelta()
        while self.entry.state is not ConfigEntryState.LOADED and waited < timedelta(hours=2):
            await self._advance(timedelta(minutes=5))
            waited += timedelta(minutes=5)
        if self.entry.state is not ConfigEntryState.LOADED:
            self.report.store_loads_failed += 1
            self.report.violate(f"start: the entry is {self.entry.state} two hours after a start")
            return
        self.report.refreshes += 1  # the first refresh, inside the set-up
        self._attach()
        # What the start's first refresh found beyond the store is announced as any change.
        self._observe()

    @callback
    def _observe(self) -> None:
        """After each coordinator update: note stage changes, handoffs and events seen."""
        for sid, state in self.coordinator.data.items():
            shipment = state.shipment
            if shipment is None:
                continue
            stage = shipment.stage.value
            before = self.stage.get(sid)
            if sid in self.emptied:
                # The first answer after a torn store is a baseline, as on a first start.
                self.emptied.discard(sid)
                if before is not None and before != stage:
                    self.report.changes_at_restart += 1
            else:
                if before is not None and before != stage:
                    self.changes[sid].append((before, stage))
                if (
                    sid in self.stage
                    and self.local.get(sid) is None
                    and shipment.local_tracking_number is not None
                ):
                    self.handoffs[sid] += 1
            self.stage[sid] = stage
            self.local[sid] = shipment.local_tracking_number
            self._see(sid, shipment.events)

    def _see(self, sid: str, events: tuple[TrackingEvent, ...]) -> None:
        if self._looked_at.get(sid) is events:
            return  # the same timeline as last time (the tracker rebuilds only what changed)
        seen = self.seen[sid]
        for event in events:
            seen.setdefault(_event_key(event), event)

    @callback
    def _journey_event(self, event: Event[dict[str, Any]]) -> None:
        shipment = self.by_title.get(str(event.data.get("name")))
        sid = self.sid_of_title.get(shipment.title) if shipment is not None else None
        if sid is None:
            self.report.violate(f"journey event: for no known shipment: {event.data.get('name')}")
            return
        if event.data.get("event_type") == "handoff":
            self.fired_handoffs[sid] += 1
            return
        state = self.coordinator.data.get(sid)
        since = state.shipment.stage_since if state and state.shipment else None
        stage = str(event.data["stage"])
        self.fired[sid].append((event.data.get("previous_stage"), stage))
        # One stage change is one stage entered at one instant: fired once, ever.
        self.fired_keys[(sid, stage, since.isoformat() if since else "")] += 1

    # --- actions ------------------------------------------------------------------------

    async def _add(self, shipment: SoakShipment) -> None:
        assert self.entry is not None
        data = self._subentry_data(shipment)
        subentry = ConfigSubentry(
            data=MappingProxyType(data["data"]),
            subentry_type=data["subentry_type"],
            title=data["title"],
            unique_id=data["unique_id"],
        )
        self.hass.config_entries.async_add_subentry(self.entry, subentry)
        self.sid_of_title[shipment.title] = subentry.subentry_id
        await self._settle()

    def _fault(self, source: str, kind: str) -> None:
        now = dt_util.utcnow()
        if kind == "drop_old_events":
            if self.torn_at is not None and abs(now - self.torn_at) < TORN_QUIET:
                kind = "server_error"  # a forgetful portal would make the torn store lose
            else:
                self.state.forgetful.add(source)
                self._plan(now + self._window(), "remember", source)
                self.report.faults[f"{source}:drop_old_events"] += 1
                return
        if kind == "quota_exhausted":
            self.state.seventeen_track_quota_used = self.state.seventeen_track_quota_total
            self._plan(now + self._window(), "quota_back")
            self.report.faults["17track:quota_exhausted"] += 1
            return
        if kind == "retry_2099":
            self.state.queue(kind, source, server_kind="rate_limit", retry_after=RETRY_AFTER_2099)
            return
        if kind == "huge_reply":
            self.state.queue(
                kind, source, server_kind="status", status=200, body=huge_cainiao_body()
            )
            self.huge_pending = True
            return
        if any(fault.source == source and fault.times for fault in self.state.faults):
            return  # one misbehaviour at a time: a source that was not asked meanwhile
        self.state.queue(kind, source, **fault_options(kind, source, self.rng))

    def _window(self) -> timedelta:
        return timedelta(hours=self.rng.uniform(*WINDOW_HOURS))

    async def _restart(self, kind: str) -> None:
        """Stop Home Assistant (cleanly, killed, or by a power cut) and start it again."""
        assert self.entry is not None
        self.report.restarts[kind] += 1
        before = self.store_path.read_bytes() if self.store_path.exists() else None
        for unsub in self._unsub:
            unsub()
        self._unsub.clear()
        await self._until(self.hass.config_entries.async_unload(self.entry.entry_id))
        await self._settle()
        written = self.store_path.read_bytes() if self.store_path.exists() else b""
        if kind == "kill":
            # The write in flight never reached its rename: the last file stays, and the
            # half-written temporary file lies beside it.
            if before is None:
                self.store_path.unlink(missing_ok=True)
            else:
                self.store_path.write_bytes(before)
            (self.store_path.parent / f"tmp{self.rng.randrange(10**8):08d}").write_bytes(
                written[: len(written) // 2]
            )
        elif kind == "torn":
            # A power cut after the rename, before the data reached the disk.
            cut = self.rng.randrange(len(written) // 4, max(len(written) * 3 // 4, 1))
            self.store_path.write_bytes(written[:cut])
            self.emptied.update(self.stage)
            self.recovering.update(self.stage)
        await self._start()
        if kind == "torn":
            if any(path.name.count(".corrupt") for path in self.store_path.parent.iterdir()):
                self.report.torn_files_set_aside += 1
            else:
                self.report.violate("torn store: the damaged file was not kept aside")

    # --- invariants ---------------------------------------------------------------------

    def _check(self) -> None:
        """The invariants that must hold after every step."""
        assert self.entry is not None
        now = dt_util.utcnow()
        if self.entry.state is not ConfigEntryState.LOADED:
            self.report.violate(f"running: the entry is {self.entry.state} at {now}")
            return
        data = self.coordinator.data
        for sid, stage in self.stage.items():
            state = data.get(sid)
            if state is None:
                self.report.violate(f"shipment dropped: {sid} is no longer followed at {now}")
                continue
            if state.shipment is None:
                if sid not in self.emptied:
                    self.report.violate(
                        f"last good state: {sid} (was {stage}) shows nothing at {now}"
                    )
                continue
            self.emptied.discard(sid)
            if sid in self.recovering or self._looked_at.get(sid) is state.shipment.events:
                continue  # a torn store lost the timeline: the end of the run checks it
            self._looked_at[sid] = state.shipment.events
            lost = self._lost(sid, state.shipment.events)
            if lost:
                self.report.violate(
                    f"events lost: {len(lost)} of {sid} at {now}, e.g. {lost[0].description!r}"
                )
        for source, health in self.coordinator.health.items():
            if health.retry_at is not None and health.retry_at - now > SANE_REST:
                self.report.violate(
                    f"rest: {source} rests until {health.retry_at:%Y-%m-%d} (Retry-After obeyed)"
                )
        if self.huge_pending and self.state.served["cainiao:huge_reply"]:
            self.huge_pending = False
            health = self.coordinator.health[Source.CAINIAO]
            if health.last_error is None or health.retry_at is None:
                self.report.violate("huge reply: read whole and taken, not refused with a rest")

    def _lost(self, sid: str, events: tuple[TrackingEvent, ...]) -> list[TrackingEvent]:
        """Events seen before that the timeline no longer holds, nor a better copy of."""
        kept = {_event_key(event) for event in events}
        lost = []
        for key, event in self.seen[sid].items():
            if key in kept:
                continue
            if any(
                other.source is not event.source
                and abs(other.time - event.time) <= DUPLICATE_TOLERANCE
                for other in events
            ):
                continue
            lost.append(event)
        return lost

    # --- the run ------------------------------------------------------------------------

    async def run(self) -> SoakReport:
        """Run the soak and return its figures."""
        began = _wall()
        # asyncio's debug mode (on in Home Assistant's tests) records a traceback for
        # every callback: a third of the run's time, and nothing the soak looks at.
        loop = asyncio.get_running_loop()
        debug = loop.get_debug()
        loop.set_debug(False)
        scanner = LogScanner(self._needles)
        root = logging.getLogger()
        ours = logging.getLogger("custom_components.parcel_handoff")
        level = ours.level
        root.addHandler(scanner)
        ours.setLevel(logging.DEBUG)
        try:
            self.entry = self._entry()
            self.entry.add_to_hass(self.hass)
            for sid, subentry in self.entry.subentries.items():
                self.sid_of_title[subentry.title] = sid
            unsub_bus = self.hass.bus.async_listen(EVENT_JOURNEY, self._journey_event)
            self._plan_all()
            await self._start()
            await self._loop()
            for unsub in self._unsub:
                unsub()
            self._unsub.clear()
            await self._until(self.hass.config_entries.async_unload(self.entry.entry_id))
            await self._advance(timedelta(minutes=5))  # let the fake portals' sleeps end
            unsub_bus()
        finally:
            root.removeHandler(scanner)
            ours.setLevel(level)
            loop.set_debug(debug)
        self._tally(scanner)
        self.report.wall_seconds = _wall() - began
        return self.report

    async def _loop(self) -> None:
        assert self.entry is not None
        while (now := dt_util.utcnow()) < self.end:
            interval = self.coordinator.update_interval if self._unsub else None
            target = now + (interval or timedelta(minutes=5)) + timedelta(seconds=1)
            if self._actions:
                target = min(target, self._actions[0].when)
            target = min(max(target, now + timedelta(seconds=1)), self.end)
            step_began = _wall()
            await self._advance(target - now)
            while self._actions and self._actions[0].when <= dt_util.utcnow():
                await self._act(heapq.heappop(self._actions))
            self.report.steps += 1
            huge = self.huge_pending
            self._check()
            if huge and not self.huge_pending:
                self.report.huge_reply_seconds = _wall() - step_began

    async def _act(self, action: _Action) -> None:
        match action.kind:
            case "add":
                await self._add(action.arg)
            case "fault":
                self._fault(*action.arg)
            case "remember":
                self.state.forgetful.discard(action.arg)
            case "quota_back":
                self.state.seventeen_track_quota_used = 0
            case "restart":
                await self._restart(action.arg)

    def _tally(self, scanner: LogScanner) -> None:
        report = self.report
        for key, count in self.state.served.items():
            if not key.endswith("drop_old_events"):
                report.faults[key] += count
        assert self.entry is not None
        final = self._final_events()
        for sid, seen in self.seen.items():
            events = final.get(sid, ())
            kept = {_event_key(event) for event in events}
            report.events_seen += len(seen)
            lost = self._lost(sid, events)
            report.events_lost += len(lost)
            report.events_kept += sum(key in kept for key in seen)
            report.events_merged += len(seen) - sum(key in kept for key in seen) - len(lost)
        for sid in set(self.changes) | set(self.fired):
            changes = [after for _, after in self.changes[sid]]
            fired = [after for _, after in self.fired[sid]]
            report.stage_changes += len(changes)
            report.stage_events += len(fired)
            matched = _matched(changes, fired)
            report.missed += len(changes) - matched
            if matched != len(changes) or matched != len(fired):
                report.violate(
                    f"journey events of {sid}: changes {self.changes[sid]}, fired {self.fired[sid]}"
                )
        report.duplicates = sum(count - 1 for count in self.fired_keys.values())
        for (sid, stage, since), count in self.fired_keys.items():
            if count > 1:
                report.violate(f"journey event twice: {sid} {stage} since {since}, {count} times")
        report.handoffs = sum(self.handoffs.values())
        report.handoff_events = sum(self.fired_handoffs.values())
        if report.missed:
            report.violate(f"journey events: {report.missed} stage changes fired no event")
        if report.duplicates:
            report.violate(f"journey events: {report.duplicates} fired twice or unasked")
        if report.handoff_events != report.handoffs:
            report.violate(
                f"handoff events: {report.handoff_events} fired for {report.handoffs} handoffs"
            )
        if report.events_lost:
            report.violate(f"events lost: {report.events_lost} at the end of the run")
        report.repair_issues = sum(
            DOMAIN in (issue.issue_domain, issue.domain)
            for issue in ir.async_get(self.hass).issues.values()
        )
        if report.torn_files_set_aside and not report.repair_issues:
            report.violate("torn store: no repair issue tells the owner")
        report.reauths = len(list(self.entry.async_get_active_flows(self.hass, {"reauth"})))
        if report.reauths:
            report.violate(f"re-authentication: asked {report.reauths} times, no key was revoked")
        report.log_lines = scanner.lines
        report.leaking_log_lines = len(scanner.leaks)
        for leak in scanner.leaks[:5]:
            report.violate(f"log leak: {leak}")
        report.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def _final_events(self) -> dict[str, tuple[TrackingEvent, ...]]:
        """Each shipment's timeline as stored at the end: what the next start gets."""
        if not self.store_path.exists():
            return {}
        stored = stored_from_dict(json.loads(self.store_path.read_text("utf-8"))["data"])
        return {sid: record.events for sid, record in stored.shipments.items()}


def _matched(changes: list[str], fired: list[str]) -> int:
    """How many fired events answer a stage change, in order (a longest common run)."""
    rows = [[0] * (len(fired) + 1) for _ in range(len(changes) + 1)]
    for i, change in enumerate(changes):
        for j, event in enumerate(fired):
            rows[i + 1][j + 1] = (
                rows[i][j] + 1 if change == event else max(rows[i][j + 1], rows[i + 1][j])
            )
    return rows[-1][-1]


async def run_soak(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    settings: SoakSettings,
    store_dir: Path,
) -> SoakReport:
    """One whole soak: the carrier server up, the clock at START, our stores on files."""
    freezer.move_to(START)
    household = build_household(START, settings.days, settings.seed, count=settings.shipments)
    state = SoakServerState(journeys=[s.journey for s in household if s.journey is not None])
    with real_store_files(store_dir):
        async with running_carrier_server(state) as server:
            return await Soak(hass, freezer, server, settings, store_dir).run()
