"""The tracker's persisted form: restore after a restart, and stores of earlier versions."""

from __future__ import annotations

from datetime import timedelta
import json
from typing import Any

import pytest

from custom_components.parcel_handoff.tracking.model import Source, Stage
from custom_components.parcel_handoff.tracking.persisted import (
    record_from_dict,
    record_to_dict,
    stored_from_dict,
    stored_to_dict,
)
from custom_components.parcel_handoff.tracking.tracker import ShipmentRecord, StoredData

from .helpers import T0, ev, snap, usps
from .test_tracker import CAINIAO_NUMBER, USPS_NUMBER, config, handed_to_usps, tracker

# A store as the first release wrote it (storage version 1): no key added since.
FIRST_RELEASE: dict[str, Any] = {
    "shipments": {
        "a": {
            "tracking_number": CAINIAO_NUMBER,
            "added_at": "2026-03-01T08:00:00+00:00",
            "has_data": True,
            "events": [
                {
                    "time": "2026-03-02T05:00:00+00:00",
                    "description": "Arrived at destination country",
                    "location": None,
                    "carrier": "Cainiao",
                    "source": "cainiao",
                    "stage": "customs",
                    "code": "LH_ARRIVE",
                    "tracking_number": CAINIAO_NUMBER,
                }
            ],
            "snapshots": {
                f"cainiao|{CAINIAO_NUMBER}": {
                    "source": "cainiao",
                    "tracking_number": CAINIAO_NUMBER,
                    "found": True,
                    "carrier": "Cainiao",
                    "status_stage": None,
                    "status_text": None,
                    "local_carrier": "USPS",
                    "local_tracking_number": USPS_NUMBER,
                    "local_carrier_code": None,
                    "eta": None,
                    "origin_country": None,
                    "destination_country": None,
                }
            },
            "checks": {
                f"cainiao|{CAINIAO_NUMBER}": {
                    "last_check": "2026-03-02T07:00:00+00:00",
                    "next_check": "2026-03-02T11:00:00+00:00",
                    "error": "timeout",
                }
            },
            "handoff": {
                "carrier": "USPS",
                "tracking_number": USPS_NUMBER,
                "time": None,
                "same_number": False,
            },
            "announced": ["stage:customs:2026-03-02T05:00:00+00:00"],
        }
    },
    "registered": {"17track": [USPS_NUMBER]},
}


def test_a_first_release_store_loads() -> None:
    """Every record and registration of a version-1 store comes back."""
    stored = stored_from_dict(FIRST_RELEASE)
    record = stored.shipments["a"]
    assert record.tracking_number == CAINIAO_NUMBER
    assert record.events[0].stage is Stage.CUSTOMS
    assert record.handoff is not None
    assert record.handoff.tracking_number == USPS_NUMBER
    assert record.stopped == frozenset()
    assert stored.registered == {Source.SEVENTEEN_TRACK: frozenset({USPS_NUMBER})}
    # Written back, it is the same shape (no key a first release would not read).
    assert stored_to_dict(stored) == FIRST_RELEASE


async def test_restore_from_a_first_release_store() -> None:
    """The view is rebuilt at once; the failed check is retried now; nothing announced."""
    tracked, clients, clock = tracker(Source.CAINIAO, Source.USPS, Source.SEVENTEEN_TRACK)
    tracked.restore(stored_from_dict(FIRST_RELEASE), [config()])
    state = tracked.shipments["a"]
    assert state.shipment is not None
    assert state.shipment.stage is Stage.CUSTOMS
    assert state.shipment.local_tracking_number == USPS_NUMBER
    assert state.record.checks[(Source.CAINIAO, CAINIAO_NUMBER)].next_check == clock.now
    assert [leg.source for leg in state.legs] == [Source.CAINIAO, Source.USPS]
    assert USPS_NUMBER in clients[Source.SEVENTEEN_TRACK].registered  # type: ignore[attr-defined]

    result = await tracked.async_refresh()
    assert result.announcements == ()
    assert clients[Source.CAINIAO].asked == [CAINIAO_NUMBER]
    assert clients[Source.USPS].asked == [USPS_NUMBER]


async def test_restart_keeps_the_timeline_when_portals_forget() -> None:
    """Saved as JSON, restored: the merged timeline and the handoff stay, silently."""
    tracked, clients, clock = tracker(Source.CAINIAO, Source.USPS)
    clients[Source.CAINIAO].answers[CAINIAO_NUMBER] = handed_to_usps()
    clients[Source.USPS].answers[USPS_NUMBER] = snap(
        USPS_NUMBER, usps(-1, Stage.LAST_MILE), source=Source.USPS
    )
    tracked.sync([config()])
    before = (await tracked.async_refresh()).shipments["a"].shipment
    assert before is not None
    saved = json.loads(json.dumps(stored_to_dict(tracked.persisted())))

    again, fresh, clock = tracker(Source.CAINIAO, Source.USPS, clock=clock)
    # The portals now show only the first scan, and no local number.
    fresh[Source.CAINIAO].answers[CAINIAO_NUMBER] = snap(
        CAINIAO_NUMBER, ev(-30, Stage.ORIGIN_PROCESSING)
    )
    again.restore(stored_from_dict(saved), [config()])
    clock.tick(timedelta(hours=13))
    again.force()
    result = await again.async_refresh()
    after = result.shipments["a"].shipment
    assert after is not None
    assert after.events == before.events
    assert after.local_tracking_number == USPS_NUMBER
    assert after.stage is Stage.LAST_MILE
    assert result.announcements == ()


def test_a_record_of_another_number_is_not_restored() -> None:
    """A subentry whose number changed starts afresh rather than from the old record."""
    tracked, _, _ = tracker(Source.CAINIAO)
    tracked.restore(stored_from_dict(FIRST_RELEASE), [config("LP00755000000009")])
    state = tracked.shipments["a"]
    assert state.shipment is None
    assert not state.record.has_data


def test_unreadable_content_is_dropped(caplog: pytest.LogCaptureFixture) -> None:
    """A broken record or an unknown source is dropped with a warning, the rest kept."""
    loaded = stored_from_dict(
        {
            "shipments": {"good": FIRST_RELEASE["shipments"]["a"], "bad": {"added_at": 3}},
            "registered": {"17track": ["A1"], "pigeon": ["B2"]},
        }
    )
    assert list(loaded.shipments) == ["good"]
    assert loaded.registered == {Source.SEVENTEEN_TRACK: frozenset({"A1"})}
    assert "unreadable stored shipment" in caplog.text
    assert stored_from_dict({}) == StoredData()


def test_stopped_legs_round_trip() -> None:
    """The legs a source stopped tracking survive a restart."""
    record = ShipmentRecord(
        tracking_number=CAINIAO_NUMBER,
        added_at=T0,
        stopped=frozenset({(Source.SEVENTEEN_TRACK, USPS_NUMBER)}),
    )
    data = record_to_dict(record)
    assert data["stopped"] == [f"17track|{USPS_NUMBER}"]
    assert record_from_dict(data) == record
