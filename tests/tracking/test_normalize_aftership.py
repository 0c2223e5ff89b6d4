"""The AfterShip normalizer: v4 and dated-version trackings, lists, webhooks, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
import json
from typing import Any

from hypothesis import given, strategies as st
import pytest

from custom_components.parcel_handoff.tracking.errors import (
    InvalidTrackingNumberError,
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
)
from custom_components.parcel_handoff.tracking.normalizers._util import (
    MAX_EVENTS_PER_NUMBER,
    MAX_ITEMS_PER_REPLY,
)
from custom_components.parcel_handoff.tracking.normalizers.aftership import (
    AFTERSHIP_META_CODES,
    aftership_error_for,
    aftership_request_error,
    aftership_stage,
    parse_aftership,
)
from tests.conftest import FIXTURES

from .json_trees import FUZZ, json_trees, paths, removed, replaced

IN_TRANSIT = "LP00587412369854"
USPS_NUMBER = "9261290100130736401852"
DELIVERED = "YT2507321266143980"
RETURNING = "RK305114267GB"
PICKUP = "UJ482910375CN"

CDT = timezone(timedelta(hours=-5))
CET = timezone(timedelta(hours=1))
ISRAEL = timezone(timedelta(hours=2))


def load(name: str) -> Any:
    return json.loads((FIXTURES / "aftership" / name).read_text(encoding="utf-8"))


def only(results: dict[str, SourceResult], number: str) -> SourceSnapshot:
    assert list(results) == [number]
    return snapshot(results, number)


def snapshot(results: dict[str, SourceResult], number: str) -> SourceSnapshot:
    result = results[number]
    assert isinstance(result, SourceSnapshot), result
    return result


@pytest.fixture(scope="module")
def in_transit() -> SourceSnapshot:
    return only(parse_aftership(load("tracking_v4_in_transit_last_mile.json")), IN_TRANSIT)


# --- v4: in transit, handed to USPS --------------------------------------------------------


def test_v4_tracking_with_a_last_mile_carrier(in_transit: SourceSnapshot) -> None:
    assert in_transit.source is Source.AFTERSHIP
    assert in_transit.found
    assert in_transit.carrier == "Cainiao"
    assert in_transit.local_carrier == "USPS"
    assert in_transit.local_tracking_number == USPS_NUMBER
    assert in_transit.local_carrier_code == "usps"
    assert in_transit.status_stage is Stage.IN_TRANSIT
    assert in_transit.status_text == "Departure Scan"
    assert (in_transit.origin_country, in_transit.destination_country) == ("CHN", "USA")


def test_v4_checkpoints_become_events_newest_first(in_transit: SourceSnapshot) -> None:
    times = [event.time for event in in_transit.events]
    assert len(times) == 11
    assert times == sorted(times, reverse=True)
    assert all(event.source is Source.AFTERSHIP for event in in_transit.events)
    oldest_first = list(reversed(in_transit.events))
    assert [(event.code, event.stage) for event in oldest_first] == [
        ("InfoReceived_001", Stage.INFO_RECEIVED),
        ("InTransit_002", Stage.ORIGIN_PROCESSING),
        ("InTransit_007", Stage.IN_TRANSIT),
        ("InTransit_006", Stage.ORIGIN_PROCESSING),  # export, told by the raw tag CC_EX_START
        ("InTransit_005", Stage.ORIGIN_PROCESSING),  # export, told by the message
        ("InTransit_007", Stage.IN_TRANSIT),
        ("InTransit_004", Stage.IN_TRANSIT),
        ("InTransit_006", Stage.CUSTOMS),  # import customs
        ("InTransit_005", Stage.CUSTOMS),
        ("InTransit_003", Stage.IN_TRANSIT),
        ("InTransit_007", Stage.IN_TRANSIT),
    ]


def test_v4_carriers_and_numbers_per_checkpoint(in_transit: SourceSnapshot) -> None:
    usps = [e for e in in_transit.events if e.carrier == "USPS"]
    cainiao = [e for e in in_transit.events if e.carrier == "Cainiao"]
    assert (len(usps), len(cainiao)) == (2, 9)
    assert {e.tracking_number for e in usps} == {USPS_NUMBER}
    assert {e.tracking_number for e in cainiao} == {IN_TRANSIT}


def test_v4_checkpoint_times_keep_their_offsets(in_transit: SourceSnapshot) -> None:
    oldest = in_transit.events[-1]
    assert oldest.time == datetime(2025, 3, 1, 3, 5, tzinfo=UTC)
    assert oldest.time.utcoffset() == timedelta(hours=8)
    arrival = next(e for e in in_transit.events if e.code == "InTransit_004")
    # Before the US clocks changed on 9 March: CST; after it: CDT.
    assert arrival.time == datetime(2025, 3, 8, 11, 15, tzinfo=UTC)
    assert arrival.time.utcoffset() == timedelta(hours=-6)
    newest = in_transit.events[0]
    assert newest.time == datetime(2025, 3, 14, 8, 10, tzinfo=UTC)
    assert newest.time.hour == 3


def test_v4_zone_less_checkpoint_borrows_its_couriers_offset(in_transit: SourceSnapshot) -> None:
    arrived = in_transit.events[1]
    assert arrived.description == "Arrived at USPS Regional Facility"
    assert arrived.time == datetime(2025, 3, 13, 21, 48, tzinfo=CDT)
    assert arrived.time.utcoffset() == timedelta(hours=-5)


def test_v4_locations(in_transit: SourceSnapshot) -> None:
    oldest_first = list(reversed(in_transit.events))
    assert oldest_first[0].location is None
    assert oldest_first[1].location == "Dongguan, Guangdong, China"
    assert oldest_first[3].location == "Shenzhen"
    assert oldest_first[-1].location == (
        "CHICAGO IL INTERNATIONAL DISTRIBUTION CENTER, IL, United States"
    )


def test_v4_eta_prefers_the_carriers_estimate(in_transit: SourceSnapshot) -> None:
    # AfterShip's own estimate (19-21 March) loses to the carrier's (17-19 March).
    assert in_transit.eta == EtaWindow(
        earliest=datetime(2025, 3, 17, tzinfo=CDT),
        latest=datetime(2025, 3, 19, 23, 59, 59, 999999, tzinfo=CDT),
    )


# --- v4: delivered; 2023-10: returning; 2024-10: pickup; list ---------------------------------


def test_v4_delivered() -> None:
    delivered = only(parse_aftership(load("tracking_v4_delivered.json")), DELIVERED)
    assert delivered.carrier == "YunExpress"
    assert delivered.status_stage is Stage.DELIVERED
    assert delivered.status_text == "Sign by customer"
    assert [e.stage for e in delivered.events[:2]] == [Stage.DELIVERED, Stage.OUT_FOR_DELIVERY]
    assert delivered.events[0].time == datetime(2025, 2, 12, 12, 58, tzinfo=UTC)
    assert delivered.events[0].location == "Valencia, Spain"
    assert delivered.events[0].description == "Entregado"
    # An empty next_couriers list names no final-mile carrier.
    assert delivered.local_carrier is None
    assert delivered.local_tracking_number is None
    # v4's expected_delivery (a date) when no estimate object is filled in.
    assert delivered.eta == EtaWindow(
        earliest=datetime(2025, 2, 14, tzinfo=CET),
        latest=datetime(2025, 2, 14, 23, 59, 59, 999999, tzinfo=CET),
    )
    assert (delivered.origin_country, delivered.destination_country) == ("CHN", "ESP")


def test_2023_10_exception_returning() -> None:
    returning = only(parse_aftership(load("tracking_2023_10_exception_returning.json")), RETURNING)
    assert returning.carrier == "Royal Mail"
    assert returning.status_stage is Stage.RETURNING
    assert returning.status_text == "Returning to sender"
    assert [e.stage for e in returning.events] == [
        Stage.RETURNING,
        Stage.EXCEPTION,
        Stage.AVAILABLE_FOR_PICKUP,
        Stage.DELIVERY_FAILED,
        Stage.IN_TRANSIT,
        Stage.ORIGIN_PROCESSING,
    ]
    assert returning.events[0].time == datetime(2025, 1, 21, 7, 30, tzinfo=UTC)
    assert returning.events[0].location == "Leeds Delivery Office"
    assert returning.eta is None


def test_2024_10_data_is_the_tracking_itself() -> None:
    pickup = only(parse_aftership(load("tracking_2024_10_pickup.json")), PICKUP)
    assert pickup.carrier == "China Post"
    assert pickup.status_stage is Stage.AVAILABLE_FOR_PICKUP
    # next_couriers (before 2025-01) names the final-mile carrier, here on the same number.
    assert pickup.local_carrier == "Israel Post"
    assert pickup.local_carrier_code == "israel-post"
    assert pickup.local_tracking_number == PICKUP
    assert {e.tracking_number for e in pickup.events} == {PICKUP}
    assert [e.carrier for e in pickup.events] == [
        "Israel Post",
        "Israel Post",
        "Israel Post",
        "China Post",
        "China Post",
    ]
    assert [e.stage for e in pickup.events[:3]] == [
        Stage.AVAILABLE_FOR_PICKUP,
        Stage.CUSTOMS,
        Stage.IN_TRANSIT,
    ]
    assert pickup.events[0].time == datetime(2024, 11, 26, 9, 5, tzinfo=UTC)
    assert pickup.events[0].time.tzinfo == ISRAEL
    assert pickup.events[-1].location == "Yiwu, Zhejiang, China"
    # latest_estimated_delivery wins over first_estimated_delivery.
    assert pickup.eta == EtaWindow(
        earliest=datetime(2024, 11, 25, tzinfo=ISRAEL),
        latest=datetime(2024, 11, 27, 23, 59, 59, 999999, tzinfo=ISRAEL),
    )
    assert (pickup.origin_country, pickup.destination_country) == ("CHN", "ISR")


def test_list_envelope_gives_every_tracking() -> None:
    results = parse_aftership(load("trackings_list.json"))
    assert list(results) == ["LP00120033004455", "UA917364028CN", "LX660213395CN"]
    pending = snapshot(results, "LP00120033004455")
    assert not pending.found
    assert pending.events == ()
    assert pending.status_stage is None
    assert pending.status_text == "Pending"
    moving = snapshot(results, "UA917364028CN")
    assert moving.found
    assert moving.status_stage is Stage.IN_TRANSIT
    assert len(moving.events) == 2
    expired = snapshot(results, "LX660213395CN")
    # Expired says nothing about where the parcel is, but its checkpoint still counts.
    assert expired.found
    assert expired.status_stage is None
    assert expired.carrier == "China EMS"
    assert expired.events[0].stage is Stage.IN_TRANSIT


# --- other envelopes and shapes ----------------------------------------------------------


def _tracking(number: str = "AB1", **fields: Any) -> dict[str, Any]:
    return {"tracking_number": number, "slug": "dhl", **fields}


def test_bare_tracking_and_webhook_message() -> None:
    tracking = _tracking(tag="InfoReceived", subtag="InfoReceived_001")
    bare = only(parse_aftership(tracking), "AB1")
    webhook = only(parse_aftership({"event": "tracking_update", "msg": tracking, "ts": 1}), "AB1")
    assert bare == webhook
    assert bare.found
    assert bare.carrier == "DHL"
    assert bare.status_stage is Stage.INFO_RECEIVED
    assert bare.status_text == "InfoReceived"


def test_numbers_are_keyed_upper_case_without_spaces() -> None:
    result = parse_aftership({"data": {"tracking": _tracking(" rr 123 456 789 de ")}})
    assert list(result) == ["RR123456789DE"]


def test_checkpoint_time_falls_back_to_created_at() -> None:
    checkpoints = [
        {"message": "scan", "checkpoint_time": "", "created_at": "2025-04-01T10:00:00+00:00"},
        {"message": "junk", "checkpoint_time": "soon"},
        {"message": "ancient", "checkpoint_time": "1900-01-01T00:00:00+00:00"},
    ]
    parcel = only(parse_aftership(_tracking(checkpoints=checkpoints)), "AB1")
    (event,) = parcel.events
    assert event.time == datetime(2025, 4, 1, 10, tzinfo=UTC)
    assert event.carrier == "DHL"
    assert event.stage is None
    assert event.code is None


def test_message_falls_back_to_the_subtag_message() -> None:
    checkpoints = [
        {
            "checkpoint_time": "2025-04-01T10:00:00+02:00",
            "subtag_message": "Out for Delivery",
            "tag": "OutForDelivery",
            "country_region_name": "Germany",
        }
    ]
    parcel = only(parse_aftership(_tracking(checkpoints=checkpoints)), "AB1")
    (event,) = parcel.events
    assert event.description == "Out for Delivery"
    assert event.stage is Stage.OUT_FOR_DELIVERY
    assert event.code == "OutForDelivery"
    assert event.location == "Germany"


def test_single_date_and_datetime_estimates() -> None:
    single = _tracking(aftership_estimated_delivery_date={"estimated_delivery_date": "2025-05-02"})
    parcel = only(parse_aftership(single), "AB1")
    assert parcel.eta == EtaWindow(
        earliest=datetime(2025, 5, 2, tzinfo=UTC),
        latest=datetime(2025, 5, 2, 23, 59, 59, 999999, tzinfo=UTC),
    )
    exact = _tracking(
        courier_estimated_delivery_date={"estimated_delivery_date": "2025-05-02T14:00:00+02:00"},
        custom_estimated_delivery_date={"estimated_delivery_date": "2025-06-01"},
    )
    when = datetime(2025, 5, 2, 12, tzinfo=UTC)
    assert only(parse_aftership(exact), "AB1").eta == EtaWindow(earliest=when, latest=when)
    empty = _tracking(courier_estimated_delivery_date={"estimated_delivery_date": None})
    assert only(parse_aftership(empty), "AB1").eta is None


def test_last_mile_without_a_number_is_ignored() -> None:
    parcel = only(parse_aftership(_tracking(last_mile={"slug": "usps"})), "AB1")
    assert parcel.local_carrier == "USPS"
    assert parcel.local_tracking_number is None


def test_a_mangled_tracking_spoils_only_its_own_number() -> None:
    body = {
        "data": {
            "trackings": [
                _tracking("BROKEN1", checkpoints="oops"),
                _tracking("GOOD1", tag="InTransit"),
            ]
        }
    }
    results = parse_aftership(body)
    assert isinstance(results["BROKEN1"], TrackingInvalidResponseError)
    assert snapshot(results, "GOOD1").status_stage is Stage.IN_TRANSIT


def test_the_fuller_duplicate_wins() -> None:
    checkpoint = {"checkpoint_time": "2025-04-01T10:00:00+00:00", "message": "x"}
    empty, full = _tracking("D1", tag="Pending"), _tracking("d1", checkpoints=[checkpoint])
    for trackings in ([empty, full], [full, empty], [_tracking("D1", checkpoints=7), full]):
        parcel = snapshot(parse_aftership({"data": {"trackings": trackings}}), "D1")
        assert len(parcel.events) == 1


@pytest.mark.parametrize(
    "body",
    [
        [],
        None,
        {"meta": {"code": 200}},
        {"meta": {"code": 200}, "data": {}},
        {"meta": {"code": 200}, "data": {"tracking": None}},
        {"meta": {"code": 200}, "data": {"tracking": {"slug": "usps"}}},
        {"meta": {"code": 200}, "data": {"trackings": {}}},
        {"msg": "hello"},
    ],
)
def test_unrecognisable_bodies_raise(body: object) -> None:
    with pytest.raises(TrackingInvalidResponseError):
        parse_aftership(body)


def test_a_failed_request_raises_with_the_mapped_cause() -> None:
    body = {"meta": {"code": 4004, "message": "Tracking does not exist.", "type": "NotFound"}}
    with pytest.raises(TrackingInvalidResponseError) as caught:
        parse_aftership({**body, "data": {}})
    assert isinstance(caught.value.__cause__, TrackingNotFoundError)
    assert "Tracking does not exist." in str(caught.value)


# --- error codes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "error_type"),
    [
        (401, TrackingAuthenticationError),
        (403, TrackingAuthenticationError),
        (429, TrackingRateLimitError),
        (503, TrackingConnectionError),
        (4004, TrackingNotFoundError),
        (4005, InvalidTrackingNumberError),
        (4012, TrackingNotFoundError),
        (4003, TrackingError),
        (4999, TrackingError),
    ],
)
def test_meta_codes_map_to_engine_errors(code: int, error_type: type[TrackingError]) -> None:
    error = aftership_error_for(code, "")
    assert type(error) is error_type
    assert str(error).startswith(f"AfterShip error {code}: ")
    if code in AFTERSHIP_META_CODES:
        assert str(error).endswith(AFTERSHIP_META_CODES[code][1])
    if isinstance(error, InvalidTrackingNumberError):
        assert error.reason == "rejected_by_source"


@pytest.mark.parametrize(
    ("body", "failed"),
    [
        ({"meta": {"code": 200}}, False),
        ({"meta": {"code": 201}}, False),
        ({"meta": {"code": "401"}}, False),
        ({"meta": {"code": True}}, False),
        ({"meta": None}, False),
        ({"meta": {"code": 401, "message": "Invalid API key."}}, True),
        ("not an object", False),
    ],
)
def test_request_errors(body: object, failed: bool) -> None:
    assert (aftership_request_error(body) is not None) is failed


# --- stage mapping -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subtag", "tag", "export", "stage"),
    [
        ("Pending_001", "Pending", False, None),
        ("InfoReceived_001", "InfoReceived", False, Stage.INFO_RECEIVED),
        ("InTransit_001", "InTransit", False, Stage.IN_TRANSIT),
        ("InTransit_002", "InTransit", False, Stage.ORIGIN_PROCESSING),
        ("InTransit_003", "InTransit", False, Stage.IN_TRANSIT),
        ("InTransit_004", "InTransit", False, Stage.IN_TRANSIT),
        ("InTransit_005", "InTransit", False, Stage.CUSTOMS),
        ("InTransit_006", "InTransit", False, Stage.CUSTOMS),
        ("InTransit_006", "InTransit", True, Stage.ORIGIN_PROCESSING),
        ("InTransit_007", "InTransit", True, Stage.IN_TRANSIT),
        ("OutForDelivery_001", "OutForDelivery", False, Stage.OUT_FOR_DELIVERY),
        ("OutForDelivery_004", "OutForDelivery", False, Stage.LAST_MILE),
        ("AvailableForPickup_001", "AvailableForPickup", False, Stage.AVAILABLE_FOR_PICKUP),
        ("AttemptFail_003", "AttemptFail", False, Stage.DELIVERY_FAILED),
        ("Delivered_003", "Delivered", False, Stage.DELIVERED),
        ("Exception_004", "Exception", False, Stage.EXCEPTION),
        ("Exception_010", "Exception", False, Stage.RETURNING),
        ("Exception_011", "Exception", False, Stage.RETURNED),
        ("Exception_013", "Exception", False, Stage.EXCEPTION),
        ("Expired_001", "Expired", False, None),
        ("Exception_017", "Exception", False, Stage.EXCEPTION),
        ("Delivered_009", None, False, Stage.DELIVERED),
        (None, "AttemptFail", False, Stage.DELIVERY_FAILED),
        (None, None, False, None),
        ("Mystery_001", "Mystery", False, None),
    ],
)
def test_stage_mapping(
    subtag: str | None, tag: str | None, export: bool, stage: Stage | None
) -> None:
    assert aftership_stage(subtag, tag, export=export) is stage


# --- property tests: nothing but TrackingInvalidResponseError escapes ----------------------

KEYS = [
    "meta", "code", "message", "data", "tracking", "trackings", "msg", "tracking_number",
    "slug", "tag", "subtag", "subtag_message", "checkpoints", "checkpoint_time", "created_at",
    "location", "city", "state", "country_name", "country_iso3", "country_region",
    "country_region_name", "raw_tag", "last_mile", "next_couriers",
    "courier_estimated_delivery_date", "aftership_estimated_delivery_date",
    "latest_estimated_delivery", "estimated_delivery_date", "estimated_delivery_date_min",
    "estimated_delivery_date_max", "datetime_min", "datetime_max", "expected_delivery",
    "origin_country_iso3", "destination_country_region",
]  # fmt: skip
STRINGS = [
    "2025-03-14T03:10:00-05:00", "2025-03-13T21:48:00", "2025-03-17", "InTransit",
    "InTransit_006", "Exception_010", "Delivered", "Pending", "CC_EX_START", "usps",
    "cainiao", "0001-01-01T00:00:00+14:00", "9999-12-31", "Export clearance", "LP00",
]  # fmt: skip
TREES = json_trees(KEYS, STRINGS)
FIXTURE_NAMES = [
    "tracking_v4_unclaimed_then_moving_naive_times.json",
    "tracking_v4_in_transit_last_mile.json",
    "tracking_v4_delivered.json",
    "tracking_2023_10_exception_returning.json",
    "tracking_2024_10_pickup.json",
    "trackings_list.json",
]


def assert_only_invalid(body: object) -> None:
    try:
        results = parse_aftership(body)
    except TrackingInvalidResponseError:
        return
    for number, result in results.items():
        assert number
        assert number == "".join(number.split())
        assert isinstance(result, SourceSnapshot | TrackingError)
        if isinstance(result, SourceSnapshot):
            times = [event.time for event in result.events]
            assert times == sorted(times, reverse=True)
            assert all(time.utcoffset() is not None for time in times)


@FUZZ
@given(TREES)
def test_random_json_raises_only_invalid_response(body: Any) -> None:
    assert_only_invalid(body)


@FUZZ
@given(TREES)
def test_random_tracking_raises_only_invalid_response(tracking: Any) -> None:
    assert_only_invalid({"meta": {"code": 200}, "data": {"tracking": tracking}})


@pytest.mark.parametrize("name", FIXTURE_NAMES)
@FUZZ
@given(data=st.data(), value=TREES)
def test_fixtures_with_a_subtree_replaced_raise_only_invalid_response(
    name: str, data: st.DataObject, value: Any
) -> None:
    body = load(name)
    path = data.draw(st.sampled_from(list(paths(body))))
    assert_only_invalid(replaced(body, path, value))


@pytest.mark.parametrize("name", FIXTURE_NAMES)
@FUZZ
@given(data=st.data())
def test_fixtures_with_a_subtree_removed_raise_only_invalid_response(
    name: str, data: st.DataObject
) -> None:
    body = load(name)
    path = data.draw(st.sampled_from(list(paths(body))))
    assert_only_invalid(removed(body, path))


# --- Zone-less checkpoint times -------------------------------------------------------


def test_zone_less_times_are_read_in_the_checkpoints_state() -> None:
    """USPS gave no offsets and no country: its home country and each state decide."""
    parcel = only(
        parse_aftership(load("tracking_v4_unclaimed_then_moving_naive_times.json")),
        "9405511206213345678912",
    )
    by_text = {event.description: event for event in parcel.events}
    out = by_text["Out for Delivery"]
    assert out.time == datetime(2026, 7, 2, 8, 3, tzinfo=CDT)  # Evanston, IL in July
    assert out.time.utcoffset() == timedelta(hours=-5)
    accepted = by_text["USPS in possession of item"]
    assert accepted.time.utcoffset() == timedelta(hours=-5)  # Wisconsin, Central too
    # No state on the label event: the representative US zone (Central) stands in.
    label = by_text["Shipping Label Created, USPS Awaiting Item"]
    assert label.time == datetime(2026, 6, 29, 0, 0, 1, tzinfo=CDT)


def _one_checkpoint(checkpoint_time: str, **fields: Any) -> dict[str, Any]:
    checkpoint = {"checkpoint_time": checkpoint_time, "message": "Scan", "tag": "InTransit"}
    return {"tracking_number": "AB1", "slug": "dhl", "checkpoints": [checkpoint | fields]}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"country_iso3": "DEU"}, timedelta(hours=1)),  # winter in Germany
        ({"country_region": "PL"}, timedelta(hours=1)),
        ({"country_name": "United States", "state": "AZ"}, timedelta(hours=-7)),
        ({"country_name": "US", "state": "NY"}, timedelta(hours=-5)),
        ({"country_iso3": "ISR"}, timedelta(hours=2)),
        ({"country_iso3": "KOR"}, timedelta(hours=9)),
        ({}, timedelta(0)),  # nothing about the place: UTC, as before
        ({"country_name": "Atlantis"}, timedelta(0)),
    ],
)
def test_zone_less_time_takes_the_checkpoints_country(
    fields: dict[str, Any], expected: timedelta
) -> None:
    tracking = _one_checkpoint("2026-01-15T10:00:00", **fields)
    (event,) = only(parse_aftership({"data": tracking}), "AB1").events
    assert event.time.utcoffset() == expected
    assert event.time.replace(tzinfo=None) == datetime(2026, 1, 15, 10, 0)


def test_zone_less_time_in_summer_keeps_daylight_saving() -> None:
    tracking = _one_checkpoint("2026-07-15T10:00:00", country_iso3="FRA")
    (event,) = only(parse_aftership({"data": tracking}), "AB1").events
    assert event.time.utcoffset() == timedelta(hours=2)


def test_zone_less_time_of_a_multi_zone_country_prefers_an_observed_offset() -> None:
    """US without a state: another checkpoint's stated offset beats the representative zone."""
    tracking = _one_checkpoint("2026-01-15T10:00:00", country_iso3="USA")
    tracking["checkpoints"].append(
        {"checkpoint_time": "2026-01-14T09:00:00-08:00", "message": "Accepted", "tag": "InTransit"}
    )
    parcel = only(parse_aftership({"data": tracking}), "AB1")
    assert [event.time.utcoffset() for event in parcel.events] == [timedelta(hours=-8)] * 2


def test_zone_less_time_of_the_final_mile_courier_is_in_the_destination() -> None:
    """A local courier's checkpoint without a country is read in the destination country."""
    tracking = _one_checkpoint("2026-01-15T10:00:00", slug="poste-italiane-paccocelere")
    tracking |= {"slug": "cainiao", "destination_country_iso3": "ITA"}
    (event,) = only(parse_aftership({"data": tracking}), "AB1").events
    assert event.time.utcoffset() == timedelta(hours=1)


# --- Bounded replies -----------------------------------------------------------------------


def test_a_flood_of_trackings_and_checkpoints_is_cut() -> None:
    """At most 200 trackings are read from one reply, and 200 checkpoints (the newest) each."""
    reply = load("trackings_list.json")
    tracking = reply["data"]["trackings"][1]
    before = parse_aftership(load("trackings_list.json"))[tracking["tracking_number"]]
    assert isinstance(before, SourceSnapshot)
    tracking["checkpoints"] = tracking["checkpoints"] * 300
    reply["data"]["trackings"] = [tracking] + [
        {**tracking, "tracking_number": f"1Z{n:016d}"} for n in range(MAX_ITEMS_PER_REPLY + 50)
    ]
    results = parse_aftership(reply)
    assert len(results) == MAX_ITEMS_PER_REPLY
    snapshot = results[tracking["tracking_number"]]
    assert isinstance(snapshot, SourceSnapshot)
    assert len(snapshot.events) == MAX_EVENTS_PER_NUMBER
    assert snapshot.events[0] == before.events[0]
