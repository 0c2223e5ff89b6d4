"""Shared client plumbing: Retry-After, numbers, the factory, and credential hygiene."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
import json
import logging
import threading

import aiohttp
import pytest

from custom_components.parcel_handoff.tracking.clients import (
    CREDENTIAL_KEYS,
    AfterShipClient,
    CainiaoClient,
    SeventeenTrackClient,
    Throttle,
    TrackingClient,
    UspsClient,
    cainiao,
    create_client,
    parse_retry_after,
)
from custom_components.parcel_handoff.tracking.clients.base import (
    INLINE_PARSE_BYTES,
    MAX_REPLY_BYTES,
    MAX_RETRY_AFTER,
    stops_further_batches,
    unique_numbers,
)
from custom_components.parcel_handoff.tracking.errors import (
    TrackingAuthenticationError,
    TrackingConnectionError,
    TrackingError,
    TrackingInvalidResponseError,
    TrackingNotFoundError,
    TrackingQuotaExceededError,
    TrackingRateLimitError,
    TrackingResponseTooLargeError,
)
from custom_components.parcel_handoff.tracking.model import Source, SourceResult, SourceSnapshot
from custom_components.parcel_handoff.tracking.normalizers._util import MAX_EVENTS_PER_NUMBER
from custom_components.parcel_handoff.tracking.normalizers.cainiao import parse_cainiao
from tests.carrier_server import (
    DEFAULT_CREDENTIALS,
    CarrierServer,
    ServerState,
    closed_port,
)
from tests.carrier_server.app import BLOCK_PAGE

# --- Retry-After and numbers -------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 2.5 ", 2.5),
        ("-3", None),
        ("Sun, 01 Jun 2025 00:01:30 GMT", 90.0),
        ("Sat, 31 May 2025 23:00:00 GMT", 0.0),
        ("Sun, 01 Jun 2025 00:01:30", 90.0),
        ("21600", MAX_RETRY_AFTER),
        ("31536000", MAX_RETRY_AFTER),
        ("1e300", MAX_RETRY_AFTER),
        ("Fri, 01 Jan 2099 00:00:00 GMT", MAX_RETRY_AFTER),
        ("soon", None),
        ("nan", None),
        ("inf", None),
        ("-inf", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    """Delta-seconds and HTTP dates become seconds to wait: never negative, at most 6 h."""
    now = datetime(2025, 6, 1, tzinfo=UTC)
    assert parse_retry_after(value, now=now) == expected


def test_parse_retry_after_defaults_to_the_real_time() -> None:
    """Without `now`, a date is measured from the real time."""
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_unique_numbers() -> None:
    """Whitespace removed, upper case, first-seen order, no blanks or repeats."""
    assert unique_numbers(["lp 001", "LP001", " ", "rr1\tcn", "", "RR1CN"]) == ["LP001", "RR1CN"]


@pytest.mark.parametrize(
    ("error", "stops"),
    [
        (TrackingRateLimitError("x", retry_after=1), True),
        (TrackingAuthenticationError("x"), True),
        (TrackingInvalidResponseError("x", blocked=True), True),
        (TrackingInvalidResponseError("x"), False),
        (TrackingResponseTooLargeError("x"), True),
        (TrackingConnectionError("x"), False),
        (TrackingQuotaExceededError("x"), False),
        (TrackingNotFoundError("x"), False),
    ],
)
def test_which_errors_stop_further_batches(error: TrackingError, stops: bool) -> None:
    """Rate limits, authentication failures, blocks and floods stop a call; the rest do not."""
    assert stops_further_batches(error) is stops


class _BrokenClient(TrackingClient):
    """A client whose reply handling trips over an unexpected shape."""

    source = Source.CAINIAO
    max_batch = 2
    default_base_url = "http://127.0.0.1:9"

    def __init__(self, session: aiohttp.ClientSession, failure: Exception | None) -> None:
        super().__init__(session)
        self.failure = failure

    async def _async_track_batch(self, batch: list[str]) -> Mapping[str, SourceResult]:
        if self.failure is not None:
            raise self.failure
        return {}

    async def async_validate_credentials(self) -> None:
        """Nothing to validate."""


@pytest.mark.parametrize("failure", [KeyError("module"), TypeError("NoneType"), IndexError()])
async def test_an_unexpected_reply_shape_is_an_invalid_response(
    session: aiohttp.ClientSession, failure: Exception
) -> None:
    """A bare Python error from reading a reply never escapes async_track."""
    results = await _BrokenClient(session, failure).async_track(["A1", "B2", "C3"])
    assert set(results) == {"A1", "B2", "C3"}
    assert all(isinstance(r, TrackingInvalidResponseError) for r in results.values())
    assert type(failure).__name__ in str(results["A1"])


async def test_numbers_missing_from_a_batch_are_not_found(session: aiohttp.ClientSession) -> None:
    """A batch that answers nothing for a number gives it TrackingNotFoundError."""
    results = await _BrokenClient(session, None).async_track(["A1"])
    assert isinstance(results["A1"], TrackingNotFoundError)


async def test_throttle_without_a_clock_uses_the_loop() -> None:
    """The default clock is the running loop's."""
    throttle = Throttle(0.05)
    await throttle.wait()
    await throttle.wait()
    assert throttle.min_interval == 0.05


# --- Factory -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "credentials", "kind"),
    [
        (Source.CAINIAO, {}, CainiaoClient),
        (Source.USPS, {"client_id": "id", "client_secret": "secret"}, UspsClient),
        (Source.SEVENTEEN_TRACK, {"api_key": " key "}, SeventeenTrackClient),
        (Source.AFTERSHIP, {"api_key": "key"}, AfterShipClient),
    ],
)
async def test_create_client(
    session: aiohttp.ClientSession,
    source: Source,
    credentials: dict[str, str],
    kind: type[TrackingClient],
) -> None:
    """The factory builds each source's client with its base URL and timeout."""
    client = create_client(
        source, session, credentials=credentials, base_url="http://127.0.0.1:1/", timeout=3
    )
    assert type(client) is kind
    assert client.source is source
    assert client.base_url == "http://127.0.0.1:1"
    assert set(CREDENTIAL_KEYS[source]) == set(credentials)


@pytest.mark.parametrize("source", [Source.USPS, Source.SEVENTEEN_TRACK, Source.AFTERSHIP])
async def test_create_client_names_missing_credentials(
    session: aiohttp.ClientSession, source: Source
) -> None:
    """A missing or blank credential is named by key, its value never shown."""
    given = dict.fromkeys(CREDENTIAL_KEYS[source][1:], "  ") | {"other": "s3cr3t-value"}
    with pytest.raises(TrackingAuthenticationError) as caught:
        create_client(source, session, credentials=given)
    assert CREDENTIAL_KEYS[source][0] in str(caught.value)
    assert "s3cr3t-value" not in str(caught.value)


# --- Credential hygiene ------------------------------------------------------------------

WRONG = {
    "usps_client_id": "wrong-usps-id-31f7",
    "usps_client_secret": "wrong-usps-secret-8c2a",
    "seventeen_track_key": "wrong-17track-key-e41b",
    "aftership_key": "wrong-aftership-key-90d3",
}


def _clients(
    session: aiohttp.ClientSession, base_url: str, creds: Mapping[str, str]
) -> list[TrackingClient]:
    return [
        UspsClient(
            session,
            creds["usps_client_id"],
            creds["usps_client_secret"],
            base_url=base_url,
            timeout=0.3,
        ),
        SeventeenTrackClient(
            session,
            creds["seventeen_track_key"],
            base_url=base_url,
            timeout=0.3,
            throttle=Throttle(0),
        ),
        AfterShipClient(
            session, creds["aftership_key"], base_url=base_url, timeout=0.3, throttle=Throttle(0)
        ),
    ]


def _texts(error: BaseException | None) -> Iterator[str]:
    """The message and repr of an error and of everything it was raised from."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield str(error)
        yield repr(error)
        yield repr(error.args)
        error = error.__cause__ or error.__context__


def _echoing_faults(creds: Mapping[str, str]) -> list[dict[str, object]]:
    """Error bodies that quote the credentials back, as a careless service might."""
    usps = {
        "error": "invalid_client",
        "error_description": f"client {creds['usps_client_id']} / {creds['usps_client_secret']}",
    }
    seventeen = {
        "code": -18010002,
        "data": {"errors": [{"code": -18010002, "message": f"key {creds['seventeen_track_key']}"}]},
    }
    aftership = {"meta": {"code": 4005, "message": f"bad key {creds['aftership_key']}"}}
    rejected = {
        "code": 0,
        "data": {
            "rejected": [
                {
                    "number": "RR000000001CN",
                    "error": {"code": -1, "message": creds["seventeen_track_key"]},
                }
            ]
        },
    }
    return [
        {"kind": "status", "status": 400, "body": json.dumps(usps), "path": "/oauth2/"},
        {"kind": "status", "status": 200, "body": json.dumps(seventeen), "source": "17track"},
        {"kind": "status", "status": 200, "body": json.dumps(rejected), "source": "17track"},
        {"kind": "status", "status": 400, "body": json.dumps(aftership), "source": "aftership"},
    ]


FAULTS: list[dict[str, object]] = [
    {"kind": "rate_limit", "retry_after": "30"},
    {"kind": "server_error"},
    {"kind": "unavailable", "retry_after": "Sun, 01 Jun 2025 00:10:00 GMT"},
    {"kind": "unavailable"},
    {"kind": "html_block"},
    {"kind": "truncated_json"},
    {"kind": "success_false"},
    {"kind": "timeout", "delay": 2.0},
    {"kind": "expire_token", "times": 2},
    {"kind": "status", "status": 401, "body": "{}"},
    {"kind": "status", "status": 404, "body": "not json"},
]


async def _exercise(
    clients: list[TrackingClient], state: ServerState, fault: dict[str, object] | None
) -> list[str]:
    texts: list[str] = []
    for client in clients:
        state.clear_faults()
        if fault is not None:
            state.add_fault(**fault)  # type: ignore[arg-type]
        results = await client.async_track(
            ["9361289876700312348894", "LP00724415530918", "RR000000001CN"]
        )
        for result in results.values():
            if isinstance(result, TrackingError):
                texts.extend(_texts(result))
        state.clear_faults()
        if fault is not None:
            state.add_fault(**fault)  # type: ignore[arg-type]
        try:
            await client.async_validate_credentials()
        except TrackingError as err:
            texts.extend(_texts(err))
        if isinstance(client, SeventeenTrackClient):
            try:
                await client.async_get_quota()
            except TrackingError as err:
                texts.extend(_texts(err))
    return texts


async def test_no_credential_in_any_log_line_or_error(
    carrier: CarrierServer, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """Across every fault, good and wrong credentials: no key, secret or token leaks."""
    caplog.set_level(logging.DEBUG)
    state = carrier.state
    state.seventeen_track_quota_total = 1000
    texts: list[str] = []
    for creds in (DEFAULT_CREDENTIALS, WRONG):
        faults: list[dict[str, object] | None] = [None, *FAULTS, *_echoing_faults(creds)]
        for fault in faults:
            texts.extend(await _exercise(_clients(session, carrier.base_url, creds), state, fault))
    unreachable = _clients(session, f"http://127.0.0.1:{closed_port()}", DEFAULT_CREDENTIALS)
    texts.extend(await _exercise(unreachable, state, None))

    secrets = [*DEFAULT_CREDENTIALS.values(), *WRONG.values(), *state.usps_issued_tokens]
    assert len(state.usps_issued_tokens) > 5
    assert len(texts) > 100  # the faults really produced errors to inspect
    everything = caplog.text + "\n".join(texts)
    assert "REDACTED" in everything  # the echoing services were caught
    leaks = [secret for secret in secrets if secret in everything]
    assert leaks == []


# --- Bounded replies ---------------------------------------------------------------------

HANDOFF = "LP00719238465102"


def _cainiao(carrier: CarrierServer, session: aiohttp.ClientSession) -> CainiaoClient:
    return CainiaoClient(session, base_url=carrier.base_url, timeout=5)


def _many_events_reply(count: int) -> str:
    """A Cainiao reply whose one number has `count` events, oldest first (as no portal sends)."""
    start = int(datetime(2025, 4, 1, tzinfo=UTC).timestamp() * 1000)
    details = [
        {
            "time": start + minute * 60_000,
            "actionCode": "SC_INBOUND_SUCCESS",
            "desc": f"Scan {minute}",
        }
        for minute in range(count)
    ]
    module = {"mailNo": HANDOFF, "status": "DELIVERING", "detailList": details}
    return json.dumps({"module": [module], "success": True})


@pytest.mark.parametrize("declare_length", [False, True], ids=["chunked", "content-length"])
async def test_a_55_mb_reply_is_refused_unread(
    carrier: CarrierServer, session: aiohttp.ClientSession, declare_length: bool
) -> None:
    """55 MB of well-formed JSON, chunked or announced: refused, never read whole.

    The batches after it are not sent: the source would flood them too.
    """
    carrier.state.add_fault(
        "oversized", source="cainiao", size=55_000_000, declare_length=declare_length, times=None
    )
    numbers = [HANDOFF, *(f"LP{n:014d}" for n in range(24))]
    results = await _cainiao(carrier, session).async_track(numbers)
    assert carrier.state.requests["cainiao"] == 1
    result = results[HANDOFF]
    assert all(other is result for other in results.values())
    assert isinstance(result, TrackingResponseTooLargeError)
    assert isinstance(result, TrackingInvalidResponseError)
    assert not result.blocked
    wording = "announced a reply of 55000000 bytes" if declare_length else "more than"
    assert wording in str(result)
    assert str(MAX_REPLY_BYTES) in str(result)


async def test_a_reply_just_over_the_cap_is_refused_and_one_at_the_cap_read(
    carrier: CarrierServer, session: aiohttp.ClientSession
) -> None:
    """The cap is exact: one byte over is refused; a reply of exactly the cap is read."""
    client = _cainiao(carrier, session)
    carrier.state.add_fault("oversized", source="cainiao", size=MAX_REPLY_BYTES + 1)
    assert isinstance((await client.async_track([HANDOFF]))[HANDOFF], TrackingResponseTooLargeError)
    carrier.state.add_fault("oversized", source="cainiao", size=MAX_REPLY_BYTES)
    result = (await client.async_track([HANDOFF]))[HANDOFF]
    assert isinstance(result, SourceSnapshot)
    assert result.tracking_number == HANDOFF


@pytest.mark.parametrize("source", ["usps", "17track", "aftership"])
async def test_every_client_caps_its_replies(
    carrier: CarrierServer, session: aiohttp.ClientSession, source: str
) -> None:
    """USPS (token included), 17TRACK and AfterShip refuse an oversized reply too."""
    carrier.state.seventeen_track_quota_total = 1000
    client = next(
        c for c in _clients(session, carrier.base_url, DEFAULT_CREDENTIALS) if c.source == source
    )
    carrier.state.add_fault("oversized", source=source, size=8 * MAX_REPLY_BYTES, times=None)
    results = await client.async_track(["9361289876700312348894", "LP00724415530918"])
    assert all(isinstance(r, TrackingResponseTooLargeError) for r in results.values())


@pytest.fixture
def parse_threads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The thread each Cainiao reply is parsed in, in order (the real parser still runs)."""
    threads: list[int] = []

    def parse(body: object) -> dict[str, SourceResult]:
        threads.append(threading.get_ident())
        return parse_cainiao(body)

    monkeypatch.setattr(cainiao, "parse_cainiao", parse)
    return threads


async def test_10000_events_are_cut_to_the_newest_off_the_loop(
    carrier: CarrierServer,
    session: aiohttp.ClientSession,
    parse_threads: list[int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A big allowed reply is read in a worker thread; one number keeps its newest events."""
    threads = parse_threads
    body = _many_events_reply(10_000)
    assert INLINE_PARSE_BYTES < len(body) < MAX_REPLY_BYTES
    carrier.state.add_fault("status", source="cainiao", status=200, body=body)

    result = (await _cainiao(carrier, session).async_track([HANDOFF]))[HANDOFF]
    assert isinstance(result, SourceSnapshot)
    assert len(result.events) == MAX_EVENTS_PER_NUMBER
    assert [event.description for event in result.events[:2]] == ["Scan 9999", "Scan 9998"]
    assert result.events[-1].description == f"Scan {10_000 - MAX_EVENTS_PER_NUMBER}"
    assert len(threads) == 1
    assert threads[0] != threading.get_ident()
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("custom_components")]
    assert any("the newest 200 are kept" in message for message in ours)
    assert not [message for message in ours if HANDOFF in message]  # counts, never numbers


async def test_a_small_reply_is_read_in_place(
    carrier: CarrierServer, session: aiohttp.ClientSession, parse_threads: list[int]
) -> None:
    """Below the worker threshold, decoding costs less than a thread hop."""
    threads = parse_threads
    result = (await _cainiao(carrier, session).async_track([HANDOFF]))[HANDOFF]
    assert isinstance(result, SourceSnapshot)
    assert threads == [threading.get_ident()]


@pytest.mark.parametrize(
    ("body", "blocked"),
    [
        (BLOCK_PAGE + " " * INLINE_PARSE_BYTES, True),
        ('{"meta": {}}' + " " * INLINE_PARSE_BYTES, False),
    ],
    ids=["block-page", "json"],
)
async def test_a_big_error_body_is_judged_by_its_head(
    carrier: CarrierServer, session: aiohttp.ClientSession, body: str, blocked: bool
) -> None:
    """A big body with an error status is not decoded to name the error."""
    client = AfterShipClient(
        session, "key", base_url=carrier.base_url, throttle=Throttle(0), created={HANDOFF}
    )
    carrier.state.add_fault("status", source="aftership", status=400, body=body)
    result = (await client.async_track([HANDOFF]))[HANDOFF]
    assert isinstance(result, TrackingInvalidResponseError)
    assert result.blocked is blocked
