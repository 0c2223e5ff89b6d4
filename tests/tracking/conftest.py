"""Fixtures shared by the client and carrier-server tests: real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from types import SimpleNamespace

import aiohttp
import pytest

from tests.carrier_server import (
    JOURNEYS_DIR,
    CarrierServer,
    ServerState,
    load_journeys,
    running_carrier_server,
)


@pytest.fixture
async def carrier(socket_enabled: None) -> AsyncIterator[CarrierServer]:
    """The carrier server on 1 June 2025: every journey has happened."""
    state = ServerState(journeys=load_journeys(JOURNEYS_DIR), now=datetime(2025, 6, 1, tzinfo=UTC))
    async with running_carrier_server(state) as server:
        yield server


@pytest.fixture
async def session(socket_enabled: None) -> AsyncIterator[aiohttp.ClientSession]:
    """The HTTP session the clients are given."""
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
async def traced(socket_enabled: None) -> AsyncIterator[tuple[aiohttp.ClientSession, list[float]]]:
    """A session that notes when each request starts, on the client's side (loop time)."""
    starts: list[float] = []

    async def on_start(
        session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        starts.append(asyncio.get_running_loop().time())

    trace = aiohttp.TraceConfig()
    # aiohttp 3.11 types its trace signals wrongly (callbacks take three arguments).
    trace.on_request_start.append(on_start)  # type: ignore[arg-type]
    async with aiohttp.ClientSession(trace_configs=[trace]) as client_session:
        yield client_session, starts
