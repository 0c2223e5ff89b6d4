"""What the demo's and the end-to-end test's Home Assistant configuration makes it load."""

from __future__ import annotations

import json
from pathlib import Path

from homeassistant.components.onboarding.const import STEP_CORE_CONFIG, STEPS

from scripts.demo.processes import (
    CONFIGURATION,
    configure_http,
    http_settings_are_stored,
    prepare_config,
    seed_onboarding,
)
from scripts.ha_requirements import requirements


def _onboarding(config: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((config / ".storage" / "onboarding").read_text())
    return data


def test_a_fresh_config_skips_only_the_core_config_onboarding_step(tmp_path: Path) -> None:
    config = tmp_path / "config"
    prepare_config(config)
    stored = _onboarding(config)
    assert stored["key"] == "onboarding"
    assert stored["version"] == 4
    assert stored["data"] == {"done": [STEP_CORE_CONFIG]}
    assert set(STEPS) - {STEP_CORE_CONFIG} == {"user", "analytics", "integration"}


def test_onboarding_state_home_assistant_wrote_is_left_alone(tmp_path: Path) -> None:
    config = tmp_path / "config"
    (config / ".storage").mkdir(parents=True)
    ours = '{"version": 4, "key": "onboarding", "data": {"done": ["user"]}}'
    (config / ".storage" / "onboarding").write_text(ours)
    prepare_config(config)
    assert (config / ".storage" / "onboarding").read_text() == ours


def test_a_config_that_has_run_before_gets_no_onboarding_seed(tmp_path: Path) -> None:
    (tmp_path / ".storage").mkdir()
    (tmp_path / ".storage" / "auth").write_text("{}")
    seed_onboarding(tmp_path)
    assert not (tmp_path / ".storage" / "onboarding").exists()


def test_requirements_cover_what_home_assistant_loads_for_the_demo() -> None:
    wanted = requirements(CONFIGURATION)
    names = {line.split("==")[0].lower() for line in wanted}
    assert {"sqlalchemy", "fnv-hash-fast"} <= names  # recorder: configured
    assert "cronsim" in names  # backup: a default integration
    assert "pillow" in names  # image_upload: a dependency of person
    assert "aiohasupervisor" in names  # hassio: imported by analytics (an after-dependency)
    assert not any(line.startswith("home-assistant-frontend") for line in wanted)
    assert all("==" in line for line in wanted), wanted


def test_requirements_follow_the_configuration(tmp_path: Path) -> None:
    configuration = tmp_path / "configuration.yaml"
    configuration.write_text("homeassistant:\n  name: x\nzeroconf:\n")
    assert any(line.lower().startswith("zeroconf==") for line in requirements(configuration))
    configuration.write_text("homeassistant:\n  name: x\n")
    assert not any(line.lower().startswith("zeroconf==") for line in requirements(configuration))


def test_http_host_and_port_reach_home_assistant_on_either_line(tmp_path: Path) -> None:
    """2025.4 reads them from a YAML package; the 2026 line from its stored settings."""
    config = tmp_path / "config"
    prepare_config(config)
    configure_http(config, "127.0.0.1", 8124)
    package = config / "packages" / "http.yaml"
    if not http_settings_are_stored():
        assert package.read_text() == 'http:\n  server_host: "127.0.0.1"\n  server_port: 8124\n'
        assert not (config / ".storage" / "http").exists()
        return
    from homeassistant.components.http import config as http_config  # the 2026 line

    assert not package.exists()  # YAML would be migrated into a pending trial
    path = config / ".storage" / http_config.STORAGE_KEY
    stored = json.loads(path.read_text())
    assert stored["version"] == http_config.STORAGE_VERSION
    assert stored["data"]["pending"] is None
    assert stored["data"]["yaml_migration_done"] is True
    stable = stored["data"]["stable"]
    assert stable["server_host"] == ["127.0.0.1"]
    assert stable["server_port"] == 8124
    assert stable["error"] is None
    # Another start on another port keeps what else the user stored there.
    stored["data"]["stable"]["cors_allowed_origins"] = ["https://example.org"]
    path.write_text(json.dumps(stored))
    configure_http(config, "0.0.0.0", 8125)
    stable = json.loads(path.read_text())["data"]["stable"]
    assert (stable["server_host"], stable["server_port"]) == (["0.0.0.0"], 8125)
    assert stable["cors_allowed_origins"] == ["https://example.org"]


def test_configuration_yaml_leaves_http_to_configure_http() -> None:
    text = CONFIGURATION.read_text()
    assert "\nhttp:" not in text
    assert "packages: !include_dir_named packages" in text
