"""Timeline merge, stage derivation and handoff detection."""

from __future__ import annotations

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
from custom_components.parcel_handoff.tracking.timeline import (
    build_shipment,
    derive_stage,
    detect_handoff,
    lift_local_events,
    merge_events,
)

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
