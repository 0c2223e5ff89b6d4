"""The demo over a long run: tokens that expire, Home Assistant's own Restart, a rerun.

A real `hass` and the carrier server, as in `test_end_to_end.py`. The access token's
life is cut to seconds (the refresh token's `access_token_expiration`, which Home
Assistant keeps in `.storage/auth`), so that the demo's loop outlives several tokens
in half a minute; then Home Assistant is restarted from its own API (it exits asking for
it, as under a supervisor), and finally the whole demo is stopped and started again on
the same config folder, carrying on where it was.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
import importlib.util
import json
from pathlib import Path

import aiohttp
import pytest

from scripts.demo import processes
from scripts.demo.__main__ import pace
from scripts.demo.api import HomeAssistantApi
from scripts.demo.journeys import write_shifted_journeys
from scripts.demo.scenario import Demo, catch_up, read_journeys, set_up_demo, views

pytestmark = pytest.mark.e2e

TOKEN_LIFE = 6  # seconds
HANDOFF = "LP00719238465102"


@dataclass
class Running:
    """The started demo and what it runs on."""

    api: HomeAssistantApi
    demo: Demo
    runner: processes.HomeAssistantRunner
    carrier: processes.Process
    config_dir: Path
    journeys_dir: Path
    carrier_port: int


def _start_carrier(tmp_path: Path, port: int, journeys_dir: Path) -> processes.Process:
    return processes.start_carrier_server(port, tmp_path / "carrier.log", journeys=journeys_dir)


@pytest.fixture
async def running(tmp_path: Path, socket_enabled: None) -> AsyncIterator[Running]:
    """The demo set up on a fresh config folder; everything stopped after."""
    if importlib.util.find_spec("hass_frontend") is None:
        pytest.fail("the Home Assistant frontend is not installed: run scripts/install_frontend")
    journeys_dir = tmp_path / "journeys"
    write_shifted_journeys(processes.JOURNEYS, journeys_dir, datetime.now(UTC))
    config_dir = tmp_path / "config"
    processes.prepare_config(config_dir)
    carrier_port, ha_port = processes.free_port(), processes.free_port()
    carrier = _start_carrier(tmp_path, carrier_port, journeys_dir)
    runner = processes.HomeAssistantRunner(
        config_dir, ha_port, carrier_url=f"http://127.0.0.1:{carrier_port}"
    )
    runner.start()
    state = Running(
        api=None,  # type: ignore[arg-type]
        demo=None,  # type: ignore[arg-type]
        runner=runner,
        carrier=carrier,
        config_dir=config_dir,
        journeys_dir=journeys_dir,
        carrier_port=carrier_port,
    )
    try:
        await processes.wait_for_port(carrier_port, carrier)
        async with aiohttp.ClientSession() as session:
            api = HomeAssistantApi(session, f"http://127.0.0.1:{ha_port}")
            await api.wait_until_up(120)
            state.api = api
            state.demo = await set_up_demo(api, read_journeys(journeys_dir), dashboard=False)
            yield state
    finally:
        await processes.stop_all(state.carrier, runner.current)
    # Every start's output (home-assistant.log keeps only the last two runs).
    log = (config_dir / "hass.stdout.log").read_text(errors="replace")
    assert "invalid authentication" not in log, "a request was refused its token"
    errors = [
        line
        for line in log.splitlines()
        if "parcel_handoff" in line and ("ERROR" in line or "Traceback" in line)
    ]
    assert not errors, "\n".join(errors)


def _shorten_access_tokens(config_dir: Path, client_id: str, seconds: int) -> None:
    """Give the refresh tokens of `client_id` access tokens living `seconds` (HA stopped)."""
    path = config_dir / ".storage" / "auth"
    auth = json.loads(path.read_text())
    tokens = [t for t in auth["data"]["refresh_tokens"] if t.get("client_id") == client_id]
    assert tokens, "the demo's refresh token is not in the auth store"
    for token in tokens:
        token["access_token_expiration"] = float(seconds)
    path.write_text(json.dumps(auth))


async def _event_counts(api: HomeAssistantApi, entry_id: str) -> dict[str, int]:
    response = await api.call_service_with_response(
        "parcel_handoff", "get_shipments", {"config_entry_id": entry_id}
    )
    return {s["tracking_number"]: len(s["events"]) for s in response["shipments"]}


async def test_demo_outlives_its_tokens_and_restarts(running: Running) -> None:
    """Several token lives, Home Assistant's own Restart and a rerun, without a stop."""
    api, demo, runner = running.api, running.demo, running.runner

    # Home Assistant down: its refresh token now hands out access tokens of seconds.
    assert runner.current.stop() == 0
    _shorten_access_tokens(running.config_dir, api.client_id, TOKEN_LIFE)
    runner.start()
    await api.wait_until_up(120)
    tokens = await api.renew_access_token()
    assert tokens.expires_in == TOKEN_LIFE
    renewals = api.token_renewals

    said: list[str] = []
    stop = asyncio.Event()
    loop_task = asyncio.create_task(pace(api, demo, 1.0, stop, runner, say=said.append))
    # Four token lives of refreshes every second.
    await asyncio.sleep(4 * TOKEN_LIFE)
    assert not loop_task.done(), said
    assert api.token_renewals - renewals >= 3, said
    assert not [line for line in said if "refresh failed" in line], said
    assert any(line.startswith("stages") for line in said), said

    # Settings -> System -> Restart: Home Assistant exits asking for it; the demo restarts it.
    with contextlib.suppress(aiohttp.ClientError):
        await api.call_service("homeassistant", "restart")
    for _ in range(240):
        if runner.starts == 3 and runner.alive():
            break
        await asyncio.sleep(0.25)
    assert runner.starts == 3, said
    assert "Home Assistant was asked to restart: starting it again" in said
    await api.wait_until_up(120)
    before = len(said)
    await asyncio.sleep(3 * TOKEN_LIFE)
    assert not loop_task.done(), said
    stop.set()
    await loop_task
    # The demo kept going after the restart, on the same parcels.
    after_restart = said[before:]
    assert not [line for line in after_restart if "refresh failed" in line], said
    assert set(await views(api, demo)) == {s.name for s in demo.shipments}

    # The whole demo stopped (Ctrl-C) and started again: a fresh carrier server starts
    # every journey from its first event; the catch-up brings it back to where HA was.
    known = await _event_counts(api, demo.entry_id)
    seen = await views(api, demo)
    await processes.stop_all(running.carrier, runner.current)
    running.carrier = _start_carrier(
        running.config_dir.parent, running.carrier_port, running.journeys_dir
    )
    await processes.wait_for_port(running.carrier_port, running.carrier)
    runner.start()
    await api.wait_until_up(120)
    again = await set_up_demo(api, read_journeys(running.journeys_dir), dashboard=False)
    assert again.entry_id == demo.entry_id
    assert again.entities == demo.entities  # same devices and entities: the state was kept
    assert await views(api, again) == seen  # nothing forgotten, nothing replayed
    checks = await catch_up(api, again, read_journeys(running.journeys_dir))
    assert checks > 0
    counts = await _event_counts(api, again.entry_id)
    assert all(counts[number] >= seen_count for number, seen_count in known.items())
    assert await views(api, again) == seen
    # The fresh carrier server was brought back to the end of the journey HA had seen.
    async with api.session.get(f"http://127.0.0.1:{running.carrier_port}/_control/stats") as r:
        polls = (await r.json())["polls"]
    assert polls[f"cainiao:{HANDOFF}"] >= 10, polls
