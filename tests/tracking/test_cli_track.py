"""`track`: a live lookup through the real clients, against the local carrier server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
import json

import pytest

from custom_components.parcel_handoff.tracking.cli import main
from tests.carrier_server.journeys import load_journeys
from tests.carrier_server.state import DEFAULT_CREDENTIALS, ServerState
from tests.carrier_server.testing import closed_port, running_carrier_server
from tests.conftest import FIXTURES

pytestmark = pytest.mark.usefixtures("socket_enabled")

CAINIAO_NUMBER = "LP00719238465102"
USPS_NUMBER = "9400136205832451786015"


@pytest.fixture
def usps_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """USPS credentials in the environment, as a user would export them."""
    monkeypatch.setenv("PARCEL_HANDOFF_USPS_CLIENT_ID", DEFAULT_CREDENTIALS["usps_client_id"])
    monkeypatch.setenv(
        "PARCEL_HANDOFF_USPS_CLIENT_SECRET", DEFAULT_CREDENTIALS["usps_client_secret"]
    )


def state_at(when: datetime) -> ServerState:
    """A carrier server serving the recorded journeys as of `when`."""
    return ServerState(journeys=load_journeys(FIXTURES / "journeys"), now=when)


async def track(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run `track` in a worker thread (it runs its own event loop)."""
    status = await asyncio.to_thread(main, ["track", *argv])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.usefixtures("usps_credentials")
async def test_track_follows_the_handoff_to_usps(capsys: pytest.CaptureFixture[str]) -> None:
    """Cainiao names USPS and a new number; USPS's own portal is asked too and merged."""
    async with running_carrier_server(state_at(datetime(2025, 4, 10, 23, tzinfo=UTC))) as server:
        status, out, err = await track(
            capsys,
            CAINIAO_NUMBER,
            "--source",
            "cainiao",
            "--endpoint",
            f"cainiao={server.base_url}",
            "--endpoint",
            f"usps={server.base_url}",
        )
        stats = server.state.stats()
    assert status == 0, err
    report = json.loads(out)
    assert report["stage"] == "delivered"
    assert (report["origin_carrier"], report["local_carrier"]) == ("Cainiao", "USPS")
    assert report["local_tracking_number"] == USPS_NUMBER
    assert {event["source"] for event in report["events"]} == {"cainiao", "usps"}
    assert report["latest_event"]["source"] == "usps"
    assert DEFAULT_CREDENTIALS["usps_client_secret"] not in out + err
    assert stats["requests"]["cainiao"] == 1


async def test_track_without_local_client_stays_on_cainiao(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No USPS credentials: the answer comes from Cainiao alone, still with the handoff."""
    async with running_carrier_server(state_at(datetime(2025, 4, 8, tzinfo=UTC))) as server:
        status, out, _ = await track(
            capsys, CAINIAO_NUMBER, "--endpoint", f"cainiao={server.base_url}"
        )
    report = json.loads(out)
    assert status == 0
    assert report["local_tracking_number"] == USPS_NUMBER
    assert {event["source"] for event in report["events"]} == {"cainiao"}


async def test_track_unknown_number_is_not_found(capsys: pytest.CaptureFixture[str]) -> None:
    """A number nobody knows is a shipment in `not_found`, not an error."""
    async with running_carrier_server(state_at(datetime(2025, 4, 8, tzinfo=UTC))) as server:
        status, out, _ = await track(
            capsys, "LP00738472910556", "--endpoint", f"cainiao={server.base_url}"
        )
    assert status == 0
    assert json.loads(out)["stage"] == "not_found"


async def test_track_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """No connection: status 1 and one line; missing credentials or bad endpoint: status 2."""
    status, _, err = await track(
        capsys, CAINIAO_NUMBER, "--endpoint", f"cainiao=http://127.0.0.1:{closed_port()}"
    )
    assert status == 1
    assert err.startswith("error: cainiao:")
    assert err.count("\n") == 1
    status, _, err = await track(capsys, USPS_NUMBER, "--source", "usps")
    assert status == 2
    assert "PARCEL_HANDOFF_USPS_CLIENT_ID" in err
    status, _, err = await track(capsys, USPS_NUMBER, "--endpoint", "nowhere=http://x")
    assert status == 2
    assert "unknown source" in err
