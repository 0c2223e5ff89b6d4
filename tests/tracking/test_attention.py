"""When a silence is normal and when it is time to act."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from custom_components.parcel_handoff.tracking.attention import (
    PAST_ETA_GRACE,
    SILENCE_RULES,
    assess_attention,
)
from custom_components.parcel_handoff.tracking.model import (
    AttentionAction,
    AttentionReason,
    EtaWindow,
    Handoff,
    Shipment,
    Stage,
)

from .helpers import CHICAGO, T0, ev, usps


def shipment(stage: Stage, *events_hours: float, **kwargs: object) -> Shipment:
    """A shipment in `stage` whose events happened `events_hours` after T0."""
    events = tuple(ev(h, stage) for h in sorted(events_hours, reverse=True))
    return Shipment(
        tracking_number="LP00123456789012",
        stage=stage,
        events=events,
        stage_since=events[-1].time if events else None,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("stage", "days", "reason", "action"),
    [
        (Stage.INFO_RECEIVED, 7, AttentionReason.NO_PHYSICAL_SCAN, AttentionAction.CONTACT_SELLER),
        (
            Stage.ORIGIN_PROCESSING,
            10,
            AttentionReason.ORIGIN_STALLED,
            AttentionAction.CONTACT_SELLER,
        ),
        (Stage.IN_TRANSIT, 20, AttentionReason.LINE_HAUL_SILENCE, AttentionAction.CONTACT_SELLER),
        (Stage.CUSTOMS, 10, AttentionReason.CUSTOMS_HOLD, AttentionAction.CHECK_LOCAL_CARRIER),
        (
            Stage.LAST_MILE,
            7,
            AttentionReason.LAST_MILE_STALLED,
            AttentionAction.CHECK_LOCAL_CARRIER,
        ),
    ],
)
def test_silence_limits(
    stage: Stage, days: int, reason: AttentionReason, action: AttentionAction
) -> None:
    """A silence just under the limit is normal; at the limit it needs attention."""
    parcel = shipment(stage, 0)
    assert SILENCE_RULES[stage].limit == timedelta(days=days)
    assert assess_attention(parcel, T0 + timedelta(days=days, minutes=-1)) is None
    attention = assess_attention(parcel, T0 + timedelta(days=days, hours=5))
    assert attention is not None
    assert (attention.reason, attention.action) == (reason, action)
    assert attention.since == T0 + timedelta(days=days)


def test_silence_is_measured_from_the_newest_event() -> None:
    """Fifteen days in transit but news two days ago: normal."""
    parcel = shipment(Stage.IN_TRANSIT, 0, 13 * 24)
    assert assess_attention(parcel, T0 + timedelta(days=22)) is None


def test_patience_scales_the_limits() -> None:
    """Strict warns sooner, relaxed later."""
    parcel = shipment(Stage.CUSTOMS, 0)
    at = T0 + timedelta(days=7)
    assert assess_attention(parcel, at) is None
    assert assess_attention(parcel, at, patience=0.6) is not None
    assert assess_attention(parcel, T0 + timedelta(days=12), patience=1.5) is None


@pytest.mark.parametrize(
    ("stage", "reason", "action"),
    [
        (
            Stage.AVAILABLE_FOR_PICKUP,
            AttentionReason.AWAITING_PICKUP,
            AttentionAction.COLLECT_PARCEL,
        ),
        (
            Stage.DELIVERY_FAILED,
            AttentionReason.DELIVERY_FAILED,
            AttentionAction.ARRANGE_REDELIVERY,
        ),
        (Stage.RETURNING, AttentionReason.RETURNING, AttentionAction.CONTACT_SELLER),
        (Stage.RETURNED, AttentionReason.RETURNED, AttentionAction.OPEN_DISPUTE),
        (Stage.EXCEPTION, AttentionReason.EXCEPTION, AttentionAction.CONTACT_SELLER),
    ],
)
def test_act_now_states(stage: Stage, reason: AttentionReason, action: AttentionAction) -> None:
    """Waiting at a pickup point or a failed delivery needs the user at once."""
    attention = assess_attention(shipment(stage, 3), T0 + timedelta(hours=3, minutes=1))
    assert attention is not None
    assert (attention.reason, attention.action) == (reason, action)
    assert attention.since == T0 + timedelta(hours=3)


def test_exception_after_handoff_points_to_local_carrier() -> None:
    """After the handoff, the local carrier is the one who can fix an exception."""
    handoff = Handoff(carrier="USPS", tracking_number="9400111899223344556677")
    attention = assess_attention(shipment(Stage.EXCEPTION, 1, handoff=handoff), T0)
    assert attention is not None
    assert attention.action is AttentionAction.CHECK_LOCAL_CARRIER


def test_out_for_delivery_overdue_the_next_day() -> None:
    """Out for delivery at 08:00 local and still not delivered the next day."""
    parcel = Shipment(
        tracking_number="9400111899223344556677",
        stage=Stage.OUT_FOR_DELIVERY,
        events=(usps(8, Stage.OUT_FOR_DELIVERY),),
        stage_since=usps(8, Stage.OUT_FOR_DELIVERY).time,
    )
    local_out = parcel.stage_since
    assert local_out is not None
    same_evening = local_out.replace(hour=23, minute=30)
    assert assess_attention(parcel, same_evening) is None
    next_day = datetime(local_out.year, local_out.month, local_out.day, tzinfo=CHICAGO) + (
        timedelta(days=1, minutes=1)
    )
    attention = assess_attention(parcel, next_day)
    assert attention is not None
    assert attention.reason is AttentionReason.OUT_FOR_DELIVERY_OVERDUE
    assert attention.action is AttentionAction.CHECK_MAILBOX
    strict = assess_attention(parcel, local_out + timedelta(hours=10), patience=0.5)
    assert strict is not None


def test_past_eta_suggests_a_dispute() -> None:
    """Well past the latest estimate, with news still coming: open a dispute."""
    eta = EtaWindow(earliest=T0, latest=T0 + timedelta(days=10))
    parcel = shipment(Stage.IN_TRANSIT, 9 * 24, eta=eta)
    overdue_at = T0 + timedelta(days=10) + PAST_ETA_GRACE
    assert assess_attention(parcel, overdue_at - timedelta(minutes=1)) is None
    attention = assess_attention(parcel, overdue_at)
    assert attention is not None
    assert (attention.reason, attention.since) == (AttentionReason.PAST_ETA, overdue_at)


def test_delivered_and_fresh_parcels_need_nothing() -> None:
    """Delivered needs no action even when its ETA has long passed."""
    eta = EtaWindow(latest=T0)
    assert assess_attention(shipment(Stage.DELIVERED, 0, eta=eta), T0 + timedelta(days=90)) is None
    unknown = replace(shipment(Stage.NOT_FOUND), eta=eta)
    assert assess_attention(unknown, T0 + timedelta(days=90)) is None
    assert assess_attention(unknown, T0 + timedelta(days=9), added_at=T0) is not None
