"""When a silence is normal and when it is time to act.

Cross-border parcels go quiet for weeks during line-haul, and that is normal; a parcel
waiting at a pickup point is not quiet at all, and needs the user today. The limits
below are the usual advice of marketplaces and posts for AliExpress-style shipments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

from .model import Attention, AttentionAction, AttentionReason, Stage

if TYPE_CHECKING:
    from .model import Shipment


@dataclass(frozen=True, slots=True, kw_only=True)
class SilenceRule:
    """How long a stage may go without news before it needs attention."""

    limit: timedelta
    reason: AttentionReason
    action: AttentionAction


# Silence limits per stage, measured from the newest event (or from when the
# shipment was added, for a number nobody knows yet).
SILENCE_RULES: Final[dict[Stage, SilenceRule]] = {
    Stage.NOT_FOUND: SilenceRule(
        limit=timedelta(days=7),
        reason=AttentionReason.NOT_FOUND,
        action=AttentionAction.CONTACT_SELLER,
    ),
    Stage.INFO_RECEIVED: SilenceRule(
        limit=timedelta(days=7),
        reason=AttentionReason.NO_PHYSICAL_SCAN,
        action=AttentionAction.CONTACT_SELLER,
    ),
    Stage.ORIGIN_PROCESSING: SilenceRule(
        limit=timedelta(days=10),
        reason=AttentionReason.ORIGIN_STALLED,
        action=AttentionAction.CONTACT_SELLER,
    ),
    Stage.IN_TRANSIT: SilenceRule(
        limit=timedelta(days=20),
        reason=AttentionReason.LINE_HAUL_SILENCE,
        action=AttentionAction.CONTACT_SELLER,
    ),
    Stage.CUSTOMS: SilenceRule(
        limit=timedelta(days=10),
        reason=AttentionReason.CUSTOMS_HOLD,
        action=AttentionAction.CHECK_LOCAL_CARRIER,
    ),
    Stage.LAST_MILE: SilenceRule(
        limit=timedelta(days=7),
        reason=AttentionReason.LAST_MILE_STALLED,
        action=AttentionAction.CHECK_LOCAL_CARRIER,
    ),
}

# States that need the user now, whatever the time.
ACT_NOW: Final[dict[Stage, tuple[AttentionReason, AttentionAction]]] = {
    Stage.AVAILABLE_FOR_PICKUP: (AttentionReason.AWAITING_PICKUP, AttentionAction.COLLECT_PARCEL),
    Stage.DELIVERY_FAILED: (
        AttentionReason.DELIVERY_FAILED,
        AttentionAction.ARRANGE_REDELIVERY,
    ),
    Stage.EXCEPTION: (AttentionReason.EXCEPTION, AttentionAction.CHECK_LOCAL_CARRIER),
    Stage.RETURNING: (AttentionReason.RETURNING, AttentionAction.CONTACT_SELLER),
    Stage.RETURNED: (AttentionReason.RETURNED, AttentionAction.OPEN_DISPUTE),
}

# A parcel past the latest estimated delivery by this much is worth a dispute.
PAST_ETA_GRACE: Final = timedelta(days=3)


def _out_for_delivery_deadline(since: datetime) -> datetime:
    """The start of the day after the delivery round, in the carrier's local time."""
    local_midnight = since.replace(hour=0, minute=0, second=0, microsecond=0)
    return local_midnight + timedelta(days=1)


def assess_attention(
    shipment: Shipment,
    now: datetime,
    *,
    added_at: datetime | None = None,
    patience: float = 1.0,
) -> Attention | None:
    """Return what needs attention now, or None when the silence is normal.

    `patience` scales every limit: 0.5 warns twice as early, 2 twice as late.
    """
    stage = shipment.stage
    newest = shipment.latest_event
    since = shipment.stage_since or (newest.time if newest else None)

    if stage in ACT_NOW:
        reason, action = ACT_NOW[stage]
        if stage is Stage.EXCEPTION and shipment.handoff is None:
            # Before the handoff only the seller's logistics can act on it.
            action = AttentionAction.CONTACT_SELLER
        return Attention(reason=reason, action=action, since=since or now)

    if stage is Stage.DELIVERED:
        return None

    if stage is Stage.OUT_FOR_DELIVERY and since is not None:
        deadline = _out_for_delivery_deadline(since)
        if patience != 1.0:
            deadline = since + (deadline - since) * patience
        if now >= deadline:
            # Often delivered but not scanned, or left with a neighbour or in a locker.
            return Attention(
                reason=AttentionReason.OUT_FOR_DELIVERY_OVERDUE,
                action=AttentionAction.CHECK_MAILBOX,
                since=deadline,
            )
        return None

    rule = SILENCE_RULES.get(stage)
    quiet_since = newest.time if newest else added_at
    if rule is not None and quiet_since is not None:
        limit = rule.limit * patience
        if now - quiet_since >= limit:
            return Attention(reason=rule.reason, action=rule.action, since=quiet_since + limit)

    eta = shipment.eta
    if eta is not None and eta.latest is not None and stage is not Stage.NOT_FOUND:
        overdue_at = eta.latest + PAST_ETA_GRACE * patience
        if now >= overdue_at:
            return Attention(
                reason=AttentionReason.PAST_ETA,
                action=AttentionAction.OPEN_DISPUTE,
                since=overdue_at,
            )
    return None
