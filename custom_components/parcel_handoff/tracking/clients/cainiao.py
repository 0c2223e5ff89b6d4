"""Cainiao's public tracking page API: `GET /global/detail.json?mailNos=a,b,c`.

No credentials. The endpoint sits behind Alibaba's bot protection; a block (HTML,
captcha, 401/403) is a `TrackingInvalidResponseError(blocked=True)`, which rests the
source for hours.

Identification, decided deliberately: the client says what it is. Its User-Agent names
Parcel Handoff and where to find it, in the `Mozilla/5.0 (compatible; ...)` form that
well-behaved robots use, and it sends no Referer: it does not come from Cainiao's page.
Passing for a desktop browser might be served more often, but it hides an automated
client from the one party entitled to know, and would make any block look like a
browser's problem rather than ours. What keeps us served is asking little: at most 10
numbers a request, each number at most every 30 minutes (twice a day once the local
carrier follows it), hours of rest after a block page. If Cainiao refuses us anyway,
17TRACK and AfterShip follow Cainiao numbers too.

A number Cainiao's reply leaves out (it normally answers every number, unknown ones as
`mailNoSource: EXTERNAL`) gets `TrackingNotFoundError` rather than an invented
`found=False` snapshot: the caller keeps what it knew instead of regressing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from ..errors import TrackingError, TrackingInvalidResponseError
from ..model import Source, SourceResult
from ..normalizers.cainiao import parse_cainiao
from .base import HttpReply, TrackingClient

DETAIL_PATH: Final = "/global/detail.json"

# Kept equal to manifest.json's version (a test checks it).
CLIENT_VERSION: Final = "0.1.0"
PROJECT_URL: Final = "https://github.com/parcel-handoff/parcel-handoff"

REQUEST_HEADERS: Final[Mapping[str, str]] = {
    "User-Agent": f"Mozilla/5.0 (compatible; ParcelHandoff/{CLIENT_VERSION}; +{PROJECT_URL})",
    "Accept": "application/json, text/plain, */*",
    "Accept-Language": "en-US,en;q=0.9",
}


class CainiaoClient(TrackingClient):
    """Cainiao global tracking, up to 10 numbers per request."""

    source = Source.CAINIAO
    max_batch = 10
    default_base_url = "https://global.cainiao.com"

    async def _async_track_batch(self, batch: list[str]) -> Mapping[str, SourceResult]:
        reply = await self._request(
            "GET",
            DETAIL_PATH,
            what="Cainiao",
            params={"mailNos": ",".join(batch), "lang": "en-US"},
            headers=REQUEST_HEADERS,
        )
        return await self._async_parse(reply, parse_cainiao, what="Cainiao")

    async def async_validate_credentials(self) -> None:
        """Cainiao needs no credentials: nothing to check."""

    def _error_for_status(self, reply: HttpReply, *, what: str) -> TrackingError:
        # Without credentials, "forbidden" can only be the bot protection.
        if reply.status in (401, 403):
            return TrackingInvalidResponseError(
                f"{what} blocked the request (HTTP {reply.status})", blocked=True
            )
        return super()._error_for_status(reply, what=what)
