"""Tests for tracking-number detection: normalising, check digits, shapes and ranking."""

from __future__ import annotations

import json

from hypothesis import example, given, strategies as st
import pytest

from custom_components.parcel_handoff.tracking.detection import (
    MAX_LENGTH,
    MIN_LENGTH,
    CarrierCandidate,
    InvalidReason,
    TrackingFormat,
    detect_carriers,
    dhl_express_check_digit,
    fedex_express_check_digit,
    looks_mistyped,
    mod10_check_digit,
    normalize_tracking_number,
    rank_candidates,
    s10_check_digit,
    ups_check_digit,
)
from custom_components.parcel_handoff.tracking.errors import (
    InvalidTrackingNumberError,
    TrackingError,
)
from custom_components.parcel_handoff.tracking.model import Source

ANYWHERE = (Source.SEVENTEEN_TRACK, Source.AFTERSHIP)
DIGITS = "0123456789"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# Real USPS numbers (Parcel Select and Ground Advantage labels).
USPS_REAL = ("9261290289104185136058", "9202290317456200135409")


# Reference algorithms written from the published specs, independently of the module.
def ref_s10_remainder(serial: str) -> int:
    """Weighted sum of an S10 serial (weights 8 6 4 2 3 5 9 7), mod 11."""
    weights = (8, 6, 4, 2, 3, 5, 9, 7)
    return sum(int(d) * w for d, w in zip(serial, weights, strict=True)) % 11


def ref_s10(serial: str) -> int:
    """S10: remainder 0 gives 5, remainder 1 gives 0, otherwise 11 - remainder."""
    remainder = ref_s10_remainder(serial)
    return 5 if remainder == 0 else 0 if remainder == 1 else 11 - remainder


def ref_mod10(body: str) -> int:
    """GS1 mod 10: the rightmost digit weighs 3, the next 1, alternating."""
    threes = sum(int(d) for d in body[::-1][0::2])
    ones = sum(int(d) for d in body[::-1][1::2])
    return (10 - (3 * threes + ones) % 10) % 10


def only(number: str) -> CarrierCandidate:
    """The single candidate detected for a number."""
    candidates = detect_carriers(number)
    assert len(candidates) == 1, candidates
    return candidates[0]


def off_by_one(number: str, index: int) -> str:
    """The number with the digit at index changed by one."""
    digit = (int(number[index]) + 1) % 10
    return f"{number[:index]}{digit}{number[index + 1 :]}"


# --- Normalising ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("RR123456785CN", "RR123456785CN"),
        ("rr123456785cn", "RR123456785CN"),
        ("  RR 123 456 785 CN  ", "RR123456785CN"),
        ("RR-123-456-785-CN", "RR123456785CN"),
        ("9261 2902 8910 4185 1360 58", "9261290289104185136058"),
        ("1z 999 aa1\t01 2345 678 4\n", "1Z999AA10123456784"),
        ("RR\u00a0123456785\u2013CN", "RR123456785CN"),  # no-break space, en dash
        ("RR\u200b123456785CN\ufeff", "RR123456785CN"),  # zero-width space, BOM
        ("\uff32\uff32\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff15CN", "RR123456785CN"),
    ],
)
def test_normalize_strips_separators_and_uppercases(raw: str, expected: str) -> None:
    """Spaces, dashes, invisible characters and full-width forms go; letters are uppercased."""
    assert normalize_tracking_number(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", InvalidReason.EMPTY),
        ("  \t\n ", InvalidReason.EMPTY),
        (" - - ", InvalidReason.EMPTY),
        ("AB12345", InvalidReason.TOO_SHORT),
        ("A" * (MAX_LENGTH + 1), InvalidReason.TOO_LONG),
        ("RR.123.456.785.CN", InvalidReason.INVALID_CHARACTERS),
        ("https://t.17track.net/en#nums=RR123456785CN", InvalidReason.INVALID_CHARACTERS),
        ("RR123456785CN/LP00123456789012", InvalidReason.INVALID_CHARACTERS),
        ("RR1234567é5CN", InvalidReason.INVALID_CHARACTERS),
        ("a$", InvalidReason.INVALID_CHARACTERS),  # the characters matter more than length
    ],
)
def test_garbage_is_rejected_with_a_stable_reason(raw: str, reason: InvalidReason) -> None:
    """Each kind of garbage raises InvalidTrackingNumberError with its reason key."""
    with pytest.raises(InvalidTrackingNumberError) as caught:
        normalize_tracking_number(raw)
    assert caught.value.reason == reason
    assert caught.value.reason == reason.value  # a plain string for translation keys
    with pytest.raises(InvalidTrackingNumberError):
        detect_carriers(raw)


def test_length_bounds_are_inclusive() -> None:
    """Exactly the minimum and the maximum are accepted."""
    assert normalize_tracking_number("A" * MIN_LENGTH) == "A" * MIN_LENGTH
    assert normalize_tracking_number("9" * MAX_LENGTH) == "9" * MAX_LENGTH


def test_error_message_names_the_bad_characters_not_the_number() -> None:
    """The message shows what is wrong without echoing the number into logs."""
    with pytest.raises(InvalidTrackingNumberError) as caught:
        normalize_tracking_number("RR123456785CN#?")
    message = str(caught.value)
    assert "'#'" in message
    assert "'?'" in message
    assert "123456785" not in message
    assert isinstance(caught.value, TrackingError)
    assert isinstance(caught.value, ValueError)


# --- Check digits -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("serial", "check"),
    [
        ("12345678", 5),  # RR123456785CN
        ("00000000", 5),  # remainder 0 gives 5
        ("00060000", 0),  # sum 12, remainder 1 gives 0
        ("00050000", 1),  # sum 10, remainder 10 gives 1
        ("47312482", 9),  # sum 200, remainder 2
    ],
)
def test_s10_check_digit(serial: str, check: int) -> None:
    """The UPU S10 check digit, including both special remainders."""
    assert s10_check_digit(serial) == check == ref_s10(serial)


def test_mod10_check_digit_on_real_usps_numbers() -> None:
    """Both real USPS numbers carry the GS1 mod 10 check digit."""
    for number in USPS_REAL:
        assert mod10_check_digit(number[:-1]) == int(number[-1]) == ref_mod10(number[:-1])


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("1Z999AA10123456784", True),  # UPS's own documentation example
        ("1Z5R89390357567127", True),
        ("1Z8V92A70367203024", True),
        ("1Z999AA10123456785", False),
        ("1Z1111111111111111", False),
    ],
)
def test_ups_check_digit(number: str, valid: bool) -> None:
    """Letters count as (ord - 63) mod 10 and every second character is doubled."""
    assert (ups_check_digit(number[2:17]) == int(number[17])) is valid


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("986578788855", True),
        ("477179081230", True),
        ("799531274483", True),
        ("996578788855", False),
    ],
)
def test_fedex_express_check_digit(number: str, valid: bool) -> None:
    """FedEx Express: weights 1, 3, 7 from the right (3, 1, 7 from the left), mod 11."""
    assert (fedex_express_check_digit(number[:11]) == int(number[11])) is valid


def test_fedex_express_weights_run_from_the_left() -> None:
    """Weights 3, 1, 7 applied from the right would reject a real FedEx number."""
    number = "986578788855"
    weights = (3, 1, 7)
    from_right = sum(int(d) * weights[i % 3] for i, d in enumerate(reversed(number[:11])))
    assert from_right % 11 % 10 != int(number[11])
    assert fedex_express_check_digit(number[:11]) == int(number[11])


@pytest.mark.parametrize(
    ("number", "valid"),
    [("3318810025", True), ("1099255990", True), ("3318810010", False), ("3318810034", False)],
)
def test_dhl_express_check_digit(number: str, valid: bool) -> None:
    """DHL Express: the first nine digits as an integer, mod 7."""
    assert (dhl_express_check_digit(number[:9]) == int(number[9])) is valid


# --- UPU S10 ----------------------------------------------------------------------------


def test_s10_from_china_goes_to_cainiao_first() -> None:
    """A valid S10 from CN is China Post, followed by Cainiao, then the aggregators."""
    candidate = only("RR123456785CN")
    assert candidate == CarrierCandidate(
        carrier="China Post",
        format=TrackingFormat.UPU_S10,
        checksum_valid=True,
        confidence=candidate.confidence,
        sources=(Source.CAINIAO, *ANYWHERE),
        tracking_number="RR123456785CN",
    )
    assert candidate.confidence >= 0.9


@pytest.mark.parametrize(
    ("number", "carrier", "sources"),
    [
        ("LZ123456785US", "USPS", (Source.USPS, *ANYWHERE)),
        ("RR123456785IL", "Israel Post", ANYWHERE),
        ("RR123456785GB", "Royal Mail", ANYWHERE),
        ("RR123456785ZW", "Postal service (ZW)", ANYWHERE),
        ("EA123456785CN", "China EMS", (Source.CAINIAO, *ANYWHERE)),
        ("EA123456785US", "USPS", (Source.USPS, *ANYWHERE)),
    ],
)
def test_s10_issuing_post_comes_from_the_country_suffix(
    number: str, carrier: str, sources: tuple[Source, ...]
) -> None:
    """The two-letter suffix names the issuing post and the sources to try first."""
    candidate = only(number)
    assert candidate.format is TrackingFormat.UPU_S10
    assert candidate.checksum_valid is True
    assert candidate.carrier == carrier
    assert candidate.sources == sources


def test_s10_with_wrong_check_digit_looks_mistyped() -> None:
    """An S10 shape with a wrong check digit is reported, with a very low confidence."""
    candidates = detect_carriers("RR123456784CN")
    assert [c.format for c in candidates] == [TrackingFormat.UPU_S10]
    assert candidates[0].checksum_valid is False
    assert candidates[0].confidence < 0.1
    assert candidates[0].carrier == "China Post"
    assert looks_mistyped(candidates)
    assert not looks_mistyped(detect_carriers("RR123456785CN"))


def test_s10_shape_with_no_country_suffix_is_still_checked() -> None:
    """XX is no country, but the check digit still tells a typo from a real number."""
    candidates = detect_carriers("RR123456784XX")
    assert [(c.format, c.checksum_valid) for c in candidates] == [(TrackingFormat.UPU_S10, False)]
    assert candidates[0].carrier == "Postal service (XX)"
    assert looks_mistyped(candidates)
    valid = detect_carriers("RR123456785XX")
    assert [(c.format, c.checksum_valid) for c in valid] == [(TrackingFormat.UPU_S10, True)]
    assert valid[0].confidence < only("RR123456785CN").confidence
    assert not looks_mistyped(valid)
    # Near Yanwen's shape (YQ is neither YP nor a country): a mistyped S10.
    assert looks_mistyped(detect_carriers("UG123456789YQ"))
    # Yanwen's YP suffix is its own format, never a mistyped S10.
    assert not looks_mistyped(detect_carriers("RR123456784YP"))


def test_s10_check_digit_cannot_tell_remainder_0_from_6() -> None:
    """Known S10 weakness: remainders 0 and 6 both give 5, so this one-digit change passes."""
    assert ref_s10_remainder("00000000") == 0
    assert ref_s10_remainder("00030000") == 6
    assert only("RR000000005CN").checksum_valid is True
    assert only("RR000300005CN").checksum_valid is True


# --- USPS IMpb --------------------------------------------------------------------------


@pytest.mark.parametrize("number", USPS_REAL)
def test_real_usps_numbers_validate(number: str) -> None:
    """The real USPS numbers are IMpb with a valid check digit, tracked by USPS first."""
    candidate = only(number)
    assert candidate.format is TrackingFormat.USPS_IMPB
    assert candidate.carrier == "USPS"
    assert candidate.checksum_valid is True
    assert candidate.sources == (Source.USPS, *ANYWHERE)
    assert candidate.tracking_number == number


@pytest.mark.parametrize("number", USPS_REAL)
@pytest.mark.parametrize("index", [5, 12, 21])
def test_usps_number_off_by_one_digit_looks_mistyped(number: str, index: int) -> None:
    """A 22-digit IMpb with one wrong digit is a typo, not another carrier."""
    candidates = detect_carriers(off_by_one(number, index))
    assert [(c.format, c.checksum_valid) for c in candidates] == [(TrackingFormat.USPS_IMPB, False)]
    assert looks_mistyped(candidates)


@pytest.mark.parametrize(
    ("raw", "tracking_number"),
    [
        ("420 90210 9261 2902 8910 4185 1360 58", USPS_REAL[0]),
        ("420 10001 2345 9202 2903 1745 6200 1354 09", USPS_REAL[1]),
        ("420 94105 71969010756003077385", "71969010756003077385"),
        ("420 941051234 03071790000523483741", "03071790000523483741"),
    ],
)
def test_impb_routing_prefix_is_stripped(raw: str, tracking_number: str) -> None:
    """`420` + 5 or 9 digit ZIP is routing, not tracking: the candidate drops it."""
    candidate = only(raw)
    assert candidate.format is TrackingFormat.USPS_IMPB
    assert candidate.checksum_valid is True
    assert candidate.tracking_number == tracking_number


def test_34_digit_impb_keeps_the_reading_whose_check_digit_passes() -> None:
    """420+ZIP+4+22 digits also reads as 420+ZIP+26 digits; the failing reading is dropped."""
    number = "420" + "10001" + "9312" + USPS_REAL[1]
    other_body = number[8:]
    assert other_body.startswith("93")
    assert ref_mod10(other_body[:-1]) != int(other_body[-1])
    candidate = only(number)
    assert candidate.checksum_valid is True
    assert candidate.tracking_number == USPS_REAL[1]


def test_34_digit_impb_with_both_readings_failing_is_reported_once() -> None:
    """A mistyped routed number yields one mistyped candidate, not one per reading."""
    number = "420" + "10001" + "9312" + off_by_one(USPS_REAL[1], 10)
    candidates = detect_carriers(number)
    assert [(c.format, c.checksum_valid) for c in candidates] == [(TrackingFormat.USPS_IMPB, False)]


def test_routed_20_digit_body_with_wrong_check_digit_looks_mistyped() -> None:
    """The 420 prefix makes a 20-digit body distinctive enough to call it a typo."""
    candidates = detect_carriers("42094105" + "71969010756003077386")
    assert looks_mistyped(candidates)


def test_26_digit_impb_validates() -> None:
    """The long IMpb (26 digits) carries the same mod 10 check digit."""
    body = "92" + "0" * 6 + "123456789012345678"[:17]
    number = body + str(ref_mod10(body))
    assert len(number) == 26
    candidate = only(number)
    assert (candidate.format, candidate.checksum_valid) == (TrackingFormat.USPS_IMPB, True)


@pytest.mark.parametrize(
    "number",
    ["03071790000523483741", "71123456789123456787", "71969010756003077385"],
)
def test_20_digit_usps_validates_as_is_or_with_its_91_prefix(number: str) -> None:
    """Old 20-digit numbers check as printed; IMpb printed without `91` check with it."""
    candidate = only(number)
    assert (candidate.carrier, candidate.checksum_valid) == ("USPS", True)


# --- UPS --------------------------------------------------------------------------------


def test_ups_1z_valid() -> None:
    """A valid 1Z number is UPS, ranked with the highest confidence."""
    candidate = only("1z999aa10123456784")
    assert candidate.format is TrackingFormat.UPS_1Z
    assert candidate.carrier == "UPS"
    assert candidate.checksum_valid is True
    assert candidate.sources == ANYWHERE
    assert candidate.confidence > 0.95


@pytest.mark.parametrize("number", ["1Z999AA10123456785", "1Z999AA1012345678A"])
def test_ups_1z_wrong_check_character_looks_mistyped(number: str) -> None:
    """A wrong check digit (or a letter in its place) on a 1Z number is a typo."""
    candidates = detect_carriers(number)
    assert [(c.format, c.checksum_valid) for c in candidates] == [(TrackingFormat.UPS_1Z, False)]
    assert looks_mistyped(candidates)


# --- FedEx and DHL ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "confidence_at_least"),
    [
        ("986578788855", 0.5),  # Express, 12 digits
        ("568283610012734", 0.5),  # Ground, 15 digits
        ("0414 4176 0228 964", 0.5),
        ("61299998820821171811", 0.5),  # SmartPost, 20 digits without its "92"
        ("9611020987654312345672", 0.8),  # Ground 96, 22 digits
    ],
)
def test_fedex_formats_validate(number: str, confidence_at_least: float) -> None:
    """Each FedEx length is recognised by its own check digit."""
    candidate = only(number)
    assert (candidate.carrier, candidate.format) == ("FedEx", TrackingFormat.FEDEX)
    assert candidate.checksum_valid is True
    assert candidate.confidence >= confidence_at_least
    assert candidate.sources == ANYWHERE


@pytest.mark.parametrize(
    "number",
    [
        "986578788856",  # 12 digits
        "568283610012732",  # 15 digits
        "9611020987654312345673",  # 22 digits starting 96
        "61299998820821171815",  # 20 digits failing every reading
        "3318810010",  # 10 digits
    ],
)
def test_shared_digit_shapes_failing_their_check_are_unknown_not_typos(number: str) -> None:
    """Plain digit strings of these lengths belong to many carriers: a failed check rules out."""
    candidates = detect_carriers(number)
    assert candidates == [
        CarrierCandidate(
            carrier=None,
            format=TrackingFormat.UNKNOWN,
            checksum_valid=None,
            confidence=candidates[0].confidence,
            sources=ANYWHERE,
            tracking_number=number,
        )
    ]
    assert candidates[0].confidence <= 0.2
    assert not looks_mistyped(candidates)


@pytest.mark.parametrize("number", ["3318810025", "8487135506", "3821724944"])
def test_dhl_express_validates(number: str) -> None:
    """Ten digits passing mod 7 are DHL Express."""
    candidate = only(number)
    assert (candidate.carrier, candidate.format) == ("DHL Express", TrackingFormat.DHL_EXPRESS)
    assert candidate.checksum_valid is True


# --- Heuristic shapes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "fmt", "carrier", "sources"),
    [
        ("LP00123456789012", TrackingFormat.CAINIAO_LP, "Cainiao", (Source.CAINIAO, *ANYWHERE)),
        ("AE012345678", TrackingFormat.ALIEXPRESS_AE, "Cainiao", (Source.CAINIAO, *ANYWHERE)),
        ("RS1234567890Y", TrackingFormat.CAINIAO_Y, "Cainiao", (Source.CAINIAO, *ANYWHERE)),
        ("CNG12345678901234", TrackingFormat.CAINIAO_CNG, "Cainiao", (Source.CAINIAO, *ANYWHERE)),
        ("AP00012345678901", TrackingFormat.CAINIAO_CNG, "Cainiao", (Source.CAINIAO, *ANYWHERE)),
        ("YT1234567890123456", TrackingFormat.YUNEXPRESS, "YunExpress", ANYWHERE),
        ("UG123456789YP", TrackingFormat.YANWEN, "Yanwen", ANYWHERE),
        ("4PX3001234567890CN", TrackingFormat.FOUR_PX, "4PX", ANYWHERE),
        ("4PX3001234567890", TrackingFormat.FOUR_PX, "4PX", ANYWHERE),
        ("SY12345678901", TrackingFormat.SUNYOU, "SunYou", ANYWHERE),
        ("SYAE012345678", TrackingFormat.SUNYOU, "SunYou", ANYWHERE),
    ],
)
def test_heuristic_shapes(
    number: str, fmt: TrackingFormat, carrier: str, sources: tuple[Source, ...]
) -> None:
    """Shapes without a check digit are recognised by prefix and length only."""
    candidate = only(number)
    assert candidate.format is fmt
    assert candidate.carrier == carrier
    assert candidate.checksum_valid is None
    assert candidate.sources == sources
    assert 0.3 <= candidate.confidence < 0.9
    assert candidate.tracking_number == number


@pytest.mark.parametrize(
    "number",
    [
        "AE0123456789",  # AE + 10 digits
        "LP0012345678901",  # LP + 13 digits
        "YT123456789012345",  # YT + 15 digits
    ],
)
def test_near_misses_of_heuristic_shapes_are_unknown(number: str) -> None:
    """One character too many or too few is not the shape."""
    assert only(number).format is TrackingFormat.UNKNOWN


# --- Ranking ----------------------------------------------------------------------------


def _candidate(fmt: TrackingFormat, valid: bool | None, confidence: float) -> CarrierCandidate:
    return CarrierCandidate(
        carrier="X",
        format=fmt,
        checksum_valid=valid,
        confidence=confidence,
        sources=ANYWHERE,
        tracking_number="X0000000",
    )


def test_rank_puts_checksummed_first_then_heuristic_then_failed() -> None:
    """A valid check digit beats any heuristic; a failed one ranks below everything."""
    failed = _candidate(TrackingFormat.UPU_S10, False, 0.99)
    weak_valid = _candidate(TrackingFormat.DHL_EXPRESS, True, 0.3)
    strong_heuristic = _candidate(TrackingFormat.CAINIAO_LP, None, 0.9)
    weak_heuristic = _candidate(TrackingFormat.SUNYOU, None, 0.4)
    strong_valid = _candidate(TrackingFormat.UPS_1Z, True, 0.99)
    ranked = rank_candidates([failed, weak_heuristic, weak_valid, strong_heuristic, strong_valid])
    assert ranked == [strong_valid, weak_valid, strong_heuristic, weak_heuristic, failed]


def test_looks_mistyped_needs_every_candidate_to_fail() -> None:
    """One passing or heuristic candidate means the number may well be right."""
    failed = _candidate(TrackingFormat.UPU_S10, False, 0.05)
    assert looks_mistyped([failed])
    assert not looks_mistyped([])
    assert not looks_mistyped([failed, _candidate(TrackingFormat.CAINIAO_Y, None, 0.7)])
    assert not looks_mistyped([failed, _candidate(TrackingFormat.FEDEX, True, 0.5)])


def test_as_dict_is_json_ready() -> None:
    """The CLI prints candidates as JSON with plain strings for enums."""
    data = only("420 90210 " + USPS_REAL[0]).as_dict()
    assert json.loads(json.dumps(data)) == {
        "carrier": "USPS",
        "format": "usps_impb",
        "checksum_valid": True,
        "confidence": 0.95,
        "sources": ["usps", "17track", "aftership"],
        "tracking_number": USPS_REAL[0],
    }


# --- Properties -------------------------------------------------------------------------

TRACKING_ALPHABET = DIGITS + LETTERS + " -"


@given(st.one_of(st.text(), st.text(alphabet=TRACKING_ALPHABET, max_size=45)))
@example("RR123456785CN")
@example("42090210" + USPS_REAL[0])
def test_detect_returns_ranked_candidates_or_raises_invalid(raw: str) -> None:
    """Any text gives a non-empty ranked list or InvalidTrackingNumberError, nothing else."""
    outcome: list[CarrierCandidate] | InvalidTrackingNumberError
    try:
        outcome = detect_carriers(raw)
    except InvalidTrackingNumberError as err:
        outcome = err
    if isinstance(outcome, InvalidTrackingNumberError):
        assert outcome.reason in set(InvalidReason)
        return
    candidates = outcome
    number = normalize_tracking_number(raw)
    assert candidates
    assert rank_candidates(candidates) == candidates
    for candidate in candidates:
        assert 0.0 <= candidate.confidence <= 1.0
        assert number.endswith(candidate.tracking_number)
        assert candidate.sources[-2:] == ANYWHERE
        assert len(set(candidate.sources)) == len(candidate.sources)
        assert (candidate.carrier is None) == (candidate.format is TrackingFormat.UNKNOWN)


s10_parts = st.tuples(
    st.text(alphabet=LETTERS, min_size=2, max_size=2),
    st.text(alphabet=DIGITS, min_size=8, max_size=8),
    st.sampled_from(["CN", "US", "IL", "GB", "NL", "ZW", "HK"]),
)


@given(s10_parts, st.integers(min_value=0, max_value=7), st.integers(min_value=1, max_value=9))
def test_s10_computed_check_digit_validates_and_changed_digit_fails(
    parts: tuple[str, str, str], index: int, delta: int
) -> None:
    """S10 with a computed check digit validates; a changed serial digit fails.

    The only exception is the standard's own blind spot: remainders 0 and 6 both give 5.
    """
    service, serial, country = parts
    check = ref_s10(serial)
    number = f"{service}{serial}{check}{country}"
    best = detect_carriers(number)[0]
    assert (best.format, best.checksum_valid) == (TrackingFormat.UPU_S10, True)

    changed = f"{serial[:index]}{(int(serial[index]) + delta) % 10}{serial[index + 1 :]}"
    candidates = detect_carriers(f"{service}{changed}{check}{country}")
    [s10] = [c for c in candidates if c.format is TrackingFormat.UPU_S10]
    blind_spot = {ref_s10_remainder(serial), ref_s10_remainder(changed)} == {0, 6}
    assert s10.checksum_valid is blind_spot
    assert looks_mistyped(candidates) is not blind_spot


@given(
    st.text(alphabet=DIGITS, min_size=20, max_size=20),
    st.sampled_from(["92", "93", "94", "95"]),
    st.integers(min_value=2, max_value=21),  # past the 9x application identifier
    st.integers(min_value=1, max_value=9),
)
def test_impb_computed_check_digit_validates_and_any_changed_digit_fails(
    tail: str, prefix: str, index: int, delta: int
) -> None:
    """Mod 10 with weights 3/1 catches every single-digit change of a 22-digit IMpb."""
    body = (prefix + tail)[:21]
    number = body + str(ref_mod10(body))
    assert only(number).checksum_valid is True
    changed = f"{number[:index]}{(int(number[index]) + delta) % 10}{number[index + 1 :]}"
    candidates = detect_carriers(changed)
    assert looks_mistyped(candidates)
