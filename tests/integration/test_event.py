"""The journey event entity: every stage change and the handoff, once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import EVENT_HOMEASSISTANT_STARTED
from homeassistant.core import CoreState, Event, EventStateChangedData, HomeAssistant, callback
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.parcel_handoff.const import DOMAIN
from custom_components.parcel_handoff.event import EVENT_JOURNEY
from custom_components.parcel_handoff.logbook import async_describe_events, journey_message
from tests.carrier_server import CarrierServer

from .conftest import DELIVERED_NUMBER, USPS_LOCAL_NUMBER, travel

JOURNEY = "event.phone_case_journey"


def _collect(hass: HomeAssistant, entity_id: str) -> list[dict[str, Any]]:
    """Every event the entity fires from now on, as its attributes.

    A fired event is a state with a new timestamp or new event attributes; an entity
    that comes back after a reload restores its last event, which is no new event.
    """
    fired: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    if (current := hass.states.get(entity_id)) is not None:
        seen.add((current.state, repr(sorted(current.attributes.items()))))

    @callback
    def on_change(event: Event[EventStateChangedData]) -> None:
        new = event.data["new_state"]
        if event.data["entity_id"] != entity_id or new is None:
            return
        if new.attributes.get("event_type") is None or new.state == "unavailable":
            return
        key = (new.state, repr(sorted(new.attributes.items())))
        if key not in seen:
            seen.add(key)
            fired.append(dict(new.attributes))

    hass.bus.async_listen("state_changed", on_change)
    return fired


async def test_stage_changes_and_handoff(
    hass: HomeAssistant, init_integration: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    """Each change fires once, with the previous stage, the text and the carrier."""
    fired = _collect(hass, JOURNEY)
    await travel(hass, freezer, init_integration, datetime(2025, 4, 8, tzinfo=UTC))

    assert [(e["event_type"], e["previous_stage"]) for e in fired] == [
        ("in_transit", "origin_processing"),
        ("customs", "in_transit"),
        ("last_mile", "customs"),
        ("handoff", "customs"),
    ]
    handoff = fired[-1]
    assert handoff["stage"] == "last_mile"
    assert handoff["carrier"] == "USPS"
    assert handoff["local_tracking_number"] == USPS_LOCAL_NUMBER
    assert handoff["description"] == "Received by local delivery company"
    assert fired[1]["description"] == "Import customs clearance started"
    assert fired[1]["carrier"] == "Cainiao"


async def test_no_event_on_restart_or_repeat(
    hass: HomeAssistant, init_integration: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    """Reloading, checking again or restarting never repeats an announced change."""
    entry = init_integration
    await travel(hass, freezer, entry, datetime(2025, 4, 7, tzinfo=UTC))  # in customs
    before = hass.states.get(JOURNEY)
    assert before.attributes["event_type"] == "customs"

    fired = _collect(hass, JOURNEY)
    entry.runtime_data.async_update_listeners()  # the same refresh seen twice
    await entry.runtime_data.async_check_now()
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    await entry.runtime_data.async_check_now()
    await hass.async_block_till_done()

    assert fired == []
    after = hass.states.get(JOURNEY)
    assert (after.state, after.attributes["event_type"]) == (before.state, "customs")


async def test_changes_while_stopped_are_announced_once_at_start(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """What happened while Home Assistant was stopped is news: announced once, at start."""
    entry = init_integration
    assert hass.states.get("sensor.phone_case_stage").state == "origin_processing"
    await hass.config_entries.async_unload(entry.entry_id)
    freezer.move_to(datetime(2025, 4, 6, 18, tzinfo=UTC))
    fired = _collect(hass, JOURNEY)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    assert hass.states.get("sensor.phone_case_stage").state == "customs"
    # Two changes found by one check fire once, for the newest stage.
    assert [(e["event_type"], e["previous_stage"]) for e in fired] == [
        ("customs", "origin_processing")
    ]

    # The store now holds it: another start announces nothing again.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert len(fired) == 1


async def test_changes_found_while_starting_wait_for_home_assistant_started(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """During Home Assistant's own start, the news waits until automations listen."""
    entry = init_integration
    await hass.config_entries.async_unload(entry.entry_id)
    freezer.move_to(datetime(2025, 4, 6, 18, tzinfo=UTC))
    fired: list[str] = []
    hass.bus.async_listen(EVENT_JOURNEY, lambda event: fired.append(event.data["event_type"]))
    hass.set_state(CoreState.starting)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.phone_case_stage").state == "customs"
    assert fired == []

    hass.set_state(CoreState.running)
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STARTED)
    await hass.async_block_till_done()
    assert fired == ["customs"]


async def test_new_shipment_first_answer_is_silent(
    hass: HomeAssistant, init_integration: MockConfigEntry, carrier_server: CarrierServer
) -> None:
    """A shipment added already delivered fires nothing: its first answer is the baseline."""
    fired = _collect(hass, f"event.{DELIVERED_NUMBER}_journey")
    await hass.services.async_call(
        DOMAIN,
        "add_shipment",
        {"config_entry_id": init_integration.entry_id, "tracking_number": DELIVERED_NUMBER},
        blocking=True,
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(f"sensor.{DELIVERED_NUMBER}_stage").state == "delivered"
    assert fired == []


async def test_logbook_tells_each_change_in_words(
    hass: HomeAssistant, init_integration: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    """Each journey event, the handoff included, gets its own logbook line in words."""
    fired: list[dict[str, Any]] = []

    @callback
    def on_journey(event: Event) -> None:
        fired.append(dict(event.data))

    hass.bus.async_listen(EVENT_JOURNEY, on_journey)
    await travel(hass, freezer, init_integration, datetime(2025, 4, 12, tzinfo=UTC))

    described: dict[str, Any] = {}

    def register(domain: str, event_type: str, describe: Any) -> None:
        described[event_type] = (domain, describe)

    async_describe_events(hass, register)
    domain, describe = described[EVENT_JOURNEY]
    assert domain == DOMAIN
    lines = [describe(Event(EVENT_JOURNEY, data)) for data in fired]
    assert {line["entity_id"] for line in lines} == {JOURNEY}
    assert {line["name"] for line in lines} == {"Phone case"}
    messages = [line["message"] for line in lines]
    assert messages[:2] == [
        "is in transit (Cainiao): Departed from departure country/region",
        "is in customs (Cainiao): Import customs clearance started",
    ]
    # The handoff, fired in the same instant as its stage change, has its own line.
    handoff = messages.index(f"was handed to USPS under {USPS_LOCAL_NUMBER}")
    assert messages[handoff - 1].startswith("is with the local carrier (USPS)")
    assert messages[-2].startswith("is out for delivery (USPS)")
    assert messages[-1].startswith("was delivered (USPS)")


def test_journey_message_without_details() -> None:
    """Missing carrier, number or description still read well."""
    assert journey_message({"event_type": "handoff"}) == "was handed to the local carrier"
    assert journey_message({"event_type": "returned", "carrier": "USPS"}) == (
        "was returned to the sender"
    )
    assert journey_message({"event_type": "lost_in_space"}) == "is now lost in space"
