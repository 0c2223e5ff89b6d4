"""The polling policy: when to look again."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from custom_components.parcel_handoff.tracking.model import EtaWindow, Shipment, Source, Stage
from custom_components.parcel_handoff.tracking.policy import (
    BACKOFF_MAX,
    BLOCKED_BACKOFF,
    RELAY_LAGS,
    ROUND_INTERVAL,
    SOURCE_FLOORS,
    STAGE_INTERVALS,
    SUPERSEDED_LEG_INTERVAL,
    CheckContext,
    backoff_delay,
    is_due,
    is_quiet,
    next_check,
    stage_interval,
)

from .helpers import CHICAGO, ev, usps

USPS = CheckContext(source=Source.USPS)


def parcel(stage: Stage, *, local: bool = True, hours: float = 0) -> Shipment:
    """A shipment in `stage`, its newest event a USPS scan in Chicago time."""
    event = usps(hours, stage) if local else ev(hours, stage)
    return Shipment(
        tracking_number="9400111899223344556677",
        stage=stage,
        local_carrier="USPS" if local else None,
        events=(event,),
        stage_since=event.time,
    )


def chicago(day: int, hour: int, minute: int = 0) -> datetime:
    """A wall-clock instant in Chicago in March 2026."""
    return datetime(2026, 3, day, hour, minute, tzinfo=CHICAGO)


def test_every_stage_has_an_interval_and_the_order_makes_sense() -> None:
    """The one table covers every stage; doorstep stages are the fastest."""
    assert set(STAGE_INTERVALS) == set(Stage)
    assert STAGE_INTERVALS[Stage.OUT_FOR_DELIVERY] < STAGE_INTERVALS[Stage.LAST_MILE]
    assert STAGE_INTERVALS[Stage.LAST_MILE] < STAGE_INTERVALS[Stage.CUSTOMS]
    assert STAGE_INTERVALS[Stage.CUSTOMS] < STAGE_INTERVALS[Stage.IN_TRANSIT]


def test_speed_divides_the_interval() -> None:
    """Faster halves the wait, slower doubles it."""
    assert stage_interval(Stage.CUSTOMS, speed=2) == STAGE_INTERVALS[Stage.CUSTOMS] / 2
    assert stage_interval(Stage.CUSTOMS, speed=0.5) == STAGE_INTERVALS[Stage.CUSTOMS] * 2


def test_line_haul_is_checked_rarely() -> None:
    """In transit: twelve hours between looks."""
    now = datetime(2026, 3, 5, 10, tzinfo=UTC)
    context = CheckContext(source=Source.CAINIAO, last_check=now)
    assert next_check(parcel(Stage.IN_TRANSIT, local=False), now, context) == now + timedelta(
        hours=12
    )


def test_out_for_delivery_is_checked_often_by_day() -> None:
    """Out for delivery at 10:00: looked at again within the half hour."""
    now = chicago(5, 10)
    context = CheckContext(source=Source.USPS, last_check=now)
    interval = STAGE_INTERVALS[Stage.OUT_FOR_DELIVERY]
    assert interval <= timedelta(minutes=30)
    assert next_check(parcel(Stage.OUT_FOR_DELIVERY), now, context) == now + interval


def test_last_mile_waits_for_the_morning_round() -> None:
    """At 22:00 in the last mile the next look is 06:00 local, then every ROUND_INTERVAL."""
    evening = chicago(5, 22)
    context = CheckContext(source=Source.USPS, last_check=evening)
    assert next_check(parcel(Stage.LAST_MILE), evening, context) == chicago(6, 6)
    morning = chicago(6, 6)
    context = CheckContext(source=Source.USPS, last_check=morning)
    assert next_check(parcel(Stage.LAST_MILE), morning, context) == morning + ROUND_INTERVAL
    afternoon = chicago(6, 14)
    context = CheckContext(source=Source.USPS, last_check=afternoon)
    assert (
        next_check(parcel(Stage.LAST_MILE), afternoon, context)
        == afternoon + (STAGE_INTERVALS[Stage.LAST_MILE])
    )


def test_last_mile_just_before_the_round_starts_at_the_round() -> None:
    """At 05:30 the hour interval would skip the start of the round: look at 06:00."""
    early = chicago(6, 5, 30)
    context = CheckContext(source=Source.USPS, last_check=early)
    assert next_check(parcel(Stage.LAST_MILE), early, context) == chicago(6, 6)


def test_local_zone_falls_back_to_configured_zone() -> None:
    """With only UTC-stamped events, the configured zone tells the carrier's night."""
    evening_utc = chicago(5, 22).astimezone(UTC)
    shipment = parcel(Stage.OUT_FOR_DELIVERY, local=False)
    context = CheckContext(source=Source.CAINIAO, last_check=evening_utc, local_tz=CHICAGO)
    assert next_check(shipment, evening_utc, context) == chicago(6, 6)


def test_delivered_gets_one_confirmation_then_stops() -> None:
    """One more look after delivery, then never again."""
    delivered = parcel(Stage.DELIVERED)
    assert delivered.stage_since is not None
    detected = delivered.stage_since + timedelta(minutes=7)
    first = next_check(delivered, detected, CheckContext(source=Source.USPS, last_check=detected))
    assert first == delivered.stage_since + STAGE_INTERVALS[Stage.DELIVERED]
    assert next_check(delivered, first, CheckContext(source=Source.USPS, last_check=first)) is None


def test_superseded_origin_leg_is_checked_rarely() -> None:
    """Once USPS follows the local number, Cainiao is asked twice a day at most."""
    now = chicago(6, 8)
    context = CheckContext(source=Source.CAINIAO, last_check=now, superseded=True)
    result = next_check(parcel(Stage.OUT_FOR_DELIVERY), now, context)
    assert result is not None
    assert result >= now + SUPERSEDED_LEG_INTERVAL


def test_source_floor_and_retry_at_win() -> None:
    """Cainiao is never asked twice within its floor; a Retry-After is honoured."""
    now = chicago(6, 10)
    context = CheckContext(source=Source.CAINIAO, last_check=now, speed=10)
    result = next_check(parcel(Stage.OUT_FOR_DELIVERY), now, context)
    assert result == now + SOURCE_FLOORS[Source.CAINIAO]
    later = now + timedelta(hours=3)
    context = CheckContext(source=Source.USPS, last_check=now, retry_at=later)
    assert next_check(parcel(Stage.OUT_FOR_DELIVERY), now, context) == later


def test_first_check_without_history() -> None:
    """A shipment never checked by a source is checked from now."""
    now = chicago(6, 10)
    assert next_check(parcel(Stage.CUSTOMS), now, USPS) == now + STAGE_INTERVALS[Stage.CUSTOMS]


@pytest.mark.parametrize(
    ("errors", "expected"),
    [(1, timedelta(minutes=5)), (2, timedelta(minutes=10)), (4, timedelta(minutes=40))],
)
def test_backoff_grows(errors: int, expected: timedelta) -> None:
    """Each error in a row doubles the rest."""
    assert backoff_delay(errors) == expected


def test_backoff_caps_honours_retry_after_and_blocks() -> None:
    """A long streak is capped; Retry-After wins up to the cap; a block page rests for hours."""
    assert backoff_delay(50) == BACKOFF_MAX
    assert backoff_delay(1, retry_after=90) == timedelta(seconds=90)
    assert backoff_delay(1, retry_after=86400 * 365 * 74) == BACKOFF_MAX
    assert backoff_delay(1, retry_after=1e300) == BACKOFF_MAX
    assert backoff_delay(1, retry_after=float("nan")) == backoff_delay(1)
    assert backoff_delay(1, blocked=True) == BLOCKED_BACKOFF


def test_is_due() -> None:
    """Due now or within the early window; never when stopped."""
    now = chicago(6, 10)
    assert is_due(now, now)
    assert not is_due(now + timedelta(minutes=5), now)
    assert is_due(now + timedelta(minutes=5), now, early=timedelta(minutes=5))
    assert not is_due(None, now)


def test_estimated_delivery_close_watches_like_the_last_mile() -> None:
    """A domestic parcel in transit the day before its ETA gets the morning round."""
    morning = chicago(6, 7)
    shipment = replace(
        parcel(Stage.IN_TRANSIT, local=False),
        eta=EtaWindow(earliest=chicago(7, 0), latest=chicago(7, 23)),
    )
    context = CheckContext(source=Source.USPS, last_check=morning, local_tz=CHICAGO)
    assert next_check(shipment, morning, context) == morning + ROUND_INTERVAL
    evening = chicago(6, 22)
    context = CheckContext(source=Source.USPS, last_check=evening, local_tz=CHICAGO)
    assert next_check(shipment, evening, context) == chicago(7, 6)
    # Far from its ETA, line-haul pace.
    early = replace(shipment, eta=EtaWindow(earliest=chicago(20, 0)))
    context = CheckContext(source=Source.USPS, last_check=morning, local_tz=CHICAGO)
    assert next_check(early, morning, context) == morning + STAGE_INTERVALS[Stage.IN_TRANSIT]


def test_wide_marketplace_estimate_does_not_start_the_round() -> None:
    """A ten-day AliExpress estimate says little about tomorrow morning."""
    morning = chicago(6, 7)
    shipment = replace(
        parcel(Stage.CUSTOMS, local=False),
        eta=EtaWindow(earliest=chicago(6, 0), latest=chicago(16, 0)),
    )
    context = CheckContext(source=Source.CAINIAO, last_check=morning, local_tz=CHICAGO)
    assert next_check(shipment, morning, context) == morning + STAGE_INTERVALS[Stage.CUSTOMS]


def test_a_relaying_source_is_watched_later_and_longer() -> None:
    """Cainiao relays a post's round hours late: its round window runs into the evening."""
    lead, lag = RELAY_LAGS[Source.CAINIAO]
    shipment = parcel(Stage.LAST_MILE)
    evening = chicago(6, 17)  # after the carrier's own round window, within the relay's
    own = CheckContext(source=Source.USPS, last_check=evening)
    relayed = CheckContext(source=Source.CAINIAO, last_check=evening, relayed=True)
    assert next_check(shipment, evening, own) == evening + STAGE_INTERVALS[Stage.LAST_MILE]
    assert next_check(shipment, evening, relayed) == evening + ROUND_INTERVAL
    # The relay's morning starts its lead after the carrier's; its day ends its lag later.
    night = chicago(6, 23)
    own_night = CheckContext(source=Source.USPS, last_check=night)
    assert next_check(shipment, night, own_night) == chicago(7, 6)
    relayed_night = CheckContext(source=Source.CAINIAO, last_check=night, relayed=True)
    last_mile = STAGE_INTERVALS[Stage.LAST_MILE]
    assert next_check(shipment, night, relayed_night) == night + last_mile
    late = chicago(7, 3)
    relayed_late = CheckContext(source=Source.CAINIAO, last_check=late, relayed=True)
    assert next_check(shipment, late, relayed_late) == chicago(7, 6) + lead
    assert lag > lead


def test_quiet_hours_are_the_carriers_night() -> None:
    """Nothing to see at night in the last mile; line-haul has no night."""
    night = chicago(6, 23)
    assert is_quiet(parcel(Stage.LAST_MILE), night, USPS)
    assert not is_quiet(parcel(Stage.LAST_MILE), chicago(6, 9), USPS)
    assert not is_quiet(parcel(Stage.IN_TRANSIT, local=False), night, USPS)
    relayed = CheckContext(source=Source.CAINIAO, relayed=True)
    assert not is_quiet(parcel(Stage.LAST_MILE), night, relayed)


def test_customs_gets_a_look_as_each_round_starts() -> None:
    """However long the customs interval, the morning round's start gets one look."""
    evening = chicago(5, 23)
    context = CheckContext(source=Source.USPS, last_check=evening, local_tz=CHICAGO)
    assert next_check(parcel(Stage.CUSTOMS), evening, context) == chicago(6, 6)
    noon = chicago(6, 12)
    context = CheckContext(source=Source.USPS, last_check=noon, local_tz=CHICAGO)
    assert next_check(parcel(Stage.CUSTOMS), noon, context) == noon + STAGE_INTERVALS[Stage.CUSTOMS]
