"""Tracking-number detection: tidy what a person typed, then rank the carriers it may be.

Pure and fast: no I/O, every pattern compiled once. `_SHAPES` below is the one table of
the shapes we know; the check-digit algorithms above it follow the carriers' own specs.

Decisions worth knowing:
- Normalising removes whitespace (any kind), dashes and zero-width characters, folds
  full-width forms (NFKC) and uppercases. Dots, slashes and other punctuation are rejected
  rather than removed: in a pasted text they more often mean a URL or two numbers than
  grouping.
- Ranking: a valid check digit ranks above a heuristic shape, which ranks above a failed
  check digit; confidence orders within each tier.
- A failed check digit on a shape that only one format has (UPU S10, UPS 1Z, USPS IMpb of
  22 or 26 digits or behind a `420`+ZIP prefix) is kept with `checksum_valid=False` and a
  very low confidence: most likely a typo, which `looks_mistyped` reports. On shapes that
  many carriers share (plain 10, 12, 15 or 20 digits, 22 starting with 96) a failed check
  digit only rules that carrier out.
- A number that fits no known shape still gets one generic candidate that 17TRACK and
  AfterShip can try: people buy from many carriers we have no pattern for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
import re
from typing import Final
import unicodedata

from .errors import InvalidTrackingNumberError
from .model import Source

MIN_LENGTH: Final = 8
MAX_LENGTH: Final = 40


class InvalidReason(StrEnum):
    """Why an input cannot be a tracking number (stable keys for translations)."""

    EMPTY = "empty"
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    INVALID_CHARACTERS = "invalid_characters"


class TrackingFormat(StrEnum):
    """A numbering scheme; the values are stable keys (CLI output, translations)."""

    UPU_S10 = "upu_s10"
    USPS_IMPB = "usps_impb"
    UPS_1Z = "ups_1z"
    FEDEX = "fedex"
    DHL_EXPRESS = "dhl_express"
    CAINIAO_LP = "cainiao_lp"
    ALIEXPRESS_AE = "aliexpress_ae"
    CAINIAO_Y = "cainiao_y"
    CAINIAO_CNG = "cainiao_cng"
    YUNEXPRESS = "yunexpress"
    YANWEN = "yanwen"
    FOUR_PX = "4px"
    SUNYOU = "sunyou"
    UNKNOWN = "unknown_format"


@dataclass(frozen=True, slots=True, kw_only=True)
class CarrierCandidate:
    """One carrier a tracking number may belong to, and the sources that can follow it.

    `checksum_valid` is None for formats without a check digit. `tracking_number` is the
    number to ask the sources about: normalised, routing prefixes (IMpb `420`+ZIP) removed.
    """

    carrier: str | None
    format: TrackingFormat
    checksum_valid: bool | None
    confidence: float
    sources: tuple[Source, ...]
    tracking_number: str

    def as_dict(self) -> dict[str, object]:
        """Return a JSON-ready mapping (for the CLI and diagnostics)."""
        return {
            "carrier": self.carrier,
            "format": self.format.value,
            "checksum_valid": self.checksum_valid,
            "confidence": self.confidence,
            "sources": [source.value for source in self.sources],
            "tracking_number": self.tracking_number,
        }


# --- Normalising ------------------------------------------------------------------------

# Whitespace, hyphen and dash variants, minus sign, zero-width characters and BOM.
_SEPARATORS: Final = re.compile(r"[\s\-\u2010-\u2015\u2212\u200b-\u200d\u2060\ufeff]+")
_ALLOWED: Final = re.compile(r"[A-Za-z0-9]+", re.ASCII)


def normalize_tracking_number(raw: str) -> str:
    """Return the number without spaces or dashes, uppercased, or raise for garbage.

    Raises InvalidTrackingNumberError with `reason` one of InvalidReason. The message
    never repeats the number itself (it may end up in logs).
    """
    text = _SEPARATORS.sub("", unicodedata.normalize("NFKC", raw))
    if not text:
        raise InvalidTrackingNumberError("Enter a tracking number", reason=InvalidReason.EMPTY)
    if not _ALLOWED.fullmatch(text):
        bad = sorted({char for char in text if not _ALLOWED.fullmatch(char)})
        shown = " ".join(repr(char) for char in bad[:5])
        raise InvalidTrackingNumberError(
            f"A tracking number has only letters A-Z and digits; found {shown}",
            reason=InvalidReason.INVALID_CHARACTERS,
        )
    if len(text) < MIN_LENGTH:
        raise InvalidTrackingNumberError(
            f"Too short for a tracking number: {len(text)} characters, at least {MIN_LENGTH}",
            reason=InvalidReason.TOO_SHORT,
        )
    if len(text) > MAX_LENGTH:
        raise InvalidTrackingNumberError(
            f"Too long for a tracking number: {len(text)} characters, at most {MAX_LENGTH}",
            reason=InvalidReason.TOO_LONG,
        )
    return text.upper()


# --- Check digits -----------------------------------------------------------------------

_S10_WEIGHTS: Final = (8, 6, 4, 2, 3, 5, 9, 7)
_FEDEX_EXPRESS_WEIGHTS: Final = (1, 3, 7)  # from the right: 3, 1, 7 repeating from the left


def s10_check_digit(serial: str) -> int:
    """Return the UPU S10 check digit of an 8-digit serial number.

    11 - (weighted sum mod 11), where 10 becomes 0 and 11 becomes 5 (UPU standard S10).
    """
    total = sum(int(digit) * weight for digit, weight in zip(serial, _S10_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: 0, 11: 5}.get(check, check)


def mod10_check_digit(digits: str) -> int:
    """Return the GS1-style mod 10 check digit: weights 3, 1, 3, ... from the right.

    USPS IMpb and FedEx Ground (15 digits, and the last 14 of the 96 barcode) use it.
    """
    total = sum(int(digit) * (1 if i % 2 else 3) for i, digit in enumerate(reversed(digits)))
    return -total % 10


def ups_check_digit(body: str) -> int:
    """Return the UPS 1Z check digit of the 15 characters after `1Z`.

    A letter counts as (ord - 63) mod 10 (A=2, B=3, ...); every second character is
    doubled; the check digit brings the sum to a multiple of ten.
    """
    total = 0
    for i, char in enumerate(body):
        value = int(char) if char.isdecimal() else (ord(char) - 63) % 10
        total += value * 2 if i % 2 else value
    return -total % 10


def fedex_express_check_digit(body: str) -> int:
    """Return the FedEx Express check digit of the first 11 of 12 digits.

    Weights 1, 3, 7 repeating from the right, sum mod 11, and a remainder of 10 gives 0.
    """
    total = sum(
        int(digit) * _FEDEX_EXPRESS_WEIGHTS[i % 3] for i, digit in enumerate(reversed(body))
    )
    return total % 11 % 10


def dhl_express_check_digit(body: str) -> int:
    """Return the DHL Express check digit of the first 9 of 10 digits: the number mod 7."""
    return int(body) % 7


def _last_digit_is(number: str, expected: int) -> bool:
    return number[-1].isdecimal() and int(number[-1]) == expected


def _s10_valid(match: re.Match[str]) -> bool:
    return s10_check_digit(match["serial"]) == int(match["check"])


def _impb_valid(match: re.Match[str]) -> bool:
    number = match["number"]
    return _last_digit_is(number, mod10_check_digit(number[:-1]))


def _usps20_valid(match: re.Match[str]) -> bool:
    # A 20-digit label is either an old-style number or an IMpb printed without its "91".
    number = match["number"]
    body = number[:-1]
    return any(_last_digit_is(number, mod10_check_digit(b)) for b in (body, "91" + body))


def _fedex_smartpost_valid(match: re.Match[str]) -> bool:
    # SmartPost labels drop the "92" application identifier the check digit covers.
    number = match[0]
    return _last_digit_is(number, mod10_check_digit("92" + number[:-1]))


def _fedex_express_valid(match: re.Match[str]) -> bool:
    number = match[0]
    return _last_digit_is(number, fedex_express_check_digit(number[:-1]))


def _fedex_ground_valid(match: re.Match[str]) -> bool:
    number = match[0]
    return _last_digit_is(number, mod10_check_digit(number[:-1]))


def _fedex_ground96_valid(match: re.Match[str]) -> bool:
    # 96 + SCNC (2) + service (3) + shipper (7) + package (7) + check: only the last 14 count.
    number = match[0]
    return _last_digit_is(number, mod10_check_digit(number[7:21]))


def _ups_valid(match: re.Match[str]) -> bool:
    number = match[0]
    return _last_digit_is(number, ups_check_digit(number[2:17]))


def _dhl_express_valid(match: re.Match[str]) -> bool:
    number = match[0]
    return _last_digit_is(number, dhl_express_check_digit(number[:9]))


# --- Issuing posts of S10 numbers -------------------------------------------------------

# ISO 3166-1 alpha-2 (what S10 suffixes use) plus XK (Kosovo, used by its post).
_COUNTRY_CODES: Final = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO
    BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ
    DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP
    GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG
    KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML
    MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE
    PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL
    SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM
    US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW
"""
_COUNTRIES: Final = frozenset(_COUNTRY_CODES.split())

# Display names as carriers.carrier_display_name spells them, where it knows the post.
_POSTS: Final[dict[str, str]] = {
    "AE": "Emirates Post",
    "AT": "Austrian Post",
    "AU": "Australia Post",
    "BE": "bpost",
    "BR": "Correios",
    "BY": "Belpost",
    "CA": "Canada Post",
    "CH": "Swiss Post",
    "CN": "China Post",
    "CZ": "Czech Post",
    "DE": "Deutsche Post",
    "DK": "PostNord",
    "EE": "Omniva",
    "ES": "Correos",
    "FI": "Posti",
    "FR": "La Poste",
    "GB": "Royal Mail",
    "GR": "ELTA",
    "HK": "Hongkong Post",
    "HU": "Magyar Posta",
    "ID": "Pos Indonesia",
    "IE": "An Post",
    "IL": "Israel Post",
    "IN": "India Post",
    "IT": "Poste Italiane",
    "JP": "Japan Post",
    "KR": "Korea Post",
    "KZ": "Kazpost",
    "LT": "Lietuvos paštas",
    "LV": "Latvijas Pasts",
    "MX": "Correos de México",
    "MY": "Pos Malaysia",
    "NL": "PostNL",
    "NO": "Posten",
    "NZ": "NZ Post",
    "PH": "PHLPost",
    "PL": "Poczta Polska",
    "PT": "CTT",
    "RO": "Poșta Română",
    "RU": "Russian Post",
    "SE": "PostNord",
    "SG": "Singapore Post",
    "SK": "Slovak Post",
    "TH": "Thailand Post",
    "TR": "PTT",
    "TW": "Chunghwa Post",
    "UA": "Ukrposhta",
    "US": "USPS",
    "VN": "Vietnam Post",
}

# EMS items (service indicator E*) from these countries are tracked as a carrier of their own.
_EMS_OPERATORS: Final[dict[str, str]] = {"CN": "China EMS"}

# Sources to try first for S10 numbers, by issuing country; 17TRACK and AfterShip follow.
_S10_OWN_SOURCES: Final[dict[str, tuple[Source, ...]]] = {
    "CN": (Source.CAINIAO,),
    "US": (Source.USPS,),
}

_ANYWHERE: Final = (Source.SEVENTEEN_TRACK, Source.AFTERSHIP)
_CAINIAO: Final = (Source.CAINIAO, *_ANYWHERE)
_USPS: Final = (Source.USPS, *_ANYWHERE)


def _s10_carrier(match: re.Match[str]) -> str:
    country = match["country"]
    if match["service"].startswith("E") and country in _EMS_OPERATORS:
        return _EMS_OPERATORS[country]
    return _POSTS.get(country, f"Postal service ({country})")


def _s10_sources(match: re.Match[str]) -> tuple[Source, ...]:
    return (*_S10_OWN_SOURCES.get(match["country"], ()), *_ANYWHERE)


# --- The format table -------------------------------------------------------------------

type _Describe[T] = T | Callable[[re.Match[str]], T]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Shape:
    """One shape of one format; the whole number must match `pattern`."""

    format: TrackingFormat
    pattern: re.Pattern[str]  # a `number` group, when present, is the number to track
    carrier: _Describe[str]
    sources: _Describe[tuple[Source, ...]]
    confidence: float
    check: Callable[[re.Match[str]], bool] | None = None
    # A failed check means a typo, not another carrier's number of the same shape.
    typo_evident: bool = False


def _shape_pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.ASCII)


_S10_PATTERN: Final = (
    r"(?P<service>[A-Z]{2})(?P<serial>[0-9]{8})(?P<check>[0-9])"
    rf"(?P<country>{'|'.join(sorted(_COUNTRIES))})"
)
# The S10 shape with a letter pair that is no country code (nor Yanwen's own YP): its
# check digit is still checked, so that a mistyped number (often in the suffix itself)
# is caught rather than taken for an unknown carrier's.
_S10_OTHER_SUFFIX_PATTERN: Final = (
    r"(?P<service>[A-Z]{2})(?P<serial>[0-9]{8})(?P<check>[0-9])"
    rf"(?P<country>(?!(?:{'|'.join(sorted(_COUNTRIES | {'YP'}))})$)[A-Z]{{2}})"
)
_IMPB_BODY: Final = r"(?P<number>9[1-5][0-9]{20}(?:[0-9]{4})?)"  # 22 or 26 digits

_SHAPES: Final[tuple[_Shape, ...]] = (
    # Checksummed formats.
    _Shape(
        format=TrackingFormat.UPU_S10,
        pattern=_shape_pattern(_S10_PATTERN),
        carrier=_s10_carrier,
        sources=_s10_sources,
        confidence=0.95,
        check=_s10_valid,
        typo_evident=True,
    ),
    _Shape(
        format=TrackingFormat.UPU_S10,
        pattern=_shape_pattern(_S10_OTHER_SUFFIX_PATTERN),
        carrier=_s10_carrier,
        sources=_s10_sources,
        confidence=0.5,
        check=_s10_valid,
        typo_evident=True,
    ),
    _Shape(
        format=TrackingFormat.UPS_1Z,
        pattern=_shape_pattern(r"1Z[0-9A-Z]{16}"),
        carrier="UPS",
        sources=_ANYWHERE,
        confidence=0.99,
        check=_ups_valid,
        typo_evident=True,
    ),
    _Shape(
        format=TrackingFormat.USPS_IMPB,
        pattern=_shape_pattern(_IMPB_BODY),
        carrier="USPS",
        sources=_USPS,
        confidence=0.95,
        check=_impb_valid,
        typo_evident=True,
    ),
    # 420 + ZIP, then ZIP+4: a 34-digit number fits both; the check digit decides.
    _Shape(
        format=TrackingFormat.USPS_IMPB,
        pattern=_shape_pattern(r"420[0-9]{5}" + _IMPB_BODY),
        carrier="USPS",
        sources=_USPS,
        confidence=0.95,
        check=_impb_valid,
        typo_evident=True,
    ),
    _Shape(
        format=TrackingFormat.USPS_IMPB,
        pattern=_shape_pattern(r"420[0-9]{9}" + _IMPB_BODY),
        carrier="USPS",
        sources=_USPS,
        confidence=0.95,
        check=_impb_valid,
        typo_evident=True,
    ),
    _Shape(
        format=TrackingFormat.USPS_IMPB,
        pattern=_shape_pattern(r"420[0-9]{5}(?:[0-9]{4})?(?P<number>[0-9]{20})"),
        carrier="USPS",
        sources=_USPS,
        confidence=0.9,
        check=_usps20_valid,
        typo_evident=True,
    ),
    _Shape(
        format=TrackingFormat.USPS_IMPB,
        pattern=_shape_pattern(r"(?P<number>[0-9]{20})"),
        carrier="USPS",
        sources=_USPS,
        confidence=0.6,
        check=_usps20_valid,
    ),
    _Shape(
        format=TrackingFormat.FEDEX,
        pattern=_shape_pattern(r"96[0-9]{20}"),
        carrier="FedEx",
        sources=_ANYWHERE,
        confidence=0.85,
        check=_fedex_ground96_valid,
    ),
    _Shape(
        format=TrackingFormat.FEDEX,
        pattern=_shape_pattern(r"[0-9]{20}"),
        carrier="FedEx",
        sources=_ANYWHERE,
        confidence=0.6,
        check=_fedex_smartpost_valid,
    ),
    _Shape(
        format=TrackingFormat.FEDEX,
        pattern=_shape_pattern(r"[0-9]{15}"),
        carrier="FedEx",
        sources=_ANYWHERE,
        confidence=0.55,
        check=_fedex_ground_valid,
    ),
    _Shape(
        format=TrackingFormat.FEDEX,
        pattern=_shape_pattern(r"[0-9]{12}"),
        carrier="FedEx",
        sources=_ANYWHERE,
        confidence=0.55,
        check=_fedex_express_valid,
    ),
    _Shape(
        format=TrackingFormat.DHL_EXPRESS,
        pattern=_shape_pattern(r"[0-9]{10}"),
        carrier="DHL Express",
        sources=_ANYWHERE,
        confidence=0.5,
        check=_dhl_express_valid,
    ),
    # Heuristic shapes: no check digit, so the prefix and length are all we have.
    _Shape(
        format=TrackingFormat.CAINIAO_LP,
        pattern=_shape_pattern(r"LP[0-9]{14}"),
        carrier="Cainiao",
        sources=_CAINIAO,
        confidence=0.8,
    ),
    _Shape(
        format=TrackingFormat.CAINIAO_CNG,
        pattern=_shape_pattern(r"(?:CNG|AP)[0-9]{14}"),
        carrier="Cainiao",
        sources=_CAINIAO,
        confidence=0.7,
    ),
    _Shape(
        format=TrackingFormat.ALIEXPRESS_AE,
        pattern=_shape_pattern(r"AE[0-9]{9}"),
        carrier="Cainiao",
        sources=_CAINIAO,
        confidence=0.7,
    ),
    _Shape(
        format=TrackingFormat.CAINIAO_Y,
        pattern=_shape_pattern(r"[A-Z]{2}[0-9]{10}Y"),
        carrier="Cainiao",
        sources=_CAINIAO,
        confidence=0.7,
    ),
    _Shape(
        format=TrackingFormat.YUNEXPRESS,
        pattern=_shape_pattern(r"YT[0-9]{16}"),
        carrier="YunExpress",
        sources=_ANYWHERE,
        confidence=0.8,
    ),
    # S10-like, but YP is no country: Yanwen's own suffix.
    _Shape(
        format=TrackingFormat.YANWEN,
        pattern=_shape_pattern(r"[A-Z]{2}[0-9]{9}YP"),
        carrier="Yanwen",
        sources=_ANYWHERE,
        confidence=0.8,
    ),
    _Shape(
        format=TrackingFormat.FOUR_PX,
        pattern=_shape_pattern(r"4PX[0-9]{10,16}(?:CN)?"),
        carrier="4PX",
        sources=_ANYWHERE,
        confidence=0.85,
    ),
    _Shape(
        format=TrackingFormat.SUNYOU,
        pattern=_shape_pattern(r"SY[A-Z]{0,2}[0-9]{8,16}"),
        carrier="SunYou",
        sources=_ANYWHERE,
        confidence=0.5,
    ),
)

_FAILED_CHECK_CONFIDENCE: Final = 0.05
_UNKNOWN_CONFIDENCE: Final = 0.1
_TIER: Final[dict[bool | None, int]] = {True: 0, None: 1, False: 2}


# --- Detection --------------------------------------------------------------------------


def detect_carriers(raw: str) -> list[CarrierCandidate]:
    """Return the carriers the number may belong to, best first; never an empty list.

    Raises InvalidTrackingNumberError when the input cannot be a tracking number at all.
    """
    number = normalize_tracking_number(raw)
    found: list[CarrierCandidate] = []
    for shape in _SHAPES:
        if (match := shape.pattern.fullmatch(number)) is None:
            continue
        valid = shape.check(match) if shape.check is not None else None
        if valid is False and not shape.typo_evident:
            continue
        found.append(_candidate(shape, match, valid))
    if not found:
        return [
            CarrierCandidate(
                carrier=None,
                format=TrackingFormat.UNKNOWN,
                checksum_valid=None,
                confidence=_UNKNOWN_CONFIDENCE,
                sources=_ANYWHERE,
                tracking_number=number,
            )
        ]
    return rank_candidates(_without_redundant_failures(found))


def rank_candidates(candidates: Iterable[CarrierCandidate]) -> list[CarrierCandidate]:
    """Sort best first: valid check digit, then heuristic, then failed; by confidence within."""
    return sorted(candidates, key=lambda c: (_TIER[c.checksum_valid], -c.confidence))


def looks_mistyped(candidates: Sequence[CarrierCandidate]) -> bool:
    """Tell whether the number has a checksummed shape with a wrong check digit, and no other.

    The config flow uses it to say "the check digit does not match: probably a typo".
    """
    return bool(candidates) and all(c.checksum_valid is False for c in candidates)


def _candidate(shape: _Shape, match: re.Match[str], valid: bool | None) -> CarrierCandidate:
    carrier = shape.carrier if isinstance(shape.carrier, str) else shape.carrier(match)
    sources = shape.sources if isinstance(shape.sources, tuple) else shape.sources(match)
    number = match["number"] if "number" in shape.pattern.groupindex else match[0]
    return CarrierCandidate(
        carrier=carrier,
        format=shape.format,
        checksum_valid=valid,
        confidence=_FAILED_CHECK_CONFIDENCE if valid is False else shape.confidence,
        sources=sources,
        tracking_number=number,
    )


def _without_redundant_failures(found: list[CarrierCandidate]) -> list[CarrierCandidate]:
    """Drop a format's failed readings when another reading of it passed; keep one otherwise."""
    settled = {c.format for c in found if c.checksum_valid is not False}
    failed: set[TrackingFormat] = set()
    kept: list[CarrierCandidate] = []
    for candidate in found:
        if candidate.checksum_valid is False:
            if candidate.format in settled or candidate.format in failed:
                continue
            failed.add(candidate.format)
        kept.append(candidate)
    return kept
