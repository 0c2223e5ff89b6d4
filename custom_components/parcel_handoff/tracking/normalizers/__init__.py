"""Normalizers: each source's decoded JSON mapped onto the canonical model.

Pure functions, no I/O. Each raises only TrackingInvalidResponseError for a body it
cannot read; a problem with one number inside a good body is that number's result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..model import Source, SourceResult
from .aftership import parse_aftership
from .cainiao import parse_cainiao
from .seventeen_track import parse_17track
from .usps import parse_usps

PARSERS: Mapping[Source, Callable[[object], dict[str, SourceResult]]] = {
    Source.CAINIAO: parse_cainiao,
    Source.USPS: parse_usps,
    Source.SEVENTEEN_TRACK: parse_17track,
    Source.AFTERSHIP: parse_aftership,
}

__all__ = ["PARSERS", "parse_17track", "parse_aftership", "parse_cainiao", "parse_usps"]
