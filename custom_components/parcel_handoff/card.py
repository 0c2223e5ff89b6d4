"""The Lovelace card shipped with the integration: served and loaded by the frontend.

`frontend/parcel-handoff-card.js` is a plain web component (no build step). It is
served from a static path and added to every frontend page as an extra module, so the
card (`custom:parcel-handoff-card`) works without a separate download or resource.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Final

from homeassistant.components.http import StaticPathConfig
from homeassistant.core import HomeAssistant
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN, LOGGER

FRONTEND_DIR: Final = Path(__file__).parent / "frontend"
CARD_FILE: Final = "parcel-handoff-card.js"
URL_BASE: Final = f"/{DOMAIN}_frontend"
CARD_URL: Final = f"{URL_BASE}/{CARD_FILE}"

# Set once the static path is registered: aiohttp routes cannot be removed again.
DATA_CARD_URL: HassKey[str] = HassKey(f"{DOMAIN}_card_url")


def _card_version() -> str:
    """A short hash of the card's code, so browsers fetch it again when it changes."""
    return hashlib.sha256((FRONTEND_DIR / CARD_FILE).read_bytes()).hexdigest()[:12]


async def async_register_card(hass: HomeAssistant) -> str | None:
    """Serve the card and have the frontend load it; returns the module URL.

    Without the frontend (a headless installation) there is nothing to load it into:
    the static path is still served, the module URL is not added.
    """
    if (url := hass.data.get(DATA_CARD_URL)) is not None:
        return url
    version = await hass.async_add_executor_job(_card_version)
    await hass.http.async_register_static_paths(
        [StaticPathConfig(URL_BASE, str(FRONTEND_DIR), cache_headers=True)]
    )
    url = f"{CARD_URL}?v={version}"
    hass.data[DATA_CARD_URL] = url
    if "frontend" not in hass.config.components:
        LOGGER.debug("The frontend is not loaded: the card is served but not added")
        return url
    from homeassistant.components.frontend import add_extra_js_url

    add_extra_js_url(hass, url)
    return url
