"""Timeline merge, stage derivation and handoff detection."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
import random

import pytest

from custom_components.parcel_handoff.tracking.model import (
    AttentionReason,
    EtaWindow,
    Source,
    SourceSnapshot,
    Stage,
)
from custom_components.parcel_handoff.tracking.normalizers import PARSERS
from custom_components.parcel_handoff.tracking.timeline import (
    build_shipment,
    derive_stage,
    detect_handoff,
    detected_carrier,
    lift_local_events,
    merge_events,
)
from tests.conftest import FIXTURES
from tests.tracking.mangle import load

from .helpers import T0, ev, snap, usps

NUMBER = "LP00123456789012"
LOCAL = "9400111899223344556677"

# A whole AliExpress journey on the Cainiao portal, oldest first.
CAINIAO_JOURNEY = [
    ev(0, Stage.INFO_RECEIVED, code="GWMS_ACCEPT"),
    ev(5, Stage.ORIGIN_PROCESSING, code="GWMS_OUTBOUND"),
    ev(20, Stage.ORIGIN_PROCESSING, code="PU_PICKUP_SUCCESS"),
    ev(21, None, code="TRANSIT_PORT_REROUTE_CALLBACK", text="Carrier update"),
    ev(40, Stage.IN_TRANSIT, code="LH_DEPART"),
    ev(100, Stage.CUSTOMS, code="LH_ARRIVE"),
    ev(130, Stage.CUSTOMS, code="CC_IM_SUCCESS"),
    ev(131, Stage.LAST_MILE, carrier="USPS", code="GTMS_ACCEPT"),
]


def test_merge_sorts_and_keeps_each_source() -> None:
    """Events from several portals end up oldest first, each with its own source."""
    shuffled = CAINIAO_JOURNEY[:]
    random.Random(4).shuffle(shuffled)
    local = [usps(140, Stage.IN_TRANSIT), usps(150, Stage.OUT_FOR_DELIVERY)]
    merged = merge_events(shuffled, local)
    assert [e.time for e in merged] == sorted(e.time for e in merged)
    assert len(merged) == len(CAINIAO_JOURNEY) + 2
    assert {e.source for e in merged} == {Source.CAINIAO, Source.USPS}


def test_merge_deduplicates_relayed_event_and_prefers_carrier_portal() -> None:
    """Cainiao relaying USPS's out-for-delivery a minute late is the same event."""
    relayed = ev(150.02, Stage.OUT_FOR_DELIVERY, carrier="USPS", code="GTMS_DELIVERING")
    own = usps(150, Stage.OUT_FOR_DELIVERY, "Out for Delivery")
    merged = merge_events([relayed], [own])
    assert len(merged) == 1
    assert merged[0].source is Source.USPS
    # Order of arrival does not matter.
    assert merge_events([own], [relayed]) == merged


def test_merge_keeps_distinct_scans_of_one_portal() -> None:
    """Two scans a minute apart on one portal are two events, an exact repeat is one."""
    a = usps(10, Stage.IN_TRANSIT, "Arrived at USPS Facility")
    b = usps(10.01, Stage.IN_TRANSIT, "Departed USPS Facility")
    assert len(merge_events([a, b], [a])) == 2


def test_merge_deduplicates_stage_less_events_by_text() -> None:
    """Across portals, events without a stage are the same when their text is."""
    a = ev(3, None, text="Carrier  update")
    b = ev(3, None, text="carrier update", source=Source.SEVENTEEN_TRACK)
    c = ev(3, None, text="Something else", source=Source.SEVENTEEN_TRACK)
    assert len(merge_events([a], [b, c])) == 2


def test_stage_is_furthest_reached_despite_out_of_order_events() -> None:
    """A lagging portal reporting an old scan late never moves the stage back."""
    stage, since = derive_stage(merge_events(CAINIAO_JOURNEY))
    assert stage is Stage.LAST_MILE
    assert since == CAINIAO_JOURNEY[-1].time
    lagging = merge_events(CAINIAO_JOURNEY, [ev(135, Stage.IN_TRANSIT, source=Source.AFTERSHIP)])
    assert derive_stage(lagging)[0] is Stage.LAST_MILE


def test_events_without_stage_change_nothing() -> None:
    """A carrier update after customs leaves the parcel in customs."""
    events = merge_events([ev(1, Stage.CUSTOMS), ev(2, None)])
    assert derive_stage(events) == (Stage.CUSTOMS, events[0].time)


@pytest.mark.parametrize("side", [Stage.EXCEPTION, Stage.DELIVERY_FAILED, Stage.RETURNING])
def test_side_states_hold_only_while_newest(side: Stage) -> None:
    """Exception, delivery failed and returning describe the newest event only."""
    events = [ev(1, Stage.CUSTOMS), ev(2, side)]
    assert derive_stage(events)[0] is side
    assert derive_stage([*events, ev(3, Stage.CUSTOMS)])[0] is Stage.CUSTOMS
    # A lagging older scan after the side state brings back the furthest stage.
    assert derive_stage([*events, ev(3, Stage.IN_TRANSIT)])[0] is Stage.CUSTOMS


def test_out_for_delivery_falls_back_to_last_mile_then_again() -> None:
    """A failed round is normal: back to last mile, out again the next day."""
    events = [
        usps(0, Stage.LAST_MILE),
        usps(24, Stage.OUT_FOR_DELIVERY),
        usps(32, Stage.LAST_MILE, "Arrived at Post Office"),
    ]
    assert derive_stage(events) == (Stage.LAST_MILE, events[2].time)
    events.append(usps(48, Stage.OUT_FOR_DELIVERY))
    assert derive_stage(events) == (Stage.OUT_FOR_DELIVERY, events[3].time)
    events.append(usps(50, Stage.DELIVERY_FAILED, "Notice Left"))
    assert derive_stage(events)[0] is Stage.DELIVERY_FAILED
    events.append(usps(60, Stage.AVAILABLE_FOR_PICKUP))
    assert derive_stage(events)[0] is Stage.AVAILABLE_FOR_PICKUP
    events.append(usps(70, Stage.DELIVERED))
    assert derive_stage(events) == (Stage.DELIVERED, events[-1].time)


def test_out_for_delivery_does_not_fall_back_to_older_stages() -> None:
    """Only last mile may follow out for delivery: an in-transit relay is lag."""
    events = [usps(0, Stage.OUT_FOR_DELIVERY), usps(1, Stage.IN_TRANSIT)]
    assert derive_stage(events)[0] is Stage.OUT_FOR_DELIVERY


def test_final_stages_are_sticky() -> None:
    """Nothing after delivered or returned changes them."""
    assert derive_stage([usps(0, Stage.DELIVERED), usps(1, Stage.EXCEPTION)])[0] is (
        Stage.DELIVERED
    )
    assert derive_stage([usps(0, Stage.RETURNED), usps(1, Stage.LAST_MILE)])[0] is (Stage.RETURNED)


def test_stage_without_events_comes_from_source_summaries() -> None:
    """Known but unscanned is info received; unknown everywhere is not found."""
    preparing = SourceSnapshot(
        source=Source.CAINIAO, tracking_number=NUMBER, status_stage=Stage.INFO_RECEIVED
    )
    unknown = SourceSnapshot(source=Source.CAINIAO, tracking_number=NUMBER, found=False)
    known = SourceSnapshot(source=Source.USPS, tracking_number=NUMBER)
    held = SourceSnapshot(
        source=Source.AFTERSHIP, tracking_number=NUMBER, status_stage=Stage.EXCEPTION
    )
    assert derive_stage([], [preparing, unknown]) == (Stage.INFO_RECEIVED, None)
    assert derive_stage([], [unknown]) == (Stage.NOT_FOUND, None)
    assert derive_stage([], [known]) == (Stage.INFO_RECEIVED, None)
    assert derive_stage([], [held]) == (Stage.EXCEPTION, None)
    assert derive_stage([], []) == (Stage.NOT_FOUND, None)


def test_local_carrier_events_lifted_to_last_mile_after_handoff() -> None:
    """USPS's domestic 'in transit' is the cross-border parcel's last mile."""
    events = merge_events(CAINIAO_JOURNEY, [usps(140, Stage.IN_TRANSIT), usps(141, None)])
    lifted = lift_local_events(events, "USPS", "Cainiao")
    by_time = {e.time: e for e in lifted}
    assert by_time[usps(140, None).time].stage is Stage.LAST_MILE
    assert by_time[usps(141, None).time].stage is None
    # Cainiao's own events are left alone.
    assert [e.stage for e in lifted if e.carrier == "Cainiao"] == [
        e.stage for e in events if e.carrier == "Cainiao"
    ]
    # Domestic parcel: the local carrier is the origin carrier, nothing is lifted.
    assert lift_local_events(events, "USPS", "USPS") == events


def test_handoff_to_new_local_number() -> None:
    """Cainiao names USPS and a new number: the handoff carries both and its time."""
    cainiao = snap(NUMBER, *CAINIAO_JOURNEY, local_carrier="USPS", local_tracking_number=LOCAL)
    events = merge_events(CAINIAO_JOURNEY)
    handoff = detect_handoff(NUMBER, [cainiao], events)
    assert handoff is not None
    assert (handoff.carrier, handoff.tracking_number, handoff.same_number) == ("USPS", LOCAL, False)
    assert handoff.time == CAINIAO_JOURNEY[-1].time


def test_handoff_keeping_the_same_number() -> None:
    """Israel Post keeps the …Y number: the local number is the same number."""
    number = "RS0123456789Y"
    cainiao = snap(number, ev(1, Stage.CUSTOMS), local_carrier="Israelpost")
    handoff = detect_handoff(number, [cainiao], [])
    assert handoff is not None
    assert handoff.carrier == "Israel Post"
    assert handoff.tracking_number == number
    assert handoff.same_number
    assert handoff.time is None


def test_handoff_user_override_and_carrier_from_local_portal() -> None:
    """A number set by hand wins; its own portal names the carrier."""
    cainiao = snap(NUMBER, ev(1, Stage.CUSTOMS), local_carrier="Israelpost")
    assert detect_handoff(NUMBER, [cainiao], [], local_carrier="USPS") is not None
    plain = snap(NUMBER, ev(1, Stage.CUSTOMS))
    assert detect_handoff(NUMBER, [plain], []) is None
    local_portal = snap(LOCAL, usps(2, Stage.LAST_MILE), source=Source.USPS, carrier="USPS")
    handoff = detect_handoff(NUMBER, [plain, local_portal], [], local_tracking_number=LOCAL)
    assert handoff is not None
    assert (handoff.carrier, handoff.tracking_number) == ("USPS", LOCAL)


def test_build_shipment_across_the_handoff() -> None:
    """The whole answer: stage, who has it, local number, events newest first, ETA."""
    eta = EtaWindow(earliest=T0 + timedelta(days=8), latest=T0 + timedelta(days=12))
    local_eta = EtaWindow(earliest=T0 + timedelta(days=7), latest=T0 + timedelta(days=7))
    cainiao = snap(
        NUMBER, *CAINIAO_JOURNEY, local_carrier="USPS", local_tracking_number=LOCAL, eta=eta
    )
    usps_leg = snap(
        LOCAL,
        usps(140, Stage.IN_TRANSIT),
        usps(150, Stage.OUT_FOR_DELIVERY),
        source=Source.USPS,
        eta=local_eta,
    )
    shipment = build_shipment(NUMBER, [cainiao, usps_leg], now=T0 + timedelta(hours=151))
    assert shipment.stage is Stage.OUT_FOR_DELIVERY
    assert shipment.carrier == "USPS"
    assert shipment.origin_carrier == "Cainiao"
    assert shipment.local_carrier == "USPS"
    assert shipment.local_tracking_number == LOCAL
    assert shipment.tracking_numbers == (NUMBER, LOCAL)
    assert shipment.latest_event is not None
    assert shipment.latest_event.source is Source.USPS
    assert [e.time for e in shipment.events] == sorted(
        (e.time for e in shipment.events), reverse=True
    )
    assert shipment.eta == local_eta
    assert shipment.first_scan == CAINIAO_JOURNEY[1].time
    assert shipment.attention is None


def test_build_shipment_keeps_history_when_portal_drops_events() -> None:
    """Old events we stored survive a portal that no longer returns them."""
    first = build_shipment(NUMBER, [snap(NUMBER, *CAINIAO_JOURNEY)], now=T0)
    trimmed = snap(NUMBER, *CAINIAO_JOURNEY[-2:])
    again = build_shipment(NUMBER, [trimmed], now=T0, history=first.events)
    assert len(again.events) == len(CAINIAO_JOURNEY)
    assert again.stage is first.stage


def test_build_shipment_unknown_number_needs_attention_after_a_week() -> None:
    """An unknown number is normal for a few days, then the seller should be asked."""
    unknown = SourceSnapshot(source=Source.CAINIAO, tracking_number=NUMBER, found=False)
    fresh = build_shipment(NUMBER, [unknown], now=T0 + timedelta(days=2), added_at=T0)
    assert fresh.stage is Stage.NOT_FOUND
    assert fresh.attention is None
    stale = build_shipment(NUMBER, [unknown], now=T0 + timedelta(days=8), added_at=T0)
    assert stale.attention is not None
    assert stale.attention.reason is AttentionReason.NOT_FOUND
    assert stale.attention.since == T0 + timedelta(days=7)


# --- Real-shaped replies: the local number, the status floor, failed rounds ----------


def _fixture_snapshots(provider: str, name: str) -> list[SourceSnapshot]:
    results = PARSERS[Source(provider)](load(FIXTURES / provider / name))
    return [r for r in results.values() if isinstance(r, SourceSnapshot)]


def test_display_text_local_number_is_kept_and_its_carrier_detected() -> None:
    """No destCpInfo names the Ukrainian post: the number is shown, its S10 suffix names it."""
    snapshots = _fixture_snapshots("cainiao", "ua_import_customs_display_number.json")
    shipment = build_shipment("LP00744190266518", snapshots, now=T0)
    assert shipment.local_tracking_number == "CV537024180UA"
    assert shipment.local_carrier == "Ukrposhta"
    assert shipment.tracking_numbers == ("LP00744190266518", "CV537024180UA")
    assert shipment.handoff is not None
    assert not shipment.handoff.same_number


def test_local_number_of_unknown_format_is_kept_without_a_carrier() -> None:
    """A line-haul number no pattern knows: shown, but no carrier is guessed."""
    snapshots = _fixture_snapshots("cainiao", "de_line_haul_number_unknown_format.json")
    shipment = build_shipment("AP00761820934457", snapshots, now=T0)
    assert shipment.local_tracking_number == "38ZKQ448102993017745260"
    assert shipment.local_carrier is None
    assert shipment.handoff is None
    assert shipment.tracking_numbers == ("AP00761820934457", "38ZKQ448102993017745260")


def test_same_number_without_a_carrier_is_no_local_number() -> None:
    """The queried number echoed back is not a new local number."""
    cainiao = snap(NUMBER, ev(1, Stage.CUSTOMS), local_tracking_number=NUMBER)
    shipment = build_shipment(NUMBER, [cainiao], now=T0)
    assert shipment.local_tracking_number is None
    assert shipment.tracking_numbers == (NUMBER,)


def test_detected_carrier_only_from_a_specific_format() -> None:
    """A valid S10 or a carrier prefix names the carrier; a failed check digit or junk does not."""
    assert detected_carrier("CV537024180UA") == "Ukrposhta"
    assert detected_carrier("CNG00839881455575") == "Cainiao"
    assert detected_carrier("CV537024181UA") is None  # wrong check digit
    assert detected_carrier("38ZKQ448102993017745260") is None
    assert detected_carrier("x") is None


def test_import_customs_without_a_departure_scan_reads_customs() -> None:
    """Newest scans are customs hand-overs, the portal says CLEAR_CUSTOMS: customs, not origin."""
    snapshots = _fixture_snapshots("cainiao", "ua_import_customs_display_number.json")
    shipment = build_shipment("LP00744190266518", snapshots, now=T0)
    assert shipment.stage is Stage.CUSTOMS


@pytest.mark.parametrize("source", [Source.CAINIAO, Source.SEVENTEEN_TRACK, Source.AFTERSHIP])
def test_portal_status_is_a_floor_under_the_events(source: Source) -> None:
    """Events saying less than the portal's own status never pull the parcel back."""
    events = [ev(1, Stage.ORIGIN_PROCESSING, source=source), ev(2, Stage.IN_TRANSIT, source=source)]
    held = snap(NUMBER, *events, source=source, carrier="Cainiao", status_stage=Stage.CUSTOMS)
    stage, since = derive_stage(merge_events(events), [held])
    assert stage is Stage.CUSTOMS
    assert since == events[-1].time
    # A lower status, or one from a number nobody found, changes nothing.
    low = replace(held, status_stage=Stage.INFO_RECEIVED)
    assert derive_stage(merge_events(events), [low])[0] is Stage.IN_TRANSIT
    gone = replace(held, found=False)
    assert derive_stage(merge_events(events), [gone])[0] is Stage.IN_TRANSIT


def test_status_floor_leaves_side_states_alone() -> None:
    """A failed attempt or an exception is the newest event: the floor does not hide it."""
    events = [usps(1, Stage.OUT_FOR_DELIVERY), usps(2, Stage.DELIVERY_FAILED)]
    summary = snap(NUMBER, *events, source=Source.AFTERSHIP, status_stage=Stage.LAST_MILE)
    assert derive_stage(events, [summary])[0] is Stage.DELIVERY_FAILED


@pytest.mark.parametrize(
    ("ender", "after", "expected"),
    [
        (Stage.DELIVERY_FAILED, Stage.IN_TRANSIT, Stage.IN_TRANSIT),
        (Stage.EXCEPTION, Stage.IN_TRANSIT, Stage.IN_TRANSIT),
        (Stage.EXCEPTION, Stage.ORIGIN_PROCESSING, Stage.IN_TRANSIT),
        (Stage.DELIVERY_FAILED, Stage.LAST_MILE, Stage.LAST_MILE),
        (Stage.RETURNING, Stage.IN_TRANSIT, Stage.RETURNING),
        (Stage.DELIVERY_FAILED, Stage.INFO_RECEIVED, Stage.DELIVERY_FAILED),
    ],
)
def test_movement_after_a_failed_round_is_not_on_the_van(
    ender: Stage, after: Stage, expected: Stage
) -> None:
    """After a failed or unclaimed round, later scans read as moving (or returning)."""
    events = [usps(1, Stage.LAST_MILE), usps(2, Stage.OUT_FOR_DELIVERY), usps(3, ender)]
    assert derive_stage([*events, usps(50, after)])[0] is expected
    # A new round after it is out for delivery again; delivery ends it all.
    again = [*events, usps(50, after), usps(60, Stage.OUT_FOR_DELIVERY)]
    assert derive_stage(again)[0] is Stage.OUT_FOR_DELIVERY
    assert derive_stage([*again, usps(61, Stage.DELIVERED)])[0] is Stage.DELIVERED


def test_pickup_point_unclaimed_then_moving_is_not_at_the_counter() -> None:
    """Available for pickup, then unclaimed, then facility scans: in transit."""
    events = [
        usps(1, Stage.AVAILABLE_FOR_PICKUP),
        usps(200, Stage.EXCEPTION),
        usps(250, Stage.IN_TRANSIT),
        usps(251, Stage.IN_TRANSIT),
    ]
    assert derive_stage(events)[0] is Stage.IN_TRANSIT


def test_unclaimed_round_then_facility_scans_on_aftership() -> None:
    """The recorded shape: out for delivery, notice left, unclaimed, then heading back."""
    snapshots = _fixture_snapshots(
        "aftership", "tracking_v4_unclaimed_then_moving_naive_times.json"
    )
    shipment = build_shipment("9405511206213345678912", snapshots, now=T0)
    assert shipment.stage is Stage.IN_TRANSIT
    assert shipment.attention is None or shipment.attention.reason is not (
        AttentionReason.OUT_FOR_DELIVERY_OVERDUE
    )
