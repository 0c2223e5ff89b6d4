"""The soak's own checks catch what they are meant to: a leaking log line, a missed event."""

from __future__ import annotations

import logging

from .faults import huge_cainiao_body
from .harness import START, LogScanner, _matched
from .scenario import SHIPMENTS, build_household


def test_log_scanner_flags_a_number_and_a_secret() -> None:
    scanner = LogScanner(lambda: {"LP00123456789012", "s3cret"})
    logger = logging.getLogger("custom_components.parcel_handoff.soak_probe")
    logger.addHandler(scanner)
    logger.setLevel(logging.DEBUG)
    try:
        logger.debug("asked about %d numbers", 3)
        logger.debug("asked about %s", "LP00123456789012")
        logger.warning("token %s refused", "s3cret")
        logging.getLogger("aiohttp.access").addHandler(scanner)
        logging.getLogger("aiohttp.access").warning("GET /x?mailNos=LP00123456789012")
    finally:
        logger.removeHandler(scanner)
        logging.getLogger("aiohttp.access").removeHandler(scanner)
    assert scanner.lines == 3  # the fake portal's access log is not ours
    assert len(scanner.leaks) == 2


def test_matching_counts_missed_and_extra_events() -> None:
    assert _matched(["in_transit", "customs"], ["in_transit", "customs"]) == 2
    assert _matched(["in_transit", "customs", "delivered"], ["in_transit", "delivered"]) == 2
    assert _matched(["delivered"], ["delivered", "delivered"]) == 1


def test_household_mix() -> None:
    household = build_household(START, 60, 1)
    assert len(household) == SHIPMENTS
    numbers = [number for shipment in household for number in shipment.numbers]
    assert len(numbers) == len(set(numbers))
    assert sum(shipment.journey is None for shipment in household) == 2
    assert sum(shipment.local_tracking_number is not None for shipment in household) == 16
    assert build_household(START, 60, 1) == household  # seeded


def test_huge_reply_is_well_formed_and_big() -> None:
    assert len(huge_cainiao_body()) > 8_000_000
