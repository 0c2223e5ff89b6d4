"""The dashboard card in a real browser: Playwright driving Debian's headless Chromium.

Opens the demo's Parcels dashboard in the real Home Assistant frontend, finds the card,
reads its row of stages, the handoff and the local number, the merged timeline and the
list of parcels, switches the user's language to German and reads the German stage
name, and saves screenshots in light and dark themes and on a phone-sized screen.
Set PARCEL_HANDOFF_SCREENSHOTS=docs/screenshots to refresh the README's pictures.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import re

import pytest

from scripts.demo.api import HomeAssistantApi
from scripts.demo.browser import find_chromium
from scripts.demo.processes import INTEGRATION
from scripts.demo.scenario import DASHBOARD_PATH, refresh

from .test_end_to_end import (
    FINAL_STAGES,
    HANDOFF,
    LOCAL_NUMBER,
    MAX_REFRESHES,
    STUCK,
    UNKNOWN,
    Running,
)

try:
    from playwright.async_api import Page, async_playwright, expect
except ImportError:  # a venv made before requirements_test.txt named playwright
    if os.environ.get("CI"):
        raise
    pytest.skip("playwright is not installed: run scripts/setup", allow_module_level=True)

pytestmark = pytest.mark.e2e

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # Names resolve to nothing: the page reaches Home Assistant by IP and nothing else.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
ENGLISH_STAGES = [
    "Info received",
    "Origin processing",
    "In transit",
    "Customs",
    "Last mile",
    "Out for delivery",
    "Delivered",
]
GERMAN_STAGES = [
    "Daten übermittelt",
    "Bearbeitung im Ursprungsland",
    "Unterwegs",
    "Zoll",
    "Letzte Meile",
    "In Zustellung",
    "Zugestellt",
]
EN = json.loads((INTEGRATION / "translations" / "en.json").read_text(encoding="utf-8"))
ACTIONS = EN["entity"]["binary_sensor"]["attention"]["state_attributes"]["action"]["state"]
WIDE = {"width": 1280, "height": 1700}
PHONE = {"width": 390, "height": 1400}
TIMEOUT_MS = 60_000


async def _finish_journeys(running: Running) -> None:
    """Reveal every recorded event: the handoff parcel ends delivered under its USPS number."""
    api, demo = running.api, running.demo
    for _ in range(MAX_REFRESHES):
        await refresh(api, demo.entry_id)
        stages = {}
        for number, entities in demo.entities.items():
            state = await api.state(entities.stage)
            stages[number] = state["state"] if state else "missing"
        if stages == FINAL_STAGES:
            return
    raise AssertionError(f"the journeys did not end as recorded: {stages}")


async def _open_dashboard(page: Page, api: HomeAssistantApi) -> None:
    """Log in as the demo's owner (the frontend's stored tokens) and open the dashboard."""
    assert api.tokens is not None
    base = api.base_url
    await page.goto(f"{base}/auth/authorize?response_type=code&client_id={base}/")
    tokens = json.dumps(api.tokens.as_frontend_storage(base))
    await page.evaluate("tokens => localStorage.setItem('hassTokens', tokens)", tokens)
    await page.goto(f"{base}/{DASHBOARD_PATH}/parcels")


async def _select_language(page: Page, language: str) -> None:
    """What the profile page's language picker does: the frontend stores it for the user."""
    await page.evaluate(
        """language => document.querySelector('home-assistant').dispatchEvent(
             new CustomEvent('hass-language-select', {detail: language}))""",
        language,
    )


async def _check_editor(page: Page, running: Running) -> None:
    """The card editor offers every shipment by name and writes the chosen one."""
    names = {e.name for e in running.demo.entities.values()}
    other = running.demo.entities[STUCK]
    result = await page.evaluate(
        """async ([entity, other]) => {
          const hass = document.querySelector('home-assistant').hass;
          const card = customElements.get('parcel-handoff-card');
          const editor = card.getConfigElement();
          const changes = [];
          editor.addEventListener('config-changed', (ev) => changes.push(ev.detail.config));
          editor.setConfig({type: 'custom:parcel-handoff-card', entity});
          editor.hass = hass;
          document.body.appendChild(editor);
          for (let i = 0; i < 100 && !editor.querySelector('ha-form')?.schema; i++) {
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
          const form = editor.querySelector('ha-form');
          const picker = form.schema.find((item) => item.name === 'entity');
          const options = picker.selector.select.options;
          form.dispatchEvent(new CustomEvent('value-changed',
            {detail: {value: {...form.data, entity: other}}}));
          form.dispatchEvent(new CustomEvent('value-changed',
            {detail: {value: {...form.data, mode: 'list'}}}));
          editor.remove();
          return {
            defined: !!customElements.get('ha-form'),
            labels: options.map((option) => option.label),
            changes,
            stub: card.getStubConfig(hass),
          };
        }""",
        [running.demo.entities[HANDOFF].stage, other.stage],
    )
    assert result["defined"], result
    assert set(result["labels"]) == names, result
    assert result["changes"] == [
        {"type": "custom:parcel-handoff-card", "entity": other.stage, "mode": "parcel"},
        {"type": "custom:parcel-handoff-card", "mode": "list"},
    ], result
    assert result["stub"]["entity"] in {e.stage for e in running.demo.entities.values()}


async def test_card_on_the_demo_dashboard(running: Running, tmp_path: Path) -> None:
    """Stages, handoff, number, timeline, list and German, as a person sees them."""
    await _finish_journeys(running)
    api, entities = running.api, running.demo.entities
    shots = Path(os.environ.get("PARCEL_HANDOFF_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=find_chromium(), args=CHROMIUM_ARGS, headless=True
        )
        try:
            context = await browser.new_context(
                viewport=WIDE, color_scheme="light", locale="en-US", timezone_id="UTC"
            )
            await context.grant_permissions(
                ["clipboard-read", "clipboard-write"], origin=api.base_url
            )
            page = await context.new_page()
            page.on("pageerror", lambda error: errors.append(f"{error}\n{error.stack}"))
            await _open_dashboard(page, api)

            # One parcel: the row of stages, the handoff, who has it and under which number.
            card = page.locator(
                f'parcel-handoff-card ha-card[data-entity="{entities[HANDOFF].stage}"]'
            )
            await expect(card).to_be_visible(timeout=TIMEOUT_MS)
            labels = card.locator(".stage .label")
            await expect(labels).to_have_text(ENGLISH_STAGES)
            current = card.locator('.stage[aria-current="step"]')
            await expect(current).to_have_attribute("data-stage", "delivered")
            await expect(card.locator(".stage .handoff")).to_have_count(1)
            await expect(card.locator(".local-number")).to_have_text(LOCAL_NUMBER)
            await expect(card.locator(".holder .carrier")).to_have_text("USPS")
            await expect(card.locator(".origin")).to_contain_text(HANDOFF)

            # The merged timeline from get_shipments, each event with its source.
            # The newest few first (timeline_limit, 5 by default), then all of them, the
            # handoff marked once.
            events = card.locator(".timeline .event")
            await expect(events.first).to_be_visible(timeout=TIMEOUT_MS)
            await expect(events).to_have_count(5)
            toggle = card.locator(".timeline + .more")
            await expect(toggle).to_have_text(re.compile(r"^Show all \d+$"))
            total = int((await toggle.inner_text()).rsplit(" ", 1)[1])
            await toggle.click()
            await expect(events).to_have_count(total)
            sources = set(await card.locator(".timeline .event .source").all_inner_texts())
            assert {"Cainiao", "USPS"} <= sources, sources
            await expect(card.locator(".event.handoff")).to_have_count(1)
            await expect(card.locator(".event.handoff")).to_have_attribute("data-source", "usps")
            await card.locator(".timeline + .more").click()
            await expect(events).to_have_count(5)

            # The copy button puts the local number on the clipboard.
            await card.locator(".holder .copy").click()
            copied = await page.evaluate("navigator.clipboard.readText()")
            assert copied == LOCAL_NUMBER

            # The list: every active parcel, the one needing attention first.
            rows = page.locator("parcel-handoff-card ha-card.list .row")
            await expect(rows.first).to_have_attribute("data-entity", entities[STUCK].stage)
            await expect(rows.first).to_have_class("row attention-on")
            listed = {await row.get_attribute("data-entity") for row in await rows.all()}
            active = {e.stage for n, e in entities.items() if FINAL_STAGES[n] != "delivered"}
            assert listed == active, listed
            stuck = page.locator(
                f'parcel-handoff-card ha-card[data-entity="{entities[STUCK].stage}"]'
            )
            await expect(stuck.locator(".attention .reason")).to_contain_text("Held in customs")
            attention = await api.state(entities[STUCK].attention)
            assert attention is not None
            action = attention["attributes"]["action"]
            await expect(stuck.locator(".attention .advice")).to_have_text(ACTIONS[action])
            unknown = page.locator(
                f'parcel-handoff-card ha-card[data-entity="{entities[UNKNOWN].stage}"]'
            )
            await expect(unknown.locator(".stage-badge")).to_have_text("Not found")

            await page.screenshot(path=shots / "card-light.png")
            await card.screenshot(path=shots / "card-parcel-light.png")

            # German: the integration's own translations, through hass.localize.
            await _select_language(page, "de")
            await expect(current.locator(".label")).to_have_text("Zugestellt", timeout=TIMEOUT_MS)
            await expect(labels).to_have_text(GERMAN_STAGES)
            await expect(card.locator(".holder .caption")).to_have_text("Jetzt bei")
            await expect(card.locator("h3")).to_have_text("Verlauf")
            await expect(stuck.locator(".attention .reason")).to_contain_text(
                "Im Zoll festgehalten"
            )
            await card.screenshot(path=shots / "card-parcel-de.png")
            await _select_language(page, "en")
            await expect(current.locator(".label")).to_have_text("Delivered", timeout=TIMEOUT_MS)

            await _check_editor(page, running)

            # A removed parcel: its card says so, the list forgets it, nothing throws.
            await api.call_service(
                "parcel_handoff",
                "remove_shipment",
                {"config_entry_id": running.demo.entry_id, "tracking_number": UNKNOWN},
            )
            removed = page.locator("parcel-handoff-card ha-card.removed")
            await expect(removed).to_have_count(1, timeout=TIMEOUT_MS)
            await expect(removed).to_contain_text("This parcel is no longer tracked.")
            await expect(rows).to_have_count(len(active) - 1)
            await context.close()

            # Dark theme (the frontend follows the system's), wide and on a phone.
            for name, viewport in (("card-dark.png", WIDE), ("card-phone-dark.png", PHONE)):
                context = await browser.new_context(
                    viewport=viewport, color_scheme="dark", locale="en-US", timezone_id="UTC"
                )
                page = await context.new_page()
                page.on("pageerror", lambda error: errors.append(f"{error}\n{error.stack}"))
                await _open_dashboard(page, api)
                card = page.locator(
                    f'parcel-handoff-card ha-card[data-entity="{entities[HANDOFF].stage}"]'
                )
                await expect(card.locator(".timeline .event").first).to_be_visible(
                    timeout=TIMEOUT_MS
                )
                await expect(card.locator('.stage[aria-current="step"] .label')).to_be_visible()
                await page.screenshot(path=shots / name)
                if viewport is PHONE:
                    width = await card.evaluate("node => node.getBoundingClientRect().width")
                    assert width <= PHONE["width"], width
                await context.close()
        finally:
            await browser.close()
    # Ours, that is: the frontend itself may race while it connects (not this card's doing).
    ours = [error for error in errors if "parcel-handoff-card" in error]
    assert not ours, ours
    assert all(
        (shots / name).stat().st_size > 10_000 for name in ("card-light.png", "card-dark.png")
    )
