"""The actions: add, remove, check now and read every shipment."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.parcel_handoff.const import DOMAIN
from tests.carrier_server import CarrierServer

from .conftest import (
    CAINIAO_NUMBER,
    DELIVERED_NUMBER,
    SUBENTRY_ID,
    advance,
    find_device,
    make_entry,
    setup_entry,
)


async def _call(
    hass: HomeAssistant, service: str, data: dict[str, Any], *, response: bool = False
) -> Any:
    return await hass.services.async_call(
        DOMAIN, service, data, blocking=True, return_response=response
    )


async def test_add_shipment(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    """An automation adds a shipment: it is normalised, named and tracked."""
    response = await _call(
        hass,
        "add_shipment",
        {
            "config_entry_id": init_integration.entry_id,
            "tracking_number": "9361-2898-7670-0312-3488-94",
            "name": "Books",
            "order_number": "1107",
            "carrier": "usps",
        },
        response=True,
    )
    await hass.async_block_till_done(wait_background_tasks=True)

    subentry = init_integration.subentries[response["subentry_id"]]
    assert response["tracking_number"] == DELIVERED_NUMBER
    assert subentry.title == "Books"
    assert subentry.unique_id == DELIVERED_NUMBER
    assert dict(subentry.data) == {
        "tracking_number": DELIVERED_NUMBER,
        "carrier": "usps",
        "order_number": "1107",
    }
    state = hass.states.get("sensor.books_stage")
    assert state.state == "delivered"
    assert state.attributes["order_number"] == "1107"


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"tracking_number": "LP7"}, "tracking_number_too_short"),
        ({"tracking_number": CAINIAO_NUMBER}, "already_tracked"),
        ({"tracking_number": "LP00711111111111", "carrier": "aftership"}, "source_not_configured"),
    ],
)
async def test_add_shipment_refused(
    hass: HomeAssistant, carrier_server: CarrierServer, data: dict[str, str], key: str
) -> None:
    """Bad numbers, duplicates and unconfigured sources are refused, translated."""
    entry = await setup_entry(hass, make_entry(carrier_server, credentials={}))
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, "add_shipment", {"config_entry_id": entry.entry_id, **data})
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == key
    assert len(entry.subentries) == 1
    if key == "already_tracked":
        assert err.value.translation_placeholders == {
            "tracking_number": CAINIAO_NUMBER,
            "name": "Phone case",
        }
        assert str(err.value).startswith(
            f"{CAINIAO_NUMBER} is already tracked, by the shipment Phone case"
        )


async def test_add_shipment_mistyped_check_digit_says_so(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """An automation cannot confirm a typo: the number is added and the response tells."""
    entry_id = init_integration.entry_id
    mistyped = await _call(
        hass,
        "add_shipment",
        {"config_entry_id": entry_id, "tracking_number": "RS081439852CN"},
        response=True,
    )
    assert mistyped["check_digit_matches"] is False
    assert mistyped["carrier"] == "China Post"
    assert mistyped["subentry_id"] in init_integration.subentries
    fine = await _call(
        hass,
        "add_shipment",
        {"config_entry_id": entry_id, "tracking_number": DELIVERED_NUMBER},
        response=True,
    )
    assert fine["check_digit_matches"] is True
    assert fine["carrier"] == "USPS"


async def test_unknown_or_unloaded_entry(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """The entry must exist, be ours and be loaded."""
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, "get_shipments", {"config_entry_id": "nope"}, response=True)
    assert err.value.translation_key == "entry_not_found"

    await hass.config_entries.async_unload(init_integration.entry_id)
    assert init_integration.state is ConfigEntryState.NOT_LOADED
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, "refresh", {"config_entry_id": init_integration.entry_id})
    assert err.value.translation_key == "entry_not_loaded"


async def test_remove_shipment(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    """Removing a shipment removes its device and entities, and nothing else."""
    entry = init_integration
    coordinator = entry.runtime_data
    await _call(
        hass,
        "remove_shipment",
        {"config_entry_id": entry.entry_id, "tracking_number": CAINIAO_NUMBER.lower()},
    )
    await hass.async_block_till_done()

    assert entry.subentries == {}
    assert entry.runtime_data is coordinator  # followed in place, no reload
    assert SUBENTRY_ID not in coordinator.data
    assert find_device(device_registry, (DOMAIN, SUBENTRY_ID)) is None
    assert hass.states.get("sensor.phone_case_stage") is None
    assert [
        e.entity_id for e in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    ] == ["sensor.parcel_handoff_active_shipments"]
    assert hass.states.get("sensor.parcel_handoff_active_shipments").state == "0"

    with pytest.raises(ServiceValidationError) as err:
        await _call(
            hass,
            "remove_shipment",
            {"config_entry_id": entry.entry_id, "tracking_number": CAINIAO_NUMBER},
        )
    assert err.value.translation_key == "shipment_not_found"
    with pytest.raises(ServiceValidationError) as err:
        await _call(
            hass, "remove_shipment", {"config_entry_id": entry.entry_id, "tracking_number": "?"}
        )
    assert err.value.translation_key == "tracking_number_invalid_characters"


async def test_refresh(
    hass: HomeAssistant, init_integration: MockConfigEntry, carrier_server: CarrierServer
) -> None:
    """Check now: one shipment or all, whatever the schedule says."""
    entry = init_integration
    await _call(
        hass,
        "add_shipment",
        {"config_entry_id": entry.entry_id, "tracking_number": DELIVERED_NUMBER},
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    server = carrier_server.state
    server.reset_stats()

    await _call(
        hass, "refresh", {"config_entry_id": entry.entry_id, "tracking_number": CAINIAO_NUMBER}
    )
    assert server.requests == {"cainiao": 1}

    await _call(hass, "refresh", {"config_entry_id": entry.entry_id})
    assert server.requests["cainiao"] == 2
    assert server.requests["usps"] >= 1


async def test_get_shipments(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    """Every shipment with its full merged timeline."""
    response = await _call(
        hass, "get_shipments", {"config_entry_id": init_integration.entry_id}, response=True
    )
    (shipment,) = response["shipments"]
    assert shipment["subentry_id"] == SUBENTRY_ID
    assert shipment["name"] == "Phone case"
    assert shipment["stage"] == "origin_processing"
    assert shipment["order_number"] == "8190123456789012"
    assert shipment["eta_latest"] == "2025-04-15T12:00:00+00:00"
    assert shipment["attention"] is None
    assert [event["description"] for event in shipment["events"]] == [
        "Received by sorting center",
        "Package picked up",
        "Shipment information received by warehouse electronically",
    ]
    assert shipment["events"][0] == {
        "time": "2025-04-02T22:25:00+00:00",
        "description": "Received by sorting center",
        "location": "Jinhua",
        "carrier": "Cainiao",
        "source": "cainiao",
        "stage": "origin_processing",
        "code": "SC_INBOUND_SUCCESS",
        "tracking_number": CAINIAO_NUMBER,
    }


async def test_two_hundred_shipments(
    hass: HomeAssistant,
    carrier_server: CarrierServer,
    freezer: FrozenDateTimeFactory,
    entity_registry: er.EntityRegistry,
) -> None:
    """Add 200 shipments through the action, check them in batches, remove them all."""
    entry = await setup_entry(hass, make_entry(carrier_server, subentries=[]))
    coordinator = entry.runtime_data
    server = carrier_server.state
    numbers = [f"LP00790{index:09d}" for index in range(200)]

    for number in numbers:
        await _call(
            hass, "add_shipment", {"config_entry_id": entry.entry_id, "tracking_number": number}
        )
    # Additions during the cooldown share one refresh.
    await advance(hass, freezer, timedelta(seconds=11))

    assert len(entry.subentries) == 200
    assert entry.runtime_data is coordinator
    assert len(coordinator.data) == 200
    assert all(state.shipment is not None for state in coordinator.data.values())
    assert hass.states.get("sensor.parcel_handoff_active_shipments").state == "200"
    assert len(er.async_entries_for_config_entry(entity_registry, entry.entry_id)) == 601
    # Ten numbers a Cainiao request: 20 requests for 200 numbers, and a few for the
    # refresh that ran right away for the first one.
    assert 20 <= server.requests["cainiao"] <= 22

    server.reset_stats()
    await _call(hass, "refresh", {"config_entry_id": entry.entry_id})
    assert server.requests == {"cainiao": 20}

    server.reset_stats()
    await coordinator.async_refresh()
    assert server.requests == {}

    for number in numbers:
        await _call(
            hass, "remove_shipment", {"config_entry_id": entry.entry_id, "tracking_number": number}
        )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.subentries == {}
    assert coordinator.data == {}
    assert len(er.async_entries_for_config_entry(entity_registry, entry.entry_id)) == 1
