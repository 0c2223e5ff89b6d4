"""Tests for the USPS Tracking API (v3 and 3.2) normalizer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
import logging
from typing import Any

from hypothesis import given, strategies as st
import pytest

from custom_components.parcel_handoff.tracking.errors import (
    TrackingAuthenticationError,
    TrackingConnectionError,
    TrackingError,
    TrackingInvalidResponseError,
    TrackingNotFoundError,
    TrackingRateLimitError,
)
from custom_components.parcel_handoff.tracking.model import (
    EtaWindow,
    Source,
    SourceResult,
    SourceSnapshot,
    Stage,
    TrackingEvent,
)
from custom_components.parcel_handoff.tracking.normalizers import usps as usps_normalizer
from custom_components.parcel_handoff.tracking.normalizers._util import (
    MAX_EVENTS_PER_NUMBER,
    MAX_ITEMS_PER_REPLY,
)
from custom_components.parcel_handoff.tracking.normalizers.usps import (
    DEFAULT_OFFSET,
    EVENT_STAGES,
    USPS_ERROR_CODES,
    parse_usps,
    usps_error_for,
)
from tests.conftest import FIXTURES
from tests.tracking.json_trees import FUZZ
from tests.tracking.mangle import json_values, load, paths, replaced

USPS = FIXTURES / "usps"
FIXTURE_NAMES = sorted(path.name for path in USPS.glob("*.json"))
EST = timezone(timedelta(hours=-5))
MST = timezone(timedelta(hours=-7))
MDT = timezone(timedelta(hours=-6))


def body(name: str) -> Any:
    """A fresh copy of a USPS fixture."""
    return load(USPS / name)


def snapshot_of(result: SourceResult) -> SourceSnapshot:
    """The result as a snapshot (fails the test when it is an error)."""
    assert isinstance(result, SourceSnapshot), result
    return result


def only(result: dict[str, SourceResult]) -> SourceSnapshot:
    """The single snapshot of a one-number reply."""
    assert len(result) == 1
    return snapshot_of(next(iter(result.values())))


def by_code(snapshot: SourceSnapshot, code: str) -> TrackingEvent:
    """The one event with this event code."""
    (event,) = [event for event in snapshot.events if event.code == code]
    return event


def utc(text: str) -> datetime:
    """An ISO time without offset, read as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def est(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """A 2025 wall-clock time at UTC-05:00."""
    return datetime(2025, month, day, hour, minute, second, tzinfo=EST)


def minimal(*events: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A v3 tracking object holding just these events."""
    return {"trackingNumber": "9400100000000000000000", "trackingEvents": list(events), **fields}


def test_delivered() -> None:
    """A v3 delivered reply: stages, offsets, places and the snapshot fields."""
    snapshot = only(parse_usps(body("v3_delivered.json")))
    assert snapshot.tracking_number == "9400111206213859274415"
    assert snapshot.source is Source.USPS
    assert snapshot.carrier == "USPS"
    assert snapshot.found is True
    assert snapshot.status_stage is Stage.DELIVERED
    assert snapshot.status_text == "Delivered, Front Door/Porch"
    assert snapshot.eta is None
    assert snapshot.local_carrier is None
    assert [(event.code, event.stage) for event in snapshot.events] == [
        ("01", Stage.DELIVERED),
        ("OF", Stage.OUT_FOR_DELIVERY),
        ("07", Stage.LAST_MILE),
        ("A1", Stage.IN_TRANSIT),
        ("10", Stage.IN_TRANSIT),
        ("OA", Stage.ORIGIN_PROCESSING),
        ("GX", Stage.INFO_RECEIVED),
    ]
    newest = snapshot.events[0]
    assert newest.time == utc("2025-04-10T20:47:31")
    assert newest.time.utcoffset() == timedelta(hours=-6)
    assert newest.location == "DENVER, CO 80218"
    assert newest.description == "Delivered, Front Door/Porch"
    assert newest.carrier == "USPS"
    assert newest.source is Source.USPS
    assert newest.tracking_number == "9400111206213859274415"
    assert by_code(snapshot, "A1").location == "DENVER CO DISTRIBUTION CENTER"


def test_event_without_gmt_fields_borrows_its_neighbours_offset() -> None:
    """The label event has no GMT fields: the nearest event's offset makes it an instant."""
    snapshot = only(parse_usps(body("v3_delivered.json")))
    label = by_code(snapshot, "GX")
    assert label.time == datetime(2025, 4, 7, 10, 2, tzinfo=MDT)
    assert label.time.utcoffset() == timedelta(hours=-6)


def test_gmt_timestamp_date_quirk_is_corrected() -> None:
    """`19:05` local at -05:00 stamped `00:05:44Z` the same day is really the next day."""
    snapshot = only(parse_usps(body("v3_in_transit_gmt_quirk.json")))
    departed = by_code(snapshot, "SF")
    assert departed.time == utc("2025-03-05T00:05:44")
    assert departed.time.utcoffset() == timedelta(hours=-5)


def test_offset_is_read_from_the_clocks_without_gmt_offset() -> None:
    """No GMTOffset: the local and GMT clocks give -05:00, and the seconds come from GMT."""
    snapshot = only(parse_usps(body("v3_in_transit_gmt_quirk.json")))
    departed = by_code(snapshot, "T1")
    assert departed.time == utc("2025-03-05T02:48:16")
    assert departed.time.utcoffset() == timedelta(hours=-5)
    # The newest event has no GMT fields at all and borrows T1's derived offset.
    newest = snapshot.events[0]
    assert newest.code == "NT"
    assert newest.time == datetime(2025, 3, 5, 9, 30, tzinfo=EST)


def test_in_transit_snapshot_and_expected_delivery_day() -> None:
    """An expected delivery timestamp at midnight is a whole-day window in local time."""
    snapshot = only(parse_usps(body("v3_in_transit_gmt_quirk.json")))
    assert snapshot.status_stage is Stage.IN_TRANSIT
    assert snapshot.status_text == "In Transit to Next Facility"
    assert [event.code for event in snapshot.events] == ["NT", "T1", "SF", "03", "MA"]
    assert by_code(snapshot, "03").stage is Stage.ORIGIN_PROCESSING
    assert by_code(snapshot, "MA").stage is Stage.INFO_RECEIVED
    assert by_code(snapshot, "MA").location is None
    assert snapshot.eta == EtaWindow(
        earliest=datetime(2025, 3, 7, tzinfo=EST),
        latest=datetime(2025, 3, 7, 23, 59, 59, tzinfo=EST),
    )


def test_no_status_yet_error_body_is_a_not_found_snapshot() -> None:
    """HTTP 400 code 150001 is not an error of ours: the number has no scans yet."""
    result = parse_usps(body("v3_error_no_status_yet.json"), tracking_number=" 9400 1112 0621 ")
    assert list(result) == ["940011120621"]
    snapshot = snapshot_of(result["940011120621"])
    assert snapshot.found is False
    assert snapshot.events == ()
    assert snapshot.carrier == "USPS"
    assert snapshot.status_text is not None
    assert snapshot.status_text.startswith("A status update is not yet available")
    assert "<" not in snapshot.status_text
    assert "reg" not in snapshot.status_text
    assert not snapshot.status_text.endswith("-")


def test_error_body_without_a_number_is_invalid() -> None:
    """A v3 error body names no number: without the caller's, it cannot be keyed."""
    with pytest.raises(TrackingInvalidResponseError, match="no tracking number"):
        parse_usps(body("v3_error_no_status_yet.json"))


def test_401_error_body_without_a_number_is_a_credentials_error() -> None:
    """A rejected client id is about the request, not a number: said so, with its cause."""
    with pytest.raises(TrackingInvalidResponseError, match="credentials") as caught:
        parse_usps(body("v3_error_401_invalid_client.json"))
    assert "no tracking number" not in str(caught.value)
    assert isinstance(caught.value.__cause__, TrackingAuthenticationError)
    assert "client application identifier is invalid" in str(caught.value)


def test_401_error_body_with_the_callers_number_is_that_numbers_error() -> None:
    """Given the number it asked about, the body becomes that number's credentials error."""
    result = parse_usps(body("v3_error_401_invalid_client.json"), tracking_number="9400 1000")
    error = result["94001000"]
    assert isinstance(error, TrackingAuthenticationError)
    assert "credentials" in str(error)


def test_out_for_delivery_with_predicted_window() -> None:
    """A predicted delivery window narrows the ETA to its hours, in local time."""
    snapshot = only(parse_usps(body("v3_out_for_delivery.json")))
    assert snapshot.events[0].stage is Stage.OUT_FOR_DELIVERY
    assert snapshot.status_stage is Stage.OUT_FOR_DELIVERY
    assert snapshot.eta == EtaWindow(
        earliest=datetime(2025, 6, 5, 11, tzinfo=MST),
        latest=datetime(2025, 6, 5, 15, tzinfo=MST),
    )


def test_available_for_pickup() -> None:
    """Held at the Post Office for collection."""
    snapshot = only(parse_usps(body("v3_available_for_pickup.json")))
    assert snapshot.events[0].stage is Stage.AVAILABLE_FOR_PICKUP
    assert snapshot.status_stage is Stage.AVAILABLE_FOR_PICKUP
    assert snapshot.events[0].location == "TUCSON, AZ 85719"


def test_delivery_attempt() -> None:
    """Notice left: a failed attempt, both on the event and in the summary."""
    snapshot = only(parse_usps(body("v3_delivery_attempt.json")))
    assert snapshot.events[0].stage is Stage.DELIVERY_FAILED
    assert snapshot.status_stage is Stage.DELIVERY_FAILED
    assert snapshot.events[0].time == utc("2025-01-22T22:31:08")


def test_v32_batch_200(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 3.2 array: one snapshot per number, 3.2 field names, an unknown code by wording."""
    # Unknown codes are logged once per process: forget the ones other tests met.
    monkeypatch.setattr(usps_normalizer, "_reported_codes", set())
    with caplog.at_level(logging.INFO):
        result = parse_usps(body("v32_batch_200.json"))
    assert set(result) == {"9200190345678901234567", "9400111206213859274416"}
    inbound = snapshot_of(result["9200190345678901234567"])
    delivered = snapshot_of(result["9400111206213859274416"])

    assert inbound.origin_country == "CN"
    assert inbound.status_stage is Stage.IN_TRANSIT
    customs = by_code(inbound, "H0")
    assert customs.stage is Stage.CUSTOMS  # not in the table: "Inbound Out of Customs"
    assert customs.location == "LOS ANGELES, CA 90009"
    assert customs.time == utc("2025-02-11T22:00:00")
    assert by_code(inbound, "AD").stage is Stage.ORIGIN_PROCESSING
    assert inbound.eta == EtaWindow(
        earliest=datetime(2025, 2, 14, tzinfo=MST),
        latest=datetime(2025, 2, 14, 21, tzinfo=MST),
    )
    assert [r for r in caplog.records if "H0" in r.getMessage()]

    assert delivered.events[0].stage is Stage.DELIVERED
    assert delivered.events[0].location == "MESA, AZ 85201"


def test_v32_batch_207_mixes_results_and_errors() -> None:
    """207: a tracking object, a "no status yet" and a not-found, each under its number."""
    result = parse_usps(body("v32_batch_207.json"))
    assert set(result) == {
        "9400111206213859274416",
        "9400111206213859274417",
        "9400111206213859274418",
    }
    assert snapshot_of(result["9400111206213859274416"]).events[0].stage is Stage.DELIVERED
    pending = snapshot_of(result["9400111206213859274417"])
    assert pending.found is False
    assert pending.status_text == "A status update is not yet available on your package."
    missing = result["9400111206213859274418"]
    assert isinstance(missing, TrackingNotFoundError)
    assert "not available for this item" in str(missing)


def test_single_item_array_uses_the_callers_number() -> None:
    """A 3.2 array of one item without trackingNumber belongs to the requested number."""
    item = minimal(statusCategory="Pre-Shipment")
    del item["trackingNumber"]
    result = parse_usps([item], tracking_number="9400100000000000000009")
    assert snapshot_of(result["9400100000000000000009"]).status_stage is Stage.INFO_RECEIVED


def test_multi_item_array_without_numbers_is_invalid() -> None:
    """Two results without numbers cannot be attributed."""
    item = minimal()
    del item["trackingNumber"]
    with pytest.raises(TrackingInvalidResponseError):
        parse_usps([item, item], tracking_number="9400100000000000000009")


def test_empty_array_is_an_empty_result() -> None:
    """USPS answered about nothing."""
    assert parse_usps([]) == {}


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"errors": [{"code": "150002", "title": "Item not found"}]}, TrackingNotFoundError),
        ({"error": "Not Found"}, TrackingNotFoundError),
        ({"statusCode": "404"}, TrackingNotFoundError),
        ({"statusCode": "429", "error": {"message": "Too many requests"}}, TrackingRateLimitError),
        ({"statusCode": "503", "error": {"message": "down"}}, TrackingConnectionError),
        ({"error": {"code": "401", "message": "bad token"}}, TrackingAuthenticationError),
        ({"error": {"errors": [{"detail": "Something went wrong"}]}}, TrackingError),
        ({"error": {"errors": [{"detail": "Label created, not yet in system"}]}}, SourceSnapshot),
    ],
)
def test_error_item_shapes(
    item: dict[str, Any], expected: type[TrackingError] | type[SourceSnapshot]
) -> None:
    """Error items in the several shapes public clients show."""
    result = parse_usps([{"trackingNumber": "9400100000000000000001", **item}])
    value = result["9400100000000000000001"]
    assert type(value) is expected
    if isinstance(value, SourceSnapshot):
        assert value.found is False


def test_status_code_200_with_events_is_a_result() -> None:
    """`statusCode: "200"` marks a success in a 207 reply."""
    item = minimal(statusCode="200", statusCategory="Delivered")
    assert only(parse_usps([item])).status_stage is Stage.DELIVERED


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        ("150001", "A status update is not yet available on your package.", None),
        ("", "12: A status update is not yet available. - ", None),
        ("404", "Tracking is not available for this item.", TrackingNotFoundError),
        ("150007", "Something USPS did not explain", TrackingNotFoundError),
        ("999", "The tracking number is invalid", TrackingNotFoundError),
        ("999", "Could not locate the tracking information", TrackingNotFoundError),
        ("401", "Unauthorized", TrackingAuthenticationError),
        ("403", "Insufficient scope", TrackingAuthenticationError),
        ("429", "Slow down", TrackingRateLimitError),
        ("500", "Internal error", TrackingConnectionError),
        ("400", "Bad request", TrackingError),
        ("999", "Something odd", TrackingError),
    ],
)
def test_usps_error_for(code: str, message: str, expected: type[TrackingError] | None) -> None:
    """Every code of the table and the fallbacks by message."""
    error = usps_error_for(code, message)
    if expected is None:
        assert error is None
    else:
        assert type(error) is expected
        assert "USPS" in str(error)


def test_usps_error_for_cleans_the_message() -> None:
    """The message loses its HTML and reason number; an empty one says so."""
    error = usps_error_for(" 404 ", "<b>7:</b> Not available for this item - ")
    assert str(error) == "USPS 404: Not available for this item"
    assert str(usps_error_for("418", "")) == "USPS 418: no message"
    assert str(usps_error_for("", "weird")) == "USPS error: weird"


def test_rate_limit_error_has_no_retry_after_from_a_body() -> None:
    """A body carries no Retry-After: the client adds it from the headers."""
    error = usps_error_for("429", "slow down")
    assert isinstance(error, TrackingRateLimitError)
    assert error.retry_after is None


def test_error_code_table_is_keyed_by_strings() -> None:
    """The HTTP client looks codes up as strings, as USPS sends them."""
    assert all(isinstance(code, str) for code in USPS_ERROR_CODES)
    assert USPS_ERROR_CODES["150001"] is None


@pytest.mark.parametrize(
    ("code", "stage"),
    [
        ("01", Stage.DELIVERED),
        ("43", Stage.DELIVERED),
        ("OF", Stage.OUT_FOR_DELIVERY),
        ("07", Stage.LAST_MILE),
        ("16", Stage.AVAILABLE_FOR_PICKUP),
        ("14", Stage.AVAILABLE_FOR_PICKUP),
        ("02", Stage.DELIVERY_FAILED),
        ("53", Stage.DELIVERY_FAILED),
        ("09", Stage.RETURNING),
        ("21", Stage.RETURNING),
        ("05", Stage.EXCEPTION),
        ("03", Stage.ORIGIN_PROCESSING),
        ("MA", Stage.INFO_RECEIVED),
        ("GX", Stage.INFO_RECEIVED),
        ("A1", Stage.IN_TRANSIT),
        ("DX", None),
    ],
)
def test_event_stage_table(code: str, stage: Stage | None) -> None:
    """A sample of the event code table, read through the parser."""
    event = {"eventCode": code.lower(), "eventType": "x", "eventTimestamp": "2025-01-02T10:00:00"}
    snapshot = only(parse_usps(minimal(event)))
    assert snapshot.events[0].code == code
    assert snapshot.events[0].stage is stage
    assert EVENT_STAGES[code] is stage


def test_unknown_code_falls_back_to_wording_then_status_category_for_the_newest() -> None:
    """statusCategory describes the latest status only: older unknown events get nothing."""
    events = [
        {"eventCode": "Q9", "eventType": "Mystery scan", "eventTimestamp": "2025-01-03T10:00"},
        {"eventCode": "Q8", "eventType": "Other mystery", "eventTimestamp": "2025-01-02T10:00"},
        {
            "eventCode": "Q7",
            "eventType": "Returned to Sender",
            "eventTimestamp": "2025-01-01T10:00",
        },
    ]
    snapshot = only(parse_usps(minimal(*events, statusCategory="Alert")))
    assert [event.stage for event in snapshot.events] == [Stage.EXCEPTION, None, Stage.RETURNING]
    assert snapshot.status_stage is Stage.EXCEPTION


def test_status_stage_falls_back_to_status_wording() -> None:
    """Without statusCategory the status wording is used; delivery back to the sender."""
    snapshot = only(parse_usps(minimal(status="Delivered, To Original Sender")))
    assert snapshot.status_stage is Stage.RETURNED
    assert only(parse_usps(minimal(status="Something"))).status_stage is None


def test_unknown_event_code_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    """Reported once per process."""
    event = {"eventCode": "ZQ", "eventType": "New scan", "eventTimestamp": "2025-01-02T10:00"}
    with caplog.at_level(logging.INFO):
        parse_usps(minimal(event, event))
        parse_usps(minimal(event))
    assert len([r for r in caplog.records if "ZQ" in r.getMessage()]) == 1


def test_event_times_in_all_their_shapes() -> None:
    """Explicit offsets, GMT only, no offset anywhere, and unusable times."""
    events = [
        {"eventType": "a", "eventTimestamp": "2025-01-05T10:00:00+09:00"},
        {"eventType": "b", "GMTTimestamp": "2025-01-04T12:00:00Z"},
        {"eventType": "c", "eventTimestamp": "2025-01-03T10:00:00"},
        {"eventType": "d", "eventTimestamp": "yesterday"},
        {"eventType": "e", "eventTimestamp": "0001-01-01T00:00:00"},
        {"eventType": "f", "eventTimestamp": "0001-01-01T00:00:00+01:00"},
        {"eventType": "g"},
    ]
    snapshot = only(parse_usps(minimal(*events)))
    assert [event.description for event in snapshot.events] == ["a", "b", "c"]
    first, second, third = snapshot.events
    assert first.time == utc("2025-01-05T01:00:00")
    assert first.time.utcoffset() == timedelta(hours=9)
    assert second.time == utc("2025-01-04T12:00:00")
    assert third.time == datetime(2025, 1, 3, 10, tzinfo=DEFAULT_OFFSET)


def test_gmt_timestamp_alone_takes_the_neighbours_offset() -> None:
    """An event with only GMTTimestamp is shown in the nearest event's zone."""
    events = [
        {"eventType": "a", "GMTTimestamp": "2025-01-04T12:00:00Z"},
        {"eventType": "b", "eventTimestamp": "2025-01-03T10:00:00", "GMTOffset": "-08:00"},
    ]
    newest = only(parse_usps(minimal(*events))).events[0]
    assert newest.time == utc("2025-01-04T12:00:00")
    assert newest.time.utcoffset() == timedelta(hours=-8)


def test_incoherent_gmt_clock_is_ignored() -> None:
    """A GMT clock that is no whole-quarter-hour away from local time says nothing."""
    event = {
        "eventType": "a",
        "eventTimestamp": "2025-01-03T10:00:00",
        "GMTTimestamp": "2025-01-03T13:22:00Z",
    }
    newest = only(parse_usps(minimal(event))).events[0]
    assert newest.time == datetime(2025, 1, 3, 10, tzinfo=DEFAULT_OFFSET)


def test_gmt_timestamp_far_from_local_time_is_not_used_for_seconds() -> None:
    """With an offset given, a GMT clock minutes away is ignored rather than trusted."""
    event = {
        "eventType": "a",
        "eventTimestamp": "2025-01-03T10:00:00",
        "GMTOffset": "-06:00",
        "GMTTimestamp": "2025-01-03T16:30:00",
    }
    newest = only(parse_usps(minimal(event))).events[0]
    assert newest.time == utc("2025-01-03T16:00:00")


def test_location_variants() -> None:
    """City with state and ZIP, city alone, country alone, nothing."""
    events = [
        {"eventTimestamp": "2025-01-04T10:00", "eventCity": "X", "eventState": "NY"},
        {"eventTimestamp": "2025-01-03T10:00", "eventCity": "PARIS", "eventCountry": "FRANCE"},
        {"eventTimestamp": "2025-01-02T10:00", "eventCountry": "CHINA"},
        {"eventTimestamp": "2025-01-01T10:00", "eventCode": "MA"},
    ]
    snapshot = only(parse_usps(minimal(*events)))
    assert [event.location for event in snapshot.events] == [
        "X, NY",
        "PARIS, FRANCE",
        "CHINA",
        None,
    ]
    assert snapshot.events[0].description == "USPS update"
    assert snapshot.events[3].description == "MA"


@pytest.mark.parametrize(
    ("fields", "earliest", "latest"),
    [
        ({"expectedDeliveryDate": "2025-03-07"}, est(3, 7, 0, 0), est(3, 7, 23, 59, 59)),
        ({"guaranteedDeliveryTimeStamp": "2025-03-07T21:00:00"}, est(3, 7, 0, 0), est(3, 7, 21, 0)),
        ({"predictedDeliveryTimeStamp": "2025-03-08T02:00:00Z"}, est(3, 7, 0, 0), est(3, 7, 21, 0)),
        (
            {
                "predictedDeliveryDate": "2025-03-07",
                "predictedDeliveryWindowStartTime": "2025-03-07T10:30:00",
                "predictedDeliveryWindowEndTime": "2:15 p.m.",
            },
            est(3, 7, 10, 30),
            est(3, 7, 14, 15),
        ),
        (
            {"expectedDeliveryDate": "2025-03-07", "endOfDay": "12pm"},
            est(3, 7, 0, 0),
            est(3, 7, 12, 0),
        ),
        (
            {"expectedDeliveryDate": "2025-03-07", "endOfDay": "12am"},
            est(3, 7, 0, 0),
            est(3, 7, 0, 0),
        ),
        (
            {
                "expectedDeliveryDate": "2025-03-07",
                "predictedDeliveryWindowStartTime": "13pm",
                "predictedDeliveryWindowEndTime": "25:00",
                "endOfDay": "noon",
            },
            est(3, 7, 0, 0),
            est(3, 7, 23, 59, 59),
        ),
        (
            {
                "deliveryDateExpectation": {
                    "expectedDeliveryDate": "2025-03-07",
                    "predictedDeliveryWindowEndTime": "17:45:30",
                },
                "expectedDeliveryDate": "2025-03-09",
            },
            est(3, 7, 0, 0),
            est(3, 7, 17, 45, 30),
        ),
    ],
)
def test_expected_delivery_shapes(
    fields: dict[str, Any], earliest: datetime, latest: datetime
) -> None:
    """Dates, timestamps, windows and end-of-day times, all in the parcel's local zone."""
    event = {"eventTimestamp": "2025-03-05T10:00:00", "GMTOffset": "-05:00"}
    snapshot = only(parse_usps(minimal(event, **fields)))
    assert snapshot.eta == EtaWindow(earliest=earliest, latest=latest)


def test_expected_delivery_without_events_uses_the_default_zone() -> None:
    """No event to take a zone from: US Eastern standard time."""
    snapshot = only(parse_usps(minimal(expectedDeliveryDate="2025-03-07")))
    assert snapshot.eta is not None
    assert snapshot.eta.earliest == datetime(2025, 3, 7, tzinfo=DEFAULT_OFFSET)


def test_unusable_expected_delivery_is_none() -> None:
    """Nonsense or out-of-range dates give no ETA."""
    assert only(parse_usps(minimal(expectedDeliveryDate="soon"))).eta is None
    assert only(parse_usps(minimal(expectedDeliveryDate="0001-01-01"))).eta is None
    far = minimal(expectedDeliveryTimeStamp="0001-01-01T00:00:00+05:00")
    assert only(parse_usps(far)).eta is None


@pytest.mark.parametrize(
    "reply",
    [
        None,
        "tracking",
        5,
        [1],
        [{}],
        {},
        {"apiVersion": "/tracking/v3"},
        {"error": 5},
        {"error": {}},
        {"error": {"errors": "150001"}},
        {"error": {"errors": ["150001"]}},
        {"errors": [3]},
        {"trackingNumber": "X", "trackingEvents": {}},
        {"trackingNumber": "X", "trackingEvents": [1]},
        {"trackingNumber": "X", "deliveryDateExpectation": []},
    ],
)
def test_mangled_bodies_raise_invalid_response(reply: object) -> None:
    """Anything that is not USPS's shape raises TrackingInvalidResponseError."""
    with pytest.raises(TrackingInvalidResponseError):
        parse_usps(reply, tracking_number="9400100000000000000000")


def _parse_or_invalid(reply: object) -> None:
    try:
        result = parse_usps(reply, tracking_number="9400100000000000000000")
    except TrackingInvalidResponseError:
        return
    for number, value in result.items():
        assert isinstance(value, SourceSnapshot | TrackingError)
        assert not isinstance(value, TrackingInvalidResponseError)
        if isinstance(value, SourceSnapshot):
            assert value.tracking_number == number
            times = [event.time for event in value.events]
            assert times == sorted(times, reverse=True)
            assert all(event.time.utcoffset() is not None for event in value.events)


@FUZZ
@given(reply=json_values)
def test_random_json_never_raises_anything_else(reply: object) -> None:
    """Random JSON trees raise TrackingInvalidResponseError or parse."""
    _parse_or_invalid(reply)


@FUZZ
@given(
    reply=st.fixed_dictionaries(
        {
            "trackingNumber": st.just("9400100000000000000000"),
            "trackingEvents": st.lists(json_values),
        }
    )
)
def test_random_events_never_raise_anything_else(reply: object) -> None:
    """Random events inside a tracking object raise TrackingInvalidResponseError or parse."""
    _parse_or_invalid(reply)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
@FUZZ
@given(data=st.data())
def test_fixture_with_a_random_subtree_never_raises_anything_else(
    name: str, data: st.DataObject
) -> None:
    """Real-shaped bodies with any subtree replaced by random JSON."""
    original = body(name)
    path = data.draw(st.sampled_from(list(paths(original))), label="path")
    _parse_or_invalid(replaced(original, path, data.draw(json_values, label="value")))


def test_fixture_names_cover_the_brief() -> None:
    """Guard against a fixture silently going missing from the parametrised tests."""
    assert len(FIXTURE_NAMES) == 9


# --- Bounded replies -----------------------------------------------------------------------


def test_a_flood_of_items_and_events_is_cut() -> None:
    """At most 200 items are read from one 3.2 reply, and 200 events (the newest) each."""
    reply = body("v32_batch_200.json")
    item = reply[0]
    before = parse_usps(body("v32_batch_200.json"))[item["trackingNumber"]]
    assert isinstance(before, SourceSnapshot)
    item["trackingEvents"] = item["trackingEvents"] * 300
    reply[:] = [item] + [
        {**item, "trackingNumber": f"9400{n:018d}"} for n in range(MAX_ITEMS_PER_REPLY + 50)
    ]
    results = parse_usps(reply)
    assert len(results) == MAX_ITEMS_PER_REPLY
    snapshot = snapshot_of(results[item["trackingNumber"]])
    assert len(snapshot.events) == MAX_EVENTS_PER_NUMBER
    assert snapshot.events[0] == before.events[0]
