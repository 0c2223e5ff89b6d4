"""AfterShip Tracking API, dated version 2024-10 (`as-api-key` header).

AfterShip tracks only numbers that were created on the account, so the client creates
each number once (with its courier slug when one is known), remembers it in `created`
(seedable, so the integration can persist it) and treats "already exists" (meta code
4003) as success. It then reads up to 50 numbers with one
`GET /trackings?tracking_numbers=a,b,...`. Requests are spaced to AfterShip's default
limit of 10 per second; a rate limit (429) carries Retry-After or AfterShip's
`X-RateLimit-Reset` (epoch seconds).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
import logging
import time
from typing import Any, Final

import aiohttp

from ..errors import TrackingError
from ..model import Source, SourceResult
from ..normalizers._util import as_dict, number_key, opt_str
from ..normalizers.aftership import aftership_error_for, aftership_request_error, parse_aftership
from .base import DEFAULT_TIMEOUT, HttpReply, Throttle, TrackingClient, capped_rest

_LOGGER = logging.getLogger(__name__)

API_PREFIX: Final = "/tracking/2024-10"
TRACKINGS_PATH: Final = f"{API_PREFIX}/trackings"

_WHAT: Final = "AfterShip"
MAX_REQUESTS_PER_SECOND: Final = 10
_ALREADY_EXISTS: Final = 4003
# Trackings per list page: several slugs may share one number, so ask for the maximum.
_LIST_LIMIT: Final = "200"


class AfterShipClient(TrackingClient):
    """AfterShip, creating each number once and reading 50 per request."""

    source = Source.AFTERSHIP
    max_batch = 50
    default_base_url = "https://api.aftership.com"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        api_key: str,
        *,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        created: Iterable[str] = (),
        slugs: Mapping[str, str] | None = None,
        throttle: Throttle | None = None,
    ) -> None:
        """Create a client for `api_key`.

        `created` seeds the numbers already created on the account, `slugs` gives the
        courier slug to create a number with (otherwise AfterShip detects it), and
        `throttle` replaces the default 10-per-second spacing.
        """
        super().__init__(session, base_url=base_url, timeout=timeout)
        self.throttle = throttle or Throttle(1 / MAX_REQUESTS_PER_SECOND)
        self._api_key = api_key
        self.created: set[str] = {key for n in created if (key := number_key(n))}
        self._slugs: dict[str, str] = {}
        self.set_slugs(slugs or {})

    def set_slugs(self, slugs: Mapping[str, str]) -> None:
        """Create these numbers with these courier slugs (an empty slug: auto-detect)."""
        for number, slug in slugs.items():
            if (key := number_key(number)) is not None:
                if slug.strip():
                    self._slugs[key] = slug.strip()
                else:
                    self._slugs.pop(key, None)

    def _secrets(self) -> Collection[str]:
        return (self._api_key,)

    async def _call(
        self,
        method: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        accept: Collection[int] = (200,),
    ) -> HttpReply:
        """One throttled request to `/trackings` with the API key."""
        await self.throttle.wait()
        return await self._request(
            method,
            TRACKINGS_PATH,
            what=_WHAT,
            params=params,
            json_body=json_body,
            headers={"as-api-key": self._api_key, "Content-Type": "application/json"},
            accept=accept,
        )

    async def async_validate_credentials(self) -> None:
        """List one tracking: a bad key is a 401, no connection a connection error."""
        reply = await self._call("GET", params={"limit": "1"})
        if (
            error := await self._async_parse(reply, aftership_request_error, what=_WHAT)
        ) is not None:
            raise error

    async def _async_track_batch(self, batch: list[str]) -> Mapping[str, SourceResult]:
        results: dict[str, SourceResult] = {}
        for number in batch:
            if number not in self.created and (error := await self._async_create(number)):
                results[number] = error
        wanted = [number for number in batch if number in self.created]
        if not wanted:
            return results
        reply = await self._call(
            "GET", params={"tracking_numbers": ",".join(wanted), "limit": _LIST_LIMIT}
        )
        tracked = await self._async_parse(reply, _trackings, what=_WHAT)
        for number in wanted:
            if number in tracked:
                results[number] = tracked[number]
            else:
                # Deleted on the account since: create it again next time.
                self.created.discard(number)
        return results

    async def _async_create(self, number: str) -> TrackingError | None:
        """Create `number`; None once it exists, else the error that is its result."""
        request: dict[str, Any] = {"tracking_number": number}
        if (slug := self._slugs.get(number)) is not None:
            request["slug"] = slug
        reply = await self._call("POST", json_body=request, accept={200, 201, 400, 404, 422})
        meta = await self._async_parse(reply, _meta, what=_WHAT)
        code = meta.get("code")
        if code in (200, 201, _ALREADY_EXISTS):
            self.created.add(number)
            return None
        if isinstance(code, bool) or not isinstance(code, int):
            code = reply.status
        _LOGGER.debug("AfterShip refused to create a tracking: meta code %s", code)
        return aftership_error_for(code, opt_str(meta.get("message")) or "")

    def _reset_after(self, reply: HttpReply) -> float | None:
        """Seconds until `X-RateLimit-Reset` (epoch seconds)."""
        if (reset := reply.headers.get("X-RateLimit-Reset")) is None:
            return None
        try:
            seconds = float(reset) - time.time()
        except ValueError:
            return None
        return capped_rest(max(0.0, seconds))


def _trackings(body: Any) -> dict[str, SourceResult]:
    """The trackings of a list reply, or its request error raised."""
    if (error := aftership_request_error(body)) is not None:
        raise error
    return parse_aftership(body)


def _meta(body: Any) -> Mapping[str, Any]:
    """The `meta` object of a reply."""
    return as_dict(as_dict(body, what="AfterShip reply").get("meta"), what="AfterShip meta")
