"""USPS APIs: OAuth 2.0 client credentials, Tracking 3.2 with Tracking 3.0 as the fallback.

- Token: `POST /oauth2/v3/token` (JSON body, `grant_type=client_credentials`, scope
  `tracking`), cached until shortly before `expires_in` runs out; a 401 on a tracking
  request drops it and fetches a new one once, a second 401 is an authentication error.
- Tracking 3.2: `POST /tracking/v3r2/tracking` with `[{"trackingNumber": n}, ...]` (up to
  35), answered 200 or 207 (multi-status: some items are errors).
- Tracking 3.0: `GET /tracking/v3/tracking/{n}?expand=DETAIL`, one number per request,
  used once 3.2 answers 404 (without per-number results), 405 or 501; the client keeps
  using it afterwards.

Per-number error codes go through the USPS normalizer: "no status yet" (150001) is a
`found=False` snapshot, not an error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping
from functools import partial
import json
import logging
import math
from typing import Any, Final

import aiohttp

from ..errors import (
    TrackingAuthenticationError,
    TrackingError,
    TrackingInvalidResponseError,
)
from ..model import Source, SourceResult
from ..normalizers._util import as_dict, opt_str
from ..normalizers.usps import parse_usps
from .base import (
    DEFAULT_TIMEOUT,
    INLINE_PARSE_BYTES,
    HttpReply,
    TrackingClient,
    stops_further_batches,
)

_LOGGER = logging.getLogger(__name__)

TOKEN_PATH: Final = "/oauth2/v3/token"  # noqa: S105 (a path, not a secret)
TRACKING_V3R2_PATH: Final = "/tracking/v3r2/tracking"
TRACKING_V3_PATH: Final = "/tracking/v3/tracking/{number}"

# A token is renewed this long before USPS says it expires (at most a tenth of its life).
TOKEN_RENEW_MARGIN: Final = 60.0
_DEFAULT_TOKEN_LIFETIME: Final = 3600.0
# OAuth errors that mean "these credentials will not do".
_CREDENTIAL_ERRORS: Final = frozenset(
    {"invalid_client", "unauthorized_client", "invalid_grant", "invalid_scope", "access_denied"}
)
# 3.2 statuses that mean "this endpoint is not there": use 3.0 from then on.
_V3R2_MISSING: Final = frozenset({404, 405, 501})


class UspsClient(TrackingClient):
    """USPS tracking for one USPS developer app (consumer key and secret)."""

    source = Source.USPS
    max_batch = 35
    default_base_url = "https://apis.usps.com"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        client_id: str,
        client_secret: str,
        *,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """Create a client for the app `client_id`; `clock` (seconds) times the token."""
        super().__init__(session, base_url=base_url, timeout=timeout)
        self._client_id = client_id
        self._client_secret = client_secret
        self._clock = clock
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()
        self.use_v3r2 = True

    def _now(self) -> float:
        return self._clock() if self._clock else asyncio.get_running_loop().time()

    def _secrets(self) -> Collection[str]:
        return tuple(s for s in (self._client_id, self._client_secret, self._token) if s)

    def _scrub(self, body: bytes) -> bytes:
        # The token reply carries the token itself: only the app's credentials are scrubbed.
        for secret in (self._client_id, self._client_secret):
            if secret:
                body = body.replace(secret.encode(), b"**REDACTED**")
        return body

    async def async_validate_credentials(self) -> None:
        """Fetch a new token: rejected credentials raise TrackingAuthenticationError."""
        await self._async_token(force=True)

    async def _async_token(self, *, force: bool = False) -> str:
        async with self._token_lock:
            if not force and self._token is not None and self._now() < self._token_expires:
                return self._token
            self._token = None
            reply = await self._request(
                "POST",
                TOKEN_PATH,
                what="USPS OAuth",
                json_body={
                    "grant_type": "client_credentials",
                    "client_id": self._client_id,
                    "client_secret": self._client_secret,
                    "scope": "tracking",
                },
                accept={200, 400, 401},
            )
            if reply.status != 200:
                raise _token_error(reply)
            data = await self._async_parse(reply, _token_reply, what="USPS OAuth")
            token = opt_str(data.get("access_token"))
            if token is None:
                raise TrackingInvalidResponseError("USPS OAuth reply has no access token")
            lifetime = _lifetime(data.get("expires_in"))
            self._token = token
            self._token_expires = self._now() + lifetime - min(TOKEN_RENEW_MARGIN, lifetime / 10)
            _LOGGER.debug("USPS token obtained, valid for %.0f s", lifetime)
            return token

    async def _authorized(
        self,
        method: str,
        path: str,
        *,
        accept: Collection[int],
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> HttpReply:
        """A tracking request with the bearer token, renewing it once on a 401."""

        async def send(token: str, statuses: Collection[int]) -> HttpReply:
            return await self._request(
                method,
                path,
                what="USPS Tracking",
                json_body=json_body,
                params=params,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                accept=statuses,
            )

        reply = await send(await self._async_token(), {*accept, 401})
        if reply.status == 401:
            _LOGGER.debug("USPS refused the token: renewing it once")
            reply = await send(await self._async_token(force=True), accept)
        return reply

    async def _async_track_batch(self, batch: list[str]) -> Mapping[str, SourceResult]:
        if self.use_v3r2:
            reply = await self._authorized(
                "POST",
                TRACKING_V3R2_PATH,
                json_body=[{"trackingNumber": number} for number in batch],
                accept={200, 207, 400, *_V3R2_MISSING},
            )
            if reply.status in _V3R2_MISSING and not _is_json_list(reply.body):
                _LOGGER.debug("USPS Tracking 3.2 answered %s: using 3.0", reply.status)
                self.use_v3r2 = False
            else:
                return await self._async_parse(
                    reply, partial(_v3r2_results, batch=batch), what="USPS Tracking"
                )
        return await self._async_track_v3(batch)

    async def _async_track_v3(self, batch: list[str]) -> Mapping[str, SourceResult]:
        """One request per number; a failure that stops batches also stops the rest."""
        results: dict[str, SourceResult] = {}
        for index, number in enumerate(batch):
            try:
                reply = await self._authorized(
                    "GET",
                    TRACKING_V3_PATH.format(number=number),
                    params={"expand": "DETAIL"},
                    accept={200, 400, 404},
                )
                results.update(
                    await self._async_parse(
                        reply, partial(parse_usps, tracking_number=number), what="USPS Tracking"
                    )
                )
            except TrackingError as err:
                results[number] = err
                if stops_further_batches(err) or not isinstance(err, TrackingInvalidResponseError):
                    results.update(dict.fromkeys(batch[index + 1 :], err))
                    break
        return results


def _token_reply(body: Any) -> Mapping[str, Any]:
    return as_dict(body, what="USPS OAuth reply")


def _v3r2_results(body: Any, *, batch: list[str]) -> Mapping[str, SourceResult]:
    """A Tracking 3.2 reply's results: a list of items, or one error for the whole batch."""
    if isinstance(body, list):
        return parse_usps(body, tracking_number=batch[0] if len(batch) == 1 else None)
    results: dict[str, SourceResult] = {}
    for number in batch:
        results.update(parse_usps(body, tracking_number=number))
    return results


def _lifetime(value: object) -> float:
    """`expires_in` in seconds (USPS sends a number; a numeric string is accepted)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return _DEFAULT_TOKEN_LIFETIME
    try:
        seconds = float(value)
    except ValueError:
        return _DEFAULT_TOKEN_LIFETIME
    return seconds if math.isfinite(seconds) and seconds > 0 else _DEFAULT_TOKEN_LIFETIME


def _token_error(reply: HttpReply) -> TrackingError:
    """The error of a refused token request (never quoting what was sent)."""
    body = _small_json(reply.body)
    code = opt_str(body.get("error")) if isinstance(body, Mapping) else None
    if reply.status == 401 or code in _CREDENTIAL_ERRORS:
        suffix = f" ({code})" if code else ""
        return TrackingAuthenticationError(f"USPS rejected the app's credentials{suffix}")
    return TrackingInvalidResponseError(
        f"USPS OAuth refused the token request (HTTP {reply.status}, {code or 'no error code'})"
    )


def _is_json_list(body: bytes) -> bool:
    return isinstance(_small_json(body), list)


def _small_json(body: bytes) -> Any:
    """The decoded body of an error reply, or None when not JSON or too big to decode here."""
    if len(body) > INLINE_PARSE_BYTES:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None
