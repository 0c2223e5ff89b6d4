"""Running the carrier server inside a test, over real HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
import contextlib
from dataclasses import dataclass
import socket

from aiohttp.test_utils import TestServer

from .app import create_app
from .state import ServerState


@dataclass(frozen=True, slots=True)
class CarrierServer:
    """A started server: its state (change it freely) and its base URL."""

    state: ServerState
    server: TestServer

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>`: the base URL every client takes."""
        return str(self.server.make_url("")).rstrip("/")


@contextlib.asynccontextmanager
async def running_carrier_server(state: ServerState | None = None) -> AsyncIterator[CarrierServer]:
    """Start the carrier server for `state` (a fresh one by default), stop it afterwards."""
    state = state if state is not None else ServerState()
    server = TestServer(create_app(state), host="127.0.0.1")
    await server.start_server()
    try:
        yield CarrierServer(state=state, server=server)
    finally:
        await server.close()


def closed_port() -> int:
    """A local port with nothing listening on it (for "cannot connect" tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
