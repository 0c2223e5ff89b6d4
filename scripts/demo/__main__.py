"""Command line: `python -m scripts.demo develop [--demo]` and `... screenshots`."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
import contextlib
from datetime import UTC, datetime
import os
from pathlib import Path
import signal
import sys
import tempfile
from typing import NoReturn

import aiohttp

from . import processes
from .api import ApiError, HomeAssistantApi
from .journeys import write_shifted_journeys
from .scenario import (
    DEMO_PASSWORD,
    DEMO_USERNAME,
    Demo,
    ShipmentView,
    catch_up,
    news,
    read_journeys,
    refresh,
    set_up_demo,
    stages as current_stages,
    views,
)

CONFIG = processes.REPO / "config"
DEMO_MARKER = ".parcel_handoff_demo"
SCREENSHOTS = processes.REPO / "docs" / "screenshots"


def _say(message: str) -> None:
    print(f"[parcel-handoff] {message}", flush=True)


def _prepare_demo_config(config_dir: Path, *, reset: bool) -> bool:
    """Make `config_dir` ready for the demo; True when the last demo's state is kept.

    A demo's state (its owner, entry, parcels and their history) is kept from one run to
    the next; `--reset` starts afresh. A development state is never wiped unasked.
    """
    marker = config_dir / DEMO_MARKER
    has_state = processes.holds_state(config_dir)
    if has_state and not marker.exists() and not reset:
        sys.exit(
            f"{config_dir} holds a development state (not a demo's). "
            "Run `scripts/develop --demo --reset` to replace it with the demo."
        )
    resumed = has_state and not reset
    if not resumed and config_dir.is_dir():
        processes.reset_config(config_dir)
    processes.prepare_config(config_dir)
    marker.write_text("created by scripts/develop --demo\n", encoding="utf-8")
    return resumed


def _check_ports(*ports: int) -> None:
    """Refuse early, before anything is changed, when a port is taken."""
    for port in ports:
        if not processes.port_is_free(port):
            sys.exit(
                f"port {port} is in use (another Home Assistant or demo?): stop it, or choose "
                "another port with --port / --carrier-port"
            )


async def _run_demo(args: argparse.Namespace) -> int:
    """Carrier server + Home Assistant + demo set-up, then move the journeys on."""
    config_dir: Path = args.config
    _check_ports(args.port, args.carrier_port)
    resumed = _prepare_demo_config(config_dir, reset=args.reset)
    journeys_dir = config_dir / "demo_journeys"
    if not resumed or not any(journeys_dir.glob("*.json")):
        write_shifted_journeys(processes.JOURNEYS, journeys_dir, datetime.now(UTC))
    journeys = read_journeys(journeys_dir)

    carrier = processes.start_carrier_server(
        args.carrier_port, config_dir / "carrier_server.log", journeys=journeys_dir
    )
    carrier_url = f"http://127.0.0.1:{args.carrier_port}"
    runner = processes.HomeAssistantRunner(
        config_dir, args.port, carrier_url=carrier_url, host=args.host, to_terminal=args.verbose
    )
    runner.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    _say(
        "Starting Home Assistant"
        + (" with the last demo's state" if resumed else " with a fresh demo")
        + f" (its log: {config_dir / 'home-assistant.log'})"
    )
    try:
        await processes.wait_for_port(args.carrier_port, carrier)
        url = f"http://127.0.0.1:{args.port}"
        async with aiohttp.ClientSession() as session:
            api = HomeAssistantApi(session, url)
            await api.wait_until_up(120)
            demo = await set_up_demo(api, journeys)
            if resumed:
                steps = await catch_up(api, demo, journeys)
                _say(f"carried on where the last run stopped ({steps} catch-up checks)")
            _say(f"Home Assistant: {url}  (login: {DEMO_USERNAME} / {DEMO_PASSWORD})")
            _say(f"Parcels dashboard: {url}/dashboard-parcels/parcels")
            _say(f"Carrier server: {carrier_url} (log: {carrier.log_path})")
            _say(
                f"The recorded journeys move on every {args.interval:g} s "
                "(parcel_handoff.refresh); Ctrl-C stops everything, "
                "`scripts/develop --demo` carries on later, `--reset` starts afresh."
            )
            await pace(api, demo, args.interval, stop, runner)
    finally:
        await processes.stop_all(carrier, *([runner.current] if runner.process else []))
    return 0


async def _sleep(
    seconds: float, stop: asyncio.Event, runner: processes.HomeAssistantRunner
) -> None:
    """Wait `seconds`, waking early when stopped or when Home Assistant exits."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not stop.is_set() and runner.alive():
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), min(remaining, 0.5))


async def pace(
    api: HomeAssistantApi,
    demo: Demo,
    interval: float,
    stop: asyncio.Event,
    runner: processes.HomeAssistantRunner,
    *,
    say: Callable[[str], None] = _say,
) -> None:
    """Refresh every `interval` seconds and print what changed, until stopped.

    Home Assistant's own Restart (it exits asking for it) starts it again, as a
    supervisor would; any other exit ends the demo, saying so. A failed refresh (Home
    Assistant busy restarting, a token refused) is told and tried again next time.
    """
    last: dict[str, ShipmentView] = {}
    while not stop.is_set():
        if not runner.alive():
            if not runner.asked_to_restart():
                status = runner.current.popen.returncode
                say(
                    f"Home Assistant stopped (exit status {status}): the demo stops too. "
                    f"Its log: {runner.config_dir / 'home-assistant.log'}"
                )
                return
            say("Home Assistant was asked to restart: starting it again")
            runner.start()
            try:
                await api.wait_until_up(120)
            except TimeoutError as err:
                say(f"Home Assistant did not come back: {err}")
                return
            continue
        try:
            await refresh(api, demo.entry_id)
            now = await views(api, demo)
        except ApiError as err:
            if err.status == 401:
                # The refresh token itself was refused (deleted under Profile, say).
                with contextlib.suppress(ApiError, aiohttp.ClientError, OSError):
                    await api.login(DEMO_USERNAME, DEMO_PASSWORD)
            say(f"refresh failed: {err}")
        except (aiohttp.ClientError, OSError) as err:
            say(f"refresh failed: {err}")
        else:
            for line in news(last, now):
                say(line)
            last = now
        await _sleep(interval, stop, runner)


def _develop(args: argparse.Namespace) -> int:
    if args.demo:
        return asyncio.run(_run_demo(args))
    return _exec_home_assistant(args)


def _exec_home_assistant(args: argparse.Namespace) -> NoReturn:
    """Replace this process with `hass` on the development config."""
    _check_ports(args.port)
    if args.config.is_dir() and (args.config / DEMO_MARKER).exists() and not args.reset:
        # A demo's parcels must not be followed on the real carriers' services.
        sys.exit(
            f"{args.config} holds the demo: `scripts/develop --demo` carries it on; "
            "`scripts/develop --reset` replaces it with a development state."
        )
    if args.config.is_dir() and args.reset:
        _say(f"forgetting the state in {args.config}")
        processes.reset_config(args.config)
    processes.prepare_config(args.config)
    processes.configure_http(args.config, args.host, args.port)
    _say(f"Home Assistant on http://127.0.0.1:{args.port} with config {args.config}")
    hass = str(processes.VENV_BIN / "hass")
    os.execve(hass, [hass, "--config", str(args.config), "--skip-pip"], dict(os.environ))


async def _screenshots(args: argparse.Namespace) -> int:
    """Run a private demo, move it on until every stage shows, and photograph it."""
    from .browser import capture, chromium_page, log_in

    with tempfile.TemporaryDirectory(prefix="parcel-handoff-screenshots-") as tmp:
        root = Path(tmp)
        journeys_dir = root / "journeys"
        write_shifted_journeys(processes.JOURNEYS, journeys_dir, datetime.now(UTC))
        config_dir = root / "config"
        processes.prepare_config(config_dir)
        carrier_port, ha_port = processes.free_port(), processes.free_port()
        carrier = processes.start_carrier_server(
            carrier_port, root / "carrier.log", journeys=journeys_dir
        )
        hass = processes.start_home_assistant(
            config_dir, ha_port, carrier_url=f"http://127.0.0.1:{carrier_port}"
        )
        try:
            await processes.wait_for_port(carrier_port, carrier)
            url = f"http://127.0.0.1:{ha_port}"
            async with aiohttp.ClientSession() as session:
                api = HomeAssistantApi(session, url)
                await api.wait_until_up(120)
                demo = await set_up_demo(api, read_journeys(journeys_dir))
                for _ in range(args.refreshes):
                    await refresh(api, demo.entry_id)
                _say(f"stages: {await current_stages(api, demo)}")
                assert api.tokens is not None
                handoff = next(iter(demo.entities.values()))
                async with chromium_page(session) as page:
                    await log_in(page, url, api.tokens)
                    out: Path = args.out
                    await capture(
                        page,
                        f"{url}/dashboard-parcels/parcels",
                        out / "dashboard.png",
                        expect_text=tuple(e.name for e in demo.entities.values()),
                    )
                    await capture(
                        page,
                        f"{url}/config/devices/device/{handoff.device_id}",
                        out / "device.png",
                        expect_text=(handoff.name, "Sensors"),
                    )
                _say(f"screenshots written to {args.out}")
        finally:
            await processes.stop_all(carrier, hass)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command."""
    parser = argparse.ArgumentParser(prog="python -m scripts.demo")
    commands = parser.add_subparsers(dest="command", required=True)

    develop = commands.add_parser("develop", help="run Home Assistant with this checkout")
    develop.add_argument("--demo", action="store_true", help="with the carrier server and demo")
    develop.add_argument("--reset", action="store_true", help="forget config/'s state first")
    develop.add_argument("--config", type=Path, default=CONFIG)
    develop.add_argument("--host", default=os.environ.get(processes.ENV_HA_HOST, "127.0.0.1"))
    develop.add_argument(
        "--port", type=int, default=int(os.environ.get(processes.ENV_HA_PORT, "8123"))
    )
    develop.add_argument("--carrier-port", type=int, default=8765)
    develop.add_argument("--interval", type=float, default=15.0, help="demo refresh seconds")
    develop.add_argument(
        "--verbose", action="store_true", help="show Home Assistant's own log in the terminal"
    )

    shots = commands.add_parser("screenshots", help="photograph a demo for the README")
    shots.add_argument("--out", type=Path, default=SCREENSHOTS)
    shots.add_argument("--refreshes", type=int, default=24, help="journey steps to reveal")

    args = parser.parse_args(argv)
    if args.command == "develop":
        args.config = args.config.resolve()
        if args.reset and not args.config.is_relative_to(processes.REPO):
            parser.error("--reset only forgets a config folder inside this checkout")
        return _develop(args)
    return asyncio.run(_screenshots(args))


if __name__ == "__main__":
    sys.exit(main())
