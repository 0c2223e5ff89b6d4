"""Conformance: the engine against other projects' recorded replies in ../shared/peer-corpus.

`CASES.json` there names, for each reply, the canonical stage(s) and local number the
world expects, and an instant `now` just after its newest event; `reject` means the
reply is an error body that must be refused cleanly. The folder sits outside the
repository: every test here skips when it is absent. Nothing of it is copied into the
project; our own fixtures reproduce the shapes it taught.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
import json
from pathlib import Path
from typing import Any

import pytest

from custom_components.parcel_handoff.tracking.errors import (
    TrackingAuthenticationError,
    TrackingError,
    TrackingInvalidResponseError,
)
from custom_components.parcel_handoff.tracking.model import Source, SourceResult, SourceSnapshot
from custom_components.parcel_handoff.tracking.normalizers import PARSERS
from custom_components.parcel_handoff.tracking.timeline import build_shipment

PEER_CORPUS = Path(__file__).parents[3] / "shared" / "peer-corpus"
CASES_FILE = PEER_CORPUS / "CASES.json"


def _cases() -> list[dict[str, Any]]:
    if not CASES_FILE.is_file():
        return []
    cases: list[dict[str, Any]] = json.loads(CASES_FILE.read_text(encoding="utf-8"))
    return cases


CASES = _cases()


def _expected(case: dict[str, Any]) -> list[str]:
    stages = case["expected_stage"]
    return list(stages) if isinstance(stages, list) else [stages]


def _parse(case: dict[str, Any]) -> dict[str, SourceResult]:
    body = json.loads((PEER_CORPUS / case["file"]).read_text(encoding="utf-8"))
    return PARSERS[Source(case["provider"])](body)


# Concrete expectations beyond the stage, for the cases an issue was about.
EXTRA: dict[str, Callable[[dict[str, SourceResult] | TrackingError], None]] = {}


def extra(name: str) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
    """Register a further check for one case file."""

    def register(function: Callable[[Any], None]) -> Callable[[Any], None]:
        EXTRA[name] = function
        return function

    return register


@extra("usps/uspsissue56_error_401_invalid_client.json")
def _usps_401(outcome: dict[str, SourceResult] | TrackingError) -> None:
    assert isinstance(outcome, TrackingInvalidResponseError)
    assert isinstance(outcome.__cause__, TrackingAuthenticationError)
    assert "credentials" in str(outcome)


@extra("17track/aio17track_webhook_tracking_stopped.json")
def _stopped(outcome: dict[str, SourceResult] | TrackingError) -> None:
    assert isinstance(outcome, dict)
    (snapshot,) = outcome.values()
    assert isinstance(snapshot, SourceSnapshot)
    assert snapshot.tracking_stopped
    assert snapshot.tracking_number == "AA123456789BR"


def _us_offsets(outcome: dict[str, SourceResult] | TrackingError) -> None:
    # The checkpoints are US wall-clock times without an offset: never read as UTC.
    assert isinstance(outcome, dict)
    (snapshot,) = outcome.values()
    assert isinstance(snapshot, SourceSnapshot)
    offsets = {event.time.utcoffset() for event in snapshot.events}
    assert offsets <= {timedelta(hours=-hours) for hours in range(4, 9)}, offsets


for _name in (
    "aftership/ollie_usps_unclaimed_then_moving.json",
    "aftership/sdkjava_fedex_US_delivered_naive_times.json",
    "aftership/webhook_usps_priority_arrived_post_office.json",
):
    EXTRA[_name] = _us_offsets


@pytest.mark.parametrize("case", CASES or [None], ids=lambda c: c["file"] if c else "absent")
def test_peer_case(case: dict[str, Any] | None) -> None:
    """Each recorded reply reads as the world expects it to."""
    if case is None:
        pytest.skip(f"{PEER_CORPUS} is absent")
    expected = _expected(case)
    outcome: dict[str, SourceResult] | TrackingError
    try:
        outcome = _parse(case)
    except TrackingInvalidResponseError as err:
        outcome = err
    if (check := EXTRA.get(case["file"])) is not None:
        check(outcome)
    snapshots = (
        [r for r in outcome.values() if isinstance(r, SourceSnapshot)]
        if isinstance(outcome, dict)
        else []
    )
    if "reject" in expected:
        assert not snapshots, f"{case['file']}: an error body must be refused"
        return
    if not snapshots:
        assert case.get("reject_ok"), f"{case['file']}: refused: {outcome}"
        return
    assert isinstance(outcome, dict)
    number = next(iter(outcome))
    now = datetime.fromisoformat(case["now"].replace("Z", "+00:00"))
    shipment = build_shipment(number, snapshots, now=now)
    assert shipment.stage.value in expected, (case["file"], shipment.stage, case["why"])
    if (local := case.get("expected_local_number")) is not None:
        assert shipment.local_tracking_number == local
        assert local in shipment.tracking_numbers


def test_every_case_has_its_file() -> None:
    """The corpus is whole: 25 cases, each file present."""
    if not CASES:
        pytest.skip(f"{PEER_CORPUS} is absent")
    assert len(CASES) == 25
    assert all((PEER_CORPUS / case["file"]).is_file() for case in CASES)
    assert set(EXTRA) <= {case["file"] for case in CASES}
