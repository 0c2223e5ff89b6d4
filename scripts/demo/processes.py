"""Starting and stopping the local carrier server and Home Assistant as real processes."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
import importlib.util
import json
import os
from pathlib import Path
import shutil
import signal
import socket
import subprocess
import sys
import time
from typing import IO

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
INTEGRATION = REPO / "custom_components" / "parcel_handoff"
BLUEPRINTS = REPO / "blueprints"
JOURNEYS = REPO / "tests" / "fixtures" / "journeys"
CONFIGURATION = REPO / "config" / "configuration.yaml"

# Environment variables: the default host and port of the demo's Home Assistant (written into
# its configuration by `configure_http`) and, read by the integration, where its sources are.
ENV_HA_HOST = "PARCEL_HANDOFF_HA_HOST"
ENV_HA_PORT = "PARCEL_HANDOFF_HA_PORT"
ENV_ENDPOINTS = "PARCEL_HANDOFF_ENDPOINTS"
# Every source the integration knows is pointed at the one local carrier server.
SOURCES = ("cainiao", "usps", "17track", "aftership")
# `hass` exits with this status when asked to restart (Settings -> System -> Restart);
# its supervisor (Docker's, the OS's) then starts it again: so does the demo.
RESTART_EXIT_CODE = 100


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server can listen on `port` on `host`.

    With SO_REUSEADDR, as Home Assistant and the carrier server bind: the sockets of a
    run stopped a moment ago linger in TIME-WAIT for a minute and must not count.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True


def endpoints_value(carrier_url: str) -> str:
    """The `PARCEL_HANDOFF_ENDPOINTS` value sending every source to `carrier_url`."""
    return ",".join(f"{source}={carrier_url}" for source in SOURCES)


def _link(link: Path, target: Path) -> None:
    """Make `link` a relative symlink to `target`, replacing a stale one."""
    relative = Path(os.path.relpath(target, link.parent))
    if link.is_symlink():
        if link.readlink() == relative:
            return
        link.unlink()
    elif link.exists():
        raise FileExistsError(f"{link} exists and is not a symlink: move it away")
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(relative)


def holds_state(config_dir: Path) -> bool:
    """True when Home Assistant has run on `config_dir` (what `seed_onboarding` writes is not)."""
    storage = config_dir / ".storage"
    return any((storage / name).exists() for name in ("auth", "core.config_entries"))


def seed_onboarding(config_dir: Path) -> None:
    """On a fresh `config_dir`, mark onboarding's core-configuration step done.

    configuration.yaml already sets the location, units and time zone that step asks for,
    and finishing it would make Home Assistant add its onboarding integrations (met,
    radio_browser, google_translate, shopping_list): weather, radio and speech services
    that need packages and internet the demo has not, and fill the log with errors. The
    user, analytics and integration steps stay for the demo to do as the frontend does.
    """
    storage = config_dir / ".storage"
    if (storage / "onboarding").exists() or (storage / "auth").exists():
        return
    storage.mkdir(parents=True, exist_ok=True)
    onboarding = {"version": 4, "minor_version": 1, "key": "onboarding"}
    onboarding["data"] = {"done": ["core_config"]}
    (storage / "onboarding").write_text(json.dumps(onboarding, indent=2), encoding="utf-8")


def http_settings_are_stored() -> bool:
    """Whether this venv's Home Assistant keeps its HTTP settings in storage (the 2026 line).

    There, YAML's `http:` is migrated once into a *pending* configuration on trial, which
    the frontend asks to confirm and which Home Assistant reverts, restarting, five minutes
    later when nobody does; the settings live in `.storage/http` and the UI.
    """
    try:
        return importlib.util.find_spec("homeassistant.components.http.config") is not None
    except ModuleNotFoundError:  # no Home Assistant in this interpreter
        return False


def configure_http(config_dir: Path, host: str, port: int) -> None:
    """Make Home Assistant on `config_dir` listen on `host`:`port`.

    On the 2025.4 line, a package (`packages/http.yaml`, which configuration.yaml
    includes) holds the YAML; on the 2026 line, the stored settings are written instead,
    as the network settings page would after a confirmed change (a stable configuration,
    nothing pending, the YAML migration done), keeping any other setting stored there.
    """
    packages = config_dir / "packages"
    packages.mkdir(parents=True, exist_ok=True)
    package = packages / "http.yaml"
    if not http_settings_are_stored():
        package.write_text(
            f"http:\n  server_host: {json.dumps(host)}\n  server_port: {port}\n",
            encoding="utf-8",
        )
        return
    package.unlink(missing_ok=True)
    from homeassistant.components.http import config as http_config

    path = config_dir / ".storage" / http_config.STORAGE_KEY
    stable: dict[str, object] = {}
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
        if stored.get("version") == http_config.STORAGE_VERSION:
            stable = dict(stored["data"]["stable"])
    for meta in ("created_at", "error", "error_message"):
        stable.pop(meta, None)
    stable |= {"server_host": [host], "server_port": port}
    settings = dict(http_config.HTTP_STORAGE_SCHEMA(stable))
    settings |= {"created_at": datetime.now(UTC).isoformat(), "error": None, "error_message": None}
    data = {"stable": settings, "pending": None, "yaml_migration_done": True}
    document = {
        "version": http_config.STORAGE_VERSION,
        "minor_version": http_config.STORAGE_MINOR_VERSION,
        "key": http_config.STORAGE_KEY,
        "data": data,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=str), encoding="utf-8")
    path.chmod(0o600)  # Home Assistant keeps it private


def prepare_config(config_dir: Path) -> None:
    """Make `config_dir` ready for Home Assistant with this checkout's integration.

    Copies configuration.yaml when `config_dir` is not the repo's own `config/`, links
    the integration, copies the blueprints, creates the files configuration.yaml
    includes and, on a fresh folder, seeds onboarding (`seed_onboarding`). Never touches
    Home Assistant's own state otherwise.
    """
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "packages").mkdir(exist_ok=True)  # configuration.yaml includes it
    configuration = config_dir / "configuration.yaml"
    if configuration.resolve() != CONFIGURATION.resolve():
        shutil.copyfile(CONFIGURATION, configuration)
    _link(config_dir / "custom_components" / "parcel_handoff", INTEGRATION)
    copy_blueprints(config_dir)
    for name, empty in (("automations.yaml", "[]\n"), ("scripts.yaml", "{}\n")):
        path = config_dir / name
        if not path.exists():
            path.write_text(empty, encoding="utf-8")
    seed_onboarding(config_dir)


def copy_blueprints(config_dir: Path) -> list[Path]:
    """Copy this checkout's blueprints into `config_dir/blueprints`; return the copies.

    Copies, not a symlink: Home Assistant's blueprint list (Settings -> Blueprints) does
    not follow a linked folder, though automations made from it would still load.
    """
    copies = []
    for source in sorted(BLUEPRINTS.rglob("*.yaml")):
        target = config_dir / "blueprints" / source.relative_to(BLUEPRINTS)
        # A folder link left by an older checkout: replaced by real files.
        for parent in (target.parent, *target.parent.parents):
            if parent == config_dir:
                break
            if parent.is_symlink():
                parent.unlink()
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        copies.append(target)
    return copies


def reset_config(config_dir: Path) -> None:
    """Delete everything Home Assistant wrote in `config_dir`; keep configuration.yaml."""
    for path in config_dir.iterdir():
        if path.name == "configuration.yaml":
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


@dataclass
class Process:
    """A started child process, its name and the log file it writes to."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    _log: IO[bytes] | None = field(default=None, repr=False)

    def alive(self) -> bool:
        """Whether it still runs."""
        return self.popen.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        """The end of its log, for error messages."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, wait up to `timeout` seconds, then SIGKILL; returns the exit status."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.popen.returncode


def _start(
    name: str, argv: list[str], log_path: Path, env: Mapping[str, str], *, to_terminal: bool
) -> Process:
    log = None if to_terminal else log_path.open("ab")
    popen = subprocess.Popen(
        argv,
        cwd=REPO,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT if log is not None else None,
    )
    return Process(name=name, popen=popen, log_path=log_path, _log=log)


def start_carrier_server(
    port: int,
    log_path: Path,
    *,
    journeys: Path = JOURNEYS,
    advance_on_poll: bool = True,
    to_terminal: bool = False,
) -> Process:
    """Run `python -m tests.carrier_server` on 127.0.0.1:`port` serving `journeys`."""
    argv = [sys.executable, "-m", "tests.carrier_server", "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--journeys", str(journeys)]
    if advance_on_poll:
        argv.append("--advance-on-poll")
    return _start("carrier server", argv, log_path, {}, to_terminal=to_terminal)


def start_home_assistant(
    config_dir: Path,
    port: int,
    *,
    carrier_url: str | None,
    host: str = "127.0.0.1",
    log_path: Path | None = None,
    to_terminal: bool = False,
) -> Process:
    """Run the venv's `hass` on `config_dir` (prepared with `prepare_config`).

    `--skip-pip`: every requirement is installed by `scripts/setup` and the frontend by
    `scripts/develop`, and Home Assistant must never reach for the internet here.
    """
    configure_http(config_dir, host, port)
    env: dict[str, str] = {}
    if carrier_url is not None:
        env[ENV_ENDPOINTS] = endpoints_value(carrier_url)
    argv = [str(VENV_BIN / "hass"), "--config", str(config_dir), "--skip-pip", "--log-no-color"]
    log_path = log_path or config_dir / "hass.stdout.log"
    return _start("Home Assistant", argv, log_path, env, to_terminal=to_terminal)


async def wait_for_port(port: int, process: Process, within: float = 30.0) -> None:
    """Wait until something accepts connections on 127.0.0.1:`port`."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not process.alive():
            raise RuntimeError(f"{process.name} exited early:\n{process.log_tail()}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise TimeoutError(f"{process.name} did not listen on port {port}:\n{process.log_tail()}")


async def stop_all(*running: Process, within: float = 60.0) -> list[int]:
    """Stop processes (last started first) without blocking the event loop."""
    return [await asyncio.to_thread(process.stop, within) for process in reversed(running)][::-1]


@dataclass
class HomeAssistantRunner:
    """Home Assistant run as a supervisor runs it: started again when it asks to restart."""

    config_dir: Path
    port: int
    carrier_url: str | None
    host: str = "127.0.0.1"
    log_path: Path | None = None
    to_terminal: bool = False
    process: Process | None = None
    starts: int = 0

    def start(self) -> Process:
        """Start `hass` (again, after an exit)."""
        if self.process is not None:
            self.process.stop()  # closes the log of the one that exited
        self.process = start_home_assistant(
            self.config_dir,
            self.port,
            carrier_url=self.carrier_url,
            host=self.host,
            log_path=self.log_path,
            to_terminal=self.to_terminal,
        )
        self.starts += 1
        return self.process

    @property
    def current(self) -> Process:
        """The running (or last) process."""
        assert self.process is not None, "start it first"
        return self.process

    def alive(self) -> bool:
        """Whether Home Assistant runs."""
        return self.process is not None and self.process.alive()

    def asked_to_restart(self) -> bool:
        """Whether it exited because someone asked it to restart."""
        return (
            self.process is not None
            and not self.process.alive()
            and self.process.popen.returncode == RESTART_EXIT_CODE
        )
