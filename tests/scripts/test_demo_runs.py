"""The demo's runs: its state kept between runs, its ports, what the terminal tells."""

from __future__ import annotations

from datetime import UTC, datetime
import json
from pathlib import Path
import socket

import pytest

from scripts.demo import processes
from scripts.demo.__main__ import DEMO_MARKER, _check_ports, _prepare_demo_config, main
from scripts.demo.journeys import end_origin_at_handoff, shift_journey
from scripts.demo.scenario import ShipmentView, news

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def _state(config: Path) -> Path:
    storage = config / ".storage"
    storage.mkdir(parents=True, exist_ok=True)
    (storage / "core.config_entries").write_text("{}")
    return storage


def test_demo_state_kept_between_runs(tmp_path: Path) -> None:
    """A demo's state stays for the next run; --reset starts afresh."""
    config = tmp_path / "config"
    assert _prepare_demo_config(config, reset=False) is False
    assert (config / DEMO_MARKER).exists()
    # What set-up seeds (onboarding's location step) is no state of a run.
    assert _prepare_demo_config(config, reset=False) is False
    storage = _state(config)
    assert _prepare_demo_config(config, reset=False) is True
    assert storage.exists()
    assert _prepare_demo_config(config, reset=True) is False
    assert not (storage / "core.config_entries").exists()
    assert not processes.holds_state(config)


def test_development_state_never_wiped_unasked(tmp_path: Path, socket_enabled: None) -> None:
    """A development state refuses the demo; a demo's refuses plain development."""
    config = tmp_path / "config"
    storage = _state(config)
    with pytest.raises(SystemExit, match="development state"):
        _prepare_demo_config(config, reset=False)
    assert storage.exists()

    (marker := tmp_path / DEMO_MARKER).write_text("x")
    with pytest.raises(SystemExit, match="holds the demo"):
        main(["develop", "--config", str(tmp_path), "--port", str(processes.free_port())])
    assert marker.exists()


def test_port_in_use_refused_before_anything_changes(socket_enabled: None) -> None:
    """A taken port stops the demo before its config is touched."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert not processes.port_is_free(port)
        with pytest.raises(SystemExit, match=f"port {port} is in use"):
            _check_ports(port)


def test_port_of_a_run_just_stopped_is_free(socket_enabled: None) -> None:
    """Sockets left in TIME-WAIT by a stopped run do not block the next one."""
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server side closes first: its socket lingers in TIME-WAIT
        client.close()
    assert processes.port_is_free(port)


def test_blueprints_copied_not_linked(tmp_path: Path) -> None:
    """Home Assistant's blueprint list does not follow a linked folder: files are copied."""
    config = tmp_path / "config"
    old_link = config / "blueprints" / "automation" / "parcel_handoff"
    old_link.parent.mkdir(parents=True)
    old_link.symlink_to(processes.BLUEPRINTS / "automation" / "parcel_handoff")
    processes.prepare_config(config)
    copy = old_link / "notify_out_for_delivery.yaml"
    assert not old_link.is_symlink()
    assert copy.is_file()
    assert not copy.is_symlink()
    source = processes.BLUEPRINTS / "automation" / "parcel_handoff" / copy.name
    assert copy.read_text() == source.read_text()


def test_origin_track_ends_at_the_handoff() -> None:
    """The flagship parcel reaches out for delivery before Cainiao's late "Delivered"."""
    data = json.loads(
        (processes.JOURNEYS / "1_aliexpress_cainiao_to_usps.json").read_text(encoding="utf-8")
    )
    cut = end_origin_at_handoff(shift_journey(data, NOW))
    cainiao, usps = cut["tracks"]
    assert len(cainiao["events"]) == len(data["tracks"][0]["events"]) - 1
    assert cainiao["events"][-1]["event"]["desc"] == "Received by local delivery company"
    assert usps == shift_journey(data, NOW)["tracks"][1]
    # Journeys without a handoff are left as they are.
    same = json.loads((processes.JOURNEYS / "3_usps_out_for_delivery.json").read_text())
    assert end_origin_at_handoff(same) == same


def test_terminal_tells_handoffs_and_attention() -> None:
    """Stage changes, the handoff and attention on and off each get a line."""
    before = {
        "Headphones": ShipmentView(stage="customs"),
        "Bike lights": ShipmentView(stage="customs"),
        "Shoes": ShipmentView(stage="last_mile", attention=True, reason="last_mile_stalled"),
    }
    after = {
        "Headphones": ShipmentView(
            stage="last_mile", local_carrier="USPS", local_tracking_number="9400136205832451786015"
        ),
        "Bike lights": ShipmentView(
            stage="customs", attention=True, reason="customs_hold", action="wait"
        ),
        "Shoes": ShipmentView(stage="out_for_delivery"),
    }
    assert news(before, after) == [
        "stages     Headphones: last mile | Shoes: out for delivery",
        "handoff    Headphones: handed to USPS under 9400136205832451786015",
        "attention  Bike lights: customs hold (suggested: wait)",
        "attention  Shoes: fine again",
    ]
    # The first look is a baseline: its stages only.
    assert news({}, after) == [
        "stages     Headphones: last mile | Bike lights: customs | Shoes: out for delivery"
    ]
    assert news(after, after) == []
