"""The Cainiao client against the local carrier server, over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
import json
from pathlib import Path

import aiohttp
import pytest

from custom_components.parcel_handoff.tracking.clients import CainiaoClient, cainiao
from custom_components.parcel_handoff.tracking.clients.base import MAX_RETRY_AFTER
from custom_components.parcel_handoff.tracking.clients.cainiao import CLIENT_VERSION
from custom_components.parcel_handoff.tracking.errors import (
    TrackingConnectionError,
    TrackingError,
    TrackingInvalidResponseError,
    TrackingNotFoundError,
    TrackingRateLimitError,
    TrackingTimeoutError,
)
from custom_components.parcel_handoff.tracking.model import Source, SourceSnapshot, Stage
from tests.carrier_server import (
    JOURNEYS_DIR,
    CarrierServer,
    ServerState,
    closed_port,
    load_journeys,
    running_carrier_server,
)

HANDOFF = "LP00719238465102"
CUSTOMS = "LP00724415530918"
UNKNOWN = "LP00738472910556"
USPS_NEW_NUMBER = "9400136205832451786015"
PATH = "/global/detail.json"


@pytest.fixture
async def carrier(socket_enabled: None) -> AsyncIterator[CarrierServer]:
    """The carrier server with the project's journeys, on 10 April 2025."""
    state = ServerState(
        journeys=load_journeys(JOURNEYS_DIR), now=datetime(2025, 4, 9, 12, tzinfo=UTC)
    )
    async with running_carrier_server(state) as server:
        yield server


@pytest.fixture
def client(carrier: CarrierServer, session: aiohttp.ClientSession) -> CainiaoClient:
    """A Cainiao client pointed at the carrier server, with a short timeout."""
    return CainiaoClient(session, base_url=carrier.base_url, timeout=1.0)


def _snapshot(result: object) -> SourceSnapshot:
    assert isinstance(result, SourceSnapshot), result
    return result


async def test_tracks_the_journeys(client: CainiaoClient, carrier: CarrierServer) -> None:
    """One request answers every number: handed over, stuck in customs, unknown."""
    results = await client.async_track([HANDOFF, CUSTOMS, UNKNOWN])
    assert list(results) == [HANDOFF, CUSTOMS, UNKNOWN]
    handoff = _snapshot(results[HANDOFF])
    assert handoff.source is Source.CAINIAO
    assert handoff.local_carrier == "USPS"
    assert handoff.local_tracking_number == USPS_NEW_NUMBER
    assert handoff.events[0].code == "GTMS_ACCEPT"
    customs = _snapshot(results[CUSTOMS])
    assert customs.events[0].code == "CC_IM_START"
    assert customs.events[0].stage is Stage.CUSTOMS
    assert _snapshot(results[UNKNOWN]).found is False
    assert carrier.state.paths[PATH] == 1
    assert client.requests_made == 1
    record = carrier.state.requests_to(PATH)[0]
    assert record.query == {"mailNos": f"{HANDOFF},{CUSTOMS},{UNKNOWN}", "lang": "en-US"}
    # Honest identification (see the client's docstring): who we are, no borrowed Referer.
    assert "Referer" not in record.headers
    assert record.headers["User-Agent"] == (
        f"Mozilla/5.0 (compatible; ParcelHandoff/{CLIENT_VERSION}; "
        "+https://github.com/parcel-handoff/parcel-handoff)"
    )


def test_user_agent_version_is_the_manifest_version() -> None:
    """The version the client announces is the integration's."""
    manifest = Path(cainiao.__file__).parents[2] / "manifest.json"
    assert json.loads(manifest.read_text(encoding="utf-8"))["version"] == CLIENT_VERSION


async def test_numbers_are_normalised_and_deduplicated(
    client: CainiaoClient, carrier: CarrierServer
) -> None:
    """Spaces and case do not make a second number; blanks are dropped."""
    results = await client.async_track([" lp0071 9238465102", HANDOFF, "", HANDOFF.lower()])
    assert list(results) == [HANDOFF]
    assert carrier.state.requests_to(PATH)[0].query["mailNos"] == HANDOFF


async def test_nothing_to_track_sends_nothing(client: CainiaoClient) -> None:
    """No numbers, no request; validation needs no request either."""
    assert await client.async_track([]) == {}
    await client.async_validate_credentials()
    assert client.requests_made == 0


async def test_25_numbers_take_3_requests(client: CainiaoClient, carrier: CarrierServer) -> None:
    """Batches of at most 10 numbers."""
    numbers = [f"LP{n:014d}" for n in range(25)]
    results = await client.async_track(numbers)
    assert list(results) == numbers
    assert all(_snapshot(r).found is False for r in results.values())
    assert carrier.state.paths[PATH] == 3
    sizes = [len(r.query["mailNos"].split(",")) for r in carrier.state.requests_to(PATH)]
    assert sizes == [10, 10, 5]


async def test_a_number_left_out_of_the_reply_is_not_found(
    client: CainiaoClient, carrier: CarrierServer
) -> None:
    """A reply without a module for a number gives that number TrackingNotFoundError."""
    carrier.state.add_fault(
        "status",
        status=200,
        body=json.dumps({"success": True, "module": [{"mailNo": CUSTOMS, "detailList": []}]}),
    )
    results = await client.async_track([CUSTOMS, HANDOFF])
    assert isinstance(results[CUSTOMS], SourceSnapshot)
    assert isinstance(results[HANDOFF], TrackingNotFoundError)


@pytest.mark.parametrize(
    ("fault", "error", "blocked"),
    [
        ({"kind": "server_error"}, TrackingConnectionError, None),
        ({"kind": "unavailable"}, TrackingConnectionError, None),
        ({"kind": "truncated_json"}, TrackingInvalidResponseError, False),
        ({"kind": "success_false"}, TrackingInvalidResponseError, False),
        ({"kind": "status", "status": 400, "body": "{}"}, TrackingInvalidResponseError, False),
        (
            {"kind": "status", "status": 404, "body": "<html>gone</html>"},
            TrackingInvalidResponseError,
            True,
        ),
    ],
)
async def test_batch_faults_spare_the_other_batches(
    client: CainiaoClient,
    carrier: CarrierServer,
    fault: dict[str, object],
    error: type[TrackingError],
    blocked: bool | None,
) -> None:
    """A failed batch's numbers get the error; the next batch is still sent and answered."""
    carrier.state.add_fault(source="cainiao", **fault)  # type: ignore[arg-type]
    numbers = [HANDOFF, *(f"LP{n:014d}" for n in range(9)), CUSTOMS]
    results = await client.async_track(numbers)
    first_batch = [results[n] for n in numbers[:10]]
    assert all(type(r) is error for r in first_batch), first_batch
    assert len({id(r) for r in first_batch}) == 1
    if blocked is not None:
        assert isinstance(first_batch[0], TrackingInvalidResponseError)
        assert first_batch[0].blocked is blocked
    if blocked:
        assert results[CUSTOMS] is first_batch[0]  # a block stops further batches
        assert carrier.state.paths[PATH] == 1
    else:
        assert _snapshot(results[CUSTOMS]).events
        assert carrier.state.paths[PATH] == 2


@pytest.mark.parametrize("status", [200, 403])
async def test_a_block_page_stops_the_call(
    client: CainiaoClient, carrier: CarrierServer, status: int
) -> None:
    """A captcha page, or a 403, is a block: no further batch in that call."""
    carrier.state.add_fault("html_block", source="cainiao", status=status)
    numbers = [f"LP{n:014d}" for n in range(25)]
    results = await client.async_track(numbers)
    errors = set(map(id, results.values()))
    assert len(errors) == 1
    error = results[numbers[-1]]
    assert isinstance(error, TrackingInvalidResponseError)
    assert error.blocked is True
    assert carrier.state.paths[PATH] == 1


async def test_rate_limit_keeps_earlier_batches(
    client: CainiaoClient, carrier: CarrierServer
) -> None:
    """A 429 on the second batch: the first batch's data stays, the rest wait."""
    carrier.state.add_fault("rate_limit", source="cainiao", after=1, retry_after="120")
    numbers = [HANDOFF, *(f"LP{n:014d}" for n in range(19)), CUSTOMS, UNKNOWN]
    results = await client.async_track(numbers)
    assert _snapshot(results[HANDOFF]).events
    limited = results[numbers[10]]
    assert isinstance(limited, TrackingRateLimitError)
    assert limited.retry_after == 120
    assert results[CUSTOMS] is limited
    assert results[UNKNOWN] is limited
    assert carrier.state.paths[PATH] == 2


async def test_rate_limit_without_retry_after(
    client: CainiaoClient, carrier: CarrierServer
) -> None:
    """A bare 429 is a rate limit with no known wait."""
    carrier.state.add_fault("rate_limit", source="cainiao")
    result = (await client.async_track([HANDOFF]))[HANDOFF]
    assert isinstance(result, TrackingRateLimitError)
    assert result.retry_after is None


async def test_503_with_retry_after_is_a_rate_limit(
    client: CainiaoClient, carrier: CarrierServer
) -> None:
    """503 plus Retry-After means "slow down", with the HTTP date parsed (and capped)."""
    carrier.state.add_fault(
        "unavailable", source="cainiao", retry_after="Wed, 21 Oct 2099 07:28:00 GMT"
    )
    result = (await client.async_track([HANDOFF]))[HANDOFF]
    assert isinstance(result, TrackingRateLimitError)
    assert result.retry_after == MAX_RETRY_AFTER


async def test_timeout(client: CainiaoClient, carrier: CarrierServer) -> None:
    """The server sleeping past the client's timeout is TrackingTimeoutError."""
    carrier.state.add_fault("timeout", source="cainiao", delay=3.0)
    result = (await client.async_track([HANDOFF]))[HANDOFF]
    assert isinstance(result, TrackingTimeoutError)
    assert "1 s" in str(result)


async def test_cannot_connect(session: aiohttp.ClientSession) -> None:
    """Nothing listening is TrackingConnectionError for every number."""
    client = CainiaoClient(session, base_url=f"http://127.0.0.1:{closed_port()}")
    results = await client.async_track([HANDOFF, CUSTOMS])
    assert all(isinstance(r, TrackingConnectionError) for r in results.values())
    assert not isinstance(results[HANDOFF], TrackingTimeoutError)


async def test_default_base_url(session: aiohttp.ClientSession) -> None:
    """Without a base URL the client talks to Cainiao itself."""
    assert CainiaoClient(session).base_url == "https://global.cainiao.com"
