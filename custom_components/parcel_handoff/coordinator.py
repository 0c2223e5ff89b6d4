"""One coordinator per config entry: the engine's tracker, wired into Home Assistant.

The tracker (`tracking/tracker.py`) decides everything about tracking: legs, what is
due, batching, handoffs, back-off, what changed. The coordinator builds it from the
entry and its shipment subentries, calls it once per refresh, saves its state through
the store, maps its outcome to Home Assistant (reauth, UpdateFailed, removed
subentries) and sleeps until the tracker's next due check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
import inspect
import os
from typing import Any

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .const import (
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
    LOGGER,
    MIN_UPDATE_INTERVAL,
    SENSITIVITIES,
    SOURCE_CREDENTIALS,
    SPEEDS,
    SUBENTRY_SHIPMENT,
)
from .store import ShipmentStore
from .tracking.clients import create_client
from .tracking.clients.base import TrackingClient
from .tracking.model import Source
from .tracking.tracker import (
    Announcement,
    Leg,
    RefreshResult,
    ShipmentConfig,
    ShipmentState,
    SourceHealth,
    Tracker,
    TrackerSettings,
    error_key,
)

__all__ = [
    "Announcement",
    "Leg",
    "ParcelHandoffConfigEntry",
    "ParcelHandoffCoordinator",
    "ShipmentConfig",
    "ShipmentState",
    "SourceHealth",
    "error_key",
]

type ParcelHandoffConfigEntry = ConfigEntry[ParcelHandoffCoordinator]

# UpdateFailed(retry_after=...) is new in 2025.12; passing it earlier is a TypeError.
_UPDATE_FAILED_RETRY = "retry_after" in inspect.signature(UpdateFailed.__init__).parameters


def make_update_failed(*, retry_after: float | None = None, **kwargs: Any) -> UpdateFailed:
    """Build UpdateFailed, with `retry_after` only where Home Assistant supports it."""
    if retry_after is not None and _UPDATE_FAILED_RETRY:
        kwargs["retry_after"] = retry_after  # ha-compat: ok (2025.12+)
    return UpdateFailed(**kwargs)


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


def shipment_config(subentry: ConfigSubentry) -> ShipmentConfig:
    """What the owner set on a shipment subentry."""
    data = subentry.data
    carrier = data.get(CONF_CARRIER) or CARRIER_AUTO
    return ShipmentConfig(
        shipment_id=subentry.subentry_id,
        title=subentry.title,
        tracking_number=data[CONF_TRACKING_NUMBER],
        order_number=data.get(CONF_ORDER_NUMBER) or None,
        # An unknown value (a source since dropped) falls back to detection.
        carrier=Source(carrier) if carrier in Source.__members__.values() else None,
        local_tracking_number=data.get(CONF_LOCAL_TRACKING_NUMBER) or None,
        local_carrier=data.get(CONF_LOCAL_CARRIER) or None,
    )


class ParcelHandoffCoordinator(DataUpdateCoordinator[dict[str, ShipmentState]]):
    """Runs the tracker of one config entry on Home Assistant's clock and store."""

    config_entry: ParcelHandoffConfigEntry

    def __init__(self, hass: HomeAssistant, entry: ParcelHandoffConfigEntry) -> None:
        """Create the clients of the configured sources; state loads in `_async_setup`."""
        super().__init__(
            hass, LOGGER, config_entry=entry, name=DOMAIN, update_interval=MIN_UPDATE_INTERVAL
        )
        endpoints = endpoint_overrides(entry.data)
        options = entry.options
        self.speed = SPEEDS.get(options.get(CONF_SPEED, DEFAULT_SPEED), 1.0)
        self.patience = SENSITIVITIES.get(options.get(CONF_SENSITIVITY, DEFAULT_SENSITIVITY), 1.0)
        self.keep_delivered_days = int(
            options.get(CONF_KEEP_DELIVERED_DAYS, DEFAULT_KEEP_DELIVERED_DAYS)
        )
        self.tracker = Tracker(
            {
                source: async_create_source_client(hass, source, entry.data, endpoints=endpoints)
                for source in configured_sources(entry.data)
            },
            settings=TrackerSettings(
                speed=self.speed,
                patience=self.patience,
                keep_delivered_days=self.keep_delivered_days,
                local_tz=dt_util.get_default_time_zone(),
            ),
            clock=dt_util.utcnow,
        )
        self.announcements: tuple[Announcement, ...] = ()
        # The newest announcement each shipment's journey entity fired (none yet: it fires
        # what this setup's first refresh found, the changes while Home Assistant was down).
        self.fired_serials: dict[str, int] = {}
        self._store = ShipmentStore(hass, entry.entry_id, title=entry.title)
        self._shipment_listeners: list[Callable[[], None]] = []
        # What this setup was made from: the update listener reloads when it changes.
        self.setup_data = dict(entry.data)
        self.setup_options = dict(entry.options)
        self.setup_subentries = self._subentry_snapshot()

    @property
    def clients(self) -> Mapping[Source, TrackingClient]:
        """The client of each configured source."""
        return self.tracker.clients  # type: ignore[return-value]

    @property
    def health(self) -> Mapping[Source, SourceHealth]:
        """How each configured source is doing."""
        return self.tracker.health

    @property
    def serial(self) -> int:
        """The serial of the newest announcement so far (0 before any)."""
        return self.tracker.serial

    @property
    def seventeen_track_quota_remaining(self) -> int | None:
        """Registrations left on the 17TRACK plan, when 17TRACK is keyed and has told."""
        return self.tracker.seventeen_track_quota_remaining

    def _subentry_snapshot(self) -> dict[str, tuple[str, dict[str, Any]]]:
        return {
            sid: (sub.title, dict(sub.data)) for sid, sub in self.config_entry.subentries.items()
        }

    def _shipment_configs(self) -> list[ShipmentConfig]:
        return [
            shipment_config(subentry)
            for subentry in self.config_entry.subentries.values()
            if subentry.subentry_type == SUBENTRY_SHIPMENT
        ]

    async def _async_setup(self) -> None:
        """Load what the last run knew (shown, so not announced again)."""
        self.tracker.restore(await self._store.async_load(), self._shipment_configs())
        self.data = dict(self.tracker.shipments)

    @callback
    def async_sync_subentries(self) -> None:
        """Follow shipments added, removed or changed since set-up, without a reload."""
        added_or_removed = self.tracker.sync(self._shipment_configs())
        self.setup_subentries = self._subentry_snapshot()
        self.data = dict(self.tracker.shipments)
        self._store.async_schedule_save(self.tracker.persisted())
        if not added_or_removed:
            return
        # Only the platforms need to know (to add entities); the refresh that follows
        # updates the others, so 200 additions do not rewrite every state 200 times.
        for listener in list(self._shipment_listeners):
            listener()

    @callback
    def async_add_shipments_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` whenever shipments were added or removed; return the unsubscriber."""
        self._shipment_listeners.append(listener)

        @callback
        def remove() -> None:
            self._shipment_listeners.remove(listener)

        return remove

    async def async_check_now(self, subentry_ids: Iterable[str] | None = None) -> None:
        """Check the given shipments (default: all) now, whatever their schedule."""
        self.tracker.force(subentry_ids)
        await self.async_refresh()

    async def async_shutdown(self) -> None:
        """Write the store at once: a reload reads it before a delayed save would run."""
        await super().async_shutdown()
        await self._store.async_save_now(self.tracker.persisted())

    async def _async_update_data(self) -> dict[str, ShipmentState]:
        """One tracker refresh; its outcome mapped to Home Assistant in one place."""
        result = await self.tracker.async_refresh()
        if result.announcements:
            # Written before the events fire: a stop before the store reached the disk
            # finds the changes again at start and announces them then, never twice.
            await self._store.async_save_now(self.tracker.persisted())
        else:
            self._store.async_schedule_save(self.tracker.persisted())
        self.announcements = result.announcements
        now = dt_util.utcnow()
        self.update_interval = self.tracker.refresh_interval(now, result.next_due)
        for source in result.refused:
            # Other sources keep going: a revoked USPS key must not stop Cainiao.
            LOGGER.warning("%s rejected the credentials; asking to re-authenticate", source)
            self.config_entry.async_start_reauth(self.hass)
        for sid in result.expired:
            if sid in self.config_entry.subentries:
                LOGGER.debug("Removing %s, delivered %s days ago", sid, self.keep_delivered_days)
                self.hass.config_entries.async_remove_subentry(self.config_entry, sid)
        if result.all_failed:
            raise self._update_failed(result, now)
        return dict(result.shipments)

    def _update_failed(self, result: RefreshResult, now: datetime) -> UpdateFailed:
        wait = (result.retry_at - now).total_seconds() if result.retry_at else None
        return make_update_failed(
            translation_domain=DOMAIN,
            translation_key="update_failed",
            translation_placeholders={"error": ", ".join(result.errors)},
            retry_after=wait,  # ha-compat: ok (make_update_failed is the shim)
        )
