"""Diagnostics: credentials redacted, tracking numbers masked, places left out."""

from __future__ import annotations

from collections.abc import Iterable
import re
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .const import CONF_ENDPOINTS, CONF_LOCAL_TRACKING_NUMBER, CONF_TRACKING_NUMBER, CREDENTIAL_KEYS
from .coordinator import ParcelHandoffConfigEntry, ShipmentState
from .services import shipment_response

TO_REDACT = {*CREDENTIAL_KEYS, CONF_ENDPOINTS, "location", "latest_event_location"}


def mask_number(number: str) -> str:
    """Keep the first two and last two characters: enough to tell formats apart."""
    if len(number) <= 4:
        return "*" * len(number)
    return f"{number[:2]}{'*' * (len(number) - 4)}{number[-2:]}"


def _mask_text(value: Any, numbers: Iterable[str]) -> Any:
    """Mask every known tracking number wherever it appears in the data."""
    if isinstance(value, str):
        for number in numbers:
            value = re.sub(re.escape(number), mask_number(number), value, flags=re.IGNORECASE)
        return value
    if isinstance(value, dict):
        return {key: _mask_text(item, numbers) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask_text(item, numbers) for item in value]
    return value


def _numbers(states: Iterable[ShipmentState], entry: ParcelHandoffConfigEntry) -> list[str]:
    found: set[str] = set()
    for state in states:
        found.add(state.config.tracking_number)
        found.update(number for _, number in state.record.checks)
        found.update(number for _, number in state.record.snapshots)
        if state.shipment is not None:
            found.update(state.shipment.tracking_numbers)
    for subentry in entry.subentries.values():
        for key in (CONF_TRACKING_NUMBER, CONF_LOCAL_TRACKING_NUMBER):
            if number := subentry.data.get(key):
                found.add(number)
        if subentry.unique_id:
            found.add(subentry.unique_id)
    # Longest first, so that a number inside another is masked with it.
    return sorted((n for n in found if len(n) > 4), key=len, reverse=True)


def _shipment(state: ShipmentState) -> dict[str, Any]:
    return {
        **shipment_response(state),
        "legs": [
            {
                "source": leg.source.value,
                "number": leg.number,
                "superseded": leg.superseded,
                "last_check": check.last_check.isoformat() if check and check.last_check else None,
                "next_check": check.next_check.isoformat() if check and check.next_check else None,
                "error": check.error if check else None,
            }
            for leg in state.legs
            for check in (state.record.checks.get(leg.key),)
        ],
        "announced": sorted(state.record.announced),
        "has_data": state.record.has_data,
    }


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: ParcelHandoffConfigEntry
) -> dict[str, Any]:
    """Everything needed to debug a shipment, nothing that identifies the user."""
    coordinator = entry.runtime_data
    states = list(coordinator.data.values())
    numbers = _numbers(states, entry)
    data = {
        "entry": {
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "options": dict(entry.options),
            "subentries": [
                {
                    "subentry_id": subentry.subentry_id,
                    "subentry_type": subentry.subentry_type,
                    "title": subentry.title,
                    "unique_id": subentry.unique_id,
                    "data": dict(subentry.data),
                }
                for subentry in entry.subentries.values()
            ],
        },
        "sources": {
            source.value: {
                "consecutive_errors": health.consecutive_errors,
                "retry_at": health.retry_at.isoformat() if health.retry_at else None,
                "last_error": health.last_error,
                "auth_failed": health.auth_failed,
                "last_success": health.last_success.isoformat() if health.last_success else None,
                "requests_made": coordinator.clients[source].requests_made,
            }
            for source, health in coordinator.health.items()
        },
        "update_interval": coordinator.update_interval.total_seconds()
        if coordinator.update_interval
        else None,
        "shipments": [_shipment(state) for state in states],
    }
    return _mask_text(async_redact_data(data, TO_REDACT), numbers)  # type: ignore[no-any-return]
