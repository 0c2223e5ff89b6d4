"""Fixtures of the integration tests: the carrier server, config entries, set-up."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Generator
from datetime import UTC, datetime, timedelta
import logging
import math
from types import MappingProxyType
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigSubentry, ConfigSubentryData
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.parcel_handoff.const import (
    CARRIER_AUTO,
    CONF_AFTERSHIP_API_KEY,
    CONF_CARRIER,
    CONF_ENDPOINTS,
    CONF_KEEP_DELIVERED_DAYS,
    CONF_ORDER_NUMBER,
    CONF_SENSITIVITY,
    CONF_SEVENTEEN_TRACK_API_KEY,
    CONF_SPEED,
    CONF_TRACKING_NUMBER,
    CONF_USPS_CLIENT_ID,
    CONF_USPS_CLIENT_SECRET,
    DOMAIN,
    ENV_ENDPOINTS,
    SUBENTRY_SHIPMENT,
)
from custom_components.parcel_handoff.tracking.clients import seventeen_track
from custom_components.parcel_handoff.tracking.model import Source
from tests.carrier_server import (
    DEFAULT_CREDENTIALS,
    JOURNEYS_DIR,
    CarrierServer,
    ServerState,
    load_journeys,
    running_carrier_server,
)

# Journey 1: Cainiao hands the parcel to USPS under a new number.
CAINIAO_NUMBER = "LP00719238465102"
USPS_LOCAL_NUMBER = "9400136205832451786015"
# Journey 2: stuck in customs (Cainiao and 17TRACK).
CUSTOMS_NUMBER = "LP00724415530918"
# Journey 3: USPS out for delivery (USPS and AfterShip).
OUT_FOR_DELIVERY_NUMBER = "9205590164917312751089"
# Journey 4: USPS delivered.
DELIVERED_NUMBER = "9361289876700312348894"
# Journey 5: a number nobody knows.
UNKNOWN_NUMBER = "LP00738472910556"

ENTRY_ID = "01JPARCELHANDOFFENTRY00000"
SUBENTRY_ID = "01JPARCELHANDOFFSHIPMENT01"

CREDENTIALS: dict[str, str] = {
    CONF_USPS_CLIENT_ID: DEFAULT_CREDENTIALS["usps_client_id"],
    CONF_USPS_CLIENT_SECRET: DEFAULT_CREDENTIALS["usps_client_secret"],
    CONF_SEVENTEEN_TRACK_API_KEY: DEFAULT_CREDENTIALS["seventeen_track_key"],
    CONF_AFTERSHIP_API_KEY: DEFAULT_CREDENTIALS["aftership_key"],
}
OPTIONS: dict[str, Any] = {
    CONF_SPEED: "normal",
    CONF_SENSITIVITY: "normal",
    CONF_KEEP_DELIVERED_DAYS: 0,
}

# Mid-journey for journey 1: picked up in Yiwu, in a sorting center.
START = datetime(2025, 4, 3, 4, 0, tzinfo=UTC)

_DEPRECATION_MARKERS = (
    "Detected that custom integration",
    "Detected code that",
    "will stop working in Home Assistant",
)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/parcel_handoff."""


@pytest.fixture(autouse=True)
def fail_on_ha_deprecations(caplog: pytest.LogCaptureFixture) -> Generator[None]:
    """Fail on Home Assistant's deprecation warnings: 2026.x turns most into errors."""
    yield
    bad = [
        record.getMessage()
        for record in caplog.get_records("call")
        if record.levelno >= logging.WARNING
        and any(marker in record.getMessage() for marker in _DEPRECATION_MARKERS)
    ]
    assert not bad, "HA deprecation warnings (become errors in 2026.x):\n" + "\n".join(bad)


@pytest.fixture(autouse=True)
def unthrottled_17track(monkeypatch: pytest.MonkeyPatch) -> None:
    """No spacing between 17TRACK requests: the frozen clock would never let one pass."""
    monkeypatch.setattr(seventeen_track, "MAX_REQUESTS_PER_SECOND", math.inf)


@pytest.fixture
def start_time(freezer: FrozenDateTimeFactory) -> datetime:
    """Freeze the clock at START (the server follows the frozen clock too)."""
    freezer.move_to(START)
    return START


@pytest.fixture
async def carrier_server(
    start_time: datetime, socket_enabled: None
) -> AsyncIterator[CarrierServer]:
    """The local carrier server with every journey, over real HTTP."""
    state = ServerState(journeys=load_journeys(JOURNEYS_DIR))
    async with running_carrier_server(state) as server:
        yield server


def endpoints(server: CarrierServer) -> dict[str, str]:
    """Every source pointed at the carrier server."""
    return {source.value: server.base_url for source in Source}


def shipment_subentry(
    number: str,
    *,
    title: str | None = None,
    subentry_id: str | None = None,
    carrier: str = CARRIER_AUTO,
    **extra: Any,
) -> ConfigSubentryData:
    """The subentry data of a shipment, as the flow stores it."""
    data: dict[str, Any] = {
        "data": {CONF_TRACKING_NUMBER: number, CONF_CARRIER: carrier, **extra},
        "subentry_type": SUBENTRY_SHIPMENT,
        "title": title or number,
        "unique_id": number,
    }
    if subentry_id is not None:
        data["subentry_id"] = subentry_id
    return ConfigSubentryData(**data)  # type: ignore[typeddict-item]


def make_entry(
    server: CarrierServer,
    *,
    credentials: dict[str, str] | None = None,
    subentries: list[ConfigSubentryData] | None = None,
    options: dict[str, Any] | None = None,
) -> MockConfigEntry:
    """A Parcel Handoff entry whose sources all point at the carrier server."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Parcel Handoff",
        entry_id=ENTRY_ID,
        data={
            **(CREDENTIALS if credentials is None else credentials),
            CONF_ENDPOINTS: endpoints(server),
        },
        options=OPTIONS if options is None else options,
        subentries_data=subentries
        if subentries is not None
        else [
            shipment_subentry(
                CAINIAO_NUMBER,
                title="Phone case",
                subentry_id=SUBENTRY_ID,
                **{CONF_ORDER_NUMBER: "8190123456789012"},
            )
        ],
    )


@pytest.fixture
def mock_config_entry(carrier_server: CarrierServer) -> MockConfigEntry:
    """The entry: every source keyed, one shipment (journey 1)."""
    return make_entry(carrier_server)


async def setup_entry(hass: HomeAssistant, entry: MockConfigEntry) -> MockConfigEntry:
    """Add the entry to Home Assistant and set it up."""
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


@pytest.fixture
async def init_integration(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> MockConfigEntry:
    """The entry, set up."""
    return await setup_entry(hass, mock_config_entry)


def add_subentry(hass: HomeAssistant, entry: MockConfigEntry, data: ConfigSubentryData) -> str:
    """Add a shipment subentry to a set-up entry, as the flow would."""
    subentry = ConfigSubentry(
        data=MappingProxyType(data["data"]),
        subentry_type=data["subentry_type"],
        title=data["title"],
        unique_id=data["unique_id"],
    )
    hass.config_entries.async_add_subentry(entry, subentry)
    return subentry.subentry_id


async def advance(hass: HomeAssistant, freezer: FrozenDateTimeFactory, delta: timedelta) -> None:
    """Move the clock and let every timer that fell due run."""
    freezer.tick(delta)
    async_fire_time_changed(hass)
    # Scheduled refreshes run as background tasks: their requests must finish before
    # the clock moves again, or the jump times them out.
    await hass.async_block_till_done(wait_background_tasks=True)


async def travel(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    until: datetime,
    *,
    on_refresh: Callable[[], None] | None = None,
) -> int:
    """Jump from one scheduled refresh to the next until `until`; return the refreshes."""
    refreshes = 0
    while (now := dt_util.utcnow()) < until:
        interval = entry.runtime_data.update_interval
        assert interval is not None
        await advance(hass, freezer, min(interval + timedelta(seconds=1), until - now))
        refreshes += 1
        if on_refresh is not None:
            on_refresh()
    return refreshes


@pytest.fixture
def env_endpoints(monkeypatch: pytest.MonkeyPatch, carrier_server: CarrierServer) -> str:
    """Point every source at the carrier server through the environment (as the demo does)."""
    value = ",".join(f"{source.value}={carrier_server.base_url}" for source in Source)
    monkeypatch.setenv(ENV_ENDPOINTS, value)
    return value


def find_device(
    device_registry: dr.DeviceRegistry, identifier: tuple[str, str], entry_id: str = ENTRY_ID
) -> dr.DeviceEntry | None:
    """A device by identifier, with the lookup each Home Assistant release prefers."""
    if hasattr(device_registry, "async_get_device_by_identifier"):  # 2026.8+
        device: dr.DeviceEntry | None = device_registry.async_get_device_by_identifier(
            identifier, entry_id
        )
        return device
    return device_registry.async_get_device(identifiers={identifier})
