"""The 17TRACK client (register once, track, quota, throttle) against the local server."""

from __future__ import annotations

import asyncio
import itertools
import json

import aiohttp
import pytest

from custom_components.parcel_handoff.tracking.clients import SeventeenTrackClient, Throttle
from custom_components.parcel_handoff.tracking.clients.seventeen_track import (
    QUOTA_PATH,
    REGISTER_PATH,
    TRACK_INFO_PATH,
)
from custom_components.parcel_handoff.tracking.errors import (
    TrackingAuthenticationError,
    TrackingConnectionError,
    TrackingInvalidResponseError,
    TrackingNotFoundError,
    TrackingQuotaExceededError,
    TrackingRateLimitError,
    TrackingTimeoutError,
)
from custom_components.parcel_handoff.tracking.model import Source, SourceSnapshot, Stage
from custom_components.parcel_handoff.tracking.normalizers.seventeen_track import (
    SeventeenTrackQuota,
)
from tests.carrier_server import (
    DEFAULT_CREDENTIALS,
    CarrierServer,
    closed_port,
)

CUSTOMS = "LP00724415530918"  # Cainiao parcel stuck in German customs
DELIVERED = "9361289876700312348894"  # USPS, delivered
KEY = DEFAULT_CREDENTIALS["seventeen_track_key"]


@pytest.fixture
def client(carrier: CarrierServer, session: aiohttp.ClientSession) -> SeventeenTrackClient:
    """A 17TRACK client pointed at the carrier server, without request spacing."""
    return SeventeenTrackClient(
        session, KEY, base_url=carrier.base_url, timeout=1.0, throttle=Throttle(0)
    )


def _snapshot(result: object) -> SourceSnapshot:
    assert isinstance(result, SourceSnapshot), result
    return result


def _exhausted(client: SeventeenTrackClient) -> bool:
    # A function call, so that mypy does not keep an earlier narrowing of the property.
    return client.quota_exhausted


def _numbers(count: int) -> list[str]:
    return [f"RR{n:09d}CN" for n in range(count)]


async def test_registers_once_then_only_tracks(
    client: SeventeenTrackClient, carrier: CarrierServer
) -> None:
    """First call: register + gettrackinfo; second call: gettrackinfo only."""
    results = await client.async_track([CUSTOMS, DELIVERED])
    customs = _snapshot(results[CUSTOMS])
    assert customs.source is Source.SEVENTEEN_TRACK
    assert customs.events[0].stage is Stage.CUSTOMS
    assert _snapshot(results[DELIVERED]).events[0].stage is Stage.DELIVERED
    assert client.registered == {CUSTOMS, DELIVERED}
    await client.async_track([CUSTOMS, DELIVERED])
    assert carrier.state.paths == {REGISTER_PATH: 1, TRACK_INFO_PATH: 2}
    assert carrier.state.seventeen_track_quota_used == 2
    assert carrier.state.requests_to(TRACK_INFO_PATH)[0].body == [
        {"number": CUSTOMS},
        {"number": DELIVERED},
    ]


async def test_seeded_registrations_are_not_registered_again(
    carrier: CarrierServer, session: aiohttp.ClientSession
) -> None:
    """Numbers the integration persisted as registered cost no quota."""
    carrier.state.seventeen_track_registered[CUSTOMS] = 190271
    client = SeventeenTrackClient(
        session,
        KEY,
        base_url=carrier.base_url,
        registered=["lp0072 4415530918"],
        throttle=Throttle(0),
    )
    results = await client.async_track([CUSTOMS])
    assert _snapshot(results[CUSTOMS]).found
    assert REGISTER_PATH not in carrier.state.paths


async def test_already_registered_counts_as_registered(
    client: SeventeenTrackClient, carrier: CarrierServer
) -> None:
    """-18019901 on register is success: the number is tracked at once."""
    carrier.state.seventeen_track_registered[DELIVERED] = 21051
    results = await client.async_track([DELIVERED])
    assert _snapshot(results[DELIVERED]).found
    assert DELIVERED in client.registered
    assert carrier.state.seventeen_track_quota_used == 0


async def test_a_lost_registration_is_registered_again_next_time(
    carrier: CarrierServer, session: aiohttp.ClientSession
) -> None:
    """A seeded number 17TRACK does not know: not found now, registered on the next call."""
    client = SeventeenTrackClient(
        session, KEY, base_url=carrier.base_url, registered=[CUSTOMS], throttle=Throttle(0)
    )
    first = await client.async_track([CUSTOMS])
    assert isinstance(first[CUSTOMS], TrackingNotFoundError)
    assert CUSTOMS not in client.registered
    second = await client.async_track([CUSTOMS])
    assert _snapshot(second[CUSTOMS]).found
    assert carrier.state.paths[REGISTER_PATH] == 1


async def test_odd_rejections_in_gettrackinfo(
    client: SeventeenTrackClient, carrier: CarrierServer
) -> None:
    """Rejected items without a usable code keep their numbers registered."""
    client.registered.update({CUSTOMS, DELIVERED})
    rejected: list[object] = [
        {"number": DELIVERED, "error": {"code": None}},
        {"number": CUSTOMS, "error": {"code": -18019909, "message": "no info yet"}},
    ]
    body = {"code": 0, "data": {"accepted": [], "rejected": rejected}}
    carrier.state.add_fault("status", path=TRACK_INFO_PATH, status=200, body=json.dumps(body))
    results = await client.async_track([CUSTOMS, DELIVERED])
    assert isinstance(results[CUSTOMS], TrackingNotFoundError)
    assert isinstance(results[DELIVERED], TrackingInvalidResponseError)
    assert client.registered == {CUSTOMS, DELIVERED}

    rejected.insert(0, "junk")  # not an object: the whole reply is unreadable
    carrier.state.add_fault("status", path=TRACK_INFO_PATH, status=200, body=json.dumps(body))
    results = await client.async_track([CUSTOMS, DELIVERED])
    assert all(isinstance(r, TrackingInvalidResponseError) for r in results.values())
    assert client.registered == {CUSTOMS, DELIVERED}


async def test_80_numbers_take_2_requests_each(
    client: SeventeenTrackClient, carrier: CarrierServer
) -> None:
    """Batches of 40 for register and for gettrackinfo."""
    carrier.state.seventeen_track_quota_total = 1000
    client.set_carrier_hints(dict.fromkeys(_numbers(80), 3011))
    results = await client.async_track(_numbers(80))
    assert len(results) == 80
    assert all(_snapshot(r).found is False for r in results.values())
    assert carrier.state.paths == {REGISTER_PATH: 2, TRACK_INFO_PATH: 2}
    assert [len(r.body) for r in carrier.state.requests_to(TRACK_INFO_PATH)] == [40, 40]


async def test_carrier_hints_are_sent_on_register(
    client: SeventeenTrackClient, carrier: CarrierServer
) -> None:
    """Without a hint an unknown number's carrier cannot be detected; with one it can."""
    unknown, hinted = _numbers(2)
    client.set_carrier_hints({hinted.lower(): 3011, "RR999999999CN": 0})
    results = await client.async_track([unknown, hinted])
    assert isinstance(results[unknown], TrackingNotFoundError)
    assert "-18019903" in str(results[unknown])
    assert _snapshot(results[hinted]).found is False
    assert carrier.state.requests_to(REGISTER_PATH)[0].body == [
        {"number": unknown},
        {"number": hinted, "carrier": 3011},
    ]
    client.set_carrier_hints({hinted: 0})
    assert client._register_item(hinted) == {"number": hinted}


async def test_quota_is_exposed_and_kept_current(
    client: SeventeenTrackClient, carrier: CarrierServer
) -> None:
    """getquota is read; each registration then lowers the remembered remainder."""
    carrier.state.seventeen_track_quota_total = 5
    quota = await client.async_get_quota()
    assert quota == SeventeenTrackQuota(
        total=5, used=0, remaining=5, today_used=0, daily_limit=10000
    )
    await client.async_track([CUSTOMS, DELIVERED])
    assert client.quota == SeventeenTrackQuota(
        total=5, used=2, remaining=3, today_used=0, daily_limit=10000
    )
    assert client.quota_exhausted is False


async def test_no_registration_when_the_quota_is_used_up(
    carrier: CarrierServer, session: aiohttp.ClientSession
) -> None:
    """With 0 remaining, new numbers get TrackingQuotaExceededError; known ones are tracked."""
    carrier.state.seventeen_track_registered[DELIVERED] = 21051
    client = SeventeenTrackClient(
        session,
        KEY,
        base_url=carrier.base_url,
        registered=[DELIVERED],
        quota=SeventeenTrackQuota(total=10, used=10, remaining=0),
        throttle=Throttle(0),
    )
    results = await client.async_track([CUSTOMS, DELIVERED])
    assert isinstance(results[CUSTOMS], TrackingQuotaExceededError)
    assert _snapshot(results[DELIVERED]).found
    assert REGISTER_PATH not in carrier.state.paths


async def test_quota_running_out_during_registration(
    client: SeventeenTrackClient, carrier: CarrierServer
) -> None:
    """-18019908 for a number: quota error for it, and no more registering until getquota."""
    carrier.state.seventeen_track_quota_total = 1
    results = await client.async_track([CUSTOMS, DELIVERED])
    assert _snapshot(results[CUSTOMS]).found
    assert isinstance(results[DELIVERED], TrackingQuotaExceededError)
    assert client.quota_exhausted is True
    again = await client.async_track([DELIVERED])
    assert isinstance(again[DELIVERED], TrackingQuotaExceededError)
    assert carrier.state.paths[REGISTER_PATH] == 1
    carrier.state.seventeen_track_quota_total = 10
    await client.async_get_quota()
    assert not _exhausted(client)
    assert _snapshot((await client.async_track([DELIVERED]))[DELIVERED]).found


async def test_requests_are_spaced_by_the_throttle(
    carrier: CarrierServer, traced: tuple[aiohttp.ClientSession, list[float]]
) -> None:
    """The default throttle keeps 17TRACK calls at most 3 per second."""
    session, starts = traced
    client = SeventeenTrackClient(session, KEY, base_url=carrier.base_url)
    await client.async_get_quota()
    await client.async_track([CUSTOMS])  # register + gettrackinfo
    assert len(starts) == len(carrier.state.log) == 3
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert all(gap >= 1 / 3 - 0.01 for gap in gaps), gaps


async def test_throttle_waits_with_an_injected_clock() -> None:
    """The throttle sleeps for what is left of the interval, per its clock."""
    now = [100.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    throttle = Throttle(0.5, clock=lambda: now[0], sleep=sleep)
    await throttle.wait()
    now[0] += 0.2
    await throttle.wait()
    now[0] += 1.0
    await throttle.wait()
    assert slept == [pytest.approx(0.3)]


async def test_concurrent_calls_share_the_throttle(
    carrier: CarrierServer, traced: tuple[aiohttp.ClientSession, list[float]]
) -> None:
    """Two calls at once still do not exceed the rate."""
    session, starts = traced
    carrier.state.seventeen_track_registered.update({CUSTOMS: 190271, DELIVERED: 21051})
    client = SeventeenTrackClient(
        session,
        KEY,
        base_url=carrier.base_url,
        registered=[CUSTOMS, DELIVERED],
        throttle=Throttle(0.2),
    )
    await asyncio.gather(client.async_track([CUSTOMS]), client.async_track([DELIVERED]))
    first, second = starts
    assert second - first >= 0.19


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"kind": "rate_limit", "retry_after": "60"}, TrackingRateLimitError),
        ({"kind": "server_error"}, TrackingConnectionError),
        ({"kind": "success_false"}, TrackingConnectionError),
        ({"kind": "truncated_json"}, TrackingInvalidResponseError),
        ({"kind": "html_block"}, TrackingInvalidResponseError),
        ({"kind": "timeout", "delay": 3.0}, TrackingTimeoutError),
        (
            {
                "kind": "status",
                "status": 200,
                "body": json.dumps({"code": -18010002, "data": {"errors": [{"code": -18010002}]}}),
            },
            TrackingAuthenticationError,
        ),
        ({"kind": "status", "status": 200, "body": "[]"}, TrackingInvalidResponseError),
    ],
)
async def test_tracking_faults(
    client: SeventeenTrackClient,
    carrier: CarrierServer,
    fault: dict[str, object],
    error: type[Exception],
) -> None:
    """A fault on gettrackinfo becomes the right error for every number of the batch."""
    carrier.state.seventeen_track_registered.update({CUSTOMS: 190271, DELIVERED: 21051})
    client.registered.update({CUSTOMS, DELIVERED})
    carrier.state.add_fault(path=TRACK_INFO_PATH, **fault)  # type: ignore[arg-type]
    results = await client.async_track([CUSTOMS, DELIVERED])
    assert all(type(r) is error for r in results.values()), results


async def test_a_bad_register_reply_fails_the_batch(
    client: SeventeenTrackClient, carrier: CarrierServer
) -> None:
    """A register reply with a rejected item that has no code is an invalid response."""
    body = {"code": 0, "data": {"accepted": [], "rejected": [{"number": CUSTOMS, "error": {}}]}}
    carrier.state.add_fault("status", path=REGISTER_PATH, status=200, body=json.dumps(body))
    results = await client.async_track([CUSTOMS])
    assert isinstance(results[CUSTOMS], TrackingInvalidResponseError)


async def test_register_rejections_are_read_leniently(
    client: SeventeenTrackClient, carrier: CarrierServer
) -> None:
    """String codes and the flat error_code form are understood; nameless items skipped."""
    body = {
        "code": 0,
        "data": {
            "accepted": [{"number": None}],
            "rejected": [
                {"number": CUSTOMS, "error": {"code": "-18019901", "message": "registered"}},
                {"number": DELIVERED, "error_code": -18019910, "error_message": "bad carrier"},
                {"error": {"code": -18019903}},
            ],
        },
    }
    carrier.state.add_fault("status", path=REGISTER_PATH, status=200, body=json.dumps(body))
    carrier.state.seventeen_track_registered[CUSTOMS] = 190271
    results = await client.async_track([CUSTOMS, DELIVERED])
    assert _snapshot(results[CUSTOMS]).found
    assert "-18019910" in str(results[DELIVERED])
    assert client.registered == {CUSTOMS}


async def test_a_non_numeric_error_code_is_an_invalid_response(
    client: SeventeenTrackClient, carrier: CarrierServer
) -> None:
    """An error code that is not a number cannot be mapped."""
    body = {"code": 0, "data": {"rejected": [{"number": CUSTOMS, "error": {"code": "oops"}}]}}
    carrier.state.add_fault("status", path=REGISTER_PATH, status=200, body=json.dumps(body))
    results = await client.async_track([CUSTOMS])
    assert isinstance(results[CUSTOMS], TrackingInvalidResponseError)


async def test_a_rate_limit_stops_further_batches(
    client: SeventeenTrackClient, carrier: CarrierServer
) -> None:
    """429 on the first batch's register: nothing more is sent in that call."""
    carrier.state.add_fault("rate_limit", path=REGISTER_PATH, retry_after="5")
    results = await client.async_track(_numbers(45))
    assert len({id(r) for r in results.values()}) == 1
    assert isinstance(results[_numbers(45)[-1]], TrackingRateLimitError)
    assert carrier.state.paths == {REGISTER_PATH: 1}


async def test_validate_credentials(client: SeventeenTrackClient, carrier: CarrierServer) -> None:
    """Validation is one getquota call."""
    await client.async_validate_credentials()
    assert carrier.state.paths == {QUOTA_PATH: 1}
    assert carrier.state.requests_to(QUOTA_PATH)[0].body is None


async def test_invalid_key(carrier: CarrierServer, session: aiohttp.ClientSession) -> None:
    """A wrong key: validation and tracking both give TrackingAuthenticationError."""
    client = SeventeenTrackClient(
        session, "wrong-key", base_url=carrier.base_url, throttle=Throttle(0)
    )
    with pytest.raises(TrackingAuthenticationError):
        await client.async_validate_credentials()
    results = await client.async_track(_numbers(45))
    assert all(isinstance(r, TrackingAuthenticationError) for r in results.values())
    assert carrier.state.paths == {QUOTA_PATH: 1, REGISTER_PATH: 1}


async def test_cannot_connect(session: aiohttp.ClientSession) -> None:
    """Nothing listening is a connection error, not an authentication error."""
    client = SeventeenTrackClient(
        session, KEY, base_url=f"http://127.0.0.1:{closed_port()}", throttle=Throttle(0)
    )
    with pytest.raises(TrackingConnectionError):
        await client.async_validate_credentials()


async def test_default_base_url(session: aiohttp.ClientSession) -> None:
    """Without a base URL the client talks to 17TRACK itself."""
    assert SeventeenTrackClient(session, KEY).base_url == "https://api.17track.net"
