"""JSON round trips of the model: what the store and the command line rely on."""

from __future__ import annotations

from datetime import timedelta
import json

import pytest

from custom_components.parcel_handoff.tracking.errors import TrackingError
from custom_components.parcel_handoff.tracking.model import EtaWindow, Handoff, Stage
from custom_components.parcel_handoff.tracking.serialize import (
    event_from_dict,
    event_to_dict,
    handoff_from_dict,
    handoff_to_dict,
    shipment_to_dict,
)
from custom_components.parcel_handoff.tracking.timeline import build_shipment

from .helpers import T0, ev, snap, usps


def test_event_round_trip_keeps_offset_and_stage() -> None:
    """An event survives JSON unchanged, carrier offset included."""
    event = usps(5, Stage.OUT_FOR_DELIVERY, "Out for Delivery")
    data = json.loads(json.dumps(event_to_dict(event)))
    assert data["time"].endswith("-06:00")
    assert event_from_dict(data) == event
    stageless = ev(1, None)
    assert event_from_dict(event_to_dict(stageless)) == stageless


@pytest.mark.parametrize(
    "data",
    [
        {"time": "2026-03-02T08:00:00+00:00", "source": "nowhere"},
        {"time": "2026-03-02T08:00:00+00:00", "source": "usps", "stage": "lost"},
        {"time": "2026-03-02T08:00:00", "source": "usps"},
        {"time": "yesterday", "source": "usps"},
        {"time": 12, "source": "usps"},
        {"source": "usps"},
    ],
)
def test_bad_stored_event_raises_engine_error(data: dict[str, object]) -> None:
    """Corrupt storage gives a TrackingError, never a bare KeyError or ValueError."""
    with pytest.raises(TrackingError):
        event_from_dict(data)


def test_handoff_round_trip() -> None:
    """A handoff with and without its time."""
    handoff = Handoff(carrier="USPS", tracking_number="9400111899223344556677", time=T0)
    assert handoff_from_dict(handoff_to_dict(handoff)) == handoff
    same = Handoff(carrier="Israel Post", tracking_number="RS0123456789Y", same_number=True)
    assert handoff_from_dict(handoff_to_dict(same)) == same
    assert handoff_to_dict(None) is None
    assert handoff_from_dict(None) is None
    with pytest.raises(TrackingError):
        handoff_from_dict({"carrier": 3})


def test_shipment_to_dict_is_json_with_eta_and_attention() -> None:
    """The shipment dictionary is plain JSON with every field the CLI documents."""
    eta = EtaWindow(earliest=T0, latest=T0 + timedelta(days=2))
    shipment = build_shipment(
        "LP00123456789012",
        [snap("LP00123456789012", ev(0, Stage.CUSTOMS), eta=eta)],
        now=T0 + timedelta(days=11),
    )
    data = json.loads(json.dumps(shipment_to_dict(shipment)))
    assert data["stage"] == "customs"
    assert data["eta"] == {
        "earliest": T0.isoformat(),
        "latest": (T0 + timedelta(days=2)).isoformat(),
    }
    assert data["attention"]["reason"] == "customs_hold"
    assert data["latest_event"] == data["events"][0]
    assert data["handoff"] is None
