"""The 17TRACK v2.2 normalizer: gettrackinfo, webhooks, quota and error codes."""

from __future__ import annotations

from collections.abc import Callable
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
    TrackingQuotaExceededError,
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
from custom_components.parcel_handoff.tracking.normalizers.seventeen_track import (
    SEVENTEEN_TRACK_ERROR_CODES,
    SeventeenTrackQuota,
    is_already_registered,
    parse_17track,
    parse_17track_quota,
    seventeen_track_error_for,
    seventeen_track_request_error,
    seventeen_track_stage,
)
from custom_components.parcel_handoff.tracking.timeline import build_shipment
from tests.conftest import FIXTURES, SHARED_SAMPLES

from .json_trees import FUZZ, json_trees, paths, removed, replaced

HANDOFF = "LP00641207399571"
USPS_NUMBER = "9400111206213859271734"
DELIVERED = "YT2531821272094611"
NOT_FOUND = "UH036812745CN"
WEBHOOK = "RB735281946SG"

CST = timezone(timedelta(hours=-6))
CHINA = timezone(timedelta(hours=8))
CET = timezone(timedelta(hours=1))


def load(name: str) -> Any:
    return json.loads((FIXTURES / "17track" / name).read_text(encoding="utf-8"))


def snapshot(results: dict[str, SourceResult], number: str) -> SourceSnapshot:
    result = results[number]
    assert isinstance(result, SourceSnapshot), result
    return result


@pytest.fixture(scope="module")
def mixed() -> dict[str, SourceResult]:
    return parse_17track(load("gettrackinfo_mixed.json"))


@pytest.fixture(scope="module")
def handoff(mixed: dict[str, SourceResult]) -> SourceSnapshot:
    return snapshot(mixed, HANDOFF)


# --- gettrackinfo: the Cainiao parcel handed to USPS ----------------------------------------


def test_every_accepted_and_rejected_number_is_keyed(mixed: dict[str, SourceResult]) -> None:
    assert set(mixed) == {
        HANDOFF,
        DELIVERED,
        NOT_FOUND,
        "LP00999314159265",
        "12-34",
        "UA271828182CN",
    }


def test_origin_is_the_registered_carrier_not_the_first_provider(
    handoff: SourceSnapshot,
) -> None:
    # USPS is listed first in the providers; the number is registered with Cainiao.
    assert handoff.source is Source.SEVENTEEN_TRACK
    assert handoff.found
    assert handoff.carrier == "Cainiao"
    assert handoff.local_carrier == "USPS"
    assert handoff.local_tracking_number == USPS_NUMBER
    assert handoff.local_carrier_code == "21051"
    assert (handoff.origin_country, handoff.destination_country) == ("CN", "US")


def test_status_comes_from_latest_status(handoff: SourceSnapshot) -> None:
    assert handoff.status_stage is Stage.OUT_FOR_DELIVERY
    assert handoff.status_text == "Out for delivery"


def test_both_providers_events_are_merged_newest_first(handoff: SourceSnapshot) -> None:
    times = [event.time for event in handoff.events]
    assert len(times) == 14
    assert times == sorted(times, reverse=True)
    assert all(event.source is Source.SEVENTEEN_TRACK for event in handoff.events)
    oldest_first = list(reversed(handoff.events))
    assert [event.stage for event in oldest_first] == [
        Stage.INFO_RECEIVED,
        Stage.ORIGIN_PROCESSING,  # received by sorting center (PickedUp)
        Stage.IN_TRANSIT,  # departed sorting center (InTransit_Other)
        Stage.ORIGIN_PROCESSING,  # export customs started
        Stage.ORIGIN_PROCESSING,  # export customs complete
        Stage.IN_TRANSIT,  # departure
        Stage.IN_TRANSIT,  # arrival in the destination country
        Stage.CUSTOMS,  # import customs started (stage Arrival, CustomsProcessing)
        Stage.CUSTOMS,  # import customs released
        Stage.IN_TRANSIT,  # handed over to the last-mile carrier
        Stage.IN_TRANSIT,  # USPS accepted
        Stage.IN_TRANSIT,  # USPS departed
        Stage.IN_TRANSIT,  # arrived at post office
        Stage.OUT_FOR_DELIVERY,
    ]
    assert oldest_first[0].code == "InfoReceived"
    assert oldest_first[7].code == "InTransit_CustomsProcessing"
    assert oldest_first[-1].code == "OutForDelivery_Other"


def test_each_provider_names_its_events_and_number(handoff: SourceSnapshot) -> None:
    usps = [e for e in handoff.events if e.carrier == "USPS"]
    cainiao = [e for e in handoff.events if e.carrier == "Cainiao"]
    assert len(usps) == 4
    assert len(cainiao) == 10
    assert {e.tracking_number for e in usps} == {USPS_NUMBER}
    assert {e.tracking_number for e in cainiao} == {HANDOFF}


def test_instants_come_from_utc_and_offsets_from_time_iso(handoff: SourceSnapshot) -> None:
    newest, oldest = handoff.events[0], handoff.events[-1]
    assert newest.time == datetime(2025, 11, 12, 13, 58, tzinfo=UTC)
    assert newest.time.utcoffset() == timedelta(hours=-6)
    assert newest.time.hour == 7
    assert oldest.time == datetime(2025, 11, 2, 1, 14, tzinfo=UTC)
    assert oldest.time.utcoffset() == timedelta(hours=8)
    arrival = next(e for e in handoff.events if e.code == "InTransit_Arrival")
    # A Cainiao event stamped in Chicago keeps Chicago's offset.
    assert arrival.time.utcoffset() == timedelta(hours=-6)


def test_local_time_without_zone_takes_the_carriers_offset(handoff: SourceSnapshot) -> None:
    post_office = next(e for e in handoff.events if e.description == "Arrived at Post Office")
    assert post_office.time == datetime(2025, 11, 12, 5, 41, tzinfo=CST)
    assert post_office.time.utcoffset() == timedelta(hours=-6)


def test_location_falls_back_to_the_address(handoff: SourceSnapshot) -> None:
    sorting = next(e for e in handoff.events if e.description == "Departed from sorting center")
    assert sorting.location == "DONGGUAN, GD, CN"
    newest = handoff.events[0]
    assert newest.location == "AUSTIN, TX 78701"
    assert handoff.events[-1].location is None


def test_eta_window_midnight_upper_bound_covers_the_day(handoff: SourceSnapshot) -> None:
    assert handoff.eta == EtaWindow(
        earliest=datetime(2025, 11, 12, tzinfo=CST),
        latest=datetime(2025, 11, 14, 23, 59, 59, 999999, tzinfo=CST),
    )


# --- gettrackinfo: delivered, not found, rejected ----------------------------------------------


def test_delivered_parcel(mixed: dict[str, SourceResult]) -> None:
    delivered = snapshot(mixed, DELIVERED)
    assert delivered.carrier == "YunExpress"
    assert delivered.status_stage is Stage.DELIVERED
    assert delivered.status_text == "Delivered"
    assert delivered.events[0].stage is Stage.DELIVERED
    assert delivered.events[0].time == datetime(2025, 12, 8, 14, 47, tzinfo=UTC)
    assert delivered.events[0].time.utcoffset() == timedelta(hours=1)
    assert delivered.events[-1].time.tzinfo == CHINA
    # Empty local fields mean no final-mile carrier.
    assert delivered.local_carrier is None
    assert delivered.local_tracking_number is None
    assert delivered.local_carrier_code is None
    assert delivered.eta is None
    assert (delivered.origin_country, delivered.destination_country) == ("CN", "DE")


def test_translated_description_is_preferred(mixed: dict[str, SourceResult]) -> None:
    delivered = snapshot(mixed, DELIVERED)
    out_for_delivery = delivered.events[1]
    assert out_for_delivery.description == "Out for delivery today"
    assert out_for_delivery.location == "BREMEN, HB, DE"


def test_not_found_without_events_is_not_found(mixed: dict[str, SourceResult]) -> None:
    not_found = snapshot(mixed, NOT_FOUND)
    assert not not_found.found
    assert not_found.events == ()
    assert not_found.status_stage is None
    assert not_found.status_text == "NotFound"
    assert not_found.carrier == "China Post"


@pytest.mark.parametrize(
    ("number", "error_type", "code"),
    [
        ("LP00999314159265", TrackingNotFoundError, -18019902),
        ("12-34", InvalidTrackingNumberError, -18010012),
        ("UA271828182CN", TrackingNotFoundError, -18019909),
    ],
)
def test_rejected_numbers_carry_their_error(
    mixed: dict[str, SourceResult], number: str, error_type: type[TrackingError], code: int
) -> None:
    error = mixed[number]
    assert type(error) is error_type
    assert str(code) in str(error)


def test_invalid_format_has_a_translation_reason(mixed: dict[str, SourceResult]) -> None:
    error = mixed["12-34"]
    assert isinstance(error, InvalidTrackingNumberError)
    assert error.reason == "rejected_by_source"
    assert "'12-34' is invalid" in str(error)


# --- webhooks ----------------------------------------------------------------------------


def test_tracking_updated_webhook() -> None:
    results = parse_17track(load("webhook_tracking_updated.json"))
    assert list(results) == [WEBHOOK]
    parcel = snapshot(results, WEBHOOK)
    assert parcel.carrier == "Singapore Post"
    assert parcel.status_stage is Stage.EXCEPTION
    assert parcel.status_text == "Customs requires additional information"
    assert parcel.local_carrier == "PostNL"
    assert parcel.local_tracking_number == WEBHOOK
    assert [e.carrier for e in parcel.events] == [
        "PostNL",
        "PostNL",
        "Singapore Post",
        "Singapore Post",
    ]
    held, arrived = parcel.events[0], parcel.events[1]
    assert held.stage is Stage.EXCEPTION
    assert held.code == "InTransit_CustomsRequiringInformation"
    # Summer time ended between the two Dutch scans: each keeps its own offset.
    assert held.time.utcoffset() == timedelta(hours=1)
    assert arrived.time.utcoffset() == timedelta(hours=2)
    assert arrived.time == datetime(2025, 10, 25, 7, 30, tzinfo=UTC)
    # A date-only estimate covers whole days in the newest event's offset.
    assert parcel.eta == EtaWindow(
        earliest=datetime(2025, 11, 3, tzinfo=CET),
        latest=datetime(2025, 11, 7, 23, 59, 59, 999999, tzinfo=CET),
    )
    assert (parcel.origin_country, parcel.destination_country) == ("SG", "NL")


def test_tracking_stopped_webhook_marks_the_number_and_says_nothing_else() -> None:
    """A stop notice names its number: accepted, flagged stopped, no tracking in it."""
    results = parse_17track(load("webhook_tracking_stopped.json"))
    stopped = results["RB077105325SG"]
    assert isinstance(stopped, SourceSnapshot)
    assert stopped.tracking_stopped is True
    assert stopped.found is False
    assert stopped.events == ()
    assert stopped.status_stage is None
    assert stopped.source is Source.SEVENTEEN_TRACK


def test_tracking_stopped_webhook_without_a_number_is_invalid() -> None:
    with pytest.raises(TrackingInvalidResponseError, match="without a tracking number"):
        parse_17track({"event": "TRACKING_STOPPED", "data": {"carrier": 11061}})


def test_tracking_stopped_keeps_the_last_known_stage() -> None:
    """Merged with what we knew, the stop notice changes nothing about the parcel."""
    known = snapshot(parse_17track(load("webhook_tracking_updated.json")), WEBHOOK)
    stopped = parse_17track(
        {"event": "TRACKING_STOPPED", "data": {"number": WEBHOOK, "carrier": 11061}}
    )[WEBHOOK]
    assert isinstance(stopped, SourceSnapshot)
    now = known.events[0].time + timedelta(hours=1)
    before = build_shipment(WEBHOOK, [known], now=now)
    after = build_shipment(WEBHOOK, [stopped], now=now, history=before.events)
    assert after.stage is before.stage
    assert after.events == before.events


def test_unknown_webhook_event_is_invalid() -> None:
    with pytest.raises(TrackingInvalidResponseError, match="AWB_UPDATED"):
        parse_17track({"event": "AWB_UPDATED", "data": {"number": WEBHOOK}})


def test_webhook_with_only_the_latest_event() -> None:
    body = {
        "event": "TRACKING_UPDATED",
        "data": {
            "number": "ab 123 456 789 cn",
            "carrier": 3011,
            "track_info": {
                "latest_status": {"status": "InTransit", "sub_status": "InTransit_PickedUp"},
                "latest_event": {
                    "description": "Picked up",
                    "time_utc": "2026-01-05T02:00:00Z",
                    "stage": "PickedUp",
                    "sub_status": "InTransit_PickedUp",
                },
            },
        },
    }
    parcel = snapshot(parse_17track(body), "AB123456789CN")
    assert parcel.found
    assert parcel.carrier is None
    assert parcel.status_stage is Stage.ORIGIN_PROCESSING
    (event,) = parcel.events
    assert event.time == datetime(2026, 1, 5, 2, tzinfo=UTC)
    assert event.stage is Stage.ORIGIN_PROCESSING
    assert event.tracking_number == "AB123456789CN"


# --- shapes and edge cases ---------------------------------------------------------------


def _accepted(number: str, track_info: Any, carrier: int | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"number": number, "track_info": track_info}
    if carrier is not None:
        item["carrier"] = carrier
    return item


def _body(*accepted: Any, rejected: list[Any] | None = None) -> dict[str, Any]:
    return {"code": 0, "data": {"accepted": list(accepted), "rejected": rejected or []}}


def _provider(key: int, name: str, *events: dict[str, Any]) -> dict[str, Any]:
    return {"provider": {"key": key, "name": name}, "events": list(events)}


def _event(description: str, **fields: Any) -> dict[str, Any]:
    return {"description": description, **fields}


def test_origin_falls_back_to_the_first_provider_that_is_not_local() -> None:
    track_info = {
        "latest_status": {"status": "InTransit", "sub_status": "InTransit_Other"},
        "misc_info": {"local_number": "RR1", "local_provider": "Israel Post", "local_key": 0},
        "tracking": {
            "providers": [
                _provider(3, "Israel Post", _event("a", time_utc="2025-05-02T08:00:00Z")),
                _provider(4, "China Post", _event("b", time_utc="2025-05-01T08:00:00Z")),
            ]
        },
    }
    parcel = snapshot(parse_17track(_body(_accepted("CP1", track_info))), "CP1")
    assert parcel.carrier == "China Post"
    assert parcel.local_carrier == "Israel Post"
    assert parcel.local_carrier_code is None
    # Matched by name when the local key is zero.
    assert [e.tracking_number for e in parcel.events] == ["RR1", "CP1"]


def test_origin_is_the_only_provider_without_local_information() -> None:
    track_info = {"tracking": {"providers": [_provider(7, "UPS")]}}
    parcel = snapshot(parse_17track(_body(_accepted("1Z9", track_info, carrier=99))), "1Z9")
    assert parcel.carrier == "UPS"
    assert not parcel.found


def test_times_events_without_a_usable_time_are_dropped() -> None:
    track_info = {
        "tracking": {
            "providers": [
                _provider(
                    1,
                    "Yanwen",
                    _event("no time at all", time_raw={"date": None}),
                    _event("placeholder", time_utc="1970-01-01T00:00:00Z"),
                    _event("utc only", time_utc="2025-06-01T10:00:00Z"),
                    _event("naive utc", time_utc="2025-06-01T09:00:00"),
                    _event("date only", time_raw={"date": "2025-05-31", "timezone": "GMT+8"}),
                )
            ]
        }
    }
    parcel = snapshot(parse_17track(_body(_accepted("YW1", track_info))), "YW1")
    assert [e.description for e in parcel.events] == ["utc only", "naive utc", "date only"]
    # No event states an offset but the date-only one: the others take it.
    assert parcel.events[0].time == datetime(2025, 6, 1, 10, tzinfo=UTC)
    assert parcel.events[0].time.utcoffset() == timedelta(hours=8)
    assert parcel.events[2].time == datetime(2025, 5, 31, tzinfo=CHINA)
    assert all(e.stage is None and e.code is None for e in parcel.events)


def test_events_without_offsets_anywhere_stay_in_utc() -> None:
    track_info = {
        "tracking": {
            "providers": [
                _provider(1, "4PX", _event("", time_raw={"date": "2025-06-01", "time": "08:00:00"}))
            ]
        }
    }
    parcel = snapshot(parse_17track(_body(_accepted("4PX1", track_info))), "4PX1")
    (event,) = parcel.events
    assert event.time == datetime(2025, 6, 1, 8, tzinfo=UTC)
    assert event.description == ""
    assert event.carrier == "4PX"


def test_accepted_without_track_info_is_not_found_yet() -> None:
    parcel = snapshot(parse_17track(_body(_accepted("NEW1", None))), "NEW1")
    assert not parcel.found
    assert parcel.events == ()


def test_expired_without_events_is_not_found() -> None:
    track_info = {"latest_status": {"status": "Expired", "sub_status": "Expired_Other"}}
    parcel = snapshot(parse_17track(_body(_accepted("OLD1", track_info))), "OLD1")
    assert not parcel.found
    assert parcel.status_stage is None
    assert parcel.status_text == "Expired"


def test_a_found_entry_beats_a_not_found_one_for_the_same_number() -> None:
    empty = _accepted("DUP1", {"latest_status": {"status": "NotFound"}}, carrier=1)
    full = _accepted(
        "dup1",
        {
            "latest_status": {"status": "InTransit"},
            "tracking": {
                "providers": [_provider(2, "DHL", _event("x", time_utc="2025-01-01T00:00:00Z"))]
            },
        },
        carrier=2,
    )
    rejected = [{"number": "DUP1", "error": {"code": -18019909, "message": ""}}]
    for order in ((empty, full), (full, empty)):
        parcel = snapshot(parse_17track(_body(*order, rejected=rejected)), "DUP1")
        assert parcel.found
        assert parcel.carrier == "DHL"


def test_a_snapshot_replaces_an_error_for_the_same_number() -> None:
    mangled = _accepted("TWICE1", {"tracking": []})
    good = _accepted("TWICE1", {"latest_status": {"status": "InfoReceived"}})
    parcel = snapshot(parse_17track(_body(mangled, good)), "TWICE1")
    assert parcel.found
    assert parcel.status_stage is Stage.INFO_RECEIVED


def test_a_latest_event_without_a_time_is_dropped() -> None:
    track_info = {
        "latest_status": {"status": "InTransit"},
        "latest_event": {"description": "no time", "time_iso": None, "time_utc": None},
    }
    parcel = snapshot(parse_17track(_body(_accepted("LATE1", track_info))), "LATE1")
    assert parcel.found
    assert parcel.events == ()
    assert parcel.status_stage is Stage.IN_TRANSIT


def test_impossible_estimate_dates_are_ignored() -> None:
    for window in ({"from": "2025-02-30", "to": "1900-01-01"}, {"from": None, "to": "soon"}):
        track_info = {"time_metrics": {"estimated_delivery_date": window}}
        assert snapshot(parse_17track(_body(_accepted("ETA1", track_info))), "ETA1").eta is None
    track_info = {"time_metrics": {"estimated_delivery_date": {"to": "2025-03-01T18:00:00Z"}}}
    eta = snapshot(parse_17track(_body(_accepted("ETA2", track_info))), "ETA2").eta
    assert eta == EtaWindow(latest=datetime(2025, 3, 1, 18, tzinfo=UTC))


def test_a_mangled_entry_spoils_only_its_own_number() -> None:
    broken = _accepted("BROKEN1", {"tracking": {"providers": "not a list"}})
    good = _accepted("GOOD1", {"latest_status": {"status": "InfoReceived"}})
    results = parse_17track(_body(broken, good))
    assert isinstance(results["BROKEN1"], TrackingInvalidResponseError)
    assert snapshot(results, "GOOD1").status_stage is Stage.INFO_RECEIVED


def test_rejections_without_a_code_and_in_the_flat_shape() -> None:
    rejected = [
        {"number": "R1", "error": {"message": "something"}},
        {"number": "R2", "error_code": "-18019908", "error_message": "quota"},
        {"number": "R3", "error": {"code": -1, "message": ""}},
    ]
    results = parse_17track(_body(rejected=rejected))
    assert isinstance(results["R1"], TrackingInvalidResponseError)
    assert type(results["R2"]) is TrackingQuotaExceededError
    assert type(results["R3"]) is TrackingError
    assert "unknown error" in str(results["R3"])


@pytest.mark.parametrize(
    "body",
    [
        [],
        "text",
        {"code": 0},
        {"code": 0, "data": []},
        {"code": 0, "data": {"page": 1}},
        {"code": 0, "data": {"accepted": {}}},
        {"code": 0, "data": {"accepted": [{"track_info": {}}]}},
        {"code": 0, "data": {"rejected": [{"error": {"code": -18019902}}]}},
        {"event": "TRACKING_UPDATED", "data": "x"},
    ],
)
def test_unrecognisable_bodies_raise(body: object) -> None:
    with pytest.raises(TrackingInvalidResponseError):
        parse_17track(body)


def test_a_refused_request_raises_with_the_mapped_cause() -> None:
    with pytest.raises(TrackingInvalidResponseError) as caught:
        parse_17track(load("error_invalid_key.json"))
    assert isinstance(caught.value.__cause__, TrackingAuthenticationError)
    assert "-18010002" in str(caught.value)


# --- error codes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "error_type"),
    [
        (-18010001, TrackingAuthenticationError),
        (-18010002, TrackingAuthenticationError),
        (-18010003, TrackingConnectionError),
        (-18010004, TrackingAuthenticationError),
        (-18010012, InvalidTrackingNumberError),
        (-18010014, TrackingError),
        (-18019901, TrackingError),
        (-18019902, TrackingNotFoundError),
        (-18019903, TrackingNotFoundError),
        (-18019907, TrackingRateLimitError),
        (-18019908, TrackingQuotaExceededError),
        (-18019909, TrackingNotFoundError),
        (-18019815, TrackingConnectionError),
        (-18019912, TrackingAuthenticationError),
        (-17000000, TrackingError),
    ],
)
def test_error_codes_map_to_engine_errors(code: int, error_type: type[TrackingError]) -> None:
    error = seventeen_track_error_for(code, "from the API")
    assert type(error) is error_type
    assert str(error) == f"17TRACK error {code}: from the API"


def test_an_empty_message_falls_back_to_the_documented_meaning() -> None:
    assert str(seventeen_track_error_for(-18019908, "")) == (
        "17TRACK error -18019908: tracking quota used up"
    )
    assert "unknown error" in str(seventeen_track_error_for(5, ""))


def test_the_code_table_covers_the_documented_codes() -> None:
    documented = {-18010001, -18010002, -18010003, -18010004, -18010005, -18010010}
    documented |= set(range(-18019911, -18019900)) | set(range(-18019811, -18019800))
    assert documented <= set(SEVENTEEN_TRACK_ERROR_CODES)
    assert all(meaning for _, meaning in SEVENTEEN_TRACK_ERROR_CODES.values())


def test_already_registered() -> None:
    assert is_already_registered(-18019901)
    assert not is_already_registered(-18019902)


@pytest.mark.parametrize(
    ("body", "error_type"),
    [
        ({"code": 0, "data": {"accepted": [], "rejected": []}}, None),
        ({"code": 0, "data": {"errors": []}}, None),
        ("not an object", None),
        (
            {"code": 401, "data": {"errors": [{"code": -18010002, "message": "x"}]}},
            TrackingAuthenticationError,
        ),
        ({"code": 0, "data": {"errors": [{"code": "-18010013", "message": "x"}]}}, TrackingError),
        ({"code": -18019908, "data": None}, TrackingQuotaExceededError),
        ({"code": True, "data": {}}, None),
        ({"code": "--5", "data": {}}, None),
    ],
)
def test_request_errors(body: object, error_type: type[TrackingError] | None) -> None:
    error = seventeen_track_request_error(body)
    if error_type is None:
        assert error is None
    else:
        assert type(error) is error_type


# --- stage mapping -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sub_status", "status", "description", "stage"),
    [
        ("InfoReceived", "InfoReceived", None, Stage.INFO_RECEIVED),
        ("InTransit_PickedUp", "PickedUp", None, Stage.ORIGIN_PROCESSING),
        ("InTransit_Other", "PickedUp", None, Stage.ORIGIN_PROCESSING),
        ("InTransit_Departure", "Departure", None, Stage.IN_TRANSIT),
        ("InTransit_Arrival", "Arrival", None, Stage.IN_TRANSIT),
        ("InTransit_CustomsProcessing", "Arrival", None, Stage.CUSTOMS),
        ("InTransit_CustomsReleased", None, "Import clearance success", Stage.CUSTOMS),
        ("InTransit_CustomsProcessing", None, "Export customs started", Stage.ORIGIN_PROCESSING),
        ("InTransit_CustomsRequiringInformation", "Arrival", None, Stage.EXCEPTION),
        ("AvailableForPickup_Other", None, None, Stage.AVAILABLE_FOR_PICKUP),
        ("OutForDelivery_Other", "OutForDelivery", None, Stage.OUT_FOR_DELIVERY),
        ("DeliveryFailure_NoBody", "DeliveryFailure", None, Stage.DELIVERY_FAILED),
        ("DeliveryFailure_InvalidAddress", None, None, Stage.DELIVERY_FAILED),
        ("Delivered_Other", "Delivered", None, Stage.DELIVERED),
        ("Exception_Returning", "Returning", None, Stage.RETURNING),
        ("Exception_Returned", None, None, Stage.RETURNED),
        ("Exception_Other", "Returned", None, Stage.RETURNED),
        ("Exception_Lost", "Exception", None, Stage.EXCEPTION),
        ("Exception_Delayed", None, None, Stage.EXCEPTION),
        ("Expired_Other", "Expired", None, None),
        ("NotFound_Other", "NotFound", None, None),
        ("NotFound_InvalidCode", None, None, None),
        ("InTransit_QuantumTunnelling", None, None, Stage.IN_TRANSIT),
        ("InTransit_QuantumTunnelling", "Departure", None, Stage.IN_TRANSIT),
        ("Exception_Confiscated", None, None, Stage.EXCEPTION),
        (None, "Departure", None, Stage.IN_TRANSIT),
        (None, None, None, None),
        ("Bogus", "Nonsense", None, None),
    ],
)
def test_stage_mapping(
    sub_status: str | None, status: str | None, description: str | None, stage: Stage | None
) -> None:
    assert seventeen_track_stage(sub_status, status, description) is stage


# --- quota -------------------------------------------------------------------------------


def test_quota() -> None:
    assert parse_17track_quota(load("getquota.json")) == SeventeenTrackQuota(
        total=200, used=37, remaining=163, today_used=4, daily_limit=10_000_000
    )


def test_quota_conforms_to_the_documented_example() -> None:
    sample = SHARED_SAMPLES / "17track_getquota_doc_example.json"
    if not sample.exists():
        pytest.skip("shared carrier samples are not available")
    quota = parse_17track_quota(json.loads(sample.read_text(encoding="utf-8")))
    assert quota.total == quota.used + quota.remaining
    assert quota.today_used is not None


def test_quota_without_the_optional_counts() -> None:
    body = {"code": 0, "data": {"quota_total": 10, "quota_used": 0, "quota_remain": 10}}
    assert parse_17track_quota(body) == SeventeenTrackQuota(total=10, used=0, remaining=10)


@pytest.mark.parametrize(
    "body",
    [
        None,
        {"code": 0},
        {"code": 0, "data": []},
        {"code": 0, "data": {"quota_total": 10, "quota_used": 0}},
        {"code": 0, "data": {"quota_total": "10", "quota_used": 0, "quota_remain": 10}},
        {"code": 0, "data": {"quota_total": True, "quota_used": 0, "quota_remain": 10}},
        {"code": 0, "data": {"quota_total": 10, "quota_used": -1, "quota_remain": 10}},
        {
            "code": 0,
            "data": {"quota_total": 1, "quota_used": 0, "quota_remain": 1, "today_used": 1.5},
        },
    ],
)
def test_bad_quota_shapes_raise(body: object) -> None:
    with pytest.raises(TrackingInvalidResponseError):
        parse_17track_quota(body)


def test_refused_quota_request_raises_with_the_mapped_cause() -> None:
    with pytest.raises(TrackingInvalidResponseError) as caught:
        parse_17track_quota(load("error_invalid_key.json"))
    assert isinstance(caught.value.__cause__, TrackingAuthenticationError)


# --- property tests: nothing but TrackingInvalidResponseError escapes ----------------------

KEYS = [
    "code", "data", "accepted", "rejected", "errors", "number", "carrier", "track_info",
    "tracking", "providers", "provider", "key", "name", "alias", "events", "time_iso",
    "time_utc", "time_raw", "date", "time", "timezone", "description",
    "description_translation", "location", "address", "city", "state", "country", "stage",
    "sub_status", "sub_status_descr", "latest_status", "status", "latest_event", "misc_info",
    "local_number", "local_provider", "local_key", "time_metrics", "estimated_delivery_date",
    "from", "to", "shipping_info", "shipper_address", "recipient_address", "error", "message",
    "event", "quota_total", "quota_used", "quota_remain", "today_used", "max_track_daily",
]  # fmt: skip
STRINGS = [
    "2025-11-12T07:58:00-06:00", "2025-11-12T13:58:00Z", "2025-11-12", "07:58:00", "+08:00",
    "GMT-5", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "InTransit",
    "InTransit_CustomsProcessing", "Delivered_Other", "NotFound", "Exception_Returning",
    "PickedUp", "TRACKING_UPDATED", "TRACKING_STOPPED", "-18019902", "USPS", "LP0064",
    "Export clearance",
]  # fmt: skip
TREES = json_trees(KEYS, STRINGS)


def assert_only_invalid(parse: Callable[[object], dict[str, SourceResult]], body: object) -> None:
    try:
        results = parse(body)
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
    assert_only_invalid(parse_17track, body)


@FUZZ
@given(TREES)
def test_random_data_in_an_envelope_raises_only_invalid_response(data: Any) -> None:
    assert_only_invalid(parse_17track, {"code": 0, "data": {"accepted": [data], "rejected": []}})


@pytest.mark.parametrize("name", ["gettrackinfo_mixed.json", "webhook_tracking_updated.json"])
@FUZZ
@given(data=st.data(), value=TREES)
def test_fixtures_with_a_subtree_replaced_raise_only_invalid_response(
    name: str, data: st.DataObject, value: Any
) -> None:
    body = load(name)
    path = data.draw(st.sampled_from(list(paths(body))))
    assert_only_invalid(parse_17track, replaced(body, path, value))


@pytest.mark.parametrize("name", ["gettrackinfo_mixed.json", "webhook_tracking_updated.json"])
@FUZZ
@given(data=st.data())
def test_fixtures_with_a_subtree_removed_raise_only_invalid_response(
    name: str, data: st.DataObject
) -> None:
    body = load(name)
    path = data.draw(st.sampled_from(list(paths(body))))
    assert_only_invalid(parse_17track, removed(body, path))


@FUZZ
@given(data=st.data(), value=TREES)
def test_quota_raises_only_invalid_response(data: st.DataObject, value: Any) -> None:
    body = load("getquota.json")
    path = data.draw(st.sampled_from(list(paths(body))))
    try:
        quota = parse_17track_quota(replaced(body, path, value))
    except TrackingInvalidResponseError:
        return
    assert isinstance(quota, SeventeenTrackQuota)


# --- Bounded replies -----------------------------------------------------------------------


def test_a_flood_of_items_and_events_is_cut() -> None:
    """At most 200 accepted items are read from one reply, and 200 events (the newest) each."""
    reply = load("gettrackinfo_mixed.json")
    item = reply["data"]["accepted"][0]
    (first, *_) = parse_17track(load("gettrackinfo_mixed.json")).values()
    assert isinstance(first, SourceSnapshot)
    for provider in item["track_info"]["tracking"]["providers"]:
        provider["events"] = provider["events"] * 300
    reply["data"]["accepted"] = [item] + [
        {**item, "number": f"RR{n:09d}CN"} for n in range(MAX_ITEMS_PER_REPLY + 50)
    ]
    reply["data"]["rejected"] = []
    results = parse_17track(reply)
    assert len(results) == MAX_ITEMS_PER_REPLY
    snapshot = results[first.tracking_number]
    assert isinstance(snapshot, SourceSnapshot)
    assert len(snapshot.events) == MAX_EVENTS_PER_NUMBER
    assert snapshot.events[0] == first.events[0]
