"""Canonical model: stages, events, per-source snapshots and the merged shipment view.

Every carrier's wording is mapped onto these types by the normalizers; everything
downstream (timeline merge, attention, polling policy, Home Assistant entities) reads
only these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Final

from ._frozen import fill_slots
from .errors import TrackingError


class Stage(StrEnum):
    """Where a parcel is in its journey. The values are the stage sensor's states.

    Never add `unknown` or `unavailable`: Home Assistant reserves them.
    """

    NOT_FOUND = "not_found"
    INFO_RECEIVED = "info_received"
    ORIGIN_PROCESSING = "origin_processing"
    IN_TRANSIT = "in_transit"
    CUSTOMS = "customs"
    LAST_MILE = "last_mile"
    OUT_FOR_DELIVERY = "out_for_delivery"
    AVAILABLE_FOR_PICKUP = "available_for_pickup"
    DELIVERED = "delivered"
    DELIVERY_FAILED = "delivery_failed"
    EXCEPTION = "exception"
    RETURNING = "returning"
    RETURNED = "returned"

    @property
    def rank(self) -> int | None:
        """Position on the ordered journey, or None for a side state."""
        return JOURNEY_RANK.get(self)

    @property
    def is_final(self) -> bool:
        """True once nothing more is expected to happen."""
        return self in FINAL_STAGES


# The ordered journey. Out for delivery and available for pickup share a rank: a
# parcel is in one or the other before it is delivered.
JOURNEY_RANK: Final[dict[Stage, int]] = {
    Stage.NOT_FOUND: 0,
    Stage.INFO_RECEIVED: 1,
    Stage.ORIGIN_PROCESSING: 2,
    Stage.IN_TRANSIT: 3,
    Stage.CUSTOMS: 4,
    Stage.LAST_MILE: 5,
    Stage.OUT_FOR_DELIVERY: 6,
    Stage.AVAILABLE_FOR_PICKUP: 6,
    Stage.DELIVERED: 7,
}

# Side states that describe the newest event only: they hold while they are newest.
TRANSIENT_STAGES: Final[frozenset[Stage]] = frozenset(
    {Stage.EXCEPTION, Stage.DELIVERY_FAILED, Stage.RETURNING}
)

FINAL_STAGES: Final[frozenset[Stage]] = frozenset({Stage.DELIVERED, Stage.RETURNED})

# Stages that mean a physical scan happened (not just electronic information).
PHYSICAL_STAGES: Final[frozenset[Stage]] = frozenset(
    stage for stage, rank in JOURNEY_RANK.items() if rank >= 2
) | {Stage.DELIVERY_FAILED, Stage.EXCEPTION, Stage.RETURNING, Stage.RETURNED}


class Source(StrEnum):
    """A portal we can ask about a tracking number."""

    CAINIAO = "cainiao"
    USPS = "usps"
    SEVENTEEN_TRACK = "17track"
    AFTERSHIP = "aftership"


@fill_slots
@dataclass(frozen=True, slots=True, kw_only=True)
class TrackingEvent:
    """One scan or message, as a portal reported it.

    `time` is timezone-aware and keeps the offset the carrier gave where it gave one
    (the polling policy reads the local hour from it). `stage` is None for
    "carrier update" style events that say nothing about where the parcel is.
    """

    time: datetime
    description: str
    location: str | None = None
    carrier: str | None = None
    source: Source
    stage: Stage | None = None
    code: str | None = None
    tracking_number: str | None = None

    def __post_init__(self) -> None:
        if self.time.tzinfo is None or self.time.utcoffset() is None:
            raise TrackingError(f"event time must be timezone-aware: {self.time!r}")

    def __hash__(self) -> int:
        # Equal events share their instant and wording: hashing those alone is enough, and
        # half the cost of hashing every field (a refresh hashes each known event).
        return hash((self.time, self.description))


@fill_slots
@dataclass(frozen=True, slots=True, kw_only=True)
class EtaWindow:
    """When the carrier expects delivery: earliest and latest instants, either may be None."""

    earliest: datetime | None = None
    latest: datetime | None = None


@fill_slots
@dataclass(frozen=True, slots=True, kw_only=True)
class SourceSnapshot:
    """What one source says about one tracking number at one moment.

    `status_stage` is the source's own summary (e.g. Cainiao `SELLER_PREPARING`): the
    stage when it has no events to derive one from, and a floor under the stage its events
    give (a portal's own status is never read as further back). `local_carrier` and
    `local_tracking_number` describe the final-mile carrier when the source knows it; the
    number alone counts too (a new number with an unknown carrier is still shown).

    `tracking_stopped` is True when the source said it stopped following this number
    (17TRACK's `TRACKING_STOPPED` webhook): such a snapshot says nothing about the parcel
    (`found` is False, no events), so whoever keeps snapshots should keep the last known
    one and only mark the number as no longer followed by that source.
    """

    source: Source
    tracking_number: str
    found: bool = True
    carrier: str | None = None
    events: tuple[TrackingEvent, ...] = ()
    status_stage: Stage | None = None
    status_text: str | None = None
    local_carrier: str | None = None
    local_tracking_number: str | None = None
    local_carrier_code: str | None = None
    eta: EtaWindow | None = None
    origin_country: str | None = None
    destination_country: str | None = None
    tracking_stopped: bool = False


# One number's result from a source: its snapshot, or the error for that number alone.
type SourceResult = SourceSnapshot | TrackingError


@fill_slots
@dataclass(frozen=True, slots=True, kw_only=True)
class Handoff:
    """The parcel passed to its final-mile carrier, possibly under a new number."""

    carrier: str
    tracking_number: str
    time: datetime | None = None
    same_number: bool = False


class AttentionReason(StrEnum):
    """Why a shipment needs a human. Stable keys: translated by the integration."""

    NO_PHYSICAL_SCAN = "no_physical_scan"
    NOT_FOUND = "not_found"
    ORIGIN_STALLED = "origin_stalled"
    LINE_HAUL_SILENCE = "line_haul_silence"
    CUSTOMS_HOLD = "customs_hold"
    LAST_MILE_STALLED = "last_mile_stalled"
    OUT_FOR_DELIVERY_OVERDUE = "out_for_delivery_overdue"
    AWAITING_PICKUP = "awaiting_pickup"
    DELIVERY_FAILED = "delivery_failed"
    EXCEPTION = "exception"
    RETURNING = "returning"
    RETURNED = "returned"
    PAST_ETA = "past_eta"


class AttentionAction(StrEnum):
    """What the user should do about it. Stable keys: translated by the integration."""

    WAIT = "wait"
    CHECK_LOCAL_CARRIER = "check_local_carrier"
    CONTACT_SELLER = "contact_seller"
    OPEN_DISPUTE = "open_dispute"
    CHECK_MAILBOX = "check_mailbox"
    COLLECT_PARCEL = "collect_parcel"
    ARRANGE_REDELIVERY = "arrange_redelivery"


@fill_slots
@dataclass(frozen=True, slots=True, kw_only=True)
class Attention:
    """A silence or state that is not normal any more, with the suggested action."""

    reason: AttentionReason
    action: AttentionAction
    since: datetime


@fill_slots
@dataclass(frozen=True, slots=True, kw_only=True)
class Shipment:
    """The one answer per parcel: the merged, canonical view over every source."""

    tracking_number: str
    stage: Stage
    carrier: str | None = None
    origin_carrier: str | None = None
    local_carrier: str | None = None
    local_tracking_number: str | None = None
    handoff: Handoff | None = None
    events: tuple[TrackingEvent, ...] = ()  # newest first
    eta: EtaWindow | None = None
    stage_since: datetime | None = None
    first_scan: datetime | None = None
    attention: Attention | None = None
    tracking_numbers: tuple[str, ...] = field(default=())

    @property
    def latest_event(self) -> TrackingEvent | None:
        """The newest event, if any."""
        return self.events[0] if self.events else None
