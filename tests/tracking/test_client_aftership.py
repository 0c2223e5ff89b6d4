"""The AfterShip client (create once, list by number) against the local carrier server."""

from __future__ import annotations

from datetime import UTC, datetime
import itertools
import json
import time

import aiohttp
import pytest

from custom_components.parcel_handoff.tracking.clients import AfterShipClient, Throttle
from custom_components.parcel_handoff.tracking.clients.aftership import TRACKINGS_PATH
from custom_components.parcel_handoff.tracking.clients.base import MAX_RETRY_AFTER
from custom_components.parcel_handoff.tracking.errors import (
    InvalidTrackingNumberError,
    TrackingAuthenticationError,
    TrackingConnectionError,
    TrackingInvalidResponseError,
    TrackingNotFoundError,
    TrackingRateLimitError,
    TrackingTimeoutError,
)
from custom_components.parcel_handoff.tracking.model import Source, SourceSnapshot, Stage
from tests.carrier_server import (
    DEFAULT_CREDENTIALS,
    CarrierServer,
    closed_port,
)
from tests.carrier_server.state import AfterShipTracking

OUT_FOR_DELIVERY = "9205590164917312751089"  # in an AfterShip journey, slug usps
HANDOFF = "9400136205832451786015"  # a USPS number AfterShip has no journey for
UNKNOWN = "LP00738472910556"
KEY = DEFAULT_CREDENTIALS["aftership_key"]


@pytest.fixture
def client(carrier: CarrierServer, session: aiohttp.ClientSession) -> AfterShipClient:
    """An AfterShip client pointed at the carrier server."""
    return AfterShipClient(
        session, KEY, base_url=carrier.base_url, timeout=1.0, throttle=Throttle(0)
    )


def _snapshot(result: object) -> SourceSnapshot:
    assert isinstance(result, SourceSnapshot), result
    return result


def _creates(carrier: CarrierServer) -> list[object]:
    return [r.body for r in carrier.state.requests_to(TRACKINGS_PATH) if r.method == "POST"]


def _lists(carrier: CarrierServer) -> list[dict[str, str]]:
    return [r.query for r in carrier.state.requests_to(TRACKINGS_PATH) if r.method == "GET"]


async def test_creates_once_then_only_lists(
    client: AfterShipClient, carrier: CarrierServer
) -> None:
    """First call: create + list; second call: list only."""
    client.set_slugs({HANDOFF: "usps"})
    results = await client.async_track([OUT_FOR_DELIVERY, HANDOFF])
    tracked = _snapshot(results[OUT_FOR_DELIVERY])
    assert tracked.source is Source.AFTERSHIP
    assert tracked.events[0].stage is Stage.OUT_FOR_DELIVERY
    assert _snapshot(results[HANDOFF]).found is False  # created, nothing known yet
    assert client.created == {OUT_FOR_DELIVERY, HANDOFF}
    await client.async_track([OUT_FOR_DELIVERY, HANDOFF])
    assert _creates(carrier) == [
        {"tracking_number": OUT_FOR_DELIVERY},
        {"tracking_number": HANDOFF, "slug": "usps"},
    ]
    assert (
        _lists(carrier)
        == [
            {"tracking_numbers": f"{OUT_FOR_DELIVERY},{HANDOFF}", "limit": "200"},
        ]
        * 2
    )
    record = carrier.state.requests_to(TRACKINGS_PATH)[0]
    assert record.headers["Content-Type"] == "application/json"


async def test_already_exists_counts_as_created(
    client: AfterShipClient, carrier: CarrierServer
) -> None:
    """Meta code 4003 on create is success: the number is read at once."""
    carrier.state.aftership_trackings[OUT_FOR_DELIVERY] = AfterShipTracking(
        id="abc", number=OUT_FOR_DELIVERY, slug="usps", created_at=datetime(2025, 5, 12, tzinfo=UTC)
    )
    results = await client.async_track([OUT_FOR_DELIVERY])
    assert _snapshot(results[OUT_FOR_DELIVERY]).found
    assert OUT_FOR_DELIVERY in client.created


async def test_seeded_numbers_are_not_created_again(
    carrier: CarrierServer, session: aiohttp.ClientSession
) -> None:
    """Numbers the integration persisted as created are only listed."""
    carrier.state.aftership_trackings[OUT_FOR_DELIVERY] = AfterShipTracking(
        id="abc", number=OUT_FOR_DELIVERY, slug="usps", created_at=datetime(2025, 5, 12, tzinfo=UTC)
    )
    client = AfterShipClient(
        session,
        KEY,
        base_url=carrier.base_url,
        created=[OUT_FOR_DELIVERY.lower()],
        throttle=Throttle(0),
    )
    results = await client.async_track([OUT_FOR_DELIVERY])
    assert _snapshot(results[OUT_FOR_DELIVERY]).found
    assert _creates(carrier) == []


async def test_a_deleted_tracking_is_created_again_next_time(
    carrier: CarrierServer, session: aiohttp.ClientSession
) -> None:
    """A seeded number missing from the account: not found now, created next time."""
    client = AfterShipClient(
        session, KEY, base_url=carrier.base_url, created=[OUT_FOR_DELIVERY], throttle=Throttle(0)
    )
    first = await client.async_track([OUT_FOR_DELIVERY])
    assert isinstance(first[OUT_FOR_DELIVERY], TrackingNotFoundError)
    assert OUT_FOR_DELIVERY not in client.created
    second = await client.async_track([OUT_FOR_DELIVERY])
    assert _snapshot(second[OUT_FOR_DELIVERY]).found
    assert len(_creates(carrier)) == 1


async def test_unrecognised_courier_is_not_found(
    client: AfterShipClient, carrier: CarrierServer
) -> None:
    """4012 (courier not detected) is that number's result; no list request for it."""
    client.set_slugs({UNKNOWN: " ", OUT_FOR_DELIVERY: ""})
    results = await client.async_track([UNKNOWN])
    assert isinstance(results[UNKNOWN], TrackingNotFoundError)
    assert "4012" in str(results[UNKNOWN])
    assert _lists(carrier) == []


async def test_a_rejected_number_format(client: AfterShipClient, carrier: CarrierServer) -> None:
    """4005 is InvalidTrackingNumberError; a meta without a code takes the HTTP status."""
    carrier.state.add_fault(
        "status",
        path=TRACKINGS_PATH,
        status=400,
        body=json.dumps({"meta": {"code": 4005, "message": "invalid"}, "data": {}}),
    )
    carrier.state.add_fault(
        "status", path=TRACKINGS_PATH, status=422, body=json.dumps({"meta": {}, "data": {}})
    )
    results = await client.async_track([UNKNOWN, HANDOFF])
    assert isinstance(results[UNKNOWN], InvalidTrackingNumberError)
    assert "422" in str(results[HANDOFF])


async def test_60_numbers_take_2_list_requests(
    client: AfterShipClient, carrier: CarrierServer
) -> None:
    """Listing is 50 numbers per request."""
    numbers = [f"92055901649173127{n:05d}" for n in range(60)]
    client.set_slugs(dict.fromkeys(numbers, "usps"))
    results = await client.async_track(numbers)
    assert all(_snapshot(results[n]).found is False for n in numbers)
    assert [len(q["tracking_numbers"].split(",")) for q in _lists(carrier)] == [50, 10]


async def test_rate_limit_with_reset_header(
    client: AfterShipClient, carrier: CarrierServer
) -> None:
    """A 429 without Retry-After waits for X-RateLimit-Reset; no further request."""
    reset = int(time.time()) + 30
    carrier.state.add_fault(
        "rate_limit", path=TRACKINGS_PATH, headers={"X-RateLimit-Reset": str(reset)}
    )
    numbers = [OUT_FOR_DELIVERY, *(f"92055901649173127{n:05d}" for n in range(55))]
    results = await client.async_track(numbers)
    error = results[OUT_FOR_DELIVERY]
    assert isinstance(error, TrackingRateLimitError)
    assert error.retry_after is not None
    assert 25 <= error.retry_after <= 31
    assert results[numbers[-1]] is error
    assert len(carrier.state.requests_to(TRACKINGS_PATH)) == 1


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "8"}, 8.0),
        ({"Retry-After": "Fri, 01 Jan 2099 00:00:00 GMT"}, MAX_RETRY_AFTER),
        ({"X-RateLimit-Reset": "4102444800"}, MAX_RETRY_AFTER),  # 2100-01-01
        ({"X-RateLimit-Reset": "soon"}, None),
        ({}, None),
    ],
)
async def test_rate_limit_headers(
    client: AfterShipClient,
    carrier: CarrierServer,
    headers: dict[str, str],
    expected: float | None,
) -> None:
    """Retry-After wins; an unreadable reset header gives no wait time; 6 h at most."""
    carrier.state.add_fault("rate_limit", path=TRACKINGS_PATH, headers=headers)
    result = (await client.async_track([OUT_FOR_DELIVERY]))[OUT_FOR_DELIVERY]
    assert isinstance(result, TrackingRateLimitError)
    assert result.retry_after == expected


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"kind": "server_error"}, TrackingConnectionError),
        ({"kind": "truncated_json"}, TrackingInvalidResponseError),
        ({"kind": "html_block"}, TrackingInvalidResponseError),
        ({"kind": "timeout", "delay": 3.0}, TrackingTimeoutError),
        ({"kind": "success_false"}, TrackingConnectionError),
        ({"kind": "status", "status": 401, "body": "{}"}, TrackingAuthenticationError),
    ],
)
async def test_list_faults(
    client: AfterShipClient,
    carrier: CarrierServer,
    fault: dict[str, object],
    error: type[Exception],
) -> None:
    """A fault on the list request (after a good create) is every number's error."""
    carrier.state.add_fault(path=TRACKINGS_PATH, after=1, **fault)  # type: ignore[arg-type]
    results = await client.async_track([OUT_FOR_DELIVERY])
    assert type(results[OUT_FOR_DELIVERY]) is error
    assert OUT_FOR_DELIVERY in client.created


async def test_requests_are_spaced_by_default(
    carrier: CarrierServer, traced: tuple[aiohttp.ClientSession, list[float]]
) -> None:
    """Without a throttle given, requests keep to 10 per second."""
    session, starts = traced
    client = AfterShipClient(session, KEY, base_url=carrier.base_url)
    client.set_slugs({HANDOFF: "usps"})
    await client.async_track([OUT_FOR_DELIVERY, HANDOFF])  # two creates and one list
    assert len(starts) == len(carrier.state.log) == 3
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert all(gap >= 0.1 - 0.01 for gap in gaps), gaps


async def test_validate_credentials(client: AfterShipClient, carrier: CarrierServer) -> None:
    """Validation is one cheap list request."""
    await client.async_validate_credentials()
    assert _lists(carrier) == [{"limit": "1"}]


async def test_validate_reports_a_refused_request(
    client: AfterShipClient, carrier: CarrierServer
) -> None:
    """A 200 whose meta says it failed is that failure."""
    body = {"meta": {"code": 403, "message": "not allowed"}, "data": {}}
    carrier.state.add_fault("status", status=200, body=json.dumps(body))
    with pytest.raises(TrackingAuthenticationError):
        await client.async_validate_credentials()


async def test_invalid_key(carrier: CarrierServer, session: aiohttp.ClientSession) -> None:
    """A wrong key: validation and tracking give TrackingAuthenticationError."""
    client = AfterShipClient(session, "wrong", base_url=carrier.base_url, throttle=Throttle(0))
    with pytest.raises(TrackingAuthenticationError):
        await client.async_validate_credentials()
    results = await client.async_track([OUT_FOR_DELIVERY, HANDOFF])
    assert all(isinstance(r, TrackingAuthenticationError) for r in results.values())
    assert len(_creates(carrier)) == 1


async def test_cannot_connect(session: aiohttp.ClientSession) -> None:
    """Nothing listening is a connection error, not an authentication error."""
    client = AfterShipClient(session, KEY, base_url=f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(TrackingConnectionError):
        await client.async_validate_credentials()


async def test_default_base_url(session: aiohttp.ClientSession) -> None:
    """Without a base URL the client talks to AfterShip itself."""
    assert AfterShipClient(session, KEY).base_url == "https://api.aftership.com"
