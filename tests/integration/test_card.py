"""The dashboard card: served by the integration and loaded by the frontend on every page."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from homeassistant.components.frontend import DATA_EXTRA_MODULE_URL
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.parcel_handoff import card
from custom_components.parcel_handoff.card import (
    CARD_FILE,
    CARD_URL,
    DATA_CARD_URL,
    FRONTEND_DIR,
    async_register_card,
)
from custom_components.parcel_handoff.const import DOMAIN

from .conftest import setup_entry

CARD_CODE = (FRONTEND_DIR / CARD_FILE).read_bytes()
VERSION = hashlib.sha256(CARD_CODE).hexdigest()[:12]


def test_manifest_declares_http_and_frontend() -> None:
    """The static path needs http; the frontend, when loaded, is set up before us."""
    manifest = json.loads((FRONTEND_DIR.parent / "manifest.json").read_text())
    assert "http" in manifest["dependencies"]
    assert "frontend" in manifest["after_dependencies"]


async def test_card_is_served_and_loaded_by_the_frontend(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, hass_client: ClientSessionGenerator
) -> None:
    """With the frontend, every page loads the card's module, versioned by its content."""
    assert await async_setup_component(hass, "frontend", {})
    await setup_entry(hass, mock_config_entry)

    url = hass.data[DATA_CARD_URL]
    assert url == f"{CARD_URL}?v={VERSION}"
    assert url in hass.data[DATA_EXTRA_MODULE_URL].urls

    client = await hass_client()
    response = await client.get(url)
    assert response.status == 200
    assert "javascript" in response.headers["Content-Type"]
    body = await response.read()
    assert body == CARD_CODE
    assert b"customElements.define(CARD_TAG, ParcelHandoffCard)" in body


async def test_card_without_frontend(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, hass_client: ClientSessionGenerator
) -> None:
    """A headless installation still serves the file, and adds no module URL anywhere."""
    await setup_entry(hass, mock_config_entry)
    assert "frontend" not in hass.config.components
    assert DATA_EXTRA_MODULE_URL not in hass.data

    client = await hass_client()
    response = await client.get(hass.data[DATA_CARD_URL])
    assert response.status == 200
    assert await response.read() == CARD_CODE


async def test_card_registered_once(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    """Routes cannot be removed: a second registration (after a reload) reuses the first."""
    await setup_entry(hass, mock_config_entry)
    first = hass.data[DATA_CARD_URL]
    assert await async_register_card(hass) == first
    assert await hass.config_entries.async_reload(mock_config_entry.entry_id)
    assert hass.data[DATA_CARD_URL] == first
    assert DOMAIN in hass.config.components


def test_version_follows_the_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A changed card gets a new URL, so browsers do not keep the old one from cache."""
    (tmp_path / CARD_FILE).write_text("one", encoding="utf-8")
    monkeypatch.setattr(card, "FRONTEND_DIR", tmp_path)
    first = card._card_version()
    (tmp_path / CARD_FILE).write_text("two", encoding="utf-8")
    assert card._card_version() != first
