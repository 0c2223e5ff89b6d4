"""Every language has every English key, with its placeholders, really translated."""

from __future__ import annotations

from collections.abc import Iterator
import json
from pathlib import Path
import re
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.translation import async_get_translations
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.parcel_handoff.const import DOMAIN

from .conftest import setup_entry

TRANSLATIONS = Path(__file__).parents[2] / "custom_components" / DOMAIN / "translations"
LANGUAGES = ("de", "fr", "es", "pl", "pt-BR", "he")
# Names (ours and the carriers') and words that are spelled the same in some languages.
SAME_IN_SOME_LANGUAGES = frozenset(
    {
        "Parcel Handoff",
        "Cainiao",
        "USPS",
        "17TRACK",
        "AfterShip",
        "Name",
        "Normal",
        "Total",
        "Source",
        "Options",
        "Description",
    }
)
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _flatten(tree: dict[str, Any], path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _flatten(value, (*path, key))
        else:
            yield ".".join((*path, key)), value


def _strings(language: str) -> dict[str, Any]:
    return dict(_flatten(json.loads((TRANSLATIONS / f"{language}.json").read_text("utf-8"))))


EN = _strings("en")


def test_no_other_language_files() -> None:
    """A language file that this test does not check would go stale unseen."""
    assert {path.stem for path in TRANSLATIONS.glob("*.json")} == {"en", *LANGUAGES}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_key_translated(language: str) -> None:
    """The same keys as en.json, each a non-empty string with the same placeholders."""
    strings = _strings(language)
    assert sorted(set(EN) - set(strings)) == [], f"{language}.json lacks these keys"
    assert sorted(set(strings) - set(EN)) == [], f"{language}.json has keys en.json has not"
    for key, english in EN.items():
        text = strings[key]
        assert isinstance(text, str), key
        assert text.strip(), key
        assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(english)), key


@pytest.mark.parametrize("language", LANGUAGES)
def test_translated_not_copied(language: str) -> None:
    """Only names and a few shared words may read exactly as in English."""
    strings = _strings(language)
    copied = sorted(
        key
        for key, english in EN.items()
        if strings[key] == english and english not in SAME_IN_SOME_LANGUAGES
    )
    assert copied == [], f"{language}.json copies English"


async def test_home_assistant_serves_the_german_stage_names(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    """Home Assistant itself loads our German file for the frontend's state names."""
    await setup_entry(hass, mock_config_entry)
    german = await async_get_translations(hass, "de", "entity", [DOMAIN])
    prefix = f"component.{DOMAIN}.entity"
    assert german[f"{prefix}.sensor.stage.state.customs"] == "Zoll"
    assert german[f"{prefix}.sensor.stage.state.delivered"] == "Zugestellt"
    reason = f"{prefix}.binary_sensor.attention.state_attributes.reason.state.customs_hold"
    assert german[reason] == "Im Zoll festgehalten"
    hebrew = await async_get_translations(hass, "he", "entity", [DOMAIN])
    assert hebrew[f"{prefix}.sensor.stage.state.delivered"] == "נמסר"
