"""Conformance: the normalizers against real carrier replies in ../shared/carrier-samples.

The folder sits outside the repository; every test here skips when it is absent.

To cover another source, add its file-name prefix and parser to `PARSERS`, and one check
function per sample to `CHECKS` (decorated with `@check("<file name>")`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from custom_components.parcel_handoff.tracking.model import (
    EtaWindow,
    Source,
    SourceResult,
    SourceSnapshot,
    Stage,
    TrackingEvent,
)
from custom_components.parcel_handoff.tracking.normalizers.cainiao import parse_cainiao
from custom_components.parcel_handoff.tracking.normalizers.seventeen_track import (
    parse_17track_quota,
)
from custom_components.parcel_handoff.tracking.normalizers.usps import parse_usps
from tests.conftest import SHARED_SAMPLES
from tests.tracking.mangle import load

type Parsed = dict[str, SourceResult]

# Number passed with a reply that names none (a USPS v3 error body).
CALLER_NUMBER = "9400100000000000000000"

# File-name prefix -> (source, parser of the decoded body).
PARSERS: dict[str, tuple[Source, Callable[[object], Parsed]]] = {
    "cainiao_": (Source.CAINIAO, parse_cainiao),
    "usps_": (Source.USPS, lambda body: parse_usps(body, tracking_number=CALLER_NUMBER)),
}

CHECKS: dict[str, Callable[[Parsed], None]] = {}


def check(name: str) -> Callable[[Callable[[Parsed], None]], Callable[[Parsed], None]]:
    """Register the concrete expectations for one sample file."""

    def register(function: Callable[[Parsed], None]) -> Callable[[Parsed], None]:
        CHECKS[name] = function
        return function

    return register


def samples() -> list[str]:
    """Every sample file one of our parsers handles (none when the folder is absent)."""
    if not SHARED_SAMPLES.is_dir():
        return []
    return sorted(
        path.name for path in SHARED_SAMPLES.glob("*.json") if path.name.startswith(tuple(PARSERS))
    )


def sample_path(name: str) -> Path:
    """The sample's path, skipping the test when it is not there."""
    path = SHARED_SAMPLES / name
    if not path.is_file():
        pytest.skip(f"{name} is not in {SHARED_SAMPLES}")
    return path


def parse(name: str) -> Parsed:
    """Decode and normalise one sample with its source's parser."""
    prefix = next(prefix for prefix in PARSERS if name.startswith(prefix))
    return PARSERS[prefix][1](load(sample_path(name)))


def snapshot(result: Parsed, number: str) -> SourceSnapshot:
    """The snapshot for this number."""
    value = result[number]
    assert isinstance(value, SourceSnapshot), value
    return value


def event(found: SourceSnapshot, code: str, index: int = 0) -> TrackingEvent:
    """The index-th event (newest first) with this code."""
    return [e for e in found.events if e.code == code][index]


def utc(text: str) -> datetime:
    """An ISO time without offset, read as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize("name", samples() or ["<no samples>"])
def test_every_sample_parses_to_sane_snapshots(name: str) -> None:
    """General invariants for every sample of a known source, checked or not."""
    if not samples():
        pytest.skip(f"{SHARED_SAMPLES} is absent")
    source = next(source for prefix, (source, _) in PARSERS.items() if name.startswith(prefix))
    result = parse(name)
    assert result
    for number in result:
        found = snapshot(result, number)
        assert found.source is source
        assert found.tracking_number == number
        times = [e.time for e in found.events]
        assert times == sorted(times, reverse=True)
        for e in found.events:
            assert e.time.utcoffset() is not None
            assert e.source is source
            assert e.description
            assert e.tracking_number == number


def test_every_sample_has_concrete_checks() -> None:
    """A new sample for a known source must come with its expectations."""
    if not SHARED_SAMPLES.is_dir():
        pytest.skip(f"{SHARED_SAMPLES} is absent")
    assert set(samples()) <= set(CHECKS)


@check("cainiao_detail_customs_handoff_RS0814398526Y.json")
def _customs_handoff(result: Parsed) -> None:
    found = snapshot(result, "RS0814398526Y")
    assert len(found.events) == 14
    newest = found.events[0]
    # Three scans share the newest instant; payload order puts CC_IM_SUCCESS first.
    assert (newest.code, newest.stage) == ("CC_IM_SUCCESS", Stage.CUSTOMS)
    assert newest.time == utc("2023-09-28T01:46:53")
    assert found.local_carrier == "Israel Post"
    assert found.local_tracking_number == "RS0814398526Y"
    assert found.eta == EtaWindow(
        earliest=utc("2023-10-12T23:59:56"), latest=utc("2023-10-16T23:59:56")
    )
    assert (found.origin_country, found.destination_country) == ("Mainland China", "Israel")
    assert found.status_text == "In customs"
    handoff = event(found, "GTMS_ACCEPT")
    assert handoff.stage is Stage.LAST_MILE
    assert handoff.carrier == "Israel Post"
    assert handoff.time == utc("2023-09-28T01:46:53")
    assert handoff.time.utcoffset() == timedelta(hours=3)
    # "Import clearance start" was stamped four days before the flight left.
    early = event(found, "CC_IM_START")
    assert early.stage is None
    assert early.time == utc("2023-09-22T09:51:16")
    assert event(found, "LH_DEPART").time == utc("2023-09-25T17:24:00")
    sorting = event(found, "SC_OUTBOUND_SUCCESS")
    assert (sorting.location, sorting.description) == (
        "Fenggang Town",
        "Departed from sorting center",
    )
    assert found.events[-1].code == "PU_PICKUP_SUCCESS"


@check("cainiao_detail_in_transit_AE010698498.json")
def _in_transit(result: Parsed) -> None:
    found = snapshot(result, "AE010698498")
    assert len(found.events) == 15
    newest = found.events[0]
    assert (newest.code, newest.stage) == ("LH_ARRIVE", Stage.CUSTOMS)
    assert newest.time == utc("2023-01-27T05:23:00")
    assert newest.time.utcoffset() == timedelta(0)
    assert event(found, "CC_IM_START").stage is None  # before LH_DEPART
    assert event(found, "TRANSIT_PORT_REROUTE_CALLBACK").stage is None
    assert event(found, "GWMS_ACCEPT").stage is Stage.INFO_RECEIVED
    assert found.events[-1].time == utc("2023-01-23T17:59:33.895")
    assert found.local_carrier is None
    assert found.local_tracking_number is None
    assert found.eta is None
    stages = [e.stage for e in found.events if e.stage is not None]
    assert Stage.CUSTOMS in stages
    assert stages.count(Stage.CUSTOMS) == 1


@check("cainiao_detail_seller_preparing_UZ0556033196Y.json")
def _seller_preparing(result: Parsed) -> None:
    found = snapshot(result, "UZ0556033196Y")
    assert found.found is True
    assert found.events == ()
    assert found.status_stage is Stage.INFO_RECEIVED
    assert found.eta == EtaWindow(
        earliest=utc("2023-12-02T23:59:57"), latest=utc("2023-12-02T23:59:57")
    )


@check("cainiao_detail_unknown_number.json")
def _unknown_number(result: Parsed) -> None:
    (found,) = [snapshot(result, number) for number in result]
    assert found.found is False
    assert found.events == ()
    assert found.status_stage is None


@check("usps_v3_tracking_delivered_9261290289104185136058.json")
def _usps_delivered(result: Parsed) -> None:
    found = snapshot(result, "9261290289104185136058")
    assert len(found.events) == 15
    newest = found.events[0]
    assert (newest.code, newest.stage) == ("01", Stage.DELIVERED)
    assert newest.time == utc("2024-11-23T19:10:09")
    assert newest.time.utcoffset() == timedelta(hours=-6)
    assert newest.location == "MILWAUKEE, WI 53207"
    assert found.status_stage is Stage.DELIVERED
    # GMTTimestamp says 2024-11-21T05:28:33Z for 23:28 local at -06:00: a day early.
    arrived = event(found, "81")
    assert arrived.time == utc("2024-11-22T05:28:33")
    # No GMT fields: the label event borrows its neighbour's -05:00.
    label = event(found, "GX")
    assert label.stage is Stage.INFO_RECEIVED
    assert label.time == utc("2024-11-19T14:27:00")
    assert event(found, "OF").stage is Stage.OUT_FOR_DELIVERY
    assert event(found, "07").stage is Stage.LAST_MILE


@check("usps_v3_tracking_in_transit_9202290317456200135409.json")
def _usps_in_transit(result: Parsed) -> None:
    found = snapshot(result, "9202290317456200135409")
    assert len(found.events) == 4
    newest = found.events[0]
    assert (newest.code, newest.stage) == ("10", Stage.IN_TRANSIT)
    assert newest.time == utc("2024-11-26T07:44:28")
    # The documented quirk: 18:31 local at -06:00 stamped 2024-11-25T00:31:21Z.
    departed = event(found, "SF")
    assert departed.time == utc("2024-11-26T00:31:21")
    assert departed.time.utcoffset() == timedelta(hours=-6)
    assert event(found, "03").time == utc("2024-11-26T00:26:14")
    assert event(found, "MA").stage is Stage.INFO_RECEIVED
    assert found.status_stage is Stage.IN_TRANSIT
    assert found.eta is not None
    assert found.eta.earliest == utc("2024-11-29T06:00:00")
    assert found.eta.latest == utc("2024-11-30T05:59:59")


@check("usps_v3_tracking_error_no_status_yet.json")
def _usps_no_status_yet(result: Parsed) -> None:
    found = snapshot(result, CALLER_NUMBER)
    assert found.found is False
    assert found.events == ()
    assert found.status_text is not None
    assert found.status_text.startswith("A status update is not yet available")


# Keep last: the parametrisation reads CHECKS, filled by the decorators above.
@pytest.mark.parametrize("name", sorted(CHECKS))
def test_sample(name: str) -> None:
    """Concrete expectations for one sample."""
    CHECKS[name](parse(name))


def test_17track_quota_sample() -> None:
    """17TRACK's documented getquota reply gives the remaining registrations."""
    quota = parse_17track_quota(load(sample_path("17track_getquota_doc_example.json")))
    assert (quota.total, quota.used, quota.remaining, quota.today_used) == (1100, 2, 1098, 0)
