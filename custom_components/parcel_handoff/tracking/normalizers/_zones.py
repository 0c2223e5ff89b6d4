"""Local UTC offsets by country (and US, Canadian, Australian state) for zone-less times.

Some portals (AfterShip's `checkpoint_time` for many carriers) give a carrier's local
wall-clock time without an offset. Reading it as UTC puts a US scan four to ten hours
off. This table gives the offset a place keeps at a given local time, daylight saving
included, without reading the system's time zone database: the engine must not do file
I/O in the event loop, and a few fixed rules are all parcels need.

Limits, on purpose:
- One zone per country, except the US, Canada and Australia, which are resolved by state
  or province when the reply gives one. States split between zones take the zone most of
  their people live in (Indiana and Kentucky Eastern, Tennessee Central, Idaho Mountain).
  Without a state, a multi-zone country's `representative` zone is used and reported as
  such (US Central: at most two hours off in the contiguous states).
- Daylight saving rules as they stand now (US since 2007, EU since 1996, Israel since
  2013, south-east Australia since 2008); older times can be an hour off.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Final, Literal

type Rule = Literal["us", "eu", "il", "au"] | None


@dataclass(frozen=True, slots=True)
class _Zone:
    standard: float  # hours east of UTC outside daylight saving
    rule: Rule = None


_US_EASTERN: Final = _Zone(-5, "us")
_US_CENTRAL: Final = _Zone(-6, "us")
_US_MOUNTAIN: Final = _Zone(-7, "us")
_US_PACIFIC: Final = _Zone(-8, "us")

_US_STATES: Final[Mapping[str, _Zone]] = {
    **dict.fromkeys(
        [
            "CT",
            "DE",
            "DC",
            "FL",
            "GA",
            "IN",
            "KY",
            "ME",
            "MD",
            "MA",
            "MI",
            "NH",
            "NJ",
            "NY",
            "NC",
            "OH",
            "PA",
            "RI",
            "SC",
            "VT",
            "VA",
            "WV",
        ],
        _US_EASTERN,
    ),
    **dict.fromkeys(
        [
            "AL",
            "AR",
            "IL",
            "IA",
            "KS",
            "LA",
            "MN",
            "MS",
            "MO",
            "NE",
            "ND",
            "OK",
            "SD",
            "TN",
            "TX",
            "WI",
        ],
        _US_CENTRAL,
    ),
    **dict.fromkeys(["CO", "ID", "MT", "NM", "UT", "WY"], _US_MOUNTAIN),
    **dict.fromkeys(["CA", "NV", "OR", "WA"], _US_PACIFIC),
    "AZ": _Zone(-7),
    "AK": _Zone(-9, "us"),
    "HI": _Zone(-10),
    "PR": _Zone(-4),
    "VI": _Zone(-4),
    "GU": _Zone(10),
}

_CA_PROVINCES: Final[Mapping[str, _Zone]] = {
    "BC": _Zone(-8, "us"),
    "YT": _Zone(-7),
    "AB": _Zone(-7, "us"),
    "NT": _Zone(-7, "us"),
    "SK": _Zone(-6),
    "MB": _Zone(-6, "us"),
    "ON": _Zone(-5, "us"),
    "QC": _Zone(-5, "us"),
    "NU": _Zone(-5, "us"),
    "NB": _Zone(-4, "us"),
    "NS": _Zone(-4, "us"),
    "PE": _Zone(-4, "us"),
    "NL": _Zone(-3.5, "us"),
}

_AU_STATES: Final[Mapping[str, _Zone]] = {
    "NSW": _Zone(10, "au"),
    "VIC": _Zone(10, "au"),
    "ACT": _Zone(10, "au"),
    "TAS": _Zone(10, "au"),
    "QLD": _Zone(10),
    "SA": _Zone(9.5, "au"),
    "NT": _Zone(9.5),
    "WA": _Zone(8),
}

_BY_STATE: Final[Mapping[str, Mapping[str, _Zone]]] = {
    "US": _US_STATES,
    "CA": _CA_PROVINCES,
    "AU": _AU_STATES,
}

# Multi-zone countries: the zone used when no state says which.
_REPRESENTATIVE: Final[Mapping[str, _Zone]] = {
    "US": _US_CENTRAL,
    "CA": _Zone(-5, "us"),  # Toronto, Montreal
    "AU": _Zone(10, "au"),  # Sydney, Melbourne
    "BR": _Zone(-3),  # Brasilia, Sao Paulo
    "RU": _Zone(3),  # Moscow
    "MX": _Zone(-6),  # Mexico City (no daylight saving since 2022)
    "ID": _Zone(7),  # Jakarta
    "KZ": _Zone(5),
}

_SINGLE: Final[Mapping[str, _Zone]] = {
    **dict.fromkeys(["GB", "IE", "PT", "FO"], _Zone(0, "eu")),
    **dict.fromkeys(
        [
            "AT",
            "BE",
            "HR",
            "CZ",
            "DK",
            "FR",
            "DE",
            "HU",
            "IT",
            "LU",
            "MT",
            "NL",
            "NO",
            "PL",
            "SK",
            "SI",
            "ES",
            "SE",
            "CH",
            "AL",
            "BA",
            "ME",
            "MK",
            "RS",
            "AD",
            "MC",
            "SM",
            "VA",
            "LI",
            "XK",
        ],
        _Zone(1, "eu"),
    ),
    **dict.fromkeys(["BG", "CY", "EE", "FI", "GR", "LV", "LT", "RO", "UA", "MD"], _Zone(2, "eu")),
    "IL": _Zone(2, "il"),
    "IS": _Zone(0),
    **dict.fromkeys(["CN", "HK", "MO", "TW", "SG", "MY", "PH"], _Zone(8)),
    **dict.fromkeys(["JP", "KR"], _Zone(9)),
    **dict.fromkeys(["TH", "VN", "KH", "LA"], _Zone(7)),
    "IN": _Zone(5.5),
    "LK": _Zone(5.5),
    "NP": _Zone(5.75),
    "PK": _Zone(5),
    "UZ": _Zone(5),
    "BD": _Zone(6),
    "AE": _Zone(4),
    "OM": _Zone(4),
    "GE": _Zone(4),
    "AM": _Zone(4),
    "AZ": _Zone(4),
    **dict.fromkeys(["SA", "QA", "KW", "BH", "IQ", "TR", "BY", "KE"], _Zone(3)),
    "ZA": _Zone(2),
    "NG": _Zone(1),
    "AR": _Zone(-3),
    "UY": _Zone(-3),
    **dict.fromkeys(["CO", "PE", "EC", "PA"], _Zone(-5)),
}

_COUNTRY_ALIASES: Final[Mapping[str, str]] = {
    "USA": "US",
    "UNITED STATES": "US",
    "UNITED STATES OF AMERICA": "US",
    "CAN": "CA",
    "CANADA": "CA",
    "AUS": "AU",
    "AUSTRALIA": "AU",
    "BRA": "BR",
    "BRAZIL": "BR",
    "RUS": "RU",
    "RUSSIA": "RU",
    "RUSSIAN FEDERATION": "RU",
    "MEX": "MX",
    "MEXICO": "MX",
    "GBR": "GB",
    "UK": "GB",
    "UNITED KINGDOM": "GB",
    "IRL": "IE",
    "IRELAND": "IE",
    "PRT": "PT",
    "PORTUGAL": "PT",
    "AUT": "AT",
    "BEL": "BE",
    "BELGIUM": "BE",
    "CZE": "CZ",
    "CZECHIA": "CZ",
    "CZECH REPUBLIC": "CZ",
    "DNK": "DK",
    "DENMARK": "DK",
    "FRA": "FR",
    "FRANCE": "FR",
    "DEU": "DE",
    "GERMANY": "DE",
    "HUN": "HU",
    "ITA": "IT",
    "ITALY": "IT",
    "NLD": "NL",
    "NETHERLANDS": "NL",
    "NOR": "NO",
    "NORWAY": "NO",
    "POL": "PL",
    "POLAND": "PL",
    "SVK": "SK",
    "ESP": "ES",
    "SPAIN": "ES",
    "SWE": "SE",
    "SWEDEN": "SE",
    "CHE": "CH",
    "SWITZERLAND": "CH",
    "GRC": "GR",
    "GREECE": "GR",
    "FIN": "FI",
    "FINLAND": "FI",
    "UKR": "UA",
    "UKRAINE": "UA",
    "ROU": "RO",
    "ROMANIA": "RO",
    "BGR": "BG",
    "LTU": "LT",
    "LVA": "LV",
    "EST": "EE",
    "ISR": "IL",
    "ISRAEL": "IL",
    "CHN": "CN",
    "CHINA": "CN",
    "MAINLAND CHINA": "CN",
    "HKG": "HK",
    "HONG KONG": "HK",
    "TWN": "TW",
    "TAIWAN": "TW",
    "JPN": "JP",
    "JAPAN": "JP",
    "KOR": "KR",
    "KOREA": "KR",
    "SOUTH KOREA": "KR",
    "REPUBLIC OF KOREA": "KR",
    "SGP": "SG",
    "SINGAPORE": "SG",
    "MYS": "MY",
    "PHL": "PH",
    "THA": "TH",
    "THAILAND": "TH",
    "VNM": "VN",
    "VIETNAM": "VN",
    "IDN": "ID",
    "INDONESIA": "ID",
    "IND": "IN",
    "INDIA": "IN",
    "PAK": "PK",
    "BGD": "BD",
    "BANGLADESH": "BD",
    "ARE": "AE",
    "UNITED ARAB EMIRATES": "AE",
    "SAU": "SA",
    "SAUDI ARABIA": "SA",
    "TUR": "TR",
    "TURKEY": "TR",
    "TURKIYE": "TR",
    "BLR": "BY",
    "KAZ": "KZ",
    "UZB": "UZ",
    "ARG": "AR",
    "ARGENTINA": "AR",
    "COL": "CO",
    "PER": "PE",
    "ZAF": "ZA",
    "SOUTH AFRICA": "ZA",
    "NGA": "NG",
    "KEN": "KE",
}


@dataclass(frozen=True, slots=True)
class LocalOffset:
    """The offset a place keeps at a local time; `exact` is False for a representative zone."""

    offset: timezone
    exact: bool


def country_code(value: str | None) -> str | None:
    """An ISO 3166-1 alpha-2 code for a country as replies spell it (code, ISO3, name)."""
    if value is None:
        return None
    text = " ".join(value.upper().replace(".", "").split())
    if not text:
        return None
    code = _COUNTRY_ALIASES.get(text, text)
    known = code in _SINGLE or code in _REPRESENTATIVE
    return code if known else None


def local_offset(country: str | None, state: str | None, local: datetime) -> LocalOffset | None:
    """The offset of `local` (a naive wall-clock time) in this country and state, if known."""
    code = country_code(country)
    if code is None:
        return None
    zone = _SINGLE.get(code)
    exact = True
    if zone is None:
        states = _BY_STATE.get(code, {})
        zone = states.get(" ".join((state or "").upper().split()))
        if zone is None:
            zone, exact = _REPRESENTATIVE[code], False
    hours = zone.standard + (1 if _in_daylight_saving(zone, local.replace(tzinfo=None)) else 0)
    return LocalOffset(timezone(timedelta(hours=hours)), exact)


def _nth_sunday(year: int, month: int, nth: int) -> date:
    """The nth Sunday of a month (nth=-1: the last one)."""
    if nth > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(6 - first.weekday()) % 7 + 7 * (nth - 1))
    following = date(year + month // 12, month % 12 + 1, 1)
    last = following - timedelta(days=1)
    return last - timedelta(days=(last.weekday() + 1) % 7)


def _at(day: date, hour: float) -> datetime:
    """A naive local wall-clock time: `hour` hours after the day's midnight."""
    return datetime.combine(day, time.min) + timedelta(hours=hour)


def _in_daylight_saving(zone: _Zone, local: datetime) -> bool:
    """Whether a naive local time falls in daylight saving (ambiguous hours count as in)."""
    year = local.year
    if zone.rule == "us":
        start = _at(_nth_sunday(year, 3, 2), 2)
        end = _at(_nth_sunday(year, 11, 1), 2)
        return start <= local < end
    if zone.rule == "eu":
        # 01:00 UTC on the last Sundays of March and October, in local wall-clock time.
        start = _at(_nth_sunday(year, 3, -1), 1 + zone.standard)
        end = _at(_nth_sunday(year, 10, -1), 2 + zone.standard)
        return start <= local < end
    if zone.rule == "il":
        start = _at(_nth_sunday(year, 3, -1) - timedelta(days=2), 2)
        end = _at(_nth_sunday(year, 10, -1), 2)
        return start <= local < end
    if zone.rule == "au":
        # Southern hemisphere: from the first Sunday of October to the first of April.
        end = _at(_nth_sunday(year, 4, 1), 3)
        start = _at(_nth_sunday(year, 10, 1), 2)
        return local < end or local >= start
    return False
