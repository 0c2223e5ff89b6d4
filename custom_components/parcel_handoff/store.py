"""What survives a restart, in Home Assistant's store: the tracker's persisted form.

The records and their serialisation are the engine's (`tracking/tracker.py`,
`tracking/persisted.py`); this wrapper only reads and writes them. Records are frozen,
so a save serialises a private copy of them from any thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store

from .const import DOMAIN, STORAGE_SAVE_DELAY, STORAGE_VERSION
from .tracking.persisted import (
    record_from_dict,
    record_to_dict,
    snapshot_from_dict,
    snapshot_to_dict,
    stored_from_dict,
    stored_to_dict,
)
from .tracking.tracker import LegCheck, LegKey, ShipmentRecord, StoredData

__all__ = [
    "LegCheck",
    "LegKey",
    "ShipmentRecord",
    "ShipmentStore",
    "StoredData",
    "record_from_dict",
    "record_to_dict",
    "snapshot_from_dict",
    "snapshot_to_dict",
    "storage_key",
    "stored_from_dict",
    "stored_to_dict",
]


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

    def async_schedule_save(self, content: StoredData) -> None:
        """Save soon: a busy refresh and the changes right after it share one write."""
        self._store.async_delay_save(_data_func(content), STORAGE_SAVE_DELAY)

    async def async_save_now(self, content: StoredData) -> None:
        """Save at once (on unload: a reload reads the file before a delayed save ran)."""
        await self._store.async_save(stored_to_dict(content))

    async def async_remove(self) -> None:
        """Delete the storage file (the config entry is being removed)."""
        await self._store.async_remove()


def _data_func(content: StoredData) -> Callable[[], dict[str, Any]]:
    # The content is a private copy of frozen records: safe in the executor (2025.4)
    # and in the event loop (2026.x).
    return lambda: stored_to_dict(content)


def storage_key(entry_id: str) -> str:
    """The storage key of a config entry's shipments."""
    return f"{DOMAIN}.{entry_id}"
