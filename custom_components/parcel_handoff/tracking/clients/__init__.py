"""Async HTTP clients for the tracking sources, one per source, and a factory.

Every client takes an injected `aiohttp.ClientSession`, a per-request timeout and a
`base_url` (the real service by default). `async_track` returns a result for every
requested number and never raises for request problems.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import aiohttp

from ..errors import TrackingAuthenticationError
from ..model import Source
from .aftership import AfterShipClient
from .base import DEFAULT_TIMEOUT, HttpReply, Throttle, TrackingClient, parse_retry_after
from .cainiao import CainiaoClient
from .seventeen_track import SeventeenTrackClient
from .usps import UspsClient

# The credential keys each source needs in `create_client(credentials=...)`.
CREDENTIAL_KEYS: Final[Mapping[Source, tuple[str, ...]]] = {
    Source.CAINIAO: (),
    Source.USPS: ("client_id", "client_secret"),
    Source.SEVENTEEN_TRACK: ("api_key",),
    Source.AFTERSHIP: ("api_key",),
}

__all__ = [
    "CREDENTIAL_KEYS",
    "DEFAULT_TIMEOUT",
    "AfterShipClient",
    "CainiaoClient",
    "HttpReply",
    "SeventeenTrackClient",
    "Throttle",
    "TrackingClient",
    "UspsClient",
    "create_client",
    "parse_retry_after",
]


def create_client(
    source: Source,
    session: aiohttp.ClientSession,
    *,
    credentials: Mapping[str, str],
    base_url: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> TrackingClient:
    """The client for `source`, with the credentials listed in CREDENTIAL_KEYS.

    A missing or blank credential raises TrackingAuthenticationError (naming the key,
    never a value).
    """
    needed = CREDENTIAL_KEYS[source]
    missing = [key for key in needed if not str(credentials.get(key) or "").strip()]
    if missing:
        raise TrackingAuthenticationError(f"{source} needs {', '.join(missing)}")
    creds = {key: str(credentials[key]).strip() for key in needed}
    match source:
        case Source.CAINIAO:
            return CainiaoClient(session, base_url=base_url, timeout=timeout)
        case Source.USPS:
            return UspsClient(
                session,
                creds["client_id"],
                creds["client_secret"],
                base_url=base_url,
                timeout=timeout,
            )
        case Source.SEVENTEEN_TRACK:
            return SeventeenTrackClient(
                session, creds["api_key"], base_url=base_url, timeout=timeout
            )
        case Source.AFTERSHIP:
            return AfterShipClient(session, creds["api_key"], base_url=base_url, timeout=timeout)
