"""Small builders for canonical events and snapshots used across engine tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from custom_components.parcel_handoff.tracking.model import (
    Source,
    SourceSnapshot,
    Stage,
    TrackingEvent,
)

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
CHICAGO = timezone(timedelta(hours=-6))


def ev(
    hours: float,
    stage: Stage | None,
    *,
    source: Source = Source.CAINIAO,
    carrier: str = "Cainiao",
    text: str | None = None,
    code: str | None = None,
    tz: timezone = UTC,
) -> TrackingEvent:
    """An event `hours` after T0."""
    return TrackingEvent(
        time=(T0 + timedelta(hours=hours)).astimezone(tz),
        description=text or (stage.value if stage else "carrier update"),
        carrier=carrier,
        source=source,
        stage=stage,
        code=code,
    )


def usps(hours: float, stage: Stage | None, text: str | None = None) -> TrackingEvent:
    """A USPS event seen on USPS's own portal, in Chicago time."""
    return ev(hours, stage, source=Source.USPS, carrier="USPS", text=text, tz=CHICAGO)


def snap(
    number: str,
    *events: TrackingEvent,
    source: Source = Source.CAINIAO,
    **kwargs: object,
) -> SourceSnapshot:
    """A found snapshot of `number` holding `events` (given in any order)."""
    carrier = kwargs.pop("carrier", "Cainiao" if source is Source.CAINIAO else "USPS")
    return SourceSnapshot(
        source=source,
        tracking_number=number,
        carrier=carrier,  # type: ignore[arg-type]
        events=tuple(sorted(events, key=lambda e: e.time, reverse=True)),
        **kwargs,  # type: ignore[arg-type]
    )
