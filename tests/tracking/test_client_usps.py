"""The USPS client (OAuth token, Tracking 3.2 and 3.0) against the local carrier server."""

from __future__ import annotations

from datetime import UTC, datetime
import json

import aiohttp
import pytest

from custom_components.parcel_handoff.tracking.clients import UspsClient
from custom_components.parcel_handoff.tracking.clients.usps import (
    TOKEN_PATH,
    TRACKING_V3R2_PATH,
)
from custom_components.parcel_handoff.tracking.errors import (
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

HANDOFF = "9400136205832451786015"  # first scanned on 7 April 2025 (14:52 UTC)
BEFORE_HANDOFF = datetime(2025, 4, 7, 12, tzinfo=UTC)
OUT_FOR_DELIVERY = "9205590164917312751089"
DELIVERED = "9361289876700312348894"
UNKNOWN = "9400100000000000000000"
V3_PREFIX = "/tracking/v3/tracking/"
CLIENT_ID = DEFAULT_CREDENTIALS["usps_client_id"]
CLIENT_SECRET = DEFAULT_CREDENTIALS["usps_client_secret"]


class FakeClock:
    """A settable clock for token expiry."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    """The client's token clock."""
    return FakeClock()


@pytest.fixture
def client(carrier: CarrierServer, session: aiohttp.ClientSession, clock: FakeClock) -> UspsClient:
    """A USPS client pointed at the carrier server."""
    return UspsClient(
        session, CLIENT_ID, CLIENT_SECRET, base_url=carrier.base_url, timeout=1.0, clock=clock
    )


def _snapshot(result: object) -> SourceSnapshot:
    assert isinstance(result, SourceSnapshot), result
    return result


async def test_multi_status_batch(client: UspsClient, carrier: CarrierServer) -> None:
    """One 3.2 request: tracked, no status yet (found=False) and unknown (not found)."""
    carrier.state.now = BEFORE_HANDOFF
    results = await client.async_track([DELIVERED, OUT_FOR_DELIVERY, HANDOFF, UNKNOWN])
    delivered = _snapshot(results[DELIVERED])
    assert delivered.source is Source.USPS
    assert delivered.events[0].stage is Stage.DELIVERED
    assert _snapshot(results[OUT_FOR_DELIVERY]).found is False  # a May parcel
    not_yet = _snapshot(results[HANDOFF])
    assert not_yet.found is False
    assert isinstance(results[UNKNOWN], TrackingNotFoundError)
    assert carrier.state.paths == {TOKEN_PATH: 1, TRACKING_V3R2_PATH: 1}
    body = carrier.state.requests_to(TRACKING_V3R2_PATH)[0].body
    assert body == [{"trackingNumber": n} for n in (DELIVERED, OUT_FOR_DELIVERY, HANDOFF, UNKNOWN)]
    token_request = carrier.state.requests_to(TOKEN_PATH)[0].body
    assert token_request["grant_type"] == "client_credentials"
    assert token_request["scope"] == "tracking"


async def test_all_found_is_a_plain_200(client: UspsClient, carrier: CarrierServer) -> None:
    """Numbers that all have a status all come back as snapshots."""
    results = await client.async_track([HANDOFF, OUT_FOR_DELIVERY])
    assert _snapshot(results[HANDOFF]).events[0].stage is Stage.DELIVERED
    assert _snapshot(results[OUT_FOR_DELIVERY]).events[0].stage is Stage.OUT_FOR_DELIVERY


async def test_token_is_reused_then_renewed_before_expiry(
    client: UspsClient, carrier: CarrierServer, clock: FakeClock
) -> None:
    """The token is cached until shortly before `expires_in`, then fetched again."""
    carrier.state.usps_token_ttl = 3600
    await client.async_track([DELIVERED])
    clock.now += 3000
    await client.async_track([DELIVERED])
    assert carrier.state.usps_tokens_issued == 1
    clock.now += 560  # 3560 s: within the renewal margin
    await client.async_track([DELIVERED])
    assert carrier.state.usps_tokens_issued == 2
    assert carrier.state.paths[TRACKING_V3R2_PATH] == 3


async def test_40_numbers_take_2_requests(client: UspsClient, carrier: CarrierServer) -> None:
    """Batches of at most 35, one token for both."""
    numbers = [f"94001000000000000000{n:02d}" for n in range(40)]
    results = await client.async_track(numbers)
    assert all(isinstance(results[n], TrackingNotFoundError) for n in numbers)
    sizes = [len(r.body) for r in carrier.state.requests_to(TRACKING_V3R2_PATH)]
    assert sizes == [35, 5]
    assert carrier.state.usps_tokens_issued == 1


async def test_expired_token_is_renewed_once(client: UspsClient, carrier: CarrierServer) -> None:
    """A 401 on a token the server issued: a new token, the request again, success."""
    await client.async_track([DELIVERED])
    carrier.state.add_fault("expire_token", source="usps")
    results = await client.async_track([DELIVERED])
    assert _snapshot(results[DELIVERED]).found
    assert carrier.state.usps_tokens_issued == 2
    assert carrier.state.paths[TRACKING_V3R2_PATH] == 3


async def test_second_401_is_an_authentication_error(
    client: UspsClient, carrier: CarrierServer
) -> None:
    """Renewed once and refused again: TrackingAuthenticationError, no further batch."""
    carrier.state.add_fault("expire_token", source="usps", times=2)
    numbers = [f"94001000000000000000{n:02d}" for n in range(40)]
    results = await client.async_track(numbers)
    error = results[numbers[0]]
    assert isinstance(error, TrackingAuthenticationError)
    assert results[numbers[-1]] is error
    assert carrier.state.paths[TRACKING_V3R2_PATH] == 2
    assert carrier.state.usps_tokens_issued == 2


async def test_falls_back_to_v3_and_stays_there(client: UspsClient, carrier: CarrierServer) -> None:
    """3.2 missing (404): one GET per number on 3.0, and 3.2 is not tried again."""
    carrier.state.now = BEFORE_HANDOFF
    carrier.state.usps_v3r2_enabled = False
    results = await client.async_track([DELIVERED, HANDOFF, UNKNOWN])
    assert _snapshot(results[DELIVERED]).events[0].stage is Stage.DELIVERED
    assert _snapshot(results[HANDOFF]).found is False
    assert isinstance(results[UNKNOWN], TrackingNotFoundError)
    assert client.use_v3r2 is False
    await client.async_track([OUT_FOR_DELIVERY])
    assert carrier.state.paths[TRACKING_V3R2_PATH] == 1
    v3 = carrier.state.requests_to(V3_PREFIX)
    assert [r.path.removeprefix(V3_PREFIX) for r in v3] == [
        DELIVERED,
        HANDOFF,
        UNKNOWN,
        OUT_FOR_DELIVERY,
    ]
    assert v3[0].query == {"expand": "DETAIL"}


@pytest.mark.parametrize("status", [405, 501])
async def test_other_missing_statuses_fall_back(
    client: UspsClient, carrier: CarrierServer, status: int
) -> None:
    """405 and 501 from 3.2 also mean "use 3.0"."""
    carrier.state.add_fault("status", path=TRACKING_V3R2_PATH, status=status, body="")
    results = await client.async_track([DELIVERED])
    assert _snapshot(results[DELIVERED]).found
    assert client.use_v3r2 is False


async def test_404_with_results_is_not_a_missing_endpoint(
    client: UspsClient, carrier: CarrierServer
) -> None:
    """A 404 that still lists per-number results is read, not taken for a missing 3.2."""
    entry = {
        "trackingNumber": UNKNOWN,
        "statusCode": "404",
        "error": {"code": "404", "message": "Tracking is not available for this item."},
    }
    carrier.state.add_fault("status", path=TRACKING_V3R2_PATH, status=404, body=json.dumps([entry]))
    results = await client.async_track([UNKNOWN])
    assert isinstance(results[UNKNOWN], TrackingNotFoundError)
    assert client.use_v3r2 is True


async def test_whole_request_error_applies_to_every_number(
    client: UspsClient, carrier: CarrierServer
) -> None:
    """A 400 with one error object (not a list) answers for each number."""
    body = {"apiVersion": "/tracking/v3r2", "error": {"code": "400", "message": "Bad request"}}
    carrier.state.add_fault("status", path=TRACKING_V3R2_PATH, status=400, body=json.dumps(body))
    results = await client.async_track([DELIVERED, HANDOFF])
    assert set(results) == {DELIVERED, HANDOFF}
    assert all(type(r).__name__ == "TrackingError" for r in results.values())


async def test_v3_rate_limit_mid_batch_keeps_what_was_fetched(
    client: UspsClient, carrier: CarrierServer
) -> None:
    """On 3.0 a 429 after the first number: that number's data stays, no more requests."""
    carrier.state.usps_v3r2_enabled = False
    carrier.state.add_fault("rate_limit", path=V3_PREFIX, after=1, retry_after="30")
    numbers = [DELIVERED, OUT_FOR_DELIVERY, *(f"94001000000000000000{n:02d}" for n in range(40))]
    results = await client.async_track(numbers)
    assert _snapshot(results[DELIVERED]).found
    limited = results[OUT_FOR_DELIVERY]
    assert isinstance(limited, TrackingRateLimitError)
    assert limited.retry_after == 30
    assert results[numbers[-1]] is limited
    assert len(carrier.state.requests_to(V3_PREFIX)) == 2


async def test_v3_bad_body_spoils_only_its_number(
    client: UspsClient, carrier: CarrierServer
) -> None:
    """On 3.0 a truncated reply is that number's error; the next number is fetched."""
    carrier.state.usps_v3r2_enabled = False
    carrier.state.add_fault("truncated_json", path=V3_PREFIX)
    results = await client.async_track([DELIVERED, OUT_FOR_DELIVERY])
    assert isinstance(results[DELIVERED], TrackingInvalidResponseError)
    assert _snapshot(results[OUT_FOR_DELIVERY]).found


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"kind": "rate_limit", "retry_after": "45"}, TrackingRateLimitError),
        ({"kind": "unavailable", "retry_after": "90"}, TrackingRateLimitError),
        ({"kind": "unavailable"}, TrackingConnectionError),
        ({"kind": "server_error", "status": 502}, TrackingConnectionError),
        ({"kind": "html_block"}, TrackingInvalidResponseError),
        ({"kind": "truncated_json"}, TrackingInvalidResponseError),
        ({"kind": "status", "status": 403, "body": "{}"}, TrackingAuthenticationError),
        # A firewall's HTML block page on a 403 is a block, not rejected credentials.
        ({"kind": "html_block", "status": 403}, TrackingInvalidResponseError),
        ({"kind": "timeout", "delay": 3.0}, TrackingTimeoutError),
    ],
)
async def test_tracking_faults(
    client: UspsClient,
    carrier: CarrierServer,
    fault: dict[str, object],
    error: type[Exception],
) -> None:
    """Every fault on the tracking call becomes the right error for each number."""
    carrier.state.add_fault(path=TRACKING_V3R2_PATH, **fault)  # type: ignore[arg-type]
    results = await client.async_track([DELIVERED, OUT_FOR_DELIVERY])
    assert all(type(r) is error for r in results.values()), results
    first = results[DELIVERED]
    if isinstance(first, TrackingRateLimitError):
        assert first.retry_after == float(str(fault["retry_after"]))


async def test_validate_credentials(client: UspsClient, carrier: CarrierServer) -> None:
    """Validation fetches a token and nothing else."""
    await client.async_validate_credentials()
    assert carrier.state.paths == {TOKEN_PATH: 1}


async def test_invalid_credentials(carrier: CarrierServer, session: aiohttp.ClientSession) -> None:
    """A wrong secret is TrackingAuthenticationError, for validation and for tracking."""
    client = UspsClient(session, CLIENT_ID, "not-the-secret", base_url=carrier.base_url)
    with pytest.raises(TrackingAuthenticationError, match="invalid_client"):
        await client.async_validate_credentials()
    results = await client.async_track([DELIVERED])
    assert isinstance(results[DELIVERED], TrackingAuthenticationError)
    assert TRACKING_V3R2_PATH not in carrier.state.paths


@pytest.mark.parametrize(
    ("status", "body", "error", "match"),
    [
        (400, {"error": "invalid_scope"}, TrackingAuthenticationError, "invalid_scope"),
        (400, {"error": "invalid_request"}, TrackingInvalidResponseError, "invalid_request"),
        (400, "not json", TrackingInvalidResponseError, "no error code"),
        # Too big to decode on the loop for an error: named by its status alone.
        (
            400,
            json.dumps({"error": "invalid_scope"}) + " " * 300_000,
            TrackingInvalidResponseError,
            "no error code",
        ),
        (200, {"token_type": "Bearer"}, TrackingInvalidResponseError, "no access token"),
        (500, {}, TrackingConnectionError, "HTTP 500"),
    ],
)
async def test_token_refusals(
    client: UspsClient,
    carrier: CarrierServer,
    status: int,
    body: object,
    error: type[Exception],
    match: str,
) -> None:
    """What the token endpoint can say instead of a token."""
    text = body if isinstance(body, str) else json.dumps(body)
    carrier.state.add_fault("status", path=TOKEN_PATH, status=status, body=text)
    with pytest.raises(error, match=match):
        await client.async_validate_credentials()


@pytest.mark.parametrize("expires_in", ["7200", None, "soon", True, -5, "inf"])
async def test_token_lifetime_is_read_defensively(
    client: UspsClient, carrier: CarrierServer, clock: FakeClock, expires_in: object
) -> None:
    """A numeric string is a lifetime; anything else means one hour."""
    body = {"access_token": "tok-123", "token_type": "Bearer", "expires_in": expires_in}
    carrier.state.add_fault("status", path=TOKEN_PATH, status=200, body=json.dumps(body))
    await client.async_validate_credentials()
    expected = 7200 if expires_in == "7200" else 3600
    assert client._token_expires == pytest.approx(clock.now + expected - 60)


async def test_cannot_connect(session: aiohttp.ClientSession) -> None:
    """Nothing listening: validation raises a connection error, not an auth error."""
    client = UspsClient(
        session, CLIENT_ID, CLIENT_SECRET, base_url=f"http://127.0.0.1:{closed_port()}"
    )
    with pytest.raises(TrackingConnectionError):
        await client.async_validate_credentials()
    results = await client.async_track([DELIVERED])
    assert isinstance(results[DELIVERED], TrackingConnectionError)


async def test_default_base_url(session: aiohttp.ClientSession) -> None:
    """Without a base URL the client talks to USPS itself."""
    assert UspsClient(session, "a", "b").base_url == "https://apis.usps.com"
