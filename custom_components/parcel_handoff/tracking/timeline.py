"""Merge what every source says into one timeline, one stage and one handoff.

Portals lag, repeat each other and send events out of order. The rules here:
- the same event seen by two portals (same instant within a tolerance, same meaning)
  is kept once, preferring the portal of the carrier that scanned it;
- the stage never falls below the furthest ordered stage reached; exception,
  delivery failed and returning hold only while they are the newest event; out for
  delivery falls back to last mile when the carrier says the round ended;
- a delivery round that failed (a failed attempt, or an exception such as "unclaimed",
  at the doorstep) is over: later movement reads as moving (its own stage, at least in
  transit), or returning once the carrier said the parcel is going back, never as still
  on the van or at the pickup point;
- no stage is further back than a source's own status says (`status_stage`): the
  portals' summaries are a floor under what the events give;
- once a final-mile carrier other than the origin carrier is known, its physical
  events count at least as last mile;
- a local number a portal gives is kept on the view even when no portal names its
  carrier; the number's format then names the carrier where it can.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import chain, count, repeat
from operator import attrgetter, itemgetter

from ._frozen import replace
from .attention import assess_attention
from .carriers import carrier_display_name, source_for_carrier
from .detection import TrackingFormat, detect_carriers
from .errors import InvalidTrackingNumberError
from .model import (
    FINAL_STAGES,
    JOURNEY_RANK,
    PHYSICAL_STAGES,
    TRANSIENT_STAGES,
    EtaWindow,
    Handoff,
    Shipment,
    SourceSnapshot,
    Stage,
    TrackingEvent,
)

# Two portals relaying one scan rarely agree to the second.
DUPLICATE_TOLERANCE = timedelta(minutes=3)

_LAST_MILE_RANK = JOURNEY_RANK[Stage.LAST_MILE]
_IN_TRANSIT_RANK = JOURNEY_RANK[Stage.IN_TRANSIT]
_DOORSTEP = frozenset({Stage.OUT_FOR_DELIVERY, Stage.AVAILABLE_FOR_PICKUP})
# Side states that, met at the doorstep, end the delivery round.
_ROUND_ENDERS = frozenset({Stage.DELIVERY_FAILED, Stage.EXCEPTION, Stage.RETURNING})


def _fold(text: str) -> str:
    return " ".join(text.lower().split())


def _preference(event: TrackingEvent) -> int:
    """Higher is better: the carrier's own portal beats a relay of it."""
    own = source_for_carrier(event.carrier) == event.source
    return 2 if own else 1


# Events stamped at one instant sort in journey order: no stage first, side states last.
_SIDE_RANK = len(JOURNEY_RANK)
_SORT_RANKS: dict[Stage | None, int] = {
    None: -1,
    **{stage: JOURNEY_RANK.get(stage, _SIDE_RANK) for stage in Stage},
}
_times = attrgetter("time")
_stages = attrgetter("stage")
_last = itemgetter(3)


def _in_order(events: Sequence[TrackingEvent]) -> list[TrackingEvent]:
    """The events by instant, then by stage rank, else as given (a stable sort).

    Every key is made in C: a refresh sorts thousands of events.
    """
    ranks = map(_SORT_RANKS.get, map(_stages, events), repeat(_SIDE_RANK))
    # The position keeps the sort stable and leaves the events themselves uncompared.
    keyed = sorted(zip(map(_times, events), ranks, count(), events))
    return list(map(_last, keyed))


def _same_event(a: TrackingEvent, b: TrackingEvent) -> bool:
    if abs(a.time - b.time) > DUPLICATE_TOLERANCE:
        return False
    if a.source == b.source:
        # One portal repeating itself: only an exact repeat is a duplicate.
        return (
            a.time == b.time and _fold(a.description) == _fold(b.description) and (a.code == b.code)
        )
    if a.stage is not None or b.stage is not None:
        return a.stage == b.stage
    return _fold(a.description) == _fold(b.description)


def merge_events(*timelines: Iterable[TrackingEvent]) -> list[TrackingEvent]:
    """Merge timelines into one, oldest first, each event once with its source kept."""
    merged: list[TrackingEvent] = []
    for event in _in_order(list(chain.from_iterable(timelines))):
        if merged and event.time - merged[-1].time > DUPLICATE_TOLERANCE:
            merged.append(event)  # `_find_duplicate` would stop at the newest kept one
            continue
        duplicate_of = _find_duplicate(merged, event)
        if duplicate_of is None:
            merged.append(event)
        elif _preference(event) > _preference(merged[duplicate_of]):
            merged[duplicate_of] = event
    return merged


def _find_duplicate(merged: Sequence[TrackingEvent], event: TrackingEvent) -> int | None:
    """Index of an event in `merged` (oldest first) that `event` repeats, if any."""
    # Only the last few events can be within the tolerance of this one.
    for index in range(len(merged) - 1, -1, -1):
        kept = merged[index]
        if event.time - kept.time > DUPLICATE_TOLERANCE:
            return None
        if _same_event(kept, event):
            return index
    return None


def lift_local_events(
    events: Sequence[TrackingEvent], local_carrier: str | None, origin_carrier: str | None
) -> list[TrackingEvent]:
    """Count the final-mile carrier's physical events at least as last mile.

    The local carrier describes the parcel from its own domestic point of view
    ("accepted", "in transit"), which for a cross-border parcel is the last mile.
    Data-only events (label created) and events without a stage stay as they are.
    """
    if local_carrier is None or local_carrier == origin_carrier:
        return list(events)

    def lift(event: TrackingEvent) -> TrackingEvent:
        rank = JOURNEY_RANK.get(event.stage) if event.stage is not None else None
        if (
            event.carrier == local_carrier
            and rank is not None
            and JOURNEY_RANK[Stage.ORIGIN_PROCESSING] <= rank < _LAST_MILE_RANK
        ):
            return replace(event, stage=Stage.LAST_MILE)
        return event

    return [lift(event) for event in events]


@dataclass(slots=True)
class _StageMachine:
    """Folds events (oldest first) into the current stage and when it began."""

    current: Stage | None = None
    since: datetime | None = None
    furthest: Stage | None = None
    # Set when a round at the doorstep failed; RETURNING once the carrier said so.
    round_over: Stage | None = None

    def feed(self, event: TrackingEvent) -> None:
        stage = event.stage
        if stage is None or self.current in FINAL_STAGES:
            return
        if stage in TRANSIENT_STAGES or stage is Stage.RETURNED:
            if stage in _ROUND_ENDERS and (self.furthest in _DOORSTEP or self.round_over):
                # Aggregators never label a domestic carrier's scans `last_mile`, so a
                # failed round is the only sign the parcel left the van or the counter.
                # Once the carrier said the parcel is going back, it stays going back.
                going_back = Stage.RETURNING in (stage, self.round_over)
                self.round_over = Stage.RETURNING if going_back else stage
            self._set(stage, event.time)
            return
        rank = JOURNEY_RANK[stage]
        furthest_rank = JOURNEY_RANK[self.furthest] if self.furthest else -1
        if self.round_over is not None and rank < furthest_rank:
            self._after_failed_round(stage, event.time)
        elif rank >= furthest_rank:
            self.round_over = None
            self.furthest = stage
            self._set(stage, event.time)
        elif self.furthest in _DOORSTEP and stage is Stage.LAST_MILE:
            # The delivery round ended without delivery: back in the local network.
            self.furthest = stage
            self._set(stage, event.time)
        elif self.furthest is not None:
            # A lagging or out-of-order report: the furthest stage stands.
            self._set(self.furthest, event.time)

    def _after_failed_round(self, stage: Stage, when: datetime) -> None:
        """Movement after a failed round: moving again, or going back to the sender."""
        if stage is Stage.INFO_RECEIVED or stage is Stage.NOT_FOUND:
            return  # data only: says nothing about where the parcel went
        if self.round_over is Stage.RETURNING:
            self._set(Stage.RETURNING, when)
            return
        moving = stage if JOURNEY_RANK[stage] >= _IN_TRANSIT_RANK else Stage.IN_TRANSIT
        self.furthest = moving
        self._set(moving, when)

    def _set(self, stage: Stage, when: datetime) -> None:
        if stage != self.current:
            self.current = stage
            self.since = when


def derive_stage(
    events: Sequence[TrackingEvent], snapshots: Sequence[SourceSnapshot] = ()
) -> tuple[Stage, datetime | None]:
    """Return the stage of a timeline (oldest first) and when that stage began.

    With no event that implies a stage, the sources' own summaries decide: a number
    no source knows is `not_found`, one that is known but unscanned `info_received`.
    With events, the furthest ordered summary is a floor: a parcel never reads as
    further back than a portal's own status says (Cainiao's module `status`, 17TRACK's
    `latest_status`, AfterShip's `tag`). The floor does not override a side state
    (exception, delivery failed, returning): those describe the newest event.
    """
    machine = _StageMachine()
    for event in events:
        machine.feed(event)
    summaries = [s.status_stage for s in snapshots if s.found and s.status_stage is not None]
    ranked = [stage for stage in summaries if stage in JOURNEY_RANK]
    floor = max(ranked, key=JOURNEY_RANK.__getitem__) if ranked else None
    if machine.current is not None:
        current_rank = machine.current.rank
        if floor is not None and current_rank is not None and JOURNEY_RANK[floor] > current_rank:
            # When the portal's status got there is unknown; the newest scan is the
            # latest instant the events vouch for.
            return floor, events[-1].time
        return machine.current, machine.since
    if floor is not None:
        return floor, None
    if summaries:
        return summaries[0], None
    if any(snapshot.found for snapshot in snapshots) or events:
        return Stage.INFO_RECEIVED, None
    return Stage.NOT_FOUND, None


def local_leg(
    tracking_number: str,
    snapshots: Sequence[SourceSnapshot],
    *,
    local_carrier: str | None = None,
    local_tracking_number: str | None = None,
) -> tuple[str | None, str | None]:
    """The final-mile carrier and number, either or both None; the user's values win.

    A new number without a named carrier is kept: its own portal's snapshot names the
    carrier, else the number's format does where it is specific (an S10 suffix, a
    carrier's prefix); otherwise the carrier stays unknown.
    """
    carrier = carrier_display_name(local_carrier)
    number = local_tracking_number
    for snapshot in snapshots:
        if snapshot.tracking_number != tracking_number:
            continue
        carrier = carrier or carrier_display_name(snapshot.local_carrier)
        number = number or snapshot.local_tracking_number
    if carrier is None and number is not None and number != tracking_number:
        for snapshot in snapshots:
            if snapshot.tracking_number == number and snapshot.carrier:
                carrier = carrier_display_name(snapshot.carrier)
                break
        else:
            carrier = detected_carrier(number)
    return carrier, number


def detected_carrier(number: str) -> str | None:
    """The carrier a number's format names, when the format is specific enough.

    Only the best candidate counts, and only when it has a carrier, a known format and
    no failed check digit: a guess from a generic shape would name the wrong carrier.
    """
    try:
        candidates = detect_carriers(number)
    except InvalidTrackingNumberError:
        return None
    best = candidates[0] if candidates else None
    if (
        best is None
        or best.carrier is None
        or best.format is TrackingFormat.UNKNOWN
        or best.checksum_valid is False
    ):
        return None
    return carrier_display_name(best.carrier)


def detect_handoff(
    tracking_number: str,
    snapshots: Sequence[SourceSnapshot],
    events: Sequence[TrackingEvent],
    *,
    local_carrier: str | None = None,
    local_tracking_number: str | None = None,
) -> Handoff | None:
    """Find the final-mile carrier and its number; explicit arguments (the user's) win.

    A handoff needs a carrier; a local number whose carrier nobody can name is not a
    handoff (`local_leg` still gives it, and the shipment view shows it).
    """
    carrier, number = local_leg(
        tracking_number,
        snapshots,
        local_carrier=local_carrier,
        local_tracking_number=local_tracking_number,
    )
    if carrier is None:
        return None
    number = number or tracking_number
    handed_at = next((e.time for e in events if e.carrier == carrier and e.stage is not None), None)
    return Handoff(
        carrier=carrier,
        tracking_number=number,
        time=handed_at,
        same_number=number == tracking_number,
    )


def _pick_eta(snapshots: Sequence[SourceSnapshot], local_number: str | None) -> EtaWindow | None:
    # The final-mile carrier's own estimate is the better one once it has one.
    ordered = sorted(snapshots, key=lambda s: s.tracking_number != local_number)
    return next((s.eta for s in ordered if s.eta is not None), None)


def build_shipment(
    tracking_number: str,
    snapshots: Iterable[SourceSnapshot],
    *,
    now: datetime,
    history: Iterable[TrackingEvent] = (),
    local_carrier: str | None = None,
    local_tracking_number: str | None = None,
    added_at: datetime | None = None,
    patience: float = 1.0,
) -> Shipment:
    """Turn every source's snapshot of one parcel (and what we knew before) into one view.

    `history` is the merged timeline kept from earlier refreshes: portals drop old
    events, we do not. `local_carrier` and `local_tracking_number` are the user's
    overrides. `patience` scales the attention limits (below 1 warns sooner).
    """
    snapshots = list(snapshots)
    main = next((s for s in snapshots if s.tracking_number == tracking_number), None)
    merged = merge_events(history, *(snapshot.events for snapshot in snapshots))
    handoff = detect_handoff(
        tracking_number,
        snapshots,
        merged,
        local_carrier=local_carrier,
        local_tracking_number=local_tracking_number,
    )
    origin_carrier = carrier_display_name(main.carrier if main else None) or next(
        (e.carrier for e in merged if e.carrier), None
    )
    if handoff is not None:
        # Lifted scans may now repeat the origin portal's relay of the handoff.
        merged = merge_events(lift_local_events(merged, handoff.carrier, origin_carrier))
    stage, stage_since = derive_stage(merged, snapshots)
    newest = merged[-1] if merged else None
    if handoff is not None and handoff.time is not None:
        carrier: str | None = handoff.carrier  # the local carrier has scanned it: it has it
    else:
        carrier = (newest.carrier if newest and newest.carrier else None) or origin_carrier
    if handoff is not None:
        local_number: str | None = handoff.tracking_number
    else:
        # A new number is the most useful thing on the page, carrier or not.
        _, found_number = local_leg(
            tracking_number, snapshots, local_tracking_number=local_tracking_number
        )
        local_number = found_number if found_number != tracking_number else None
    numbers = tuple(dict.fromkeys([tracking_number, *([local_number] if local_number else [])]))
    shipment = Shipment(
        tracking_number=tracking_number,
        stage=stage,
        carrier=carrier,
        origin_carrier=origin_carrier,
        local_carrier=handoff.carrier if handoff else None,
        local_tracking_number=local_number,
        handoff=handoff,
        events=tuple(reversed(merged)),
        eta=_pick_eta(snapshots, local_number),
        stage_since=stage_since,
        first_scan=next((e.time for e in merged if e.stage in PHYSICAL_STAGES), None),
        tracking_numbers=numbers,
    )
    attention = assess_attention(shipment, now, added_at=added_at, patience=patience)
    return replace(shipment, attention=attention) if attention else shipment
