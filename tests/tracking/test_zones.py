"""Local offsets for zone-less carrier times: countries, states and daylight saving rules."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from custom_components.parcel_handoff.tracking.normalizers._zones import (
    _nth_sunday,
    country_code,
    local_offset,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("US", "US"),
        ("usa", "US"),
        ("United States", "US"),
        ("U.K.", "GB"),
        ("Mainland China", "CN"),
        ("ISR", "IL"),
        ("  ", None),
        (None, None),
        ("Atlantis", None),
        ("ZZ", None),
    ],
)
def test_country_code(value: str | None, expected: str | None) -> None:
    assert country_code(value) == expected


def test_nth_sunday() -> None:
    """The rule dates of 2026, checked against a calendar."""
    assert _nth_sunday(2026, 3, 2) == date(2026, 3, 8)  # US summer time starts
    assert _nth_sunday(2026, 11, 1) == date(2026, 11, 1)  # and ends
    assert _nth_sunday(2026, 3, -1) == date(2026, 3, 29)  # EU starts
    assert _nth_sunday(2026, 10, -1) == date(2026, 10, 25)  # and ends
    assert _nth_sunday(2026, 12, -1) == date(2026, 12, 27)


def hours(country: str | None, state: str | None, local: str) -> float | None:
    place = local_offset(country, state, datetime.fromisoformat(local))
    if place is None:
        return None
    offset = place.offset.utcoffset(None)
    assert offset is not None
    return offset / timedelta(hours=1)


@pytest.mark.parametrize(
    ("country", "state", "local", "expected"),
    [
        ("US", "NJ", "2026-03-08T01:59", -5),  # just before the US change
        ("US", "NJ", "2026-03-08T03:00", -4),
        ("US", "AZ", "2026-07-01T12:00", -7),  # Arizona keeps standard time
        ("US", "HI", "2026-07-01T12:00", -10),
        ("CA", "NL", "2026-01-10T12:00", -3.5),
        ("CA", "BC", "2026-07-10T12:00", -7),
        ("PL", None, "2026-03-29T01:59", 1),  # EU change at 01:00 UTC
        ("PL", None, "2026-03-29T03:00", 2),
        ("GB", None, "2026-10-25T01:30", 1),  # the repeated hour counts as summer time
        ("GB", None, "2026-10-25T02:00", 0),
        ("IL", None, "2026-03-27T01:59", 2),  # Israel: the Friday before the last Sunday
        ("IL", None, "2026-03-27T02:00", 3),
        ("AU", "NSW", "2026-01-15T12:00", 11),  # southern summer
        ("AU", "NSW", "2026-07-15T12:00", 10),
        ("AU", "QLD", "2026-01-15T12:00", 10),  # Queensland keeps standard time
        ("AU", "SA", "2026-10-04T03:00", 10.5),
        ("IN", None, "2026-07-01T12:00", 5.5),
        ("KR", None, "2026-07-01T12:00", 9),
        (None, None, "2026-07-01T12:00", None),
    ],
)
def test_local_offset(country: str | None, state: str | None, local: str, expected: float) -> None:
    assert hours(country, state, local) == expected


def test_multi_zone_country_without_a_state_is_a_representative_guess() -> None:
    """The US without a state: Central time, flagged as not exact; a known state is exact."""
    guess = local_offset("US", None, datetime(2026, 1, 15, 12))
    assert guess is not None
    assert guess.exact is False
    assert guess.offset.utcoffset(None) == timedelta(hours=-6)
    known = local_offset("US", "ny", datetime(2026, 1, 15, 12))
    assert known is not None
    assert known.exact is True
    assert known.offset.utcoffset(None) == timedelta(hours=-5)
