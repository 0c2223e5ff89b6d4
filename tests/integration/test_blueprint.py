"""The blueprint's message, in each of its languages, from a real automation."""

from __future__ import annotations

from pathlib import Path
import shutil
from typing import Any

from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import async_mock_service

BLUEPRINT = (
    Path(__file__).parents[2] / "blueprints" / "automation" / "parcel_handoff"
) / "notify_out_for_delivery.yaml"
JOURNEY = "event.running_shoes_journey"
LATEST = "Out for Delivery, PORTLAND, OR"
NUMBER = "9400136205832451786015"


async def _announce(
    hass: HomeAssistant, tmp_path: Path, inputs: dict[str, Any], attributes: dict[str, Any]
) -> list[ServiceCall]:
    """Set up an automation from the blueprint, fire one journey event, return the notes."""
    hass.config.config_dir = str(tmp_path)
    folder = tmp_path / "blueprints" / "automation" / "parcel_handoff"
    folder.mkdir(parents=True)
    shutil.copy(BLUEPRINT, folder / BLUEPRINT.name)
    calls = async_mock_service(hass, "notify", "test")
    base = {"friendly_name": "Running shoes", "carrier": "USPS"}
    hass.states.async_set(
        JOURNEY, "2026-12-01T08:00:00.000+00:00", {**base, "event_type": "in_transit"}
    )
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "use_blueprint": {
                    "path": f"parcel_handoff/{BLUEPRINT.name}",
                    "input": {
                        "journeys": [JOURNEY],
                        "stages": ["out_for_delivery", "handoff"],
                        "notify_action": "notify.test",
                        **inputs,
                    },
                }
            }
        },
    )
    await hass.async_block_till_done()
    hass.states.async_set(JOURNEY, "2026-12-01T09:00:00.000+00:00", {**base, **attributes})
    await hass.async_block_till_done()
    return calls


@pytest.mark.parametrize(
    ("language", "message"),
    [
        (None, f"Running shoes is out for delivery with USPS. {LATEST}"),
        ("en", f"Running shoes is out for delivery with USPS. {LATEST}"),
        ("de", f"Running shoes: in Zustellung (USPS). {LATEST}"),
        ("fr", f"Running shoes : en cours de livraison (USPS). {LATEST}"),
        ("es", f"Running shoes: en reparto (USPS). {LATEST}"),
        ("pl", f"Running shoes: w doręczeniu (USPS). {LATEST}"),
        ("pt-BR", f"Running shoes: saiu para entrega (USPS). {LATEST}"),
        ("he", f"Running shoes: יצא למסירה (USPS). {LATEST}"),
    ],
)
async def test_stage_message_per_language(
    hass: HomeAssistant, tmp_path: Path, language: str | None, message: str
) -> None:
    """The chosen language words the stage; without a choice the message is English."""
    inputs = {} if language is None else {"language": language, "title": "Paket"}
    calls = await _announce(
        hass,
        tmp_path,
        inputs,
        {"event_type": "out_for_delivery", "description": LATEST},
    )
    assert [call.data["message"] for call in calls] == [message]
    assert calls[0].data["title"] == ("Parcel update" if language is None else "Paket")


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", f"Running shoes was handed over under the new number {NUMBER} with USPS."),
        (
            "de",
            f"Running shoes: an den lokalen Versanddienst übergeben, neue Nummer {NUMBER} (USPS).",
        ),
        ("he", f"Running shoes: הועבר למוביל המקומי במספר החדש {NUMBER} (USPS)."),
    ],
)
async def test_handoff_message_names_the_new_number(
    hass: HomeAssistant, tmp_path: Path, language: str, message: str
) -> None:
    """The handoff names the local number, in every language."""
    calls = await _announce(
        hass,
        tmp_path,
        {"language": language},
        {"event_type": "handoff", "local_tracking_number": NUMBER},
    )
    assert [call.data["message"] for call in calls] == [message]
