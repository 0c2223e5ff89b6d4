"""The coordinator over simulated days: due checks, batching, handoffs, errors, backoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.update_coordinator import UpdateFailed
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.parcel_handoff import coordinator as coordinator_module
from custom_components.parcel_handoff.const import (
    CONF_AFTERSHIP_API_KEY,
    CONF_KEEP_DELIVERED_DAYS,
    CONF_SEVENTEEN_TRACK_API_KEY,
    CONF_USPS_CLIENT_SECRET,
    DOMAIN,
    MAX_UPDATE_INTERVAL,
)
from custom_components.parcel_handoff.coordinator import (
    endpoint_overrides,
    error_key,
    make_update_failed,
)
from custom_components.parcel_handoff.tracking.errors import (
    TrackingAuthenticationError,
    TrackingConnectionError,
    TrackingInvalidResponseError,
    TrackingNotFoundError,
    TrackingQuotaExceededError,
    TrackingRateLimitError,
    TrackingResponseTooLargeError,
    TrackingTimeoutError,
)
from custom_components.parcel_handoff.tracking.model import Source, Stage
from custom_components.parcel_handoff.tracking.policy import STAGE_INTERVALS
from tests.carrier_server import CarrierServer, parse_journey

from .conftest import (
    CAINIAO_NUMBER,
    CREDENTIALS,
    CUSTOMS_NUMBER,
    DELIVERED_NUMBER,
    OPTIONS,
    SUBENTRY_ID,
    USPS_LOCAL_NUMBER,
    advance,
    make_entry,
    setup_entry,
    shipment_subentry,
    travel,
)

STAGE = "sensor.phone_case_stage"


def _asked(server: CarrierServer, source: str, number: str) -> bool:
    """Whether `source` received a request about `number` (path, query or body)."""
    return any(
        number in f"{record.path} {record.query} {record.body}"
        for record in server.state.log
        if record.source == source
    )


async def test_journey_over_days(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    carrier_server: CarrierServer,
    freezer: FrozenDateTimeFactory,
) -> None:
    """From the sorting center to the mailbox, following the handoff to USPS."""
    server = carrier_server.state
    seen: list[str] = []

    def record() -> None:
        if (state := hass.states.get(STAGE).state) not in seen[-1:]:
            seen.append(state)

    record()
    refreshes = await travel(
        hass, freezer, init_integration, datetime(2025, 4, 12, tzinfo=UTC), on_refresh=record
    )

    assert seen == [
        "origin_processing",
        "in_transit",
        "customs",
        "last_mile",
        "out_for_delivery",
        "delivered",
    ]
    attributes = hass.states.get(STAGE).attributes
    assert attributes["local_carrier"] == "USPS"
    assert attributes["local_tracking_number"] == USPS_LOCAL_NUMBER
    assert attributes["origin_carrier"] == "Cainiao"
    assert attributes["carrier"] == "USPS"
    assert attributes["next_check"] is None  # delivered and confirmed: polling stopped
    # USPS was asked only about the local number, and only after the handoff.
    usps = [r for r in server.log if r.source == "usps" and "/oauth2/" not in r.path]
    assert all(USPS_LOCAL_NUMBER in str(r.body) and CAINIAO_NUMBER not in str(r.body) for r in usps)
    first_usps = min(r.loop_time for r in usps)
    assert datetime.fromtimestamp(first_usps, UTC) > datetime(2025, 4, 7, 16, 30, tzinfo=UTC)
    # The policy's pace, not a fixed interval: about a hundred and fifty looks in 9 days.
    assert 100 < refreshes < 250
    assert init_integration.runtime_data.update_interval == MAX_UPDATE_INTERVAL

    # Nothing is due any more: a refresh sends no request at all.
    server.reset_stats()
    await init_integration.runtime_data.async_refresh()
    await advance(hass, freezer, timedelta(days=2))
    assert sum(server.requests.values()) == 0


async def test_nothing_due_sends_nothing(
    hass: HomeAssistant, init_integration: MockConfigEntry, carrier_server: CarrierServer
) -> None:
    """Right after a check, a refresh asks nobody; the interval is the time to the next check."""
    coordinator = init_integration.runtime_data
    assert carrier_server.state.requests == {"cainiao": 1}
    # Origin processing: look again at the stage's interval (within the refresh bounds).
    assert coordinator.update_interval == min(
        STAGE_INTERVALS[Stage.ORIGIN_PROCESSING], MAX_UPDATE_INTERVAL
    )
    await coordinator.async_refresh()
    assert carrier_server.state.requests == {"cainiao": 1}


async def test_one_batched_request_per_source(
    hass: HomeAssistant, carrier_server: CarrierServer
) -> None:
    """Every due number of a source goes in one call; each source once."""
    numbers = [f"LP00755{index:09d}" for index in range(12)]
    entry = make_entry(
        carrier_server,
        subentries=[shipment_subentry(number) for number in numbers]
        + [shipment_subentry(DELIVERED_NUMBER)],
    )
    await setup_entry(hass, entry)

    # Cainiao takes ten numbers a request: two requests for twelve numbers.
    assert carrier_server.state.paths["/global/detail.json"] == 2
    assert carrier_server.state.requests["usps"] >= 1
    assert all(
        hass.states.get(f"sensor.{number.lower()}_stage").state == "not_found" for number in numbers
    )
    assert hass.states.get(f"sensor.{DELIVERED_NUMBER}_stage").state == "delivered"


async def test_failing_source_does_not_block_others(
    hass: HomeAssistant, carrier_server: CarrierServer, freezer: FrozenDateTimeFactory
) -> None:
    """Cainiao fails: its shipment keeps its last state, USPS keeps tracking, then it recovers."""
    entry = make_entry(
        carrier_server,
        subentries=[
            shipment_subentry(CAINIAO_NUMBER, title="Phone case", subentry_id=SUBENTRY_ID),
            shipment_subentry(USPS_LOCAL_NUMBER, title="Lamp"),
        ],
    )
    await setup_entry(hass, entry)
    coordinator = entry.runtime_data
    server = carrier_server.state
    server.add_fault("server_error", source="cainiao", times=None)
    server.reset_stats()

    await coordinator.async_check_now()

    assert server.requests["cainiao"] == 1
    assert server.requests["usps"] >= 1
    assert hass.states.get(STAGE).state == "origin_processing"  # the last good state stays
    assert hass.states.get("sensor.lamp_stage").state == "not_found"
    health = coordinator.health[Source.CAINIAO]
    assert health.consecutive_errors == 1
    assert health.last_error == "connection"
    assert health.retry_at == dt_util.utcnow() + timedelta(minutes=5)
    assert coordinator.data[SUBENTRY_ID].errors == {"cainiao": "connection"}
    assert coordinator.last_update_success

    # While resting, a forced check does not ask Cainiao again.
    await coordinator.async_check_now([SUBENTRY_ID])
    assert server.requests["cainiao"] == 1

    server.clear_faults()
    await advance(hass, freezer, timedelta(minutes=31))
    await coordinator.async_check_now([SUBENTRY_ID])
    assert server.requests["cainiao"] == 2
    assert health.consecutive_errors == 0
    assert health.last_error is None
    assert coordinator.data[SUBENTRY_ID].errors == {}


@pytest.mark.parametrize(
    ("fault", "options", "error", "rest"),
    [
        ("rate_limit", {"retry_after": "900"}, "rate_limited", timedelta(seconds=900)),
        (
            "rate_limit",
            {"retry_after": "Fri, 01 Jan 2099 00:00:00 GMT"},
            "rate_limited",
            timedelta(hours=6),
        ),
        ("html_block", {}, "blocked", timedelta(hours=6)),
        ("truncated_json", {}, "invalid_response", timedelta(minutes=5)),
        ("oversized", {}, "too_large", timedelta(minutes=5)),
    ],
)
async def test_backoff(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    carrier_server: CarrierServer,
    fault: str,
    options: dict[str, str],
    error: str,
    rest: timedelta,
) -> None:
    """A rate limit rests as long as the source asks (6 h at most); a block page for hours.

    Whatever the fault, the last good answer stays on the entities.
    """
    coordinator = init_integration.runtime_data
    carrier_server.state.add_fault(fault, source="cainiao", **options)
    await coordinator.async_check_now()
    assert hass.states.get(STAGE).state == "origin_processing"

    health = coordinator.health[Source.CAINIAO]
    assert health.last_error == error
    assert health.retry_at == dt_util.utcnow() + rest
    # The next refresh waits for the source, within the coordinator's bounds.
    stage_interval = STAGE_INTERVALS[Stage.ORIGIN_PROCESSING]
    assert coordinator.update_interval == min(max(rest, stage_interval), MAX_UPDATE_INTERVAL)


async def test_unavailable_until_first_answer(
    hass: HomeAssistant, carrier_server: CarrierServer, freezer: FrozenDateTimeFactory
) -> None:
    """With no data ever and every source failing, set-up is retried; then it recovers."""
    carrier_server.state.add_fault("server_error", source="cainiao", times=None)
    entry = make_entry(carrier_server)
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY

    carrier_server.state.clear_faults()
    await advance(hass, freezer, timedelta(minutes=6))
    assert entry.state is ConfigEntryState.LOADED
    assert hass.states.get(STAGE).state == "origin_processing"


async def test_new_shipment_unavailable_while_its_source_fails(
    hass: HomeAssistant, init_integration: MockConfigEntry, carrier_server: CarrierServer
) -> None:
    """A shipment no source has answered for yet is unavailable; others are not."""
    carrier_server.state.add_fault("server_error", source="usps", times=None)
    await hass.services.async_call(
        DOMAIN,
        "add_shipment",
        {"config_entry_id": init_integration.entry_id, "tracking_number": USPS_LOCAL_NUMBER},
        blocking=True,
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(f"sensor.{USPS_LOCAL_NUMBER}_stage").state == STATE_UNAVAILABLE
    assert hass.states.get(f"binary_sensor.{USPS_LOCAL_NUMBER}_needs_attention").state == (
        STATE_UNAVAILABLE
    )
    assert hass.states.get(STAGE).state == "origin_processing"
    assert hass.states.get("sensor.parcel_handoff_active_shipments").state == "2"


async def test_rejected_key_starts_reauth_and_others_keep_going(
    hass: HomeAssistant, carrier_server: CarrierServer
) -> None:
    """USPS rejects its key: reauth starts, USPS rests, Cainiao keeps tracking."""
    entry = make_entry(
        carrier_server,
        credentials={**CREDENTIALS, CONF_USPS_CLIENT_SECRET: "revoked"},
        subentries=[
            shipment_subentry(CAINIAO_NUMBER, title="Phone case", subentry_id=SUBENTRY_ID),
            shipment_subentry(DELIVERED_NUMBER, title="Books"),
        ],
    )
    await setup_entry(hass, entry)
    coordinator = entry.runtime_data

    assert entry.state is ConfigEntryState.LOADED
    assert [
        flow["context"]["source"] for flow in entry.async_get_active_flows(hass, {"reauth"})
    ] == ["reauth"]
    assert coordinator.health[Source.USPS].auth_failed
    assert hass.states.get(STAGE).state == "origin_processing"
    assert hass.states.get("sensor.books_stage").state == STATE_UNAVAILABLE

    usps_requests = carrier_server.state.requests["usps"]
    await coordinator.async_check_now()
    assert carrier_server.state.requests["usps"] == usps_requests
    assert carrier_server.state.requests["cainiao"] == 2


async def test_local_number_followed_by_17track_without_usps_key(
    hass: HomeAssistant,
    carrier_server: CarrierServer,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Without a USPS key, 17TRACK follows the local number (else AfterShip)."""
    entry = make_entry(
        carrier_server,
        credentials={CONF_SEVENTEEN_TRACK_API_KEY: CREDENTIALS[CONF_SEVENTEEN_TRACK_API_KEY]},
    )
    freezer.move_to(datetime(2025, 4, 8, tzinfo=UTC))
    await setup_entry(hass, entry)

    legs = entry.runtime_data.data[SUBENTRY_ID].legs
    assert [(leg.source, leg.number, leg.superseded) for leg in legs] == [
        (Source.CAINIAO, CAINIAO_NUMBER, True),
        (Source.SEVENTEEN_TRACK, USPS_LOCAL_NUMBER, False),
    ]
    # Followed in the same refresh as the handoff was found.
    assert _asked(carrier_server, "17track", USPS_LOCAL_NUMBER)


async def test_local_number_followed_by_aftership(
    hass: HomeAssistant, carrier_server: CarrierServer, freezer: FrozenDateTimeFactory
) -> None:
    """AfterShip is the last resort for the local number."""
    entry = make_entry(
        carrier_server,
        credentials={CONF_AFTERSHIP_API_KEY: CREDENTIALS[CONF_AFTERSHIP_API_KEY]},
    )
    freezer.move_to(datetime(2025, 4, 8, tzinfo=UTC))
    await setup_entry(hass, entry)

    legs = entry.runtime_data.data[SUBENTRY_ID].legs
    assert legs[1].source is Source.AFTERSHIP
    assert _asked(carrier_server, "aftership", USPS_LOCAL_NUMBER)


async def test_local_number_not_followed_without_a_source(
    hass: HomeAssistant, carrier_server: CarrierServer, freezer: FrozenDateTimeFactory
) -> None:
    """With Cainiao only, the handoff is known but the origin leg stays the only one."""
    entry = make_entry(carrier_server, credentials={})
    freezer.move_to(datetime(2025, 4, 8, tzinfo=UTC))
    await setup_entry(hass, entry)

    legs = entry.runtime_data.data[SUBENTRY_ID].legs
    assert [(leg.source, leg.superseded) for leg in legs] == [(Source.CAINIAO, False)]
    assert hass.states.get(STAGE).attributes["local_tracking_number"] == USPS_LOCAL_NUMBER


async def test_delivered_shipments_removed_after_keep_days(
    hass: HomeAssistant, carrier_server: CarrierServer, device_registry: dr.DeviceRegistry
) -> None:
    """Keep delivered shipments N days, then remove them with their device."""
    entry = make_entry(
        carrier_server,
        options={**OPTIONS, CONF_KEEP_DELIVERED_DAYS: 7},
        subentries=[
            shipment_subentry(DELIVERED_NUMBER, title="Books"),
            shipment_subentry(CUSTOMS_NUMBER, title="Charger"),
        ],
    )
    await setup_entry(hass, entry)
    await hass.async_block_till_done(wait_background_tasks=True)

    assert [sub.title for sub in entry.subentries.values()] == ["Charger"]
    assert hass.states.get("sensor.books_stage") is None
    assert len(dr.async_entries_for_config_entry(device_registry, entry.entry_id)) == 2
    assert list(entry.runtime_data.data) == list(entry.subentries)


async def test_restart_retries_failed_checks_at_once(
    hass: HomeAssistant, init_integration: MockConfigEntry, carrier_server: CarrierServer
) -> None:
    """A check that failed in the last run is retried on the next start."""
    entry = init_integration
    carrier_server.state.add_fault("server_error", source="cainiao")
    await entry.runtime_data.async_check_now()
    assert entry.runtime_data.data[SUBENTRY_ID].errors == {"cainiao": "connection"}

    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.runtime_data.data[SUBENTRY_ID].errors == {}
    assert carrier_server.state.requests["cainiao"] == 3


@pytest.mark.parametrize(
    ("error", "key"),
    [
        (TrackingAuthenticationError("x"), "authentication"),
        (TrackingRateLimitError("x", retry_after=3), "rate_limited"),
        (TrackingQuotaExceededError("x"), "quota_exhausted"),
        (TrackingInvalidResponseError("x", blocked=True), "blocked"),
        (TrackingInvalidResponseError("x"), "invalid_response"),
        (TrackingResponseTooLargeError("x"), "too_large"),
        (TrackingTimeoutError("x"), "timeout"),
        (TrackingNotFoundError("x"), "not_found"),
        (TrackingConnectionError("x"), "connection"),
    ],
)
def test_error_keys(error: Exception, key: str) -> None:
    """Every engine error has a stable key."""
    assert error_key(error) == key  # type: ignore[arg-type]


async def test_quota_exhausted_rests_long(
    hass: HomeAssistant, carrier_server: CarrierServer
) -> None:
    """17TRACK out of registrations: that source rests for hours, Cainiao goes on."""
    carrier_server.state.seventeen_track_quota_used = (
        carrier_server.state.seventeen_track_quota_total
    )
    entry = make_entry(
        carrier_server,
        credentials={CONF_SEVENTEEN_TRACK_API_KEY: CREDENTIALS[CONF_SEVENTEEN_TRACK_API_KEY]},
        subentries=[
            shipment_subentry(CAINIAO_NUMBER, title="Phone case", subentry_id=SUBENTRY_ID),
            shipment_subentry("UA123456785US", title="Socks", carrier="17track"),
        ],
    )
    await setup_entry(hass, entry)
    health = entry.runtime_data.health[Source.SEVENTEEN_TRACK]
    assert health.last_error == "quota_exhausted"
    assert health.retry_at == dt_util.utcnow() + timedelta(hours=6)
    assert hass.states.get(STAGE).state == "origin_processing"


def test_update_failed_shim(monkeypatch: pytest.MonkeyPatch) -> None:
    """retry_after goes to UpdateFailed only where Home Assistant takes it (2025.12+)."""
    plain = make_update_failed(
        translation_domain=DOMAIN, translation_key="update_failed", retry_after=30
    )
    assert isinstance(plain, UpdateFailed)
    assert plain.translation_key == "update_failed"

    class NewUpdateFailed(UpdateFailed):
        def __init__(
            self, *args: object, retry_after: float | None = None, **kwargs: object
        ) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            self.retry_after = retry_after

    monkeypatch.setattr(coordinator_module, "UpdateFailed", NewUpdateFailed)
    monkeypatch.setattr(coordinator_module, "_UPDATE_FAILED_RETRY", True)
    newer = make_update_failed(translation_domain=DOMAIN, translation_key="x", retry_after=30)
    assert isinstance(newer, NewUpdateFailed)
    assert newer.retry_after == 30
    assert make_update_failed(translation_key="x").retry_after is None  # type: ignore[attr-defined]


def test_endpoint_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    """The env var points sources elsewhere; the entry's own endpoints win."""
    monkeypatch.setenv(
        "PARCEL_HANDOFF_ENDPOINTS",
        "cainiao=http://127.0.0.1:1, usps = http://127.0.0.1:2 ,nowhere=http://x,broken",
    )
    assert endpoint_overrides({"endpoints": {"usps": "http://127.0.0.1:3", "other": "y"}}) == {
        Source.CAINIAO: "http://127.0.0.1:1",
        Source.USPS: "http://127.0.0.1:3",
    }
    monkeypatch.delenv("PARCEL_HANDOFF_ENDPOINTS")
    assert endpoint_overrides({}) == {}


async def test_carrier_named_before_its_number_is_not_asked_about_ours(
    hass: HomeAssistant, carrier_server: CarrierServer, freezer: FrozenDateTimeFactory
) -> None:
    """Cainiao names USPS before it has the USPS number: USPS is not asked about an LP number."""
    number = "LP00799911122233"
    carrier_server.state.add_journeys(
        [
            parse_journey(
                {
                    "name": "usps_named_early",
                    "description": "Cainiao names USPS at import customs, no new number yet",
                    "tracks": [
                        {
                            "source": "cainiao",
                            "number": number,
                            "header": {
                                "destCountry": "United States",
                                "mailNoSource": "AE",
                                "destCpInfo": {"cpName": "USPS"},
                            },
                            "events": [
                                {
                                    "at": "2025-04-08T09:00:00-07:00",
                                    "event": {
                                        "standerdDesc": "Arrived at linehaul office",
                                        "timeZone": "GMT-7",
                                        "actionCode": "LH_ARRIVE",
                                    },
                                }
                            ],
                        }
                    ],
                }
            )
        ]
    )
    freezer.move_to(datetime(2025, 4, 8, 18, tzinfo=UTC))
    entry = make_entry(carrier_server, subentries=[shipment_subentry(number)])
    await setup_entry(hass, entry)

    state = hass.states.get(f"sensor.{number.lower()}_stage")
    assert state.state == "customs"
    assert state.attributes["local_carrier"] == "USPS"
    polled = set(carrier_server.state.polls)
    assert ("cainiao", number) in polled
    assert ("usps", number) not in polled
    assert carrier_server.state.requests["usps"] == 0
    # 17TRACK can follow any number: it takes the local leg instead.
    assert carrier_server.state.requests["17track"] > 0
