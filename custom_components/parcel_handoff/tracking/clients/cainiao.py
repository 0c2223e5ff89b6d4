"""Cainiao's public tracking page API: `GET /global/detail.json?mailNos=a,b,c`.

No credentials. The endpoint sits behind Alibaba's bot protection, so the client looks
like the tracking page's own browser request, and a block (HTML, captcha, 401/403) is a
`TrackingInvalidResponseError(blocked=True)`.

A number Cainiao's reply leaves out (it normally answers every number, unknown ones as
`mailNoSource: EXTERNAL`) gets `TrackingNotFoundError` rather than an invented
`found=False` snapshot: the caller keeps what it knew instead of regressing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from ..errors import TrackingError, TrackingInvalidResponseError
from ..model import Source, SourceResult
from ..normalizers._util import decode_json
from ..normalizers.cainiao import parse_cainiao
from .base import HttpReply, TrackingClient

DETAIL_PATH: Final = "/global/detail.json"

BROWSER_HEADERS: Final[Mapping[str, str]] = {
    "User-Agent": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
    ),
    "Referer": "https://global.cainiao.com/",
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
            headers=BROWSER_HEADERS,
        )
        return parse_cainiao(decode_json(reply.body, what="Cainiao"))

    async def async_validate_credentials(self) -> None:
        """Cainiao needs no credentials: nothing to check."""

    def _error_for_status(self, reply: HttpReply, *, what: str) -> TrackingError:
        # Without credentials, "forbidden" can only be the bot protection.
        if reply.status in (401, 403):
            return TrackingInvalidResponseError(
                f"{what} blocked the request (HTTP {reply.status})", blocked=True
            )
        return super()._error_for_status(reply, what=what)
