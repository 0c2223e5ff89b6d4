"""The real-shape study: our own fixtures in the shapes of public replies (REAL_SHAPES.md).

Every file under tests/fixtures/real_shapes/<source>/ is listed here with the stage each
of its numbers must read as, or `REJECT` for an error body; the study's table says where
the shape was seen and what it taught. A few shapes get a further, concrete check.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from custom_components.parcel_handoff.tracking.errors import (
    InvalidTrackingNumberError,
    TrackingAuthenticationError,
    TrackingConnectionError,
    TrackingError,
    TrackingInvalidResponseError,
)
from custom_components.parcel_handoff.tracking.model import (
    Source,
    SourceResult,
    SourceSnapshot,
    Stage,
)
from custom_components.parcel_handoff.tracking.normalizers import PARSERS
from custom_components.parcel_handoff.tracking.normalizers._util import decode_json
from custom_components.parcel_handoff.tracking.normalizers.usps import parse_usps
from custom_components.parcel_handoff.tracking.timeline import build_shipment
from tests.conftest import FIXTURES
from tests.tracking.mangle import load

SHAPES = FIXTURES / "real_shapes"
REJECT = "reject"
NOW = datetime(2027, 1, 1, tzinfo=UTC)

# File (under real_shapes/) -> {number: expected stage} or REJECT.
EXPECTED: dict[str, dict[str, Stage | str] | str] = {
    # Cainiao detail.json
    "cainiao/be_delivered_group_nodes_no_handoff.json": {"RC512340987EE": Stage.DELIVERED},
    "cainiao/cz_customs_display_number_post_collection.json": {"LP00783310455621": Stage.CUSTOMS},
    "cainiao/nl_unknown_number_external.json": {"LP00911122233344": Stage.NOT_FOUND},
    "cainiao/pl_locker_in_latest_trace_lowercase_status.json": {
        "LP00722210988877": Stage.AVAILABLE_FOR_PICKUP
    },
    "cainiao/es_ap_placeholder_virtual_number.json": {"AP00851230987765": Stage.INFO_RECEIVED},
    "cainiao/uk_ap_line_haul_number_export_cleared.json": {
        "AP00852210034418": Stage.ORIGIN_PROCESSING
    },
    "cainiao/br_import_cleared_without_departure.json": {"LP00764301298852": Stage.CUSTOMS},
    "cainiao/fr_transiting_status_unlisted.json": {"LP00799012345610": Stage.IN_TRANSIT},
    "cainiao/cn_domestic_nodes_signed.json": {"LP00730011223388": Stage.DELIVERED},
    "cainiao/kr_returned_to_seller.json": {"LP00741155669912": Stage.RETURNED},
    "cainiao/nl_stale_feed_repeats_last_event.json": {"GFNL0012345678": Stage.CUSTOMS},
    "cainiao/il_delivering_status_consolidation_warehouse.json": {
        "LP00750012987733": Stage.ORIGIN_PROCESSING
    },
    "cainiao/bd_line_haul_arrival_delivering.json": {"UG073314599CN": Stage.CUSTOMS},
    "cainiao/de_pickup_point_collected.json": {"LP00768800112255": Stage.DELIVERED},
    "cainiao/es_pickup_station_refused.json": {"LP00771234509876": Stage.DELIVERY_FAILED},
    "cainiao/old_detail_htm_data_sections.json": REJECT,
    "cainiao/rate_limited_html_instead_of_json.json": REJECT,
    "cainiao/br_portuguese_local_post_accepted.json": {"NM062512345BR": Stage.LAST_MILE},
    # USPS v3
    "usps/v3_delivered_mailbox_partner_scans_gmt_day_off.json": {
        "9261290112233445566778": Stage.DELIVERED
    },
    "usps/v3_moving_through_network_expected_day.json": {
        "9202290988776655443322": Stage.IN_TRANSIT
    },
    "usps/v3_no_status_yet_broken_entity.json": REJECT,  # without the caller's number
    "usps/v3_doc_shape_utc_stamp_short_offset.json": {"9400136105440811223344": Stage.DELIVERED},
    "usps/v3_gmt_milliseconds_without_offset.json": {"9405511899561122334455": Stage.DELIVERED},
    "usps/v3_no_gmt_fields_empty_strings.json": {"9400111899223188776655": Stage.DELIVERED},
    "usps/v3_unclaimed_return_to_sender.json": {"9205590100113322114455": Stage.RETURNING},
    "usps/v32_item_accepted_without_events_recipient_name.json": {
        "9400111899223847190001": Stage.ORIGIN_PROCESSING
    },
    "usps/v32_string_error_without_number.json": REJECT,
    "usps/v3_undocumented_attempt_code_action_reason.json": {
        "9405511206213300998877": Stage.DELIVERY_FAILED
    },
    # 17TRACK v2.2 (and the v1 shape it must not mistake)
    "17track/gettracklist_stopped_and_tracking.json": {
        "RB077105325SG": Stage.NOT_FOUND,
        "LV537024180DE": Stage.NOT_FOUND,
    },
    "17track/register_accepted_and_bad_format.json": {"RR990011223CN": Stage.NOT_FOUND},
    "17track/v1_shape_track_codes.json": {},
    "17track/gettrackinfo_time_raw_strings.json": {"CX221133445JP": Stage.DELIVERED},
    "17track/gettrackinfo_v24_extra_fields_customs.json": {"UA114477880CN": Stage.CUSTOMS},
    "17track/webhook_updated_pickup_point_pl.json": {
        "LP00733322211145": Stage.AVAILABLE_FOR_PICKUP
    },
    "17track/error_invalid_security_key_v1_code.json": REJECT,
    "17track/register_already_registered.json": {},
    "17track/webhook_updated_latest_event_only.json": {"JJD000390007788112233": Stage.IN_TRANSIT},
    "17track/webhook_updated_recipient_outside_shipping_info.json": {
        "1Z4E07V90312345674": Stage.DELIVERED
    },
    # AfterShip
    "aftership/v4_fedex_cn_jp_delivered_agent.json": {"770011223344": Stage.DELIVERED},
    "aftership/last_checkpoint_endpoint.json": {"772211009988": Stage.DELIVERED},
    "aftership/retrack_minimal_tracking.json": {"RA223300115RU": Stage.NOT_FOUND},
    "aftership/create_201_pending.json": {"4PX3000998877665CN": Stage.NOT_FOUND},
    "aftership/list_exception_mid_journey_and_expired.json": {
        "781122334455": Stage.DELIVERED,
        "1Z999AA10123456784": Stage.NOT_FOUND,
    },
    "aftership/error_500_internal.json": REJECT,
    "aftership/delete_minimal_tracking.json": {"772857780809999": Stage.NOT_FOUND},
    "aftership/unlisted_subtags_fall_back_to_their_tag.json": {
        "CZ0055667788": Stage.AVAILABLE_FOR_PICKUP
    },
    "aftership/list_2023_label_only_wrong_carrier_dashed_number.json": {
        "9434936105533300112233": Stage.INFO_RECEIVED,
        "55667788990011": Stage.NOT_FOUND,
        "ITD-0-55667788": Stage.NOT_FOUND,
    },
    "aftership/marked_lost_over_delivered_checkpoints.json": {"779900112233": Stage.DELIVERED},
    "aftership/webhook_2025_envelope_out_for_delivery.json": {
        "RS0099887766Y": Stage.OUT_FOR_DELIVERY
    },
}


def parse(name: str) -> dict[str, SourceResult]:
    """Decode and normalise one study fixture as the client would (block pages included)."""
    source = Source(name.partition("/")[0])
    return PARSERS[source](decode_json((SHAPES / name).read_bytes(), what=name))


def snapshot(results: dict[str, SourceResult], number: str) -> SourceSnapshot:
    """The number's snapshot (fails when it is an error)."""
    result = results[number]
    assert isinstance(result, SourceSnapshot), result
    return result


def test_every_study_fixture_has_an_expectation() -> None:
    """A fixture added to the study must say what it reads as."""
    on_disk = {str(path.relative_to(SHAPES)) for path in SHAPES.glob("*/*.json")}
    assert on_disk == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_study_fixture_reads_as_expected(name: str) -> None:
    """Each shape gives the stage the study recorded, or a clean refusal."""
    expected = EXPECTED[name]
    if expected == REJECT:
        with pytest.raises(TrackingInvalidResponseError):
            parse(name)
        return
    assert isinstance(expected, dict)
    results = parse(name)
    snapshots = [r for r in results.values() if isinstance(r, SourceSnapshot)]
    assert {n for n, r in results.items() if isinstance(r, SourceSnapshot)} == set(expected)
    for number, stage in expected.items():
        own = [s for s in snapshots if s.tracking_number == number]
        assert build_shipment(number, own, now=NOW).stage is stage, number
        for event in snapshot(results, number).events:
            assert event.time.utcoffset() is not None
            assert event.description


# --- What particular shapes taught ---------------------------------------------------


def test_cainiao_origin_departure_with_a_local_prefix_is_not_the_local_carrier() -> None:
    """GTMS_OE_DEPART came minutes after pickup: in transit, Cainiao's own, in UTC."""
    found = snapshot(parse("cainiao/be_delivered_group_nodes_no_handoff.json"), "RC512340987EE")
    (departed,) = [e for e in found.events if e.code == "GTMS_OE_DEPART"]
    assert departed.stage is Stage.IN_TRANSIT
    assert departed.carrier == "Cainiao"
    assert departed.time.utcoffset() == timedelta(0)
    # No handoff number anywhere: the delivery scans are the queried number's own.
    assert found.local_tracking_number == "RC512340987EE"
    assert found.local_carrier is None


def test_cainiao_display_number_names_its_post_by_the_s10_suffix() -> None:
    """realMailNo only, no destCpInfo: the Czech number is kept and Czech Post named."""
    results = parse("cainiao/cz_customs_display_number_post_collection.json")
    shipment = build_shipment("LP00783310455621", list(_snapshots(results)), now=NOW)
    assert shipment.local_tracking_number == "RR077105325CZ"
    assert shipment.local_carrier == "Czech Post"


def test_cainiao_placeholder_number_points_at_the_real_one() -> None:
    """An AP placeholder with no events: its CNG number is the one to follow."""
    results = parse("cainiao/es_ap_placeholder_virtual_number.json")
    shipment = build_shipment("AP00851230987765", list(_snapshots(results)), now=NOW)
    assert shipment.local_tracking_number == "CNG00851230987765"
    assert shipment.tracking_numbers == ("AP00851230987765", "CNG00851230987765")


def test_cainiao_stale_feed_repeating_one_scan_keeps_it_once() -> None:
    """A feed that repeats its last line-haul event forever shows it once."""
    results = parse("cainiao/nl_stale_feed_repeats_last_event.json")
    shipment = build_shipment("GFNL0012345678", list(_snapshots(results)), now=NOW)
    assert [e.code for e in shipment.events] == ["LH_ARRIVE", "LH_DEPART"]


def test_usps_no_status_yet_with_the_callers_number() -> None:
    """The error body with a broken entity is a clean not-found for the caller's number."""
    results = parse_usps(
        load(SHAPES / "usps/v3_no_status_yet_broken_entity.json"), tracking_number="9400100000001"
    )
    found = snapshot(results, "9400100000001")
    assert found.found is False
    assert found.status_text is not None
    assert "reg;" not in found.status_text
    assert "<" not in found.status_text


def test_usps_utc_stamped_event_times_keep_the_instant() -> None:
    """The doc shape stamps eventTimestamp in UTC ('Z') with a one-digit GMTOffset."""
    found = snapshot(
        parse("usps/v3_doc_shape_utc_stamp_short_offset.json"), "9400136105440811223344"
    )
    assert found.events[0].time == datetime(2026, 6, 3, 16, 5, tzinfo=UTC)


def test_usps_offset_from_millisecond_gmt_clock() -> None:
    """No GMTOffset: the offset comes from the two clocks, milliseconds and all."""
    found = snapshot(
        parse("usps/v3_gmt_milliseconds_without_offset.json"), "9405511899561122334455"
    )
    assert found.events[0].time.utcoffset() == timedelta(hours=-4)
    assert found.events[0].time == datetime(2026, 5, 5, 16, 55, tzinfo=UTC)


def test_usps_day_skewed_gmt_clock_is_corrected() -> None:
    """An 81 scan's GMT date is a day early: the local date wins, the GMT seconds stay."""
    found = snapshot(
        parse("usps/v3_delivered_mailbox_partner_scans_gmt_day_off.json"), "9261290112233445566778"
    )
    (arrived,) = [e for e in found.events if e.code == "81"]
    assert arrived.time == datetime(2026, 3, 10, 4, 40, 9, tzinfo=UTC)


def test_17track_list_marks_the_stopped_number_only() -> None:
    """gettracklist says which numbers 17TRACK stopped following."""
    results = parse("17track/gettracklist_stopped_and_tracking.json")
    assert snapshot(results, "RB077105325SG").tracking_stopped is True
    assert snapshot(results, "LV537024180DE").tracking_stopped is False


def test_17track_register_rejection_and_v1_shape() -> None:
    """A bad format is that number's error; a v1-shaped item is not read as 'nothing yet'."""
    rejected = parse("17track/register_accepted_and_bad_format.json")["12-AB"]
    assert isinstance(rejected, InvalidTrackingNumberError)
    v1 = parse("17track/v1_shape_track_codes.json")["RR123450016CN"]
    assert isinstance(v1, TrackingInvalidResponseError)
    assert "v1" in str(v1)


def test_17track_plain_string_time_raw_is_read() -> None:
    """Events with only a `time_raw` string keep their time (no zone: the fallback's)."""
    found = snapshot(parse("17track/gettrackinfo_time_raw_strings.json"), "CX221133445JP")
    assert [e.time.replace(tzinfo=None) for e in found.events] == [
        datetime(2026, 3, 1, 15, 20),
        datetime(2026, 2, 26, 6, 40),
        datetime(2026, 2, 22, 11, 5),
    ]


def test_17track_request_refusal_keeps_its_cause() -> None:
    """The whole request refused for its key: a credentials error underneath."""
    with pytest.raises(TrackingInvalidResponseError) as caught:
        parse("17track/error_invalid_security_key_v1_code.json")
    assert isinstance(caught.value.__cause__, TrackingAuthenticationError)


def test_aftership_refusal_and_last_checkpoint() -> None:
    """A 500 is a connection problem underneath; the last-checkpoint reply is one event."""
    with pytest.raises(TrackingInvalidResponseError) as caught:
        parse("aftership/error_500_internal.json")
    assert isinstance(caught.value.__cause__, TrackingConnectionError)
    found = snapshot(parse("aftership/last_checkpoint_endpoint.json"), "772211009988")
    assert [e.code for e in found.events] == ["Delivered_001"]


def test_aftership_2025_webhook_times_are_read_in_israel() -> None:
    """The msg envelope of the dated webhook; zone-less times take the destination's zone."""
    found = snapshot(
        parse("aftership/webhook_2025_envelope_out_for_delivery.json"), "RS0099887766Y"
    )
    assert found.events[0].time.utcoffset() == timedelta(hours=3)  # Israel, summer time


def test_aftership_import_release_is_not_read_as_export() -> None:
    """'International shipment release - Import' stays in transit, not origin processing."""
    found = snapshot(parse("aftership/v4_fedex_cn_jp_delivered_agent.json"), "770011223344")
    stages = {e.description: e.stage for e in found.events}
    assert stages["International shipment release - Import"] is Stage.IN_TRANSIT
    assert stages["International shipment release - Export"] is Stage.IN_TRANSIT


def _snapshots(results: dict[str, SourceResult]) -> list[SourceSnapshot]:
    return [r for r in results.values() if isinstance(r, SourceSnapshot)]


def test_cainiao_block_page_and_old_shape_are_refused_for_what_they_are() -> None:
    """A slider-captcha page says blocked; the retired detail.htm JSON is not this API."""
    with pytest.raises(TrackingInvalidResponseError) as caught:
        parse("cainiao/rate_limited_html_instead_of_json.json")
    assert caught.value.blocked is True
    with pytest.raises(TrackingInvalidResponseError, match="no success flag"):
        parse("cainiao/old_detail_htm_data_sections.json")


def test_usps_batch_item_keeps_no_personal_data() -> None:
    """A 3.2 item naming the recipient: the status is read, the name is nowhere kept."""
    found = snapshot(
        parse("usps/v32_item_accepted_without_events_recipient_name.json"), "9400111899223847190001"
    )
    assert found.status_stage is Stage.ORIGIN_PROCESSING
    assert "J DOE" not in repr(found)


def test_17track_already_registered_is_that_numbers_error() -> None:
    """A register refusal for a known number is kept for the number, not raised."""
    error = parse("17track/register_already_registered.json")["RR990011223CN"]
    assert isinstance(error, TrackingError)
    assert "-18019901" in str(error)


def test_17track_webhook_shapes() -> None:
    """A webhook with only the latest event; one with the recipient beside shipping_info."""
    short = snapshot(
        parse("17track/webhook_updated_latest_event_only.json"), "JJD000390007788112233"
    )
    assert [e.description for e in short.events] == ["Die Sendung wurde im Paketzentrum bearbeitet"]
    moved = snapshot(
        parse("17track/webhook_updated_recipient_outside_shipping_info.json"), "1Z4E07V90312345674"
    )
    assert (moved.origin_country, moved.destination_country) == ("US", "US")
