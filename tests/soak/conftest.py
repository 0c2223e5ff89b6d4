"""Fixtures of the soak: custom integrations on, aggregators unthrottled, real store files."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from custom_components.parcel_handoff.tracking.clients import aftership, seventeen_track
from tests.integration.conftest import fail_on_ha_deprecations

__all__ = ["fail_on_ha_deprecations"]  # autouse: HA's deprecation warnings fail the soak too


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/parcel_handoff."""


@pytest.fixture(autouse=True)
def unthrottled_aggregators(monkeypatch: pytest.MonkeyPatch) -> None:
    """No spacing between 17TRACK or AfterShip requests: a frozen clock lets none pass."""
    monkeypatch.setattr(seventeen_track, "MAX_REQUESTS_PER_SECOND", math.inf)
    monkeypatch.setattr(aftership, "MAX_REQUESTS_PER_SECOND", math.inf)


@pytest.fixture
def store_dir(tmp_path: Path, socket_enabled: None) -> Path:
    """Where the soak's store files live (real files: a torn file must be a torn one)."""
    directory = tmp_path / ".storage"
    directory.mkdir()
    return directory
