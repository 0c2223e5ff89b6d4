"""A local stand-in for the carrier services, for tests and demos.

It speaks Cainiao's, USPS's, 17TRACK's and AfterShip's wire formats at their real paths,
serves parcels described by journey files (`tests/fixtures/journeys/`) as of its clock,
and injects faults on request. In tests, use `running_carrier_server`; for a demo, run
`python -m tests.carrier_server --port 8765 --journeys tests/fixtures/journeys`.
"""

from __future__ import annotations

from pathlib import Path

from .app import STATE, create_app, source_for_path
from .journeys import Journey, JourneyEvent, Track, load_journey, load_journeys, parse_journey
from .state import DEFAULT_CREDENTIALS, FAULT_KINDS, Fault, RequestRecord, ServerState
from .testing import CarrierServer, closed_port, running_carrier_server

JOURNEYS_DIR = Path(__file__).parents[1] / "fixtures" / "journeys"

__all__ = [
    "DEFAULT_CREDENTIALS",
    "FAULT_KINDS",
    "JOURNEYS_DIR",
    "STATE",
    "CarrierServer",
    "Fault",
    "Journey",
    "JourneyEvent",
    "RequestRecord",
    "ServerState",
    "Track",
    "closed_port",
    "create_app",
    "load_journey",
    "load_journeys",
    "parse_journey",
    "running_carrier_server",
    "source_for_path",
]
