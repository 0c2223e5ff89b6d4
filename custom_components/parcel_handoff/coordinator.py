"""One coordinator per config entry: checks what is due, one batched request per source.

Every refresh asks each source only about the numbers whose next check is due, follows
a handoff to the local carrier's source, merges every timeline into one shipment per
subentry, records the stage changes and handoffs to announce, and sleeps until the next
check the polling policy asks for. A failing source never blocks the others, and what
was known stays known.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
import inspect
import os
from typing import Any

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .const import (
    BATCH_WINDOW,
    CARRIER_AUTO,
    CONF_CARRIER,
    CONF_ENDPOINTS,
    CONF_KEEP_DELIVERED_DAYS,
    CONF_LOCAL_CARRIER,
    CONF_LOCAL_TRACKING_NUMBER,
    CONF_ORDER_NUMBER,
    CONF_SENSITIVITY,
    CONF_SPEED,
    CONF_TRACKING_NUMBER,
    DEFAULT_KEEP_DELIVERED_DAYS,
    DEFAULT_SENSITIVITY,
    DEFAULT_SPEED,
    DOMAIN,
    ENV_ENDPOINTS,
    EVENT_HANDOFF,
    LOGGER,
    MAX_UPDATE_INTERVAL,
    MIN_UPDATE_INTERVAL,
    SENSITIVITIES,
    SOURCE_CREDENTIALS,
    SPEEDS,
    SUBENTRY_SHIPMENT,
)
from .store import LegCheck, LegKey, ShipmentRecord, ShipmentStore
from .tracking.carriers import source_for_carrier
from .tracking.clients import create_client
from .tracking.clients.base import TrackingClient
from .tracking.clients.seventeen_track import SeventeenTrackClient
from .tracking.detection import detect_carriers
from .tracking.errors import (
    TrackingAuthenticationError,
    TrackingError,
    TrackingInvalidResponseError,
    TrackingNotFoundError,
    TrackingQuotaExceededError,
    TrackingRateLimitError,
    TrackingTimeoutError,
)
from .tracking.model import Shipment, Source, SourceResult, SourceSnapshot, Stage
from .tracking.policy import CheckContext, backoff_delay, is_due, next_check
from .tracking.timeline import build_shipment

type ParcelHandoffConfigEntry = ConfigEntry[ParcelHandoffCoordinator]

# UpdateFailed(retry_after=...) is new in 2025.12; passing it earlier is a TypeError.
_UPDATE_FAILED_RETRY = "retry_after" in inspect.signature(UpdateFailed.__init__).parameters

# Sources that follow a local carrier's number when the carrier has no client of its own.
_AGGREGATORS: tuple[Source, ...] = (Source.SEVENTEEN_TRACK, Source.AFTERSHIP)


def make_update_failed(*, retry_after: float | None = None, **kwargs: Any) -> UpdateFailed:
    """Build UpdateFailed, with `retry_after` only where Home Assistant supports it."""
    if retry_after is not None and _UPDATE_FAILED_RETRY:
        kwargs["retry_after"] = retry_after  # ha-compat: ok (2025.12+)
    return UpdateFailed(**kwargs)


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
        case TrackingInvalidResponseError():
            return "invalid_response"
        case TrackingTimeoutError():
            return "timeout"
        case TrackingNotFoundError():
            return "not_found"
        case _:
            return "connection"


def endpoint_overrides(entry_data: Mapping[str, Any]) -> dict[Source, str]:
    """Base URLs replacing the real services': env var first, then the entry's own.

    `PARCEL_HANDOFF_ENDPOINTS="cainiao=http://127.0.0.1:8080,usps=..."` serves the demo;
    an `endpoints` mapping in the entry data (never shown in a form) serves tests.
    """
    endpoints: dict[Source, str] = {}
    for item in os.environ.get(ENV_ENDPOINTS, "").split(","):
        name, _, url = item.partition("=")
        if url and name.strip() in Source.__members__.values():
            endpoints[Source(name.strip())] = url.strip()
    for name, url in (entry_data.get(CONF_ENDPOINTS) or {}).items():
        if name in Source.__members__.values() and isinstance(url, str):
            endpoints[Source(name)] = url
    return endpoints


def configured_sources(entry_data: Mapping[str, Any]) -> list[Source]:
    """The sources whose credentials are all present (Cainiao always)."""
    return [
        source
        for source, keys in SOURCE_CREDENTIALS.items()
        if all(entry_data.get(key) for key in keys.values())
    ]


def source_credentials(source: Source, entry_data: Mapping[str, Any]) -> dict[str, str]:
    """The credentials of one source, by the names its client takes them under."""
    return {
        name: str(entry_data[key])
        for name, key in SOURCE_CREDENTIALS[source].items()
        if entry_data.get(key)
    }


def async_create_source_client(
    hass: HomeAssistant,
    source: Source,
    entry_data: Mapping[str, Any],
    *,
    endpoints: Mapping[Source, str] | None = None,
) -> TrackingClient:
    """A client for `source` on Home Assistant's shared HTTP session."""
    endpoints = endpoint_overrides(entry_data) if endpoints is None else endpoints
    return create_client(
        source,
        async_get_clientsession(hass),
        credentials=source_credentials(source, entry_data),
        base_url=endpoints.get(source),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ShipmentConfig:
    """What the user set on a shipment's subentry."""

    subentry_id: str
    title: str
    tracking_number: str
    order_number: str | None = None
    carrier: Source | None = None  # None: detection decides
    local_tracking_number: str | None = None
    local_carrier: str | None = None

    @classmethod
    def from_subentry(cls, subentry: ConfigSubentry) -> ShipmentConfig:
        """Read a shipment subentry."""
        data = subentry.data
        carrier = data.get(CONF_CARRIER) or CARRIER_AUTO
        return cls(
            subentry_id=subentry.subentry_id,
            title=subentry.title,
            tracking_number=data[CONF_TRACKING_NUMBER],
            order_number=data.get(CONF_ORDER_NUMBER) or None,
            # An unknown value (a source since dropped) falls back to detection.
            carrier=Source(carrier) if carrier in Source.__members__.values() else None,
            local_tracking_number=data.get(CONF_LOCAL_TRACKING_NUMBER) or None,
            local_carrier=data.get(CONF_LOCAL_CARRIER) or None,
        )


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


@dataclass(frozen=True, slots=True, kw_only=True)
class Announcement:
    """A stage change or handoff seen in a refresh, for the event entity to fire once."""

    serial: int
    subentry_id: str
    event_type: str  # a Stage value, or EVENT_HANDOFF
    previous_stage: Stage | None
    stage: Stage
    description: str | None
    carrier: str | None
    tracking_number: str
    local_tracking_number: str | None


@dataclass(slots=True, kw_only=True)
class SourceHealth:
    """How a source is doing: its backoff after errors, and whether it refused our keys."""

    consecutive_errors: int = 0
    retry_at: datetime | None = None
    last_error: str | None = None
    auth_failed: bool = False
    last_success: datetime | None = None


@dataclass(slots=True)
class _Fetch:
    """The results of one refresh round: per source, per number."""

    results: dict[Source, dict[str, SourceResult]] = field(default_factory=dict)
    sources_failed: set[Source] = field(default_factory=set)


def stage_key(shipment: Shipment) -> str:
    """Identifies one stage change, so that it is announced once."""
    since = shipment.stage_since.isoformat() if shipment.stage_since else ""
    return f"stage:{shipment.stage.value}:{since}"


def handoff_key(shipment: Shipment) -> str | None:
    """Identifies one handoff (local carrier and number known), or None before it."""
    if shipment.local_carrier is None or shipment.local_tracking_number is None:
        return None
    return f"handoff:{shipment.local_carrier}:{shipment.local_tracking_number}"


class ParcelHandoffCoordinator(DataUpdateCoordinator[dict[str, ShipmentState]]):
    """Polls the tracking sources for every shipment of one config entry."""

    config_entry: ParcelHandoffConfigEntry

    def __init__(self, hass: HomeAssistant, entry: ParcelHandoffConfigEntry) -> None:
        """Create the clients of the configured sources; state loads in `_async_setup`."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=DOMAIN,
            update_interval=MIN_UPDATE_INTERVAL,
        )
        endpoints = endpoint_overrides(entry.data)
        self.clients: dict[Source, TrackingClient] = {
            source: async_create_source_client(hass, source, entry.data, endpoints=endpoints)
            for source in configured_sources(entry.data)
        }
        self.health: dict[Source, SourceHealth] = {
            source: SourceHealth() for source in self.clients
        }
        options = entry.options
        self.speed = SPEEDS.get(options.get(CONF_SPEED, DEFAULT_SPEED), 1.0)
        self.patience = SENSITIVITIES.get(options.get(CONF_SENSITIVITY, DEFAULT_SENSITIVITY), 1.0)
        self.keep_delivered_days = int(
            options.get(CONF_KEEP_DELIVERED_DAYS, DEFAULT_KEEP_DELIVERED_DAYS)
        )
        self.announcements: tuple[Announcement, ...] = ()
        self._serial = 0
        self._states: dict[str, ShipmentState] = {}
        self._forced: set[LegKey] = set()
        self._store = ShipmentStore(hass, entry.entry_id)
        self._refresh_lock = asyncio.Lock()
        self._shipment_listeners: list[Callable[[], None]] = []
        self._baseline_taken = False
        # What this setup was made from: the update listener reloads when it changes.
        self.setup_data = dict(entry.data)
        self.setup_options = dict(entry.options)
        self.setup_subentries = {
            sid: (sub.title, dict(sub.data)) for sid, sub in entry.subentries.items()
        }

    @property
    def seventeen_track_quota_remaining(self) -> int | None:
        """Registrations left on the 17TRACK plan, when 17TRACK is keyed and has told."""
        client = self.clients.get(Source.SEVENTEEN_TRACK)
        quota = client.quota if isinstance(client, SeventeenTrackClient) else None
        return quota.remaining if quota is not None else None

    # --- Set-up and subentry changes -------------------------------------------------

    async def _async_setup(self) -> None:
        """Load what the last run knew and rebuild every shipment from it, silently."""
        stored = await self._store.async_load()
        for source, numbers in stored.registered.items():
            if (client := self.clients.get(source)) is not None:
                _seed_registered(client, numbers)
        now = dt_util.utcnow()
        for subentry in self._shipment_subentries():
            record = stored.shipments.get(subentry.subentry_id)
            self._states[subentry.subentry_id] = self._initial_state(subentry, record, now)

    def _shipment_subentries(self) -> list[ConfigSubentry]:
        return [
            subentry
            for subentry in self.config_entry.subentries.values()
            if subentry.subentry_type == SUBENTRY_SHIPMENT
        ]

    def _initial_state(
        self, subentry: ConfigSubentry, record: ShipmentRecord | None, now: datetime
    ) -> ShipmentState:
        config = ShipmentConfig.from_subentry(subentry)
        if record is None or record.tracking_number != config.tracking_number:
            record = ShipmentRecord(tracking_number=config.tracking_number, added_at=now)
        elif any(check.error for check in record.checks.values()):
            # A failure of the last run (e.g. rejected credentials, since replaced) is
            # retried at once rather than after its backoff.
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

    @callback
    def async_sync_subentries(self) -> None:
        """Follow shipments added or removed since set-up, without a reload."""
        now = dt_util.utcnow()
        current = {sub.subentry_id: sub for sub in self._shipment_subentries()}
        states = {sid: state for sid, state in self._states.items() if sid in current}
        for sid, subentry in current.items():
            if sid not in states:
                states[sid] = self._initial_state(subentry, None, now)
        self._states = states
        self.setup_subentries = {
            sid: (sub.title, dict(sub.data)) for sid, sub in self.config_entry.subentries.items()
        }
        self.data = dict(states)
        self._async_save()
        # Only the platforms need to know (to add entities); the refresh that follows
        # updates the others, so 200 additions do not rewrite every state 200 times.
        for listener in list(self._shipment_listeners):
            listener()

    @callback
    def async_replace_shipment(self, subentry_id: str) -> None:
        """Follow one shipment's changed settings in place; the others are untouched.

        What was learnt about it stays (the record is kept when the number is the same);
        its legs follow the new source or local number, checked at the next refresh.
        """
        subentry = self.config_entry.subentries[subentry_id]
        previous = self._states.get(subentry_id)
        record = previous.record if previous is not None else None
        self._states[subentry_id] = self._initial_state(subentry, record, dt_util.utcnow())
        self.setup_subentries[subentry_id] = (subentry.title, dict(subentry.data))

    @callback
    def async_add_shipments_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` whenever shipments were added or removed; return the unsubscriber."""
        self._shipment_listeners.append(listener)

        @callback
        def remove() -> None:
            self._shipment_listeners.remove(listener)

        return remove

    @property
    def serial(self) -> int:
        """The serial of the newest announcement so far (0 before any)."""
        return self._serial

    # --- Public actions ----------------------------------------------------------------

    async def async_check_now(self, subentry_ids: Iterable[str] | None = None) -> None:
        """Check the given shipments (default: all) now, whatever their schedule."""
        wanted = set(self._states) if subentry_ids is None else set(subentry_ids)
        for sid in wanted:
            if (state := self._states.get(sid)) is not None:
                self._forced.update(leg.key for leg in state.legs)
        await self.async_refresh()

    async def async_shutdown(self) -> None:
        """Write the store at once: a reload reads it before a delayed save would run."""
        await super().async_shutdown()
        await self._store.async_save_now(self._records(), self._registered())

    # --- The refresh ---------------------------------------------------------------------

    async def _async_update_data(self) -> dict[str, ShipmentState]:
        """Check what is due, merge, announce what changed and schedule the next look."""
        async with self._refresh_lock:
            return await self._async_refresh_shipments(dt_util.utcnow())

    async def _async_refresh_shipments(self, now: datetime) -> dict[str, ShipmentState]:
        announce = self._baseline_taken
        self._baseline_taken = True
        previous = {sid: state.shipment for sid, state in self._states.items()}
        asked = failed = 0
        rebuilt = False
        # A handoff found in the first round is followed in a second one, at once.
        for round_number in range(2):
            due = self._due_legs(now, only_new=round_number > 0)
            if not due:
                break
            fetch = await self._async_fetch(due)
            asked += len(fetch.results)
            failed += len(fetch.sources_failed)
            self._apply(due, fetch, now)
            self._rebuild(now)
            rebuilt = True
        self._forced.clear()
        if not rebuilt:
            self._rebuild(now)  # attention depends on the clock, even with nothing asked
        self.announcements = self._announce(previous, announce=announce)
        self._reschedule(now)
        self._remove_expired(now)
        self.update_interval = self._next_interval(now)
        self._async_save()
        if asked and failed == asked and not any(s.record.has_data for s in self._states.values()):
            raise self._update_failed(now)
        return dict(self._states)

    def _due_legs(self, now: datetime, *, only_new: bool) -> dict[Source, dict[str, list[str]]]:
        """Per available source, the due numbers and the shipments that asked for them."""
        due: dict[Source, dict[str, list[str]]] = {}
        for sid, state in self._states.items():
            for leg in state.legs:
                if not self._source_available(leg.source, now):
                    continue
                check = state.record.checks.get(leg.key)
                never = check is None or check.last_check is None
                if only_new and not never:
                    continue
                if (
                    never
                    or leg.key in self._forced
                    or (check is not None and is_due(check.next_check, now, early=BATCH_WINDOW))
                ):
                    due.setdefault(leg.source, {}).setdefault(leg.number, []).append(sid)
        return due

    async def _async_track(self, source: Source, numbers: list[str]) -> dict[str, SourceResult]:
        client = self.clients[source]
        if isinstance(client, SeventeenTrackClient) and client.quota is None:
            # Each new number costs quota: learn what is left once, before registering any.
            try:
                await client.async_get_quota()
            except TrackingError as err:
                LOGGER.debug("17TRACK quota could not be read: %s", err)
        return await client.async_track(numbers)

    def _source_available(self, source: Source, now: datetime) -> bool:
        health = self.health.get(source)
        if health is None or health.auth_failed:
            return False
        return health.retry_at is None or health.retry_at <= now

    async def _async_fetch(self, due: Mapping[Source, Mapping[str, list[str]]]) -> _Fetch:
        """One batched request per source, all sources at once."""
        sources = list(due)
        answers = await asyncio.gather(
            *(self._async_track(source, list(due[source])) for source in sources)
        )
        fetch = _Fetch()
        for source, answer in zip(sources, answers, strict=True):
            fetch.results[source] = answer
            numbers = list(due[source])
            problems = [answer.get(n) for n in numbers]
            if all(isinstance(p, TrackingError) and _is_source_error(p) for p in problems):
                fetch.sources_failed.add(source)
        return fetch

    def _apply(
        self, due: Mapping[Source, Mapping[str, list[str]]], fetch: _Fetch, now: datetime
    ) -> None:
        """Store every answer on the shipments that asked, and each source's health."""
        for source, numbers in due.items():
            answers = fetch.results[source]
            if source in fetch.sources_failed:
                self._record_source_error(source, _first_error(answers.values()), now)
            else:
                self._record_source_success(source, answers.values(), now)
            for number, sids in numbers.items():
                result = answers.get(number) or TrackingNotFoundError(number)
                for sid in sids:
                    self._apply_result(sid, (source, number), result, now)

    def _apply_result(self, sid: str, leg: LegKey, result: SourceResult, now: datetime) -> None:
        if (state := self._states.get(sid)) is None:
            return  # removed while the request was under way
        record = state.record
        if isinstance(result, SourceSnapshot):
            record = replace(
                record,
                snapshots={**record.snapshots, leg: result},
                checks={**record.checks, leg: LegCheck(last_check=now)},
                has_data=True,
            )
        elif isinstance(result, TrackingNotFoundError):
            # Nothing to add, but the source answered: keep what we knew.
            record = replace(
                record, checks={**record.checks, leg: LegCheck(last_check=now)}, has_data=True
            )
        else:
            check = LegCheck(last_check=now, error=error_key(result))
            record = replace(record, checks={**record.checks, leg: check})
        self._states[sid] = replace(state, record=record)

    def _record_source_success(
        self, source: Source, answers: Iterable[SourceResult], now: datetime
    ) -> None:
        health = self.health[source]
        health.consecutive_errors = 0
        health.retry_at = None
        health.last_success = now
        errors = [a for a in answers if isinstance(a, TrackingError) and _is_source_error(a)]
        health.last_error = error_key(errors[0]) if errors else None

    def _record_source_error(self, source: Source, error: TrackingError, now: datetime) -> None:
        """Map a failure of a whole source, in one place: reauth, or backoff."""
        health = self.health[source]
        health.last_error = error_key(error)
        if isinstance(error, TrackingAuthenticationError):
            # Other sources keep going: a revoked USPS key must not stop Cainiao.
            LOGGER.warning("%s rejected the credentials; asking to re-authenticate", source)
            health.auth_failed = True
            self.config_entry.async_start_reauth(self.hass)
            return
        health.consecutive_errors += 1
        delay = backoff_delay(
            health.consecutive_errors,
            retry_after=_retry_after(error),  # ha-compat: ok (the engine's backoff, not HA's)
            blocked=isinstance(error, TrackingQuotaExceededError)
            or (isinstance(error, TrackingInvalidResponseError) and error.blocked),
        )
        health.retry_at = now + delay
        LOGGER.debug("%s failed (%s); resting until %s", source, health.last_error, health.retry_at)

    def _update_failed(self, now: datetime) -> UpdateFailed:
        retries = [h.retry_at for h in self.health.values() if h.retry_at is not None]
        wait = (min(retries) - now).total_seconds() if retries else None
        errors = sorted({h.last_error for h in self.health.values() if h.last_error})
        return make_update_failed(
            translation_domain=DOMAIN,
            translation_key="update_failed",
            translation_placeholders={"error": ", ".join(errors)},
            retry_after=wait,  # ha-compat: ok (make_update_failed is the shim)
        )

    # --- Merging, announcing, scheduling -------------------------------------------------

    def _build(self, state: ShipmentState, now: datetime) -> Shipment:
        config, record = state.config, state.record

        def build(local_carrier: str | None, local_number: str | None) -> Shipment:
            return build_shipment(
                config.tracking_number,
                record.snapshots.values(),
                now=now,
                history=record.events,
                local_carrier=local_carrier,
                local_tracking_number=local_number,
                added_at=record.added_at,
                patience=self.patience,
            )

        shipment = build(config.local_carrier, config.local_tracking_number)
        if shipment.handoff is None and record.handoff is not None:
            # The portal stopped naming the local carrier; we remember it.
            shipment = build(
                config.local_carrier or record.handoff.carrier,
                config.local_tracking_number or record.handoff.tracking_number,
            )
        return shipment

    def _rebuild(self, now: datetime) -> None:
        """Rebuild every shipment (attention depends on the clock) and its legs."""
        for sid, state in self._states.items():
            if not state.record.has_data:
                continue
            shipment = self._build(state, now)
            record = replace(
                state.record,
                events=shipment.events,
                handoff=shipment.handoff or state.record.handoff,
            )
            self._states[sid] = replace(
                state,
                record=record,
                shipment=shipment,
                legs=self._legs(state.config, shipment, record),
            )

    def _announce(
        self, previous: Mapping[str, Shipment | None], *, announce: bool
    ) -> tuple[Announcement, ...]:
        """Note every new stage and handoff; return them unless this is the baseline.

        A shipment's first answer, and the refresh at start-up, are a baseline: what
        they show is recorded as announced without an event.
        """
        found: list[Announcement] = []
        for sid, state in self._states.items():
            if state.shipment is None:
                continue
            before = previous.get(sid)
            record, news = self._note_changes(sid, before, state.shipment, state.record)
            if announce and before is not None:
                found.extend(news)
            self._states[sid] = replace(state, record=record)
        return tuple(found)

    def _reschedule(self, now: datetime) -> None:
        for sid, state in self._states.items():
            self._states[sid] = replace(state, record=self._schedule(state, now))

    def _note_changes(
        self,
        sid: str,
        before: Shipment | None,
        shipment: Shipment,
        record: ShipmentRecord,
    ) -> tuple[ShipmentRecord, list[Announcement]]:
        """Record this shipment's new stage and handoff as announced; return the news."""
        news: list[Announcement] = []
        announced = set(record.announced)
        previous_stage = before.stage if before is not None else None
        keys: list[tuple[str, str]] = []
        if previous_stage != shipment.stage:
            keys.append((stage_key(shipment), shipment.stage.value))
        if (key := handoff_key(shipment)) is not None:
            keys.append((key, EVENT_HANDOFF))
        for key, event_type in keys:
            if key in announced:
                continue
            announced.add(key)
            self._serial += 1
            latest = shipment.latest_event
            news.append(
                Announcement(
                    serial=self._serial,
                    subentry_id=sid,
                    event_type=event_type,
                    previous_stage=previous_stage,
                    stage=shipment.stage,
                    description=latest.description if latest else None,
                    carrier=shipment.carrier,
                    tracking_number=shipment.tracking_number,
                    local_tracking_number=shipment.local_tracking_number,
                )
            )
        return replace(record, announced=frozenset(announced)), news

    def _legs(
        self, config: ShipmentConfig, shipment: Shipment | None, record: ShipmentRecord
    ) -> tuple[Leg, ...]:
        """Which source follows which number: the main one, then the local one if any."""
        main_source = self._main_source(config)
        local_number = (
            config.local_tracking_number
            or (shipment.local_tracking_number if shipment else None)
            or (record.handoff.tracking_number if record.handoff else None)
        )
        local_carrier = (
            config.local_carrier
            or (shipment.local_carrier if shipment else None)
            or (record.handoff.carrier if record.handoff else None)
        )
        local: Leg | None = None
        if local_number is not None:
            # A number the user typed is trusted; one a portal gave must fit the source
            # (Cainiao may name USPS before it has the USPS number).
            able = None if config.local_tracking_number else _sources_able_to_track(local_number)
            preferred = [source_for_carrier(local_carrier), *_AGGREGATORS]
            source = next(
                (
                    s
                    for s in preferred
                    if s is not None and s in self.clients and (able is None or s in able)
                ),
                None,
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

    def _main_source(self, config: ShipmentConfig) -> Source:
        """The user's choice when it is configured, else the best detected source."""
        if config.carrier is not None and config.carrier in self.clients:
            return config.carrier
        try:
            candidates = detect_carriers(config.tracking_number)
        except TrackingError:
            candidates = []
        for candidate in candidates:
            for source in candidate.sources:
                if source in self.clients:
                    return source
        return Source.CAINIAO

    def _schedule(self, state: ShipmentState, now: datetime) -> ShipmentRecord:
        """Recompute each checked leg's next check from the policy."""
        record = state.record
        shipment = state.shipment or Shipment(
            tracking_number=state.config.tracking_number, stage=Stage.NOT_FOUND
        )
        checks = dict(record.checks)
        for leg in state.legs:
            check = checks.get(leg.key)
            if check is None or check.last_check is None:
                continue
            health = self.health.get(leg.source)
            context = CheckContext(
                source=leg.source,
                last_check=check.last_check,
                speed=self.speed,
                local_tz=dt_util.get_default_time_zone(),
                superseded=leg.superseded,
                retry_at=health.retry_at if health is not None else None,
            )
            checks[leg.key] = replace(check, next_check=next_check(shipment, now, context))
        return replace(record, checks=checks)

    def _next_interval(self, now: datetime) -> timedelta:
        """Sleep until the earliest due check, within the coordinator's bounds."""
        upcoming: list[datetime] = []
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
                upcoming.append(at)
        if not upcoming:
            return MAX_UPDATE_INTERVAL
        return min(max(min(upcoming) - now, MIN_UPDATE_INTERVAL), MAX_UPDATE_INTERVAL)

    def _remove_expired(self, now: datetime) -> None:
        """Remove delivered shipments kept longer than the user wants."""
        if self.keep_delivered_days <= 0:
            return
        keep = timedelta(days=self.keep_delivered_days)
        for sid, state in list(self._states.items()):
            shipment = state.shipment
            if (
                shipment is not None
                and shipment.stage is Stage.DELIVERED
                and (shipment.stage_since or state.record.added_at) + keep <= now
                and sid in self.config_entry.subentries
            ):
                LOGGER.debug("Removing %s, delivered %s days ago", sid, self.keep_delivered_days)
                del self._states[sid]
                self.hass.config_entries.async_remove_subentry(self.config_entry, sid)

    # --- Persistence -------------------------------------------------------------------

    def _records(self) -> dict[str, ShipmentRecord]:
        return {sid: state.record for sid, state in self._states.items()}

    def _registered(self) -> dict[Source, frozenset[str]]:
        return {
            source: frozenset(numbers)
            for source, client in self.clients.items()
            if (numbers := _registered_numbers(client)) is not None
        }

    @callback
    def _async_save(self) -> None:
        self._store.async_schedule_save(self._records(), self._registered())


def _sources_able_to_track(number: str) -> frozenset[Source] | None:
    """Sources that can track a number of this shape; None when it fits no rule."""
    try:
        candidates = detect_carriers(number)
    except TrackingError:
        return None
    return frozenset(source for candidate in candidates for source in candidate.sources)


def _retry_after(error: TrackingError) -> float | None:
    return error.retry_after if isinstance(error, TrackingRateLimitError) else None


def _first_error(answers: Iterable[SourceResult]) -> TrackingError:
    return next(a for a in answers if isinstance(a, TrackingError))


def _is_source_error(error: TrackingError) -> bool:
    """True for errors about the source itself rather than one number."""
    return not isinstance(error, TrackingNotFoundError)


# 17TRACK and AfterShip keep the numbers they registered; their attribute names differ.
_REGISTRATION_ATTRS: tuple[str, ...] = ("registered", "created")


def _registered_numbers(client: TrackingClient) -> set[str] | None:
    for attr in _REGISTRATION_ATTRS:
        numbers = getattr(client, attr, None)
        if isinstance(numbers, set):
            return numbers
    return None


def _seed_registered(client: TrackingClient, numbers: Iterable[str]) -> None:
    if (known := _registered_numbers(client)) is not None:
        known.update(numbers)
