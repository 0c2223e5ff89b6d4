"""What survives a restart: merged timelines, handoffs, check times and announced changes.

Portals drop old events; the merged timeline kept here does not. Records are frozen and
replaced, never mutated, so a save can serialise a shallow copy of them from any thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store

from .const import DOMAIN, LOGGER, STORAGE_SAVE_DELAY, STORAGE_VERSION
from .tracking.errors import TrackingError
from .tracking.model import EtaWindow, Handoff, Source, SourceSnapshot, Stage, TrackingEvent
from .tracking.serialize import (
    event_from_dict,
    event_to_dict,
    handoff_from_dict,
    handoff_to_dict,
)

type LegKey = tuple[Source, str]
"""One number followed by one source: the unit of polling."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LegCheck:
    """When a leg was last asked, when to ask again and what went wrong last time.

    `next_check` None after a check means the policy stopped polling it (final stage).
    """

    last_check: datetime | None = None
    next_check: datetime | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ShipmentRecord:
    """The persisted state of one shipment (one subentry).

    `snapshots` are the latest good answers per leg, kept without their events (those
    live in `events`, the merged timeline, newest first). `has_data` is true once any
    source answered for the shipment. `announced` holds the keys of the stage changes
    and handoffs already announced, so none is announced twice.
    """

    tracking_number: str
    added_at: datetime
    events: tuple[TrackingEvent, ...] = ()
    snapshots: Mapping[LegKey, SourceSnapshot] = field(default_factory=dict)
    checks: Mapping[LegKey, LegCheck] = field(default_factory=dict)
    handoff: Handoff | None = None
    announced: frozenset[str] = frozenset()
    has_data: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredData:
    """Everything in the store: shipment records by subentry id, and seeded client state.

    `registered` holds, per source, the numbers already registered with it (17TRACK
    and AfterShip charge per registration, so we never register a number twice).
    """

    shipments: Mapping[str, ShipmentRecord] = field(default_factory=dict)
    registered: Mapping[Source, frozenset[str]] = field(default_factory=dict)


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_time(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _stage(value: object) -> Stage | None:
    return Stage(value) if isinstance(value, str) else None


def snapshot_to_dict(snapshot: SourceSnapshot) -> dict[str, Any]:
    """Serialise a snapshot without its events (the merged timeline keeps them)."""
    eta = snapshot.eta
    return {
        "source": snapshot.source.value,
        "tracking_number": snapshot.tracking_number,
        "found": snapshot.found,
        "carrier": snapshot.carrier,
        "status_stage": snapshot.status_stage.value if snapshot.status_stage else None,
        "status_text": snapshot.status_text,
        "local_carrier": snapshot.local_carrier,
        "local_tracking_number": snapshot.local_tracking_number,
        "local_carrier_code": snapshot.local_carrier_code,
        "eta": None if eta is None else [_time(eta.earliest), _time(eta.latest)],
        "origin_country": snapshot.origin_country,
        "destination_country": snapshot.destination_country,
    }


def snapshot_from_dict(data: Mapping[str, Any]) -> SourceSnapshot:
    """Rebuild a snapshot serialised by `snapshot_to_dict` (with no events)."""
    eta = data.get("eta")
    return SourceSnapshot(
        source=Source(data["source"]),
        tracking_number=data["tracking_number"],
        found=bool(data.get("found", True)),
        carrier=data.get("carrier"),
        status_stage=_stage(data.get("status_stage")),
        status_text=data.get("status_text"),
        local_carrier=data.get("local_carrier"),
        local_tracking_number=data.get("local_tracking_number"),
        local_carrier_code=data.get("local_carrier_code"),
        eta=(
            EtaWindow(earliest=_parse_time(eta[0]), latest=_parse_time(eta[1]))
            if isinstance(eta, list) and len(eta) == 2
            else None
        ),
        origin_country=data.get("origin_country"),
        destination_country=data.get("destination_country"),
    )


def _leg_to_key(leg: LegKey) -> str:
    return f"{leg[0].value}|{leg[1]}"


def _leg_from_key(key: str) -> LegKey:
    source, _, number = key.partition("|")
    return Source(source), number


def record_to_dict(record: ShipmentRecord) -> dict[str, Any]:
    """Serialise a shipment record to JSON-ready values."""
    return {
        "tracking_number": record.tracking_number,
        "added_at": record.added_at.isoformat(),
        "has_data": record.has_data,
        "events": [event_to_dict(event) for event in record.events],
        "snapshots": {
            _leg_to_key(leg): snapshot_to_dict(snapshot)
            for leg, snapshot in record.snapshots.items()
        },
        "checks": {
            _leg_to_key(leg): {
                "last_check": _time(check.last_check),
                "next_check": _time(check.next_check),
                "error": check.error,
            }
            for leg, check in record.checks.items()
        },
        "handoff": handoff_to_dict(record.handoff),
        "announced": sorted(record.announced),
    }


def record_from_dict(data: Mapping[str, Any]) -> ShipmentRecord:
    """Rebuild a shipment record serialised by `record_to_dict`."""
    return ShipmentRecord(
        tracking_number=data["tracking_number"],
        added_at=datetime.fromisoformat(data["added_at"]),
        has_data=bool(data.get("has_data", False)),
        events=tuple(event_from_dict(event) for event in data.get("events", ())),
        snapshots={
            _leg_from_key(key): snapshot_from_dict(snapshot)
            for key, snapshot in data.get("snapshots", {}).items()
        },
        checks={
            _leg_from_key(key): LegCheck(
                last_check=_parse_time(check.get("last_check")),
                next_check=_parse_time(check.get("next_check")),
                error=check.get("error"),
            )
            for key, check in data.get("checks", {}).items()
        },
        handoff=handoff_from_dict(data.get("handoff")),
        announced=frozenset(data.get("announced", ())),
    )


def stored_to_dict(data: StoredData) -> dict[str, Any]:
    """Serialise the whole store content."""
    return {
        "shipments": {
            subentry_id: record_to_dict(record) for subentry_id, record in data.shipments.items()
        },
        "registered": {
            source.value: sorted(numbers) for source, numbers in data.registered.items()
        },
    }


def stored_from_dict(data: Mapping[str, Any]) -> StoredData:
    """Rebuild the store content; a record that cannot be read is dropped, not fatal."""
    shipments: dict[str, ShipmentRecord] = {}
    for subentry_id, raw in cast("Mapping[str, Any]", data.get("shipments", {})).items():
        try:
            shipments[subentry_id] = record_from_dict(raw)
        except (KeyError, TypeError, ValueError, TrackingError):
            LOGGER.warning("Dropping an unreadable stored shipment (%s)", subentry_id)
    registered: dict[Source, frozenset[str]] = {}
    for source, numbers in cast("Mapping[str, Any]", data.get("registered", {})).items():
        try:
            registered[Source(source)] = frozenset(numbers)
        except ValueError:
            LOGGER.warning("Dropping registrations of an unknown source (%s)", source)
    return StoredData(shipments=shipments, registered=registered)


class ShipmentStore:
    """The config entry's `Store`, saving copies of frozen records after a short delay."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """Use the storage file of this config entry."""
        self._store: Store[dict[str, Any]] = Store(hass, STORAGE_VERSION, storage_key(entry_id))

    async def async_load(self) -> StoredData:
        """Read what the last run saved (empty on the first run)."""
        if (data := await self._store.async_load()) is None:
            return StoredData()
        return stored_from_dict(data)

    def async_schedule_save(
        self,
        shipments: Mapping[str, ShipmentRecord],
        registered: Mapping[Source, Iterable[str]],
    ) -> None:
        """Save soon: a busy refresh and the changes right after it share one write."""
        content = _content(shipments, registered)
        self._store.async_delay_save(_data_func(content), STORAGE_SAVE_DELAY)

    async def async_save_now(
        self,
        shipments: Mapping[str, ShipmentRecord],
        registered: Mapping[Source, Iterable[str]],
    ) -> None:
        """Save at once (on unload: a reload reads the file before a delayed save ran)."""
        await self._store.async_save(stored_to_dict(_content(shipments, registered)))

    async def async_remove(self) -> None:
        """Delete the storage file (the config entry is being removed)."""
        await self._store.async_remove()


def _content(
    shipments: Mapping[str, ShipmentRecord], registered: Mapping[Source, Iterable[str]]
) -> StoredData:
    return StoredData(
        shipments=dict(shipments),
        registered={source: frozenset(numbers) for source, numbers in registered.items()},
    )


def _data_func(content: StoredData) -> Callable[[], dict[str, Any]]:
    # The content is a private copy of frozen records: safe in the executor (2025.4)
    # and in the event loop (2026.x).
    return lambda: stored_to_dict(content)


def storage_key(entry_id: str) -> str:
    """The storage key of a config entry's shipments."""
    return f"{DOMAIN}.{entry_id}"
