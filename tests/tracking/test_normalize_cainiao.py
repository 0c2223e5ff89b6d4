"""Tests for the Cainiao `global/detail.json` normalizer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
import logging
from typing import Any

from hypothesis import given, strategies as st
import pytest

from custom_components.parcel_handoff.tracking.errors import TrackingInvalidResponseError
from custom_components.parcel_handoff.tracking.model import (
    EtaWindow,
    Source,
    SourceSnapshot,
    Stage,
    TrackingEvent,
)
from custom_components.parcel_handoff.tracking.normalizers._util import (
    MAX_EVENTS_PER_NUMBER,
    MAX_ITEMS_PER_REPLY,
)
from custom_components.parcel_handoff.tracking.normalizers.cainiao import (
    action_stage,
    parse_cainiao,
)
from tests.conftest import FIXTURES
from tests.tracking.json_trees import FUZZ
from tests.tracking.mangle import json_values, load, paths, replaced

CAINIAO = FIXTURES / "cainiao"
FIXTURE_NAMES = sorted(path.name for path in CAINIAO.glob("*.json"))


def body(name: str) -> Any:
    """A fresh copy of a Cainiao fixture."""
    return load(CAINIAO / name)


def only(result: dict[str, Any]) -> SourceSnapshot:
    """The single snapshot of a one-number reply."""
    assert len(result) == 1
    (snapshot,) = result.values()
    assert isinstance(snapshot, SourceSnapshot)
    return snapshot


def by_code(snapshot: SourceSnapshot, code: str) -> TrackingEvent:
    """The one event with this action code."""
    (event,) = [event for event in snapshot.events if event.code == code]
    return event


def utc(text: str) -> datetime:
    """An ISO time without offset, read as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_handoff_to_usps_under_a_new_number() -> None:
    """A full AliExpress journey handed to USPS: local carrier, new number, ETA, stages."""
    snapshot = only(parse_cainiao(body("aliexpress_handoff_usps.json")))

    assert snapshot.tracking_number == "LP00674413215532"
    assert snapshot.source is Source.CAINIAO
    assert snapshot.found is True
    assert snapshot.carrier == "Cainiao"
    assert snapshot.local_carrier == "USPS"
    assert snapshot.local_carrier_code == "USPS"
    assert snapshot.local_tracking_number == "9200190345678901234567"
    assert snapshot.origin_country == "Mainland China"
    assert snapshot.destination_country == "United States"
    assert snapshot.status_text == "Delivered"
    assert snapshot.status_stage is Stage.DELIVERED
    assert snapshot.eta == EtaWindow(
        earliest=utc("2025-02-15T06:59:59"), latest=utc("2025-02-20T06:59:59")
    )
    assert len(snapshot.events) == 20

    newest = snapshot.events[0]
    assert newest.code == "GTMS_SIGNED"
    assert newest.stage is Stage.DELIVERED
    assert newest.carrier == "USPS"
    assert newest.time == utc("2025-02-14T20:41:07")
    assert newest.time.utcoffset() == timedelta(hours=-7)
    assert newest.tracking_number == "LP00674413215532"
    assert newest.description == "Delivered"


def test_events_are_newest_first_and_ties_keep_payload_order() -> None:
    """Sorted by instant; CC_HO_OUT_SUCCESS and CC_IM_SUCCESS share one and stay in order."""
    snapshot = only(parse_cainiao(body("aliexpress_handoff_usps.json")))
    times = [event.time for event in snapshot.events]
    assert times == sorted(times, reverse=True)
    codes = [event.code for event in snapshot.events]
    assert codes.index("CC_HO_OUT_SUCCESS") == codes.index("CC_IM_SUCCESS") - 1


def test_stages_along_the_journey() -> None:
    """Each family of action codes lands on its stage."""
    snapshot = only(parse_cainiao(body("aliexpress_handoff_usps.json")))
    stages = {event.code: event.stage for event in snapshot.events}
    assert stages == {
        "GTMS_SIGNED": Stage.DELIVERED,
        "GTMS_DELIVERING": Stage.OUT_FOR_DELIVERY,
        "GTMS_SC_ARRIVE": Stage.LAST_MILE,
        "GTMS_ACCEPT": Stage.LAST_MILE,
        "CC_HO_OUT_SUCCESS": Stage.CUSTOMS,
        "CC_IM_SUCCESS": Stage.CUSTOMS,
        "CC_HO_IN_SUCCESS": Stage.CUSTOMS,
        "LH_ARRIVE": Stage.CUSTOMS,
        "LH_DEPART": Stage.IN_TRANSIT,
        "LH_HO_AIRLINE": Stage.ORIGIN_PROCESSING,
        "CC_EX_SUCCESS": Stage.ORIGIN_PROCESSING,
        "CC_EX_START": Stage.ORIGIN_PROCESSING,
        "TRANSIT_PORT_REROUTE_CALLBACK": None,
        "LH_HO_IN_SUCCESS": Stage.ORIGIN_PROCESSING,
        "SC_OUTBOUND_SUCCESS": Stage.ORIGIN_PROCESSING,
        "SC_INBOUND_SUCCESS": Stage.ORIGIN_PROCESSING,
        "PU_PICKUP_SUCCESS": Stage.ORIGIN_PROCESSING,
        "GWMS_OUTBOUND": Stage.ORIGIN_PROCESSING,
        "GWMS_PACKAGE": Stage.ORIGIN_PROCESSING,
        "GWMS_ACCEPT": Stage.INFO_RECEIVED,
    }


def test_origin_events_are_cainiao_in_utc_and_local_events_keep_their_offset() -> None:
    """Cainiao's own scans are in UTC; the local carrier's keep the offset of their timeZone."""
    snapshot = only(parse_cainiao(body("aliexpress_handoff_usps.json")))
    departure = by_code(snapshot, "LH_DEPART")
    assert departure.carrier == "Cainiao"
    assert departure.time.utcoffset() == timedelta(0)
    assert departure.time == utc("2025-02-10T16:20:00")

    accepted = by_code(snapshot, "GTMS_ACCEPT")
    assert accepted.carrier == "USPS"
    assert accepted.time.utcoffset() == timedelta(hours=-8)
    assert accepted.time == utc("2025-02-12T04:30:00")


def test_location_prefix_is_moved_out_of_the_description() -> None:
    """`[Huangpu District] Departed from sorting center` splits into place and words."""
    snapshot = only(parse_cainiao(body("aliexpress_handoff_usps.json")))
    event = by_code(snapshot, "SC_OUTBOUND_SUCCESS")
    assert event.location == "Huangpu District"
    assert event.description == "Departed from sorting center"
    assert by_code(snapshot, "LH_DEPART").location is None


def test_description_prefers_standard_wording_then_carrier_words_then_code() -> None:
    """standerdDesc first (even "Carrier update"), then desc, then the code."""
    reply = body("aliexpress_handoff_usps.json")
    details = reply["module"][0]["detailList"]
    details[0]["standerdDesc"] = "   "
    details[1].pop("standerdDesc")
    details[1].pop("desc")
    snapshot = only(parse_cainiao(reply))
    assert by_code(snapshot, "GTMS_SIGNED").description == "Delivered, In/At Mailbox"
    assert by_code(snapshot, "GTMS_DELIVERING").description == "GTMS_DELIVERING"
    assert by_code(snapshot, "TRANSIT_PORT_REROUTE_CALLBACK").description == "Carrier update"


def test_local_post_keeps_the_same_number() -> None:
    """No new number given: the local number is the queried one, carrier name is cleaned."""
    snapshot = only(parse_cainiao(body("local_post_same_number.json")))
    assert snapshot.tracking_number == "RQ2290557311Y"
    assert snapshot.local_carrier == "Poczta Polska"
    assert snapshot.local_carrier_code is None
    assert snapshot.local_tracking_number == "RQ2290557311Y"
    assert snapshot.status_text == "In transit"
    # DELIVERING only proves the parcel left the seller: a low floor.
    assert snapshot.status_stage is Stage.ORIGIN_PROCESSING
    assert len(snapshot.events) == 11
    newest = snapshot.events[0]
    assert (newest.code, newest.stage, newest.carrier) == (
        "GTMS_SC_ARRIVE",
        Stage.LAST_MILE,
        "Poczta Polska",
    )
    assert newest.time.utcoffset() == timedelta(hours=2)


def test_import_customs_stamped_before_departure_gets_no_stage() -> None:
    """CC_IM_START before pickup stays in the timeline without pushing the parcel to customs."""
    snapshot = only(parse_cainiao(body("local_post_same_number.json")))
    early = by_code(snapshot, "CC_IM_START")
    assert early.stage is None
    assert early.time == utc("2025-05-15T09:02:41")
    assert by_code(snapshot, "CC_IM_SUCCESS").stage is Stage.CUSTOMS
    assert by_code(snapshot, "CC_HO_IN_SUCCESS").stage is Stage.CUSTOMS


def test_import_customs_without_any_line_haul_stands_unless_a_later_scan_disproves_it() -> None:
    """No departure or arrival scan at all: import customs counts, unless an origin scan follows."""
    reply = body("local_post_same_number.json")
    module = reply["module"][0]
    del module["latestTrace"]
    module["detailList"] = [
        detail for detail in module["detailList"] if detail["actionCode"].startswith(("CC_", "PU_"))
    ]
    snapshot = only(parse_cainiao(reply))
    assert {event.code: event.stage for event in snapshot.events if event.code} == {
        "CC_IM_SUCCESS": Stage.CUSTOMS,
        "CC_HO_IN_SUCCESS": Stage.CUSTOMS,
        "CC_EX_SUCCESS": Stage.ORIGIN_PROCESSING,
        # Export customs came later: this one was stamped before the parcel left.
        "CC_IM_START": None,
        "PU_PICKUP_SUCCESS": Stage.ORIGIN_PROCESSING,
    }


def test_import_customs_after_arrival_only_is_customs() -> None:
    """An arrival scan alone proves the parcel left: later customs scans count."""
    reply = body("local_post_same_number.json")
    module = reply["module"][0]
    module["detailList"] = [d for d in module["detailList"] if d["actionCode"] != "LH_DEPART"]
    snapshot = only(parse_cainiao(reply))
    assert by_code(snapshot, "CC_HO_IN_SUCCESS").stage is Stage.CUSTOMS
    assert by_code(snapshot, "CC_IM_START").stage is None


def test_seller_preparing() -> None:
    """A known number with no scans: found, info_received from status, ETA of one instant."""
    snapshot = only(parse_cainiao(body("seller_preparing.json")))
    assert snapshot.found is True
    assert snapshot.events == ()
    assert snapshot.status_stage is Stage.INFO_RECEIVED
    assert snapshot.status_text == "Awaiting seller dispatch"
    assert snapshot.local_carrier is None
    assert snapshot.local_tracking_number is None
    assert snapshot.eta == EtaWindow(
        earliest=utc("2025-07-02T22:59:59"), latest=utc("2025-07-02T22:59:59")
    )
    assert snapshot.destination_country == "Portugal"


def test_unknown_number_is_not_found() -> None:
    """`mailNoSource: EXTERNAL` without events is a number Cainiao does not know."""
    snapshot = only(parse_cainiao(body("unknown_number.json")))
    assert snapshot.tracking_number == "LP99990000111222"
    assert snapshot.found is False
    assert snapshot.events == ()
    assert snapshot.status_stage is None
    assert snapshot.eta is None


def test_external_number_with_events_is_found() -> None:
    """EXTERNAL only means not-found while Cainiao has nothing to show."""
    reply = body("unknown_number.json")
    reply["module"][0]["detailList"] = body("batch_three.json")["module"][0]["detailList"]
    assert only(parse_cainiao(reply)).found is True


def test_batch_of_three_numbers() -> None:
    """One module per number, keyed by the normalised mailNo."""
    result = parse_cainiao(body("batch_three.json"))
    assert set(result) == {"LP00581122334455", "UV3310985525Y", "CN9981234567CN"}
    transit = result["LP00581122334455"]
    preparing = result["UV3310985525Y"]
    unknown = result["CN9981234567CN"]
    assert isinstance(transit, SourceSnapshot)
    assert isinstance(preparing, SourceSnapshot)
    assert isinstance(unknown, SourceSnapshot)
    assert transit.events[0].stage is Stage.IN_TRANSIT
    assert transit.events[0].tracking_number == "LP00581122334455"
    assert transit.local_carrier is None
    assert transit.local_tracking_number is None  # no evidence of a handoff yet
    assert preparing.status_stage is Stage.INFO_RECEIVED
    assert unknown.found is False


def test_duplicate_modules_keep_the_first() -> None:
    """A number listed twice keeps its first module."""
    reply = body("batch_three.json")
    reply["module"].append(dict(reply["module"][2], mailNo="LP00581122334455"))
    result = parse_cainiao(reply)
    first = result["LP00581122334455"]
    assert isinstance(first, SourceSnapshot)
    assert len(first.events) == 3


def test_success_false_raises_with_cainiao_error_code() -> None:
    """`success: false` is a failed query: raise, naming Cainiao's own code and message."""
    with pytest.raises(TrackingInvalidResponseError, match="SYSTEM_BUSY system busy") as err:
        parse_cainiao(body("failure.json"))
    assert err.value.blocked is False


def test_success_false_without_detail() -> None:
    """Without errorCode or message the error still says what happened."""
    with pytest.raises(TrackingInvalidResponseError, match="refused the query$"):
        parse_cainiao({"success": False})


def test_pickup_station_signing_is_not_a_delivery() -> None:
    """GTMS_STA_SIGNED: the station signed, the buyer must still collect it."""
    snapshot = only(parse_cainiao(body("pickup_station.json")))
    newest = snapshot.events[0]
    assert newest.code == "GTMS_STA_SIGNED"
    assert newest.stage is Stage.AVAILABLE_FOR_PICKUP
    assert newest.carrier == "Correos"
    assert all(event.stage is not Stage.DELIVERED for event in snapshot.events)
    assert snapshot.local_tracking_number == "PQ4F5A0712345670128001F"
    assert snapshot.local_carrier_code == "CORREOS_ES"


def test_return_after_failed_delivery() -> None:
    """Failed attempts then a return; the new number comes from the display text."""
    snapshot = only(parse_cainiao(body("returning.json")))
    assert [event.stage for event in snapshot.events[:3]] == [
        Stage.RETURNING,
        Stage.DELIVERY_FAILED,
        Stage.DELIVERY_FAILED,
    ]
    assert snapshot.local_carrier == "La Poste"
    assert snapshot.local_tracking_number == "6A12345678901"
    assert snapshot.status_stage is None


def test_local_scans_without_named_carrier_still_prove_a_handoff() -> None:
    """GTMS scans but no destCpInfo: the local number is the same number, carrier unknown."""
    reply = body("local_post_same_number.json")
    del reply["module"][0]["destCpInfo"]
    snapshot = only(parse_cainiao(reply))
    assert snapshot.local_carrier is None
    assert snapshot.local_tracking_number == "RQ2290557311Y"
    assert snapshot.events[0].carrier is None


def test_realmailno_without_a_number_falls_back_to_handoff_rule() -> None:
    """Display text without anything number-like is ignored."""
    reply = body("returning.json")
    reply["module"][0]["realMailNo"] = "Latest Tracking Number:"
    assert only(parse_cainiao(reply)).local_tracking_number == "LP00733300011122"


def test_time_str_is_the_fallback_and_read_as_beijing_time() -> None:
    """Without a usable `time`, `timeStr` is Beijing time whatever timeZone says."""
    reply = body("aliexpress_handoff_usps.json")
    details = reply["module"][0]["detailList"]
    details[8].pop("time")  # LH_DEPART, timeStr "2025-02-11 00:20:00"
    details[7]["time"] = "soon"  # LH_ARRIVE, timeZone GMT-8
    details[6]["time"] = 0  # CC_HO_IN_SUCCESS
    snapshot = only(parse_cainiao(reply))
    assert by_code(snapshot, "LH_DEPART").time == utc("2025-02-10T16:20:00")
    assert by_code(snapshot, "LH_ARRIVE").time == utc("2025-02-11T19:40:00")
    assert by_code(snapshot, "CC_HO_IN_SUCCESS").time == utc("2025-02-11T22:05:00")


def test_event_without_any_time_is_skipped_and_the_rest_kept() -> None:
    """An individually broken event does not fail the number."""
    reply = body("aliexpress_handoff_usps.json")
    reply["module"][0].pop("latestTrace", None)  # it would bring the newest event back
    details = reply["module"][0]["detailList"]
    details[0].pop("time")
    details[0]["timeStr"] = "yesterday"
    details[1]["time"] = None
    details[1]["timeStr"] = "1850-01-01 00:00:00"
    snapshot = only(parse_cainiao(reply))
    assert len(snapshot.events) == 18
    assert snapshot.events[0].code == "GTMS_SC_ARRIVE"


def test_eta_with_unusable_times_is_none() -> None:
    """An ETA block without usable instants gives no ETA; one usable bound is kept."""
    reply = body("seller_preparing.json")
    module = reply["module"][0]
    module["globalEtaInfo"] = {"deliveryMinTime": "", "deliveryMaxTime": "later"}
    assert only(parse_cainiao(reply)).eta is None
    module["globalEtaInfo"] = {"deliveryMaxTime": 1751497199000}
    assert only(parse_cainiao(reply)).eta == EtaWindow(latest=utc("2025-07-02T22:59:59"))


def test_action_codes_are_normalised() -> None:
    """Lower case or spaced action codes are read like their canonical spelling."""
    reply = body("pickup_station.json")
    reply["module"][0]["detailList"][0]["actionCode"] = " gtms sta signed "
    newest = only(parse_cainiao(reply)).events[0]
    assert newest.code == "GTMS_STA_SIGNED"
    assert newest.stage is Stage.AVAILABLE_FOR_PICKUP
    assert newest.time.utcoffset() == timedelta(hours=2)


def test_unparseable_time_zone_leaves_local_event_in_utc() -> None:
    """A local scan whose timeZone does not parse is shown in UTC, same instant."""
    reply = body("pickup_station.json")
    reply["module"][0]["detailList"][0]["timeZone"] = "Europe/Madrid"
    newest = only(parse_cainiao(reply)).events[0]
    assert newest.time.tzinfo == UTC
    assert newest.time == utc("2025-09-04T10:22:00")


@pytest.mark.parametrize(
    ("code", "stage"),
    [
        ("GTMS_STA_SIGNED", Stage.AVAILABLE_FOR_PICKUP),
        ("GTMS_SIGNED", Stage.DELIVERED),
        ("GTMS_WAIT_SELF_PICK", Stage.AVAILABLE_FOR_PICKUP),
        ("GTMS_DELIVERING", Stage.OUT_FOR_DELIVERY),
        ("GTMS_DO_DEPART", Stage.LAST_MILE),
        ("GTMS_ACCEPT", Stage.LAST_MILE),
        ("GTMS_DEL_FAILURE", Stage.DELIVERY_FAILED),
        ("CC_IM_SUCCESS", Stage.CUSTOMS),
        ("CC_IM_FAILURE", Stage.EXCEPTION),
        ("CC_EX_START", Stage.ORIGIN_PROCESSING),
        ("LH_HO_AIRLINE", Stage.ORIGIN_PROCESSING),
        ("LH_DEPART", Stage.IN_TRANSIT),
        ("LH_ARRIVE", Stage.CUSTOMS),
        ("WMS_CONFIRMED", Stage.ORIGIN_PROCESSING),
        ("GWMS_ACCEPT", Stage.INFO_RECEIVED),
        ("RT_INBOUND", Stage.RETURNING),
        ("RETURNED", Stage.RETURNED),
        ("TRANSIT_PORT_REROUTE_CALLBACK", None),
        ("COMMON_INTRANSIT", None),
        (None, None),
        # Families, for codes not spelled out in the table.
        ("GTMS_RETURN_TO_SENDER_SIGNED", Stage.RETURNED),
        ("RT_WH_NEW_SCAN", Stage.RETURNING),
        ("LM_RETURN", Stage.RETURNING),
        ("GTMS_DELIVERY_FAILED", Stage.DELIVERY_FAILED),
        ("CC_IM_HOLD", Stage.EXCEPTION),
        ("CC_IM_DOCS_FAILURE", Stage.EXCEPTION),
        ("GSTA_LOCKER_FAIL", Stage.EXCEPTION),
        ("GWMS_WEIGH", Stage.ORIGIN_PROCESSING),
        ("PU_NEW", Stage.ORIGIN_PROCESSING),
        ("SC_ARRIVE", Stage.ORIGIN_PROCESSING),
        ("CC_EX_REVIEW", Stage.ORIGIN_PROCESSING),
        ("CC_IM_REVIEW", Stage.CUSTOMS),
        ("XX_BRAND_NEW", None),
    ],
)
def test_action_stage(code: str | None, stage: Stage | None) -> None:
    """The mapping table and its families."""
    assert action_stage(code) is stage


def test_unmapped_code_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    """An unknown code is reported once per process, however often it shows up."""
    reply = body("pickup_station.json")
    details = reply["module"][0]["detailList"]
    details[0]["actionCode"] = "ZZ_NEVER_SEEN_BEFORE"
    details[1]["actionCode"] = "ZZ_NEVER_SEEN_BEFORE"
    with caplog.at_level(logging.INFO):
        snapshot = only(parse_cainiao(reply))
        parse_cainiao(reply)
    assert [event.stage for event in snapshot.events[:2]] == [None, None]
    records = [r for r in caplog.records if "ZZ_NEVER_SEEN_BEFORE" in r.getMessage()]
    assert len(records) == 1
    assert "not mapped" in records[0].getMessage()


def test_family_mapped_code_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    """A code mapped only by its family is reported once too, with the stage it got."""
    with caplog.at_level(logging.INFO):
        assert action_stage("SC_ZZ_FAMILY_ONLY") is Stage.ORIGIN_PROCESSING
        assert action_stage("SC_ZZ_FAMILY_ONLY") is Stage.ORIGIN_PROCESSING
    records = [r for r in caplog.records if "SC_ZZ_FAMILY_ONLY" in r.getMessage()]
    assert len(records) == 1
    assert "origin_processing" in records[0].getMessage()


@pytest.mark.parametrize(
    "reply",
    [
        None,
        [],
        "success",
        {},
        {"success": "true", "module": []},
        {"success": True},
        {"success": True, "module": {}},
        {"success": True, "module": [1]},
        {"success": True, "module": [{"detailList": []}]},
        {"success": True, "module": [{"mailNo": "  "}]},
        {"success": True, "module": [{"mailNo": "LP1", "detailList": {}}]},
        {"success": True, "module": [{"mailNo": "LP1", "detailList": ["x"]}]},
        {"success": True, "module": [{"mailNo": "LP1", "destCpInfo": "USPS"}]},
        {"success": True, "module": [{"mailNo": "LP1", "globalEtaInfo": [1]}]},
    ],
)
def test_mangled_bodies_raise_invalid_response(reply: object) -> None:
    """Anything that is not Cainiao's shape raises TrackingInvalidResponseError."""
    with pytest.raises(TrackingInvalidResponseError):
        parse_cainiao(reply)


def test_empty_module_list_is_an_empty_result() -> None:
    """A successful reply about nothing is not an error."""
    assert parse_cainiao({"success": True, "module": []}) == {}
    assert parse_cainiao({"success": True, "module": None}) == {}


def _parse_or_invalid(reply: object) -> None:
    try:
        result = parse_cainiao(reply)
    except TrackingInvalidResponseError:
        return
    for number, snapshot in result.items():
        assert isinstance(snapshot, SourceSnapshot)
        assert snapshot.tracking_number == number
        times = [event.time for event in snapshot.events]
        assert times == sorted(times, reverse=True)


@FUZZ
@given(reply=json_values)
def test_random_json_never_raises_anything_else(reply: object) -> None:
    """Random JSON trees raise TrackingInvalidResponseError or parse."""
    _parse_or_invalid(reply)


@FUZZ
@given(reply=st.fixed_dictionaries({"success": st.just(True), "module": st.lists(json_values)}))
def test_random_modules_never_raise_anything_else(reply: object) -> None:
    """Random modules inside a successful reply raise TrackingInvalidResponseError or parse."""
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
    assert len(FIXTURE_NAMES) == 11


def test_beijing_fallback_uses_a_fixed_offset() -> None:
    """Sanity check of the fallback zone against an independently computed instant."""
    reply = {
        "success": True,
        "module": [
            {
                "mailNo": "LP1",
                "detailList": [{"timeStr": "2025-01-01 08:00:00", "actionCode": "LH_DEPART"}],
            }
        ],
    }
    event = only(parse_cainiao(reply)).events[0]
    beijing = timezone(timedelta(hours=8))
    assert event.time == datetime(2025, 1, 1, 8, tzinfo=beijing)
    assert event.time.tzinfo == UTC


def test_pickup_station_scan_only_in_latest_trace_is_read() -> None:
    """latestTrace newer than every detailList entry is the newest event."""
    snapshot = only(parse_cainiao(body("fr_pickup_point_in_latest_trace_only.json")))
    newest = snapshot.events[0]
    assert (newest.code, newest.stage, newest.carrier) == (
        "GTMS_STA_SIGNED",
        Stage.AVAILABLE_FOR_PICKUP,
        "Colissimo",
    )
    assert newest.time == utc("2026-10-14T09:12:00")
    assert newest.time.utcoffset() == timedelta(hours=2)
    assert newest.description == "Arrived at pickup point"  # standerdDesc wins over desc
    assert len(snapshot.events) == 7


def test_latest_trace_repeating_the_list_head_is_not_doubled() -> None:
    """The usual case: latestTrace is the list's newest entry, read once."""
    reply = body("local_post_same_number.json")
    assert reply["module"][0]["latestTrace"] == reply["module"][0]["detailList"][0]
    snapshot = only(parse_cainiao(reply))
    assert [e.code for e in snapshot.events].count("GTMS_SC_ARRIVE") == 1
    assert len(snapshot.events) == 11


def test_latest_trace_alone_is_an_event() -> None:
    """An empty detailList with a latestTrace still gives that event."""
    reply = body("fr_pickup_point_in_latest_trace_only.json")
    reply["module"][0]["detailList"] = []
    snapshot = only(parse_cainiao(reply))
    assert [e.code for e in snapshot.events] == ["GTMS_STA_SIGNED"]


def test_import_customs_stands_without_a_later_proof() -> None:
    """No departure anywhere, but nothing later puts the parcel back at origin: customs."""
    snapshot = only(parse_cainiao(body("ua_import_customs_display_number.json")))
    assert by_code(snapshot, "CC_HO_OUT_SUCCESS").stage is Stage.CUSTOMS
    assert by_code(snapshot, "CC_HO_IN_SUCCESS").stage is Stage.CUSTOMS
    assert by_code(snapshot, "LH_POST_COLLECTION").stage is None
    assert snapshot.status_stage is Stage.CUSTOMS
    assert snapshot.local_carrier is None
    assert snapshot.local_tracking_number == "CV537024180UA"


def test_import_stamp_before_a_later_origin_scan_is_demoted() -> None:
    """An import-customs stamp followed by origin sorting was stamped early."""
    snapshot = only(parse_cainiao(body("de_line_haul_number_unknown_format.json")))
    early = by_code(snapshot, "CC_IM_START")
    assert early.stage is None
    assert early.time == utc("2026-09-01T11:20:00")
    assert snapshot.events[0].stage is Stage.ORIGIN_PROCESSING
    assert snapshot.status_stage is Stage.ORIGIN_PROCESSING
    assert snapshot.local_tracking_number == "38ZKQ448102993017745260"


# --- Bounded replies -----------------------------------------------------------------------


def test_a_flood_of_modules_and_events_is_cut() -> None:
    """At most 200 modules are read from one reply, and 200 events (the newest) per number."""
    reply = body("pickup_station.json")
    module = reply["module"][0]
    newest = only(parse_cainiao(body("pickup_station.json"))).events[0]
    module["detailList"] = module["detailList"] * 300
    reply["module"] = [module] + [
        {**module, "mailNo": f"LP{n:014d}"} for n in range(MAX_ITEMS_PER_REPLY + 50)
    ]
    results = parse_cainiao(reply)
    assert len(results) == MAX_ITEMS_PER_REPLY
    snapshot = results[module["mailNo"]]
    assert isinstance(snapshot, SourceSnapshot)
    assert len(snapshot.events) == MAX_EVENTS_PER_NUMBER
    assert snapshot.events[0] == newest
