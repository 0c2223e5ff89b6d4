"""Every user-visible string is translated, every state has an icon, actions match."""

from __future__ import annotations

import json
from pathlib import Path
import re
from typing import Any

import yaml

from custom_components.parcel_handoff.const import SENSITIVITIES, SPEEDS
from custom_components.parcel_handoff.event import EVENT_TYPES
from custom_components.parcel_handoff.services import CARRIER_CHOICES
from custom_components.parcel_handoff.tracking.detection import InvalidReason
from custom_components.parcel_handoff.tracking.model import (
    AttentionAction,
    AttentionReason,
    Stage,
)

PACKAGE = Path(__file__).parents[2] / "custom_components" / "parcel_handoff"
EN: dict[str, Any] = json.loads((PACKAGE / "translations" / "en.json").read_text())
ICONS: dict[str, Any] = json.loads((PACKAGE / "icons.json").read_text())
SERVICES: dict[str, Any] = yaml.safe_load((PACKAGE / "services.yaml").read_text())
STAGES = {stage.value for stage in Stage}


def _source(name: str) -> str:
    return (PACKAGE / name).read_text()


def test_states_and_attributes() -> None:
    """Every stage, reason, action and event type has a name; every stage an icon."""
    entity = EN["entity"]
    assert set(entity["sensor"]["stage"]["state"]) == STAGES
    assert set(ICONS["entity"]["sensor"]["stage"]["state"]) == STAGES
    attention = entity["binary_sensor"]["attention"]["state_attributes"]
    assert set(attention["reason"]["state"]) == {reason.value for reason in AttentionReason}
    assert set(attention["action"]["state"]) == {action.value for action in AttentionAction}
    journey = entity["event"]["journey"]["state_attributes"]
    assert set(journey["event_type"]["state"]) == set(EVENT_TYPES)
    summary = entity["sensor"]["active_shipments"]["state_attributes"]
    assert set(summary) >= STAGES


def test_selectors() -> None:
    """Every option of every selector is translated."""
    selector = EN["selector"]
    assert set(selector["carrier"]["options"]) == set(CARRIER_CHOICES)
    assert set(selector["speed"]["options"]) == set(SPEEDS)
    assert set(selector["sensitivity"]["options"]) == set(SENSITIVITIES)


def test_flow_errors_and_exceptions() -> None:
    """Every error and exception key the code can raise has a message."""
    numbers = {f"tracking_number_{reason.value}" for reason in InvalidReason}
    subentry_errors = set(EN["config_subentries"]["shipment"]["error"])
    assert numbers | {"already_tracked", "source_not_configured"} <= subentry_errors
    exceptions = set(EN["exceptions"])
    assert numbers | {"already_tracked", "source_not_configured"} <= exceptions
    code = "".join(_source(name) for name in ("services.py", "coordinator.py"))
    for key in re.findall(r'translation_key="([a-z_]+)"', code):
        assert key in exceptions, key
    flow = _source("config_flow.py")
    for key in re.findall(r'return "([a-z_]+)"', flow):
        assert key in EN["config"]["error"], key
    for step in EN["config"]["step"].values():
        assert set(step["data"]) == set(step["data_description"])


def test_actions() -> None:
    """services.yaml, its translations and its icons describe the same actions and fields."""
    translated = EN["services"]
    assert set(SERVICES) == set(translated) == set(ICONS["services"])
    for name, action in SERVICES.items():
        assert set(action["fields"]) == set(translated[name]["fields"]), name
        for field in translated[name]["fields"].values():
            assert field["name"]
            assert field["description"]
