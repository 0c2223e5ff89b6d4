"""The local carrier server: journeys, clock, advance-on-poll, faults, counters, control."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
import json
from pathlib import Path
import subprocess
import sys
from typing import Any

import aiohttp
import pytest

from tests.carrier_server import (
    DEFAULT_CREDENTIALS,
    JOURNEYS_DIR,
    CarrierServer,
    ServerState,
    closed_port,
    load_journeys,
    parse_journey,
    running_carrier_server,
    source_for_path,
)
from tests.carrier_server.journeys import JourneyError, deep_merge
from tests.carrier_server.state import Fault

CAINIAO_HANDOFF = "LP00719238465102"
USPS_HANDOFF = "9400136205832451786015"
CAINIAO_CUSTOMS = "LP00724415530918"
USPS_OUT_FOR_DELIVERY = "9205590164917312751089"
USPS_DELIVERED = "9361289876700312348894"
CAINIAO_UNKNOWN = "LP00738472910556"


@pytest.fixture
async def carrier(socket_enabled: None) -> AsyncIterator[CarrierServer]:
    """The carrier server with the project's journeys, clock free."""
    async with running_carrier_server(ServerState(journeys=load_journeys(JOURNEYS_DIR))) as srv:
        yield srv


async def _cainiao(
    session: aiohttp.ClientSession, carrier: CarrierServer, *numbers: str
) -> list[dict[str, Any]]:
    async with session.get(
        f"{carrier.base_url}/global/detail.json", params={"mailNos": ",".join(numbers)}
    ) as response:
        assert response.status == 200
        body = await response.json()
    assert body["success"] is True
    modules: list[dict[str, Any]] = body["module"]
    return modules


# --- Journeys ----------------------------------------------------------------------------


def test_the_five_journeys_load_with_unique_numbers() -> None:
    """The shipped journeys parse, each number once per source, events oldest first."""
    journeys = load_journeys(JOURNEYS_DIR)
    assert [j.name for j in journeys] == [
        "aliexpress_cainiao_to_usps",
        "stuck_in_customs",
        "usps_out_for_delivery",
        "usps_delivered",
        "unknown_number",
    ]
    keys = [(t.source, t.number) for j in journeys for t in j.tracks]
    assert len(keys) == len(set(keys))
    for journey in journeys:
        for track in journey.tracks:
            times = [event.at for event in track.events]
            assert times == sorted(times)
    assert ServerState(journeys=journeys).track("usps", USPS_HANDOFF) is not None


def test_handoff_journey_reveals_the_usps_number_on_handover() -> None:
    """Journey 1: destCpInfo and copyRealMailNo appear only with the GTMS_ACCEPT event."""
    state = ServerState(journeys=load_journeys(JOURNEYS_DIR))
    track = state.track("cainiao", CAINIAO_HANDOFF)
    assert track is not None
    handover = next(i for i, e in enumerate(track.events) if e.event["actionCode"] == "GTMS_ACCEPT")
    before = track.header_after(track.events[:handover])
    after = track.header_after(track.events[: handover + 1])
    assert "copyRealMailNo" not in before
    assert "destCpInfo" not in before
    assert after["copyRealMailNo"] == USPS_HANDOFF
    assert after["destCpInfo"]["cpName"] == "USPS"
    usps = state.track("usps", USPS_HANDOFF)
    assert usps is not None
    assert usps.events[0].at >= track.events[handover - 1].at


def test_stuck_journey_never_clears_customs() -> None:
    """Journey 2 ends with import customs started and nothing after."""
    state = ServerState(journeys=load_journeys(JOURNEYS_DIR))
    track = state.track("cainiao", CAINIAO_CUSTOMS)
    assert track is not None
    codes = [event.event["actionCode"] for event in track.events]
    assert codes[-1] == "CC_IM_START"
    assert "CC_IM_SUCCESS" not in codes


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "'name' is required"),
        ({"name": "x", "tracks": [{"source": "dhl", "number": "1"}]}, "unknown source"),
        ({"name": "x", "tracks": [{"source": "usps"}]}, "'number' is required"),
        (
            {"name": "x", "tracks": [{"source": "usps", "number": "1", "events": [{}]}]},
            "ISO 8601 string",
        ),
        (
            {
                "name": "x",
                "tracks": [{"source": "usps", "number": "1", "events": [{"at": "soon"}]}],
            },
            "not ISO 8601",
        ),
        (
            {
                "name": "x",
                "tracks": [
                    {"source": "usps", "number": "1", "events": [{"at": "2025-01-01T10:00"}]}
                ],
            },
            "needs an offset",
        ),
    ],
)
def test_malformed_journeys_are_refused(data: dict[str, Any], message: str) -> None:
    """A journey file that breaks the format says where."""
    with pytest.raises(JourneyError, match=message):
        parse_journey(data)


def test_a_number_in_two_journeys_is_refused() -> None:
    """Two journeys cannot both own one number at one source."""
    journey = parse_journey({"name": "a", "tracks": [{"source": "usps", "number": "9400 1"}]})
    assert journey.tracks[0].number == "94001"
    with pytest.raises(ValueError, match="two journeys"):
        ServerState(journeys=[journey, journey])


def test_deep_merge_merges_objects_and_replaces_the_rest() -> None:
    """Header patches merge nested objects and replace lists and scalars."""
    target = {"a": {"b": 1, "c": [1]}, "d": 1}
    deep_merge(target, {"a": {"c": [2], "e": 3}, "d": {"x": 1}})
    assert target == {"a": {"b": 1, "c": [2], "e": 3}, "d": {"x": 1}}


# --- Clock and rendering -----------------------------------------------------------------


async def test_cainiao_answers_as_of_the_clock(
    carrier: CarrierServer, session: aiohttp.ClientSession
) -> None:
    """Before the handover the USPS number is absent; after it, it is there."""
    carrier.state.now = datetime(2025, 4, 7, 8, 0, tzinfo=UTC)  # 01:00 in Los Angeles
    (module,) = await _cainiao(session, carrier, CAINIAO_HANDOFF)
    assert module["status"] == "CLEAR_CUSTOMS"
    assert "copyRealMailNo" not in module
    assert module["latestTrace"]["actionCode"] == "CC_IM_SUCCESS"
    details = module["detailList"]
    assert [d["time"] for d in details] == sorted((d["time"] for d in details), reverse=True)
    first = details[-1]
    assert first["timeStr"] == "2025-04-02 10:12:00"  # Beijing time, as Cainiao shows it
    assert first["time"] == int(datetime(2025, 4, 2, 2, 12, tzinfo=UTC).timestamp() * 1000)

    carrier.state.now = datetime(2025, 4, 8, tzinfo=UTC)
    (module,) = await _cainiao(session, carrier, CAINIAO_HANDOFF)
    assert module["copyRealMailNo"] == USPS_HANDOFF
    assert module["status"] == "DELIVERING"


async def test_unknown_numbers_render_as_external(
    carrier: CarrierServer, session: aiohttp.ClientSession
) -> None:
    """A number in no journey, and journey 5's number, are Cainiao's EXTERNAL answer."""
    modules = await _cainiao(session, carrier, CAINIAO_UNKNOWN, "lp 00000000000001")
    assert modules == [
        {"mailNo": CAINIAO_UNKNOWN, "mailNoSource": "EXTERNAL", "detailList": []},
        {"mailNo": "LP00000000000001", "mailNoSource": "EXTERNAL", "detailList": []},
    ]


async def test_advance_on_poll_reveals_one_event_per_poll(
    carrier: CarrierServer, session: aiohttp.ClientSession
) -> None:
    """Each poll of a number shows its next event, whatever the clock."""
    carrier.state.advance_on_poll = True
    carrier.state.now = datetime(2000, 1, 1, tzinfo=UTC)
    seen = []
    for _ in range(3):
        (module,) = await _cainiao(session, carrier, CAINIAO_HANDOFF)
        seen.append(len(module["detailList"]))
    assert seen == [1, 2, 3]
    (other,) = await _cainiao(session, carrier, CAINIAO_CUSTOMS)
    assert len(other["detailList"]) == 1
    assert carrier.state.polls[("cainiao", CAINIAO_HANDOFF)] == 3


async def test_usps_renders_local_and_gmt_times(
    carrier: CarrierServer, session: aiohttp.ClientSession
) -> None:
    """eventTimestamp is local without offset; GMTTimestamp and GMTOffset are filled in."""
    token = await _usps_token(session, carrier)
    async with session.get(
        f"{carrier.base_url}/tracking/v3/tracking/{USPS_DELIVERED}",
        params={"expand": "DETAIL"},
        headers={"Authorization": f"Bearer {token}"},
    ) as response:
        assert response.status == 200
        body = await response.json()
    newest = body["trackingEvents"][0]
    assert newest["eventTimestamp"] == "2025-02-20T14:19:00"
    assert newest["GMTTimestamp"] == "2025-02-20T20:19:00Z"
    assert newest["GMTOffset"] == "-06:00"
    assert body["statusCategory"] == "Delivered"


async def _usps_token(session: aiohttp.ClientSession, carrier: CarrierServer) -> str:
    async with session.post(
        f"{carrier.base_url}/oauth2/v3/token",
        data={
            "grant_type": "client_credentials",
            "client_id": DEFAULT_CREDENTIALS["usps_client_id"],
            "client_secret": DEFAULT_CREDENTIALS["usps_client_secret"],
        },
    ) as response:
        assert response.status == 200
        token: str = (await response.json())["access_token"]
    return token


async def test_usps_token_needs_the_grant_and_the_credentials(
    carrier: CarrierServer, session: aiohttp.ClientSession
) -> None:
    """Form bodies work; a wrong grant is 400, wrong credentials 401, no token 401."""
    url = f"{carrier.base_url}/oauth2/v3/token"
    async with session.post(url, json={"grant_type": "password"}) as response:
        assert response.status == 400
    async with session.post(
        url, json={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"}
    ) as response:
        assert response.status == 401
        assert (await response.json())["error"] == "invalid_client"
    async with session.get(f"{carrier.base_url}/tracking/v3/tracking/{USPS_DELIVERED}") as resp:
        assert resp.status == 401


async def test_usps_v3r2_multi_status(
    carrier: CarrierServer, session: aiohttp.ClientSession
) -> None:
    """Mixed results are a 207 with a status code per entry; too many numbers a 400."""
    carrier.state.now = datetime(2025, 4, 7, 12, tzinfo=UTC)  # USPS number not scanned yet
    token = await _usps_token(session, carrier)
    url = f"{carrier.base_url}/tracking/v3r2/tracking"
    headers = {"Authorization": f"Bearer {token}"}
    numbers = [USPS_DELIVERED, USPS_HANDOFF, "9400100000000000000000"]
    async with session.post(
        url, json=[{"trackingNumber": n} for n in numbers], headers=headers
    ) as response:
        assert response.status == 207
        body = await response.json()
    assert [entry["statusCode"] for entry in body] == ["200", "400", "404"]
    assert body[1]["error"]["errors"][0]["code"] == "150001"
    async with session.post(
        url, json=[{"trackingNumber": str(n)} for n in range(36)], headers=headers
    ) as response:
        assert response.status == 400


# --- Faults and counters ---------------------------------------------------------------


def test_fault_matching_and_counting() -> None:
    """A fault matches by source and path prefix, skips `after` requests, then `times`."""
    state = ServerState()
    fault = state.add_fault("server_error", source="usps", path="/tracking/", after=1, times=2)
    assert state.take_fault("cainiao", "/global/detail.json") is None
    assert state.take_fault("usps", "/oauth2/v3/token") is None
    assert state.take_fault("usps", "/tracking/v3r2/tracking") is None  # the one let through
    assert state.take_fault("usps", "/tracking/v3r2/tracking") is fault
    assert state.take_fault("usps", "/tracking/v3/tracking/1") is fault
    assert state.take_fault("usps", "/tracking/v3/tracking/1") is None
    forever = state.add_fault("expire_token", times=None)
    assert state.take_fault("usps", "/oauth2/v3/token") is None  # never hits the token path
    assert state.take_fault("usps", "/tracking/v3r2/tracking") is forever
    assert state.take_fault("usps", "/tracking/v3r2/tracking") is forever
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault(kind="gremlins")  # type: ignore[arg-type]


async def test_requests_are_counted_per_source_and_path(
    carrier: CarrierServer, session: aiohttp.ClientSession
) -> None:
    """Every request is counted and logged, with only harmless headers kept."""
    await _cainiao(session, carrier, CAINIAO_HANDOFF)
    await _usps_token(session, carrier)
    async with session.post(
        f"{carrier.base_url}/track/v2.2/getquota",
        json=[],
        headers={"17token": DEFAULT_CREDENTIALS["seventeen_track_key"], "Referer": "x"},
    ) as response:
        assert response.status == 200
    state = carrier.state
    assert state.requests == {"cainiao": 1, "usps": 1, "17track": 1}
    assert state.paths["/global/detail.json"] == 1
    record = state.requests_to("/track/v2.2/")[0]
    assert record.headers.get("Referer") == "x"
    assert "17token" not in record.headers
    assert DEFAULT_CREDENTIALS["seventeen_track_key"] not in json.dumps(state.stats())
    state.reset_stats()
    assert state.requests == {}
    assert state.log == []


@pytest.mark.parametrize(
    ("fault", "status", "check"),
    [
        ({"kind": "rate_limit", "retry_after": "12"}, 429, "Retry-After"),
        ({"kind": "server_error"}, 500, None),
        ({"kind": "unavailable", "retry_after": "30"}, 503, "Retry-After"),
        ({"kind": "html_block"}, 200, "<!DOCTYPE html>"),
        ({"kind": "success_false"}, 200, '"success": false'),
        ({"kind": "status", "status": 418, "body": '{"teapot": true}'}, 418, "teapot"),
        ({"kind": "truncated_json"}, 200, "truncated"),
    ],
)
async def test_faults_are_served(
    carrier: CarrierServer,
    session: aiohttp.ClientSession,
    fault: dict[str, Any],
    status: int,
    check: str | None,
) -> None:
    """Each fault kind answers as announced, once, then the service is normal again."""
    carrier.state.add_fault(source="cainiao", **fault)
    url = f"{carrier.base_url}/global/detail.json"
    async with session.get(url, params={"mailNos": CAINIAO_HANDOFF}) as response:
        assert response.status == status
        text = await response.text()
        headers = response.headers
    if check == "Retry-After":
        assert headers["Retry-After"] == fault["retry_after"]
    elif check == "truncated":
        with pytest.raises(ValueError):
            json.loads(text)
        assert text.startswith('{"module"')
    elif check is not None:
        assert check in text
    assert (await _cainiao(session, carrier, CAINIAO_HANDOFF))[0]["mailNo"] == CAINIAO_HANDOFF


async def test_timeout_fault_outlasts_a_short_client_timeout(
    carrier: CarrierServer, session: aiohttp.ClientSession
) -> None:
    """The server sleeps longer than the client waits."""
    carrier.state.add_fault("timeout", source="cainiao", delay=2.0)
    with pytest.raises(TimeoutError):
        async with session.get(
            f"{carrier.base_url}/global/detail.json",
            params={"mailNos": CAINIAO_HANDOFF},
            timeout=aiohttp.ClientTimeout(total=0.2),
        ):
            pass


@pytest.mark.parametrize("source", ["17track", "aftership", "usps"])
async def test_success_false_speaks_each_source(
    carrier: CarrierServer, session: aiohttp.ClientSession, source: str
) -> None:
    """ "The call failed" is said in each service's own words."""
    carrier.state.add_fault("success_false", source=source)
    paths = {
        "17track": "/track/v2.2/getquota",
        "aftership": "/tracking/2024-10/couriers",
        "usps": "/tracking/v3r2/tracking",
    }
    async with session.post(f"{carrier.base_url}{paths[source]}") as response:
        body = await response.json()
    assert response.status == 200
    assert body.get("code") == -18010003 or "meta" in body or "error" in body


# --- Control endpoints -------------------------------------------------------------------


async def test_control_endpoints(carrier: CarrierServer, session: aiohttp.ClientSession) -> None:
    """Clock, faults, mode, stats and reset work over HTTP for the demo process."""
    base = f"{carrier.base_url}/_control"
    async with session.post(f"{base}/clock", json={"now": "2025-04-06T12:00:00+00:00"}) as r:
        assert (await r.json())["now"] == "2025-04-06T12:00:00+00:00"
    async with session.post(f"{base}/clock", json={"advance_seconds": 3600}) as r:
        assert (await r.json())["now"] == "2025-04-06T13:00:00+00:00"
    assert carrier.state.now == datetime(2025, 4, 6, 13, tzinfo=UTC)

    async with session.post(f"{base}/fault", json={"kind": "rate_limit", "source": "cainiao"}) as r:
        assert r.status == 201
    async with session.post(f"{base}/fault", json={"kind": "nope"}) as r:
        assert r.status == 400
    async with session.post(f"{base}/fault", json={"kind": "timeout", "bogus": 1}) as r:
        assert r.status == 400
    async with session.get(f"{carrier.base_url}/global/detail.json?mailNos=X") as r:
        assert r.status == 429
    async with session.post(f"{base}/fault", json={"kind": "server_error", "times": None}) as r:
        assert r.status == 201
    async with session.delete(f"{base}/fault") as r:
        assert (await r.json()) == {"faults": 0}

    async with session.post(f"{base}/mode", json={"advance_on_poll": True}) as r:
        assert (await r.json())["advance_on_poll"] is True
    async with session.post(f"{base}/mode", json={"usps_v3r2_enabled": False}) as r:
        assert (await r.json())["usps_v3r2_enabled"] is False
    async with session.post(f"{carrier.base_url}/tracking/v3r2/tracking", json=[]) as r:
        assert r.status == 404

    async with session.get(f"{base}/stats") as r:
        stats = await r.json()
    assert stats["requests"] == {"cainiao": 1, "usps": 1}
    assert stats["paths"]["/global/detail.json"] == 1
    assert stats["polls"] == {}
    async with session.post(f"{base}/reset") as r:
        assert (await r.json()) == {"reset": True}
    assert carrier.state.requests == {}
    async with session.post(f"{base}/clock", json={"now": None}) as r:
        now = datetime.fromisoformat((await r.json())["now"])
    assert abs(now - datetime.now(UTC)) < timedelta(minutes=1)


def test_clock_advances_from_real_time() -> None:
    """Advancing a free clock starts from the real time."""
    state = ServerState()
    moved = state.advance(3600)
    assert timedelta(minutes=59) < moved - datetime.now(UTC) < timedelta(minutes=61)


def test_source_for_path() -> None:
    """Paths map to their service."""
    assert source_for_path("/global/detail.json") == "cainiao"
    assert source_for_path("/oauth2/v3/token") == "usps"
    assert source_for_path("/tracking/v3/tracking/1") == "usps"
    assert source_for_path("/track/v2.2/register") == "17track"
    assert source_for_path("/tracking/2024-10/trackings") == "aftership"
    assert source_for_path("/elsewhere") == "unknown"


async def test_closed_port_refuses_connections(session: aiohttp.ClientSession) -> None:
    """closed_port gives a port nothing listens on."""
    with pytest.raises(aiohttp.ClientConnectorError):
        async with session.get(f"http://127.0.0.1:{closed_port()}/"):
            pass


# --- Aggregators -------------------------------------------------------------------------


async def test_17track_register_quota_and_rejections(
    carrier: CarrierServer, session: aiohttp.ClientSession
) -> None:
    """Registration costs quota, repeats and undetectable carriers are rejected."""
    carrier.state.seventeen_track_quota_total = 2
    headers = {"17token": DEFAULT_CREDENTIALS["seventeen_track_key"]}

    async def call(path: str, body: Any) -> dict[str, Any]:
        async with session.post(
            f"{carrier.base_url}/track/v2.2/{path}", json=body, headers=headers
        ) as response:
            result: dict[str, Any] = await response.json()
        return result

    body = await call(
        "register",
        [{"number": USPS_DELIVERED}, {"number": USPS_DELIVERED}, {"number": "XX1"}],
    )
    assert [a["number"] for a in body["data"]["accepted"]] == [USPS_DELIVERED]
    assert [r["error"]["code"] for r in body["data"]["rejected"]] == [-18019901, -18019903]
    body = await call(
        "register", [{"number": "XX1", "carrier": 3011}, {"number": "XX2", "carrier": 1}]
    )
    assert [r["error"]["code"] for r in body["data"]["rejected"]] == [-18019908]
    body = await call("getquota", [])
    assert body["data"]["quota_remain"] == 0
    body = await call("gettrackinfo", [{"number": "XX1"}, {"number": "XX3"}])
    (item,) = body["data"]["accepted"]
    assert item["track_info"]["latest_status"]["status"] == "NotFound"
    assert body["data"]["rejected"][0]["error"]["code"] == -18019902
    body = await call("gettrackinfo", [{"number": str(n)} for n in range(41)])
    assert body["code"] == -18010014
    async with session.post(f"{carrier.base_url}/track/v2.2/getquota", json=[]) as response:
        assert response.status == 401


async def test_17track_events_go_to_their_provider(
    carrier: CarrierServer, session: aiohttp.ClientSession
) -> None:
    """gettrackinfo renders the visible events newest first with 17TRACK's time fields."""
    carrier.state.now = datetime(2025, 2, 20, 15, tzinfo=UTC)  # out for delivery
    carrier.state.seventeen_track_registered[USPS_DELIVERED] = 21051
    async with session.post(
        f"{carrier.base_url}/track/v2.2/gettrackinfo",
        json=[{"number": USPS_DELIVERED}],
        headers={"17token": DEFAULT_CREDENTIALS["seventeen_track_key"]},
    ) as response:
        body = await response.json()
    info = body["data"]["accepted"][0]["track_info"]
    events = info["tracking"]["providers"][0]["events"]
    assert info["latest_status"]["status"] == "OutForDelivery"
    assert info["latest_event"] == events[0]
    assert events[0]["time_iso"] == "2025-02-20T08:47:00-06:00"
    assert events[0]["time_utc"] == "2025-02-20T14:47:00Z"
    assert events[0]["time_raw"] == {"date": "2025-02-20", "time": "08:47:00", "timezone": "-06:00"}


async def test_aftership_create_list_get(
    carrier: CarrierServer, session: aiohttp.ClientSession
) -> None:
    """Create (4003 on repeat, 4012 without a slug), list by number, get by id."""
    base = f"{carrier.base_url}/tracking/2024-10"
    headers = {"as-api-key": DEFAULT_CREDENTIALS["aftership_key"]}
    async with session.post(
        f"{base}/trackings", json={"tracking_number": USPS_OUT_FOR_DELIVERY}, headers=headers
    ) as response:
        assert response.status == 201
        created = (await response.json())["data"]
    assert created["slug"] == "usps"
    assert created["checkpoints"][0]["checkpoint_time"] == "2025-05-12T16:03:00-05:00"
    async with session.post(
        f"{base}/trackings", json={"tracking_number": USPS_OUT_FOR_DELIVERY}, headers=headers
    ) as response:
        assert (await response.json())["meta"]["code"] == 4003
    async with session.post(
        f"{base}/trackings", json={"tracking_number": "ZZ1"}, headers=headers
    ) as response:
        assert (await response.json())["meta"]["code"] == 4012
    async with session.post(f"{base}/trackings", json={}, headers=headers) as response:
        assert (await response.json())["meta"]["code"] == 4007
    async with session.get(
        f"{base}/trackings",
        params={"tracking_numbers": f"{USPS_OUT_FOR_DELIVERY},ZZ1", "limit": "1"},
        headers=headers,
    ) as response:
        data = (await response.json())["data"]
    assert [t["tracking_number"] for t in data["trackings"]] == [USPS_OUT_FOR_DELIVERY]
    assert data["trackings"][0]["tag"] == "OutForDelivery"
    async with session.get(f"{base}/trackings", headers=headers) as response:
        assert len((await response.json())["data"]["trackings"]) == 1
    async with session.get(
        f"{base}/trackings",
        params={"tracking_numbers": ",".join(map(str, range(51)))},
        headers=headers,
    ) as response:
        assert (await response.json())["meta"]["code"] == 4008
    async with session.get(f"{base}/trackings/{created['id']}", headers=headers) as response:
        assert (await response.json())["data"]["id"] == created["id"]
    async with session.get(f"{base}/trackings/nope", headers=headers) as response:
        assert response.status == 404
    async with session.get(f"{base}/couriers", headers=headers) as response:
        assert (await response.json())["data"]["total"] == 2
    async with session.get(f"{base}/couriers") as response:
        assert response.status == 401


# --- The demo process ------------------------------------------------------------------


async def test_demo_process_serves_and_obeys_control(socket_enabled: None) -> None:
    """`python -m tests.carrier_server` serves the journeys and the control endpoints."""
    port = closed_port()
    root = Path(__file__).parents[2]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.carrier_server",
        "--port",
        str(port),
        "--journeys",
        str(JOURNEYS_DIR),
        "--advance-on-poll",
        "--now",
        "2025-04-01T00:00:00+00:00",
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        async with aiohttp.ClientSession() as session:
            base = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    async with session.get(f"{base}/_control/stats") as response:
                        stats = await response.json()
                    break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            else:
                pytest.fail("the demo server did not start")
            assert stats["advance_on_poll"] is True
            assert stats["now"] == "2025-04-01T00:00:00+00:00"
            for expected in (1, 2):
                async with session.get(
                    f"{base}/global/detail.json", params={"mailNos": CAINIAO_HANDOFF}
                ) as response:
                    module = (await response.json())["module"][0]
                assert len(module["detailList"]) == expected
    finally:
        process.terminate()
        await process.wait()
