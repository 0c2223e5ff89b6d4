"""The config flow, the shipment subentry flow and the options flow."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_RECONFIGURE, SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.parcel_handoff.config_flow import LOCAL_CARRIERS
from custom_components.parcel_handoff.const import (
    CONF_AFTERSHIP_API_KEY,
    CONF_CARRIER,
    CONF_ENDPOINTS,
    CONF_KEEP_DELIVERED_DAYS,
    CONF_LOCAL_CARRIER,
    CONF_LOCAL_TRACKING_NUMBER,
    CONF_ORDER_NUMBER,
    CONF_SENSITIVITY,
    CONF_SEVENTEEN_TRACK_API_KEY,
    CONF_SPEED,
    CONF_TRACKING_NUMBER,
    CONF_USPS_CLIENT_ID,
    CONF_USPS_CLIENT_SECRET,
    DOMAIN,
    SUBENTRY_SHIPMENT,
)
from custom_components.parcel_handoff.tracking.carriers import carrier_display_name
from tests.carrier_server import CarrierServer, closed_port

from .conftest import (
    CAINIAO_NUMBER,
    CREDENTIALS,
    DELIVERED_NUMBER,
    OPTIONS,
    SUBENTRY_ID,
    USPS_LOCAL_NUMBER,
    find_device,
    make_entry,
    setup_entry,
    travel,
)

pytestmark = pytest.mark.usefixtures("env_endpoints")

MISTYPED_S10 = "RS081439852CN"  # the check digit should be 5


async def _start(hass: HomeAssistant) -> dict[str, Any]:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    return result


async def test_user_flow_without_keys(hass: HomeAssistant) -> None:
    """Set up with no key at all: Cainiao is the default source."""
    result = await _start(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Parcel Handoff"
    assert result["data"] == {}
    assert result["options"] == OPTIONS
    entry = result["result"]
    assert entry.state is ConfigEntryState.LOADED
    assert list(entry.runtime_data.clients) == ["cainiao"]


async def test_user_flow_with_every_key(hass: HomeAssistant, carrier_server: CarrierServer) -> None:
    """Each key is tested against its service before it is saved (blanks trimmed)."""
    result = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {key: f"  {value} " for key, value in CREDENTIALS.items()}
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == CREDENTIALS
    assert carrier_server.state.requests["usps"] >= 1
    assert carrier_server.state.requests["17track"] >= 1
    assert carrier_server.state.requests["aftership"] >= 1


@pytest.mark.parametrize(
    ("field", "error", "prepare"),
    [
        (CONF_USPS_CLIENT_SECRET, "invalid_auth", {CONF_USPS_CLIENT_SECRET: "wrong"}),
        (CONF_SEVENTEEN_TRACK_API_KEY, "invalid_auth", {CONF_SEVENTEEN_TRACK_API_KEY: "wrong"}),
        (CONF_AFTERSHIP_API_KEY, "invalid_auth", {CONF_AFTERSHIP_API_KEY: "wrong"}),
        (CONF_USPS_CLIENT_SECRET, "usps_incomplete", {CONF_USPS_CLIENT_SECRET: ""}),
        (CONF_USPS_CLIENT_ID, "usps_incomplete", {CONF_USPS_CLIENT_ID: ""}),
        (CONF_SEVENTEEN_TRACK_API_KEY, "quota_exhausted", "quota"),
        (CONF_AFTERSHIP_API_KEY, "cannot_connect", "server_error"),
    ],
)
async def test_user_flow_errors_and_recovery(
    hass: HomeAssistant,
    carrier_server: CarrierServer,
    field: str,
    error: str,
    prepare: dict[str, str] | str,
) -> None:
    """A bad credential is named on its field; fixing it saves the entry."""
    user_input = dict(CREDENTIALS)
    if prepare == "quota":
        carrier_server.state.seventeen_track_quota_used = (
            carrier_server.state.seventeen_track_quota_total
        )
    elif prepare == "server_error":
        carrier_server.state.add_fault("server_error", source="aftership", times=None)
    else:
        assert isinstance(prepare, dict)
        user_input.update(prepare)
    result = await _start(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], user_input)

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {field: error}

    carrier_server.state.seventeen_track_quota_used = 0
    carrier_server.state.clear_faults()
    result = await hass.config_entries.flow.async_configure(result["flow_id"], CREDENTIALS)
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == CREDENTIALS


async def test_user_flow_cannot_connect(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A source that cannot be reached at all is "cannot connect"."""
    monkeypatch.setenv("PARCEL_HANDOFF_ENDPOINTS", f"17track=http://127.0.0.1:{closed_port()}")
    result = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_SEVENTEEN_TRACK_API_KEY: "anything"}
    )
    assert result["errors"] == {CONF_SEVENTEEN_TRACK_API_KEY: "cannot_connect"}


async def test_single_instance(hass: HomeAssistant, carrier_server: CarrierServer) -> None:
    """One entry per Home Assistant."""
    make_entry(carrier_server, subentries=[]).add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "single_instance_allowed"


async def test_reconfigure_changes_and_removes_keys(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Reconfigure tests the new keys, keeps the endpoints and reloads once."""
    entry = init_integration
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
    )
    assert result["step_id"] == "reconfigure"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**CREDENTIALS, CONF_AFTERSHIP_API_KEY: "wrong"}
    )
    assert result["errors"] == {CONF_AFTERSHIP_API_KEY: "invalid_auth"}

    keep = {key: CREDENTIALS[key] for key in (CONF_USPS_CLIENT_ID, CONF_USPS_CLIENT_SECRET)}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], keep)
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert set(entry.data) == {CONF_USPS_CLIENT_ID, CONF_USPS_CLIENT_SECRET, CONF_ENDPOINTS}
    assert entry.state is ConfigEntryState.LOADED
    assert sorted(entry.runtime_data.clients) == ["cainiao", "usps"]


async def test_reconfigure_not_loaded_entry(
    hass: HomeAssistant, carrier_server: CarrierServer
) -> None:
    """An entry that is not loaded is updated and set up by the flow itself."""
    entry = make_entry(carrier_server, credentials={}, subentries=[])
    entry.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_SEVENTEEN_TRACK_API_KEY: CREDENTIALS[CONF_SEVENTEEN_TRACK_API_KEY]}
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_SEVENTEEN_TRACK_API_KEY] == CREDENTIALS[CONF_SEVENTEEN_TRACK_API_KEY]
    assert entry.state is ConfigEntryState.LOADED


async def test_reauth(hass: HomeAssistant, carrier_server: CarrierServer) -> None:
    """A source that rejects its key starts reauth; new credentials fix it."""
    entry = make_entry(
        carrier_server,
        credentials={**CREDENTIALS, CONF_USPS_CLIENT_SECRET: "revoked"},
        subentries=[],
    )
    await setup_entry(hass, entry)
    # The USPS key is only tried when a USPS number is due: track one.
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_SHIPMENT), context={"source": SOURCE_USER}
    )
    await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_TRACKING_NUMBER: USPS_LOCAL_NUMBER}
    )
    await hass.async_block_till_done(wait_background_tasks=True)

    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert len(flows) == 1
    flow = flows[0]
    assert flow["context"]["source"] == "reauth"
    assert entry.runtime_data.health["usps"].auth_failed

    result = await hass.config_entries.flow.async_configure(flow["flow_id"])
    assert result["step_id"] == "reauth_confirm"
    assert result["description_placeholders"]["sources"] == "USPS"
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {**CREDENTIALS, CONF_USPS_CLIENT_SECRET: "still wrong"}
    )
    assert result["errors"] == {CONF_USPS_CLIENT_SECRET: "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(flow["flow_id"], CREDENTIALS)
    await hass.async_block_till_done(wait_background_tasks=True)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data[CONF_USPS_CLIENT_SECRET] == CREDENTIALS[CONF_USPS_CLIENT_SECRET]
    assert not entry.runtime_data.health["usps"].auth_failed
    assert hass.states.get(f"sensor.{USPS_LOCAL_NUMBER}_stage").state != "unavailable"


async def test_options_flow(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    """Options are saved and the entry reloads with them."""
    entry = init_integration
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["step_id"] == "init"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_SPEED: "faster", CONF_SENSITIVITY: "strict", CONF_KEEP_DELIVERED_DAYS: 3.0},
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {
        CONF_SPEED: "faster",
        CONF_SENSITIVITY: "strict",
        CONF_KEEP_DELIVERED_DAYS: 3,
    }
    coordinator = entry.runtime_data
    assert (coordinator.speed, coordinator.patience, coordinator.keep_delivered_days) == (
        2.0,
        0.6,
        3,
    )


# --- Shipments ---------------------------------------------------------------------------


async def _reconfigure_shipment(hass: HomeAssistant, entry: MockConfigEntry) -> Any:
    """Start the shipment's reconfigure flow (the same call on every release)."""
    return await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_SHIPMENT),
        context={"source": SOURCE_RECONFIGURE, "subentry_id": SUBENTRY_ID},
    )


async def _add_shipment(
    hass: HomeAssistant, entry: MockConfigEntry, user_input: dict[str, Any]
) -> dict[str, Any]:
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_SHIPMENT), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    return await hass.config_entries.subentries.async_configure(result["flow_id"], user_input)


async def test_add_shipment(
    hass: HomeAssistant, init_integration: MockConfigEntry, device_registry: dr.DeviceRegistry
) -> None:
    """The number is normalised, named and tracked at once, without a reload."""
    entry = init_integration
    coordinator = entry.runtime_data
    result = await _add_shipment(
        hass,
        entry,
        {
            CONF_TRACKING_NUMBER: " 9400 1362 0583 2451 7860 15 ",
            CONF_NAME: " Lamp ",
            CONF_ORDER_NUMBER: "",
            CONF_CARRIER: "auto",
        },
    )
    await hass.async_block_till_done(wait_background_tasks=True)

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Lamp"
    assert result["data"] == {CONF_TRACKING_NUMBER: USPS_LOCAL_NUMBER, CONF_CARRIER: "auto"}
    assert entry.runtime_data is coordinator  # no reload for a new shipment
    subentry = next(s for s in entry.subentries.values() if s.title == "Lamp")
    assert subentry.unique_id == USPS_LOCAL_NUMBER
    device = find_device(device_registry, (DOMAIN, subentry.subentry_id))
    assert device is not None
    assert device.model == "USPS"
    # USPS has no scan of it yet on this date.
    assert hass.states.get("sensor.lamp_stage").state == "not_found"


@pytest.mark.parametrize(
    ("user_input", "errors"),
    [
        ({CONF_TRACKING_NUMBER: "LP0071"}, {CONF_TRACKING_NUMBER: "tracking_number_too_short"}),
        (
            {CONF_TRACKING_NUMBER: "LP0071/9238"},
            {CONF_TRACKING_NUMBER: "tracking_number_invalid_characters"},
        ),
        ({CONF_TRACKING_NUMBER: "  "}, {CONF_TRACKING_NUMBER: "tracking_number_empty"}),
        ({CONF_TRACKING_NUMBER: "x" * 41}, {CONF_TRACKING_NUMBER: "tracking_number_too_long"}),
        ({CONF_TRACKING_NUMBER: CAINIAO_NUMBER.lower()}, {CONF_TRACKING_NUMBER: "already_tracked"}),
        (
            {CONF_TRACKING_NUMBER: "LP00711111111111", CONF_CARRIER: "usps"},
            {CONF_CARRIER: "source_not_configured"},
        ),
    ],
)
async def test_add_shipment_errors(
    hass: HomeAssistant,
    carrier_server: CarrierServer,
    user_input: dict[str, Any],
    errors: dict[str, str],
) -> None:
    """Bad numbers, duplicates and unconfigured sources are refused, then fixed."""
    entry = make_entry(carrier_server, credentials={})
    await setup_entry(hass, entry)
    result = await _add_shipment(hass, entry, user_input)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors

    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_TRACKING_NUMBER: "LP00711111111111", CONF_CARRIER: "cainiao"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_add_shipment_mistyped_check_digit(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """A check digit that does not match asks for confirmation first."""
    result = await _add_shipment(hass, init_integration, {CONF_TRACKING_NUMBER: MISTYPED_S10})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "check_digit"
    assert result["description_placeholders"] == {
        "tracking_number": MISTYPED_S10,
        "formats": "China Post",
    }
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == MISTYPED_S10


async def test_duplicate_refused_by_name(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A number another shipment follows, even as its local number, names that shipment."""
    entry = init_integration
    result = await _add_shipment(hass, entry, {CONF_TRACKING_NUMBER: CAINIAO_NUMBER})
    assert result["errors"] == {CONF_TRACKING_NUMBER: "already_tracked"}
    assert result["description_placeholders"]["name"] == "Phone case"

    # After the handoff, the USPS number Cainiao gave is the same parcel.
    await travel(hass, freezer, entry, datetime(2025, 4, 9, tzinfo=UTC))
    assert hass.states.get("sensor.phone_case_stage").attributes["local_tracking_number"] == (
        USPS_LOCAL_NUMBER
    )
    result = await _add_shipment(hass, entry, {CONF_TRACKING_NUMBER: USPS_LOCAL_NUMBER})
    assert result["errors"] == {CONF_TRACKING_NUMBER: "already_tracked"}
    assert result["description_placeholders"]["name"] == "Phone case"

    # Another shipment's number is not accepted as a local number either.
    result = await _add_shipment(
        hass, entry, {CONF_TRACKING_NUMBER: DELIVERED_NUMBER, CONF_NAME: "Books"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    result = await _reconfigure_shipment(hass, entry)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_LOCAL_TRACKING_NUMBER: DELIVERED_NUMBER}
    )
    assert result["errors"] == {CONF_LOCAL_TRACKING_NUMBER: "already_tracked"}
    assert result["description_placeholders"]["name"] == "Books"
    assert CONF_LOCAL_TRACKING_NUMBER not in entry.subentries[SUBENTRY_ID].data


@pytest.mark.parametrize(
    ("typed", "stored", "suggestion"),
    [
        ("Royal Mail", "Royal Mail", None),
        ("royal mail", "Royal Mail", None),
        ("united states postal service", "USPS", None),
        ("Royal Mial", None, "Royal Mail"),
        ("Posti", "Posti", None),  # a carrier we do not list is taken as typed
    ],
)
async def test_local_carrier_offered_and_checked(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    typed: str,
    stored: str | None,
    suggestion: str | None,
) -> None:
    """The local carrier is chosen from the known ones; a near miss is questioned."""
    entry = init_integration
    result = await _reconfigure_shipment(hass, entry)
    (field,) = [f for f in result["data_schema"].schema if f == CONF_LOCAL_CARRIER]
    selector = result["data_schema"].schema[field].config
    assert "Royal Mail" in selector["options"]
    assert selector["custom_value"] is True
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_LOCAL_CARRIER: typed}
    )
    if stored is None:
        assert result["errors"] == {CONF_LOCAL_CARRIER: "local_carrier_unknown"}
        assert result["description_placeholders"]["suggestion"] == suggestion
    else:
        assert result["type"] is FlowResultType.ABORT
        assert entry.subentries[SUBENTRY_ID].data[CONF_LOCAL_CARRIER] == stored


def test_local_carriers_are_display_names() -> None:
    """Each offered carrier is spelt as the engine spells it, so sources are found."""
    assert all(carrier_display_name(name) == name for name in LOCAL_CARRIERS)


async def test_reconfigure_shipment(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    """Rename, pick a carrier and set the local number by hand; followed in place."""
    entry = init_integration
    coordinator = entry.runtime_data
    result = await _reconfigure_shipment(hass, entry)
    assert result["step_id"] == "reconfigure"
    assert result["description_placeholders"]["tracking_number"] == CAINIAO_NUMBER

    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {CONF_NAME: "Case", CONF_CARRIER: "cainiao", CONF_LOCAL_TRACKING_NUMBER: "94/00"},
    )
    assert result["errors"] == {CONF_LOCAL_TRACKING_NUMBER: "tracking_number_invalid_characters"}

    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            CONF_NAME: "Case",
            CONF_CARRIER: "cainiao",
            CONF_ORDER_NUMBER: "8190",
            CONF_LOCAL_TRACKING_NUMBER: "9400 1362 0583 2451 7860 15",
            CONF_LOCAL_CARRIER: "USPS",
        },
    )
    await hass.async_block_till_done(wait_background_tasks=True)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    subentry = entry.subentries[SUBENTRY_ID]
    assert subentry.title == "Case"
    assert dict(subentry.data) == {
        CONF_TRACKING_NUMBER: CAINIAO_NUMBER,
        CONF_CARRIER: "cainiao",
        CONF_ORDER_NUMBER: "8190",
        CONF_LOCAL_TRACKING_NUMBER: USPS_LOCAL_NUMBER,
        CONF_LOCAL_CARRIER: "USPS",
    }
    # Followed in place: the local number is followed with USPS, without a reload.
    assert entry.runtime_data is coordinator
    legs = entry.runtime_data.data[SUBENTRY_ID].legs
    assert [(leg.source.value, leg.number, leg.superseded) for leg in legs] == [
        ("cainiao", CAINIAO_NUMBER, True),
        ("usps", USPS_LOCAL_NUMBER, False),
    ]
    state = hass.states.get("sensor.phone_case_stage")
    assert state.attributes["local_tracking_number"] == USPS_LOCAL_NUMBER


async def test_reconfigure_shipment_source_not_configured(
    hass: HomeAssistant, carrier_server: CarrierServer
) -> None:
    """A source without credentials cannot be chosen."""
    entry = make_entry(carrier_server, credentials={})
    await setup_entry(hass, entry)
    result = await _reconfigure_shipment(hass, entry)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_CARRIER: "17track"}
    )
    assert result["errors"] == {CONF_CARRIER: "source_not_configured"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_CARRIER: "auto"}
    )
    assert result["reason"] == "reconfigure_successful"
    assert entry.subentries[SUBENTRY_ID].title == CAINIAO_NUMBER
