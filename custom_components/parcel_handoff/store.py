"""What survives a restart, in Home Assistant's store: the tracker's persisted form.

The records and their serialisation are the engine's (`tracking/tracker.py`,
`tracking/persisted.py`); this wrapper only reads and writes them. Records are frozen,
so a save serialises a private copy of them from any thread.

A storage file this version cannot read never stops the set-up: it is kept aside next
to the store (`<file>.corrupt.<time>`, `<file>.v<version>.<time>` for a newer version),
a repair issue says so, and the entry starts from its shipment subentries (the portals
answer again at the first refresh). Invalid JSON never reaches us: Home Assistant's
`Store` renames such a file itself and raises its own repair issue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import os
from pathlib import Path
from typing import Any, Final

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .const import DOMAIN, LOGGER, STORAGE_SAVE_DELAY, STORAGE_VERSION
from .tracking.errors import TrackingStoredDataError
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
    "ISSUE_STORE_NEWER",
    "ISSUE_STORE_UNREADABLE",
    "LegCheck",
    "LegKey",
    "ShipmentRecord",
    "ShipmentStore",
    "StoredData",
    "record_from_dict",
    "record_to_dict",
    "snapshot_from_dict",
    "snapshot_to_dict",
    "storage_issue_id",
    "storage_key",
    "stored_from_dict",
    "stored_to_dict",
]

# Translation keys of the repair issues (translations/*.json, "issues").
ISSUE_STORE_UNREADABLE: Final = "store_unreadable"
ISSUE_STORE_NEWER: Final = "store_newer_version"

# What Home Assistant's store raises for a file whose envelope is the wrong shape
# (`[]`, `"text"`, no "version" or "data"), and what our own reading raises.
_UNREADABLE: Final = (KeyError, TypeError, ValueError, AttributeError, TrackingStoredDataError)


class _NewerStoreError(Exception):
    """The file was written by a newer major storage version than this one reads."""

    def __init__(self, version: int) -> None:
        super().__init__(f"storage version {version} is newer than {STORAGE_VERSION}")
        self.version = version


class _UnknownStoreVersionError(Exception):
    """The file's storage version is not a version any release wrote."""


class _ShipmentsStore(Store[dict[str, Any]]):
    """Home Assistant's store, telling a newer or unknown version apart from a bug."""

    async def _async_migrate_func(
        self, old_major_version: int, old_minor_version: int, old_data: dict[str, Any]
    ) -> dict[str, Any]:
        if not isinstance(old_major_version, int) or old_major_version < 1:
            raise _UnknownStoreVersionError(f"storage version {old_major_version!r}")
        if old_major_version > self.version:
            raise _NewerStoreError(old_major_version)
        # Same major version, newer minor: compatible by Home Assistant's convention.
        return old_data


@dataclass(frozen=True, slots=True, kw_only=True)
class _SetAside:
    translation_key: str
    kept_as: str | None
    detail: str


class ShipmentStore:
    """The config entry's `Store`, saving copies of frozen records after a short delay."""

    def __init__(self, hass: HomeAssistant, entry_id: str, *, title: str = "") -> None:
        """Use the storage file of this config entry (`title` names it in a repair issue)."""
        self._hass = hass
        self._entry_id = entry_id
        self._title = title
        self._store = _ShipmentsStore(hass, STORAGE_VERSION, storage_key(entry_id))

    async def async_load(self) -> StoredData:
        """Read what the last run saved: empty on the first run, and after a damaged file.

        A file that cannot be read is kept aside and reported as a repair issue.
        """
        try:
            data = await self._async_read()
            return StoredData() if data is None else stored_from_dict(data)
        except _NewerStoreError as err:
            kept_as = await self._async_keep_aside(f"v{err.version}")
            problem = _SetAside(translation_key=ISSUE_STORE_NEWER, kept_as=kept_as, detail=str(err))
        except (_UnknownStoreVersionError, *_UNREADABLE) as err:
            kept_as = await self._async_keep_aside("corrupt")
            problem = _SetAside(
                translation_key=ISSUE_STORE_UNREADABLE,
                kept_as=kept_as,
                detail=f"{type(err).__name__}: {err}",
            )
        LOGGER.warning(
            "The stored shipments of %s could not be read (%s); kept as %s. Starting from"
            " the shipments configured: each is looked up again",
            self._title or self._entry_id,
            problem.detail,
            problem.kept_as or "nothing (the file could not be moved)",
        )
        self._async_report(problem)
        return StoredData()

    async def _async_read(self) -> dict[str, Any] | None:
        """The stored data, a newer major version raised as _NewerStoreError on either line.

        Home Assistant 2026's Store refuses such a file itself (UnsupportedStorageVersionError,
        unknown to 2025.4, whose Store asks our migration, which raises _NewerStoreError).
        """
        try:
            return await self._store.async_load()
        except HomeAssistantError as err:
            found = getattr(err, "found_version", None)
            if not isinstance(found, int):
                raise
            raise _NewerStoreError(found) from err

    async def _async_keep_aside(self, label: str) -> str | None:
        """Move the unreadable file out of the way; the path it now has, or None."""
        path = Path(self._store.path)
        aside = path.with_name(f"{path.name}.{label}.{dt_util.utcnow():%Y%m%dT%H%M%SZ}")
        try:
            await self._hass.async_add_executor_job(os.replace, path, aside)
        except OSError as err:
            LOGGER.debug("Could not move %s aside: %s", path, err)
            return None
        return str(aside)

    def _async_report(self, problem: _SetAside) -> None:
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            storage_issue_id(self._entry_id),
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=problem.translation_key,
            translation_placeholders={
                "title": self._title or self._entry_id,
                "path": problem.kept_as or self._store.path,
                "store": self._store.path,
            },
        )

    def async_schedule_save(self, content: StoredData) -> None:
        """Save soon: a busy refresh and the changes right after it share one write."""
        self._store.async_delay_save(_data_func(content), STORAGE_SAVE_DELAY)

    async def async_save_now(self, content: StoredData) -> None:
        """Save at once (on unload: a reload reads the file before a delayed save ran)."""
        await self._store.async_save(stored_to_dict(content))

    async def async_remove(self) -> None:
        """Delete the storage file and its repair issue (the config entry is being removed)."""
        ir.async_delete_issue(self._hass, DOMAIN, storage_issue_id(self._entry_id))
        await self._store.async_remove()


def _data_func(content: StoredData) -> Callable[[], dict[str, Any]]:
    # The content is a private copy of frozen records: safe in the executor (2025.4)
    # and in the event loop (2026.x).
    return lambda: stored_to_dict(content)


def storage_key(entry_id: str) -> str:
    """The storage key of a config entry's shipments."""
    return f"{DOMAIN}.{entry_id}"


def storage_issue_id(entry_id: str) -> str:
    """The repair issue of a config entry whose storage file could not be read."""
    return f"unreadable_store_{entry_id}"
