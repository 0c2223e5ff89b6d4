"""The tracker's persisted form as JSON-ready dictionaries, and back.

The shape is the one Home Assistant's store has held since the first release (storage
version 1); keys added since are optional, so a store written by any earlier version
loads. A record that cannot be read is dropped with a warning, never fatal; a whole
that is not this shape raises TrackingStoredDataError.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
import logging
from typing import Any, cast

from .errors import TrackingError, TrackingStoredDataError
from .model import EtaWindow, Source, SourceSnapshot, Stage
from .serialize import event_from_dict, event_to_dict, handoff_from_dict, handoff_to_dict
from .tracker import LegCheck, LegKey, ShipmentRecord, StoredData

_LOGGER = logging.getLogger(__name__)


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
    data: dict[str, Any] = {
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
    if record.stopped:
        data["stopped"] = sorted(_leg_to_key(leg) for leg in record.stopped)
    return data


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
        stopped=frozenset(_leg_from_key(key) for key in data.get("stopped", ())),
    )


def stored_to_dict(data: StoredData) -> dict[str, Any]:
    """Serialise everything the tracker persists."""
    return {
        "shipments": {
            shipment_id: record_to_dict(record) for shipment_id, record in data.shipments.items()
        },
        "registered": {
            source.value: sorted(numbers) for source, numbers in data.registered.items()
        },
    }


def stored_from_dict(data: object) -> StoredData:
    """Rebuild the persisted state; a record that cannot be read is dropped, not fatal.

    Raises TrackingStoredDataError when `data`, its shipments or its registrations are
    not objects: nothing of such a store can be trusted.
    """
    data = _section(data, "the stored data")
    shipments: dict[str, ShipmentRecord] = {}
    for shipment_id, raw in _section(data.get("shipments", {}), "shipments").items():
        try:
            shipments[shipment_id] = record_from_dict(raw)
        except (KeyError, TypeError, ValueError, AttributeError, TrackingError):
            _LOGGER.warning("Dropping an unreadable stored shipment (%s)", shipment_id)
    registered: dict[Source, frozenset[str]] = {}
    for source, numbers in _section(data.get("registered", {}), "registrations").items():
        try:
            registered[Source(source)] = frozenset(numbers)
        except (TypeError, ValueError):
            _LOGGER.warning("Dropping registrations of an unknown source (%s)", source)
    return StoredData(shipments=shipments, registered=registered)


def _section(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise TrackingStoredDataError(f"{what} should be an object, not {type(value).__name__}")
    return cast("Mapping[str, Any]", value)
