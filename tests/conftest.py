"""Shared test configuration.

Our package is imported here, before any `hass` fixture starts, so that Home Assistant
finds our `custom_components` rather than the test plugin's own.
"""

from __future__ import annotations

from pathlib import Path

import custom_components.parcel_handoff  # noqa: F401

FIXTURES = Path(__file__).parent / "fixtures"
SHARED_SAMPLES = Path(__file__).parents[2] / "shared" / "carrier-samples"
