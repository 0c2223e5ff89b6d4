"""`fill_slots`: the quicker `__init__` behaves as the dataclass's own."""

from __future__ import annotations

import dataclasses
from dataclasses import FrozenInstanceError, dataclass, field
from datetime import UTC, datetime
import inspect

import pytest

from custom_components.parcel_handoff.tracking._frozen import fill_slots, replace
from custom_components.parcel_handoff.tracking.errors import TrackingError
from custom_components.parcel_handoff.tracking.model import (
    Shipment,
    Source,
    SourceSnapshot,
    Stage,
    TrackingEvent,
)
from custom_components.parcel_handoff.tracking.policy import CheckContext
from custom_components.parcel_handoff.tracking.tracker import (
    Leg,
    LegCheck,
    ShipmentRecord,
    ShipmentState,
)

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class _Mixed:
    """Positional and keyword-only fields, a default, a factory and a check."""

    first: int
    second: str = "two"
    items: list[int] = field(default_factory=list)
    seen: list[str] = field(default_factory=list, compare=False)

    def __post_init__(self) -> None:
        self.seen.append(f"{self.first}/{self.second}")


@dataclass(frozen=True, slots=True)
class _Plain:
    """One positional field, nothing else."""

    x: int


def test_same_signature_defaults_and_factories() -> None:
    """The parameters are the dataclass's; each factory runs per instance."""
    before = inspect.signature(_Mixed.__init__)
    fast = fill_slots(_Mixed)
    assert inspect.signature(fast.__init__) == before
    one, two = fast(1), fast(2, "deux", [3])
    assert (one.first, one.second, one.items, one.seen) == (1, "two", [], ["1/two"])
    assert (two.first, two.second, two.items, two.seen) == (2, "deux", [3], ["2/deux"])
    assert one.items is not fast(1).items
    assert fast(first=4, second="x") == fast(4, "x")
    with pytest.raises(TypeError):
        fast()  # type: ignore[call-arg]
    with pytest.raises(FrozenInstanceError):
        one.first = 9  # type: ignore[misc]
    assert replace(one, second="three") == dataclasses.replace(one, second="three")
    assert replace(one, second="three") == fast(1, "three")


def test_only_frozen_slotted_dataclasses() -> None:
    """Anything else is refused rather than half-handled."""

    @dataclass(frozen=True)
    class NoSlots:
        x: int

    @dataclass(slots=True)
    class NotFrozen:
        x: int

    for cls in (NoSlots, NotFrozen, int):
        with pytest.raises(TypeError):
            fill_slots(cls)
    assert fill_slots(_Plain)(x=1) == _Plain(1)


@pytest.mark.parametrize(
    "cls",
    [TrackingEvent, SourceSnapshot, Shipment, LegCheck, ShipmentRecord, ShipmentState, Leg],
)
def test_engine_classes_keep_their_signature(cls: type) -> None:
    """The engine's classes take the same keyword-only parameters as their fields."""
    parameters = inspect.signature(cls.__init__).parameters
    assert all(p.kind is p.KEYWORD_ONLY for name, p in parameters.items() if name != "self")
    assert cls.__init__.__qualname__ == f"{cls.__qualname__}.__init__"
    with pytest.raises(FrozenInstanceError):
        setattr(object.__new__(cls), next(iter(parameters.keys() - {"self"})), 1)


def test_engine_instances_as_before() -> None:
    """Defaults, factories and checks of the engine's own classes still apply."""
    event = TrackingEvent(time=NOW, description="Out for delivery", source=Source.USPS)
    assert (event.location, event.stage, event.code) == (None, None, None)
    with pytest.raises(TrackingError):
        TrackingEvent(time=NOW.replace(tzinfo=None), description="naive", source=Source.USPS)
    first, second = (ShipmentRecord(tracking_number="LP1", added_at=NOW) for _ in range(2))
    assert first == second
    assert first.snapshots == {}
    assert first.snapshots is not second.snapshots
    context = CheckContext(source=Source.CAINIAO)
    assert (context.speed, context.relayed) == (1.0, False)
    assert Shipment(tracking_number="LP1", stage=Stage.NOT_FOUND).tracking_numbers == ()


def test_replace_is_dataclasses_replace() -> None:
    """The same copies as `dataclasses.replace`, for fill_slots classes and any other."""
    event = TrackingEvent(time=NOW, description="Arrived", source=Source.USPS, code="07")
    assert replace(event, stage=Stage.LAST_MILE) == dataclasses.replace(
        event, stage=Stage.LAST_MILE
    )
    assert replace(event) == event
    assert replace(event) is not event
    # Equal events hash alike (a set of them finds the copies a portal repeats).
    assert hash(replace(event)) == hash(event)
    assert {event, replace(event)} == {event}
    assert len({event, replace(event, stage=Stage.LAST_MILE), replace(event, code="10")}) == 3
    with pytest.raises(TypeError):
        replace(event, colour="red")
    with pytest.raises(TrackingError):
        replace(event, time=NOW.replace(tzinfo=None))  # __post_init__ still checks

    @dataclass(frozen=True)
    class Other:
        x: int
        y: int = 2

    assert replace(Other(1), y=3) == Other(1, 3)
    record = ShipmentRecord(tracking_number="LP1", added_at=NOW)
    assert replace(record, has_data=True) == dataclasses.replace(record, has_data=True)
