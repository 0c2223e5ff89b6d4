"""Diagnostics: useful, with credentials redacted and tracking numbers masked."""

from __future__ import annotations

from datetime import UTC, datetime
import json

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion

from custom_components.parcel_handoff.diagnostics import (
    async_get_config_entry_diagnostics,
    mask_number,
)
from tests.carrier_server import CarrierServer

from .conftest import CAINIAO_NUMBER, CREDENTIALS, USPS_LOCAL_NUMBER, make_entry, setup_entry


async def test_diagnostics(
    hass: HomeAssistant,
    carrier_server: CarrierServer,
    freezer: FrozenDateTimeFactory,
    snapshot: SnapshotAssertion,
) -> None:
    """After the handoff: both numbers masked everywhere, keys and places redacted."""
    freezer.move_to(datetime(2025, 4, 8, tzinfo=UTC))
    entry = await setup_entry(hass, make_entry(carrier_server))
    # Straight from the platform: the frozen clock would expire the HTTP API's token.
    diagnostics = json.loads(json.dumps(await async_get_config_entry_diagnostics(hass, entry)))

    assert diagnostics == snapshot
    text = json.dumps(diagnostics)
    for secret in (
        *CREDENTIALS.values(),
        CAINIAO_NUMBER,
        USPS_LOCAL_NUMBER,
        carrier_server.base_url,
    ):
        assert secret not in text
    assert mask_number(USPS_LOCAL_NUMBER) in text
    assert "Jinhua" not in text
    assert diagnostics["sources"]["usps"]["requests_made"] >= 1


def test_mask_number() -> None:
    """Two characters kept at each end: enough to tell formats apart."""
    assert mask_number("LP00719238465102") == "LP************02"
    assert mask_number("ABCD") == "****"


async def test_diagnostics_unloaded_sources(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
) -> None:
    """Sources never asked show no last success."""
    diagnostics = await async_get_config_entry_diagnostics(hass, init_integration)
    assert diagnostics["sources"]["aftership"] == {
        "consecutive_errors": 0,
        "retry_at": None,
        "last_error": None,
        "auth_failed": False,
        "last_success": None,
        "requests_made": 0,
    }
