"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

# The started demo (carrier server + Home Assistant), used by name by every e2e test.
from .test_end_to_end import running  # noqa: F401
