"""Actions: add, remove and check shipments, and read every merged timeline."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from homeassistant.config_entries import ConfigEntryState, ConfigSubentry
from homeassistant.const import CONF_NAME
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
import voluptuous as vol

from .config_flow import ShipmentInput, shipment_data, shipment_title, validate_shipment
from .const import (
    ATTR_CONFIG_ENTRY_ID,
    CARRIER_AUTO,
    CONF_CARRIER,
    CONF_ORDER_NUMBER,
    CONF_TRACKING_NUMBER,
    DOMAIN,
    SERVICE_ADD_SHIPMENT,
    SERVICE_GET_SHIPMENTS,
    SERVICE_REFRESH,
    SERVICE_REMOVE_SHIPMENT,
    SUBENTRY_SHIPMENT,
)
from .coordinator import ParcelHandoffConfigEntry, ShipmentState
from .tracking.carriers import carrier_display_name
from .tracking.detection import normalize_tracking_number
from .tracking.errors import InvalidTrackingNumberError
from .tracking.model import Source
from .tracking.serialize import event_to_dict

CARRIER_CHOICES = [CARRIER_AUTO, *(source.value for source in Source)]

ADD_SHIPMENT_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string,
        vol.Required(CONF_TRACKING_NUMBER): cv.string,
        vol.Optional(CONF_NAME): cv.string,
        vol.Optional(CONF_ORDER_NUMBER): cv.string,
        vol.Optional(CONF_CARRIER, default=CARRIER_AUTO): vol.In(CARRIER_CHOICES),
    }
)
REMOVE_SHIPMENT_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string,
        vol.Required(CONF_TRACKING_NUMBER): cv.string,
    }
)
REFRESH_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string,
        vol.Optional(CONF_TRACKING_NUMBER): cv.string,
    }
)
GET_SHIPMENTS_SCHEMA = vol.Schema({vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string})


def _loaded_entry(call: ServiceCall) -> ParcelHandoffConfigEntry:
    """The action's config entry, which must be ours and loaded."""
    entry_id = call.data[ATTR_CONFIG_ENTRY_ID]
    entry: ParcelHandoffConfigEntry | None = call.hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_found",
            translation_placeholders={"entry_id": entry_id},
        )
    if entry.state is not ConfigEntryState.LOADED:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_loaded",
            translation_placeholders={"title": entry.title},
        )
    return entry


def _normalized(raw: str) -> str:
    try:
        return normalize_tracking_number(raw)
    except InvalidTrackingNumberError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key=f"tracking_number_{err.reason}",
            translation_placeholders={"tracking_number": raw},
        ) from err


def _subentry_for(entry: ParcelHandoffConfigEntry, raw: str) -> ConfigSubentry:
    """The shipment subentry of a tracking number, as typed by a person."""
    number = _normalized(raw)
    for subentry in entry.subentries.values():
        if subentry.subentry_type == SUBENTRY_SHIPMENT and number in (
            subentry.unique_id,
            subentry.data.get(CONF_TRACKING_NUMBER),
        ):
            return subentry
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="shipment_not_found",
        translation_placeholders={"tracking_number": number},
    )


async def _async_add_shipment(call: ServiceCall) -> ServiceResponse:
    entry = _loaded_entry(call)
    shipment, error = validate_shipment(
        entry,
        ShipmentInput(
            tracking_number=call.data[CONF_TRACKING_NUMBER],
            name=call.data.get(CONF_NAME),
            order_number=call.data.get(CONF_ORDER_NUMBER),
            carrier=call.data[CONF_CARRIER],
        ),
    )
    if error is not None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key=error.key,
            translation_placeholders=error.placeholders,
        )
    assert shipment is not None
    subentry = ConfigSubentry(
        data=MappingProxyType(shipment_data(shipment)),
        subentry_type=SUBENTRY_SHIPMENT,
        title=shipment_title(shipment),
        unique_id=shipment.tracking_number,
    )
    call.hass.config_entries.async_add_subentry(entry, subentry)
    # An automation has nobody to ask "is this a typo?": the response says so instead.
    return {
        "subentry_id": subentry.subentry_id,
        "tracking_number": shipment.tracking_number,
        "carrier": carrier_display_name(shipment.candidates[0].carrier),
        "check_digit_matches": not shipment.mistyped,
    }


async def _async_remove_shipment(call: ServiceCall) -> None:
    entry = _loaded_entry(call)
    subentry = _subentry_for(entry, call.data[CONF_TRACKING_NUMBER])
    call.hass.config_entries.async_remove_subentry(entry, subentry.subentry_id)


async def _async_refresh(call: ServiceCall) -> None:
    entry = _loaded_entry(call)
    wanted = None
    if CONF_TRACKING_NUMBER in call.data:
        wanted = [_subentry_for(entry, call.data[CONF_TRACKING_NUMBER]).subentry_id]
    await entry.runtime_data.async_check_now(wanted)


def shipment_response(state: ShipmentState) -> dict[str, Any]:
    """One shipment with its full merged timeline, JSON-ready."""
    shipment = state.shipment
    config = state.config
    attention = shipment.attention if shipment else None
    eta = shipment.eta if shipment else None
    next_check = state.next_check
    return {
        "subentry_id": config.shipment_id,
        "name": config.title,
        "tracking_number": config.tracking_number,
        "order_number": config.order_number,
        "stage": shipment.stage.value if shipment else None,
        "carrier": shipment.carrier if shipment else None,
        "origin_carrier": shipment.origin_carrier if shipment else None,
        "local_carrier": shipment.local_carrier if shipment else None,
        "local_tracking_number": shipment.local_tracking_number if shipment else None,
        "stage_since": shipment.stage_since.isoformat()
        if shipment and shipment.stage_since
        else None,
        "attention": None
        if attention is None
        else {
            "reason": attention.reason.value,
            "action": attention.action.value,
            "since": attention.since.isoformat(),
        },
        "eta_earliest": eta.earliest.isoformat() if eta and eta.earliest else None,
        "eta_latest": eta.latest.isoformat() if eta and eta.latest else None,
        "next_check": next_check.isoformat() if next_check else None,
        "events": [event_to_dict(event) for event in (shipment.events if shipment else ())],
    }


async def _async_get_shipments(call: ServiceCall) -> ServiceResponse:
    entry = _loaded_entry(call)
    states = entry.runtime_data.data.values()
    return {"shipments": [shipment_response(state) for state in states]}


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_ADD_SHIPMENT,
        _async_add_shipment,
        schema=ADD_SHIPMENT_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN, SERVICE_REMOVE_SHIPMENT, _async_remove_shipment, schema=REMOVE_SHIPMENT_SCHEMA
    )
    hass.services.async_register(DOMAIN, SERVICE_REFRESH, _async_refresh, schema=REFRESH_SCHEMA)
    hass.services.async_register(
        DOMAIN,
        SERVICE_GET_SHIPMENTS,
        _async_get_shipments,
        schema=GET_SHIPMENTS_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
