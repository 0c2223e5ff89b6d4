"""Shared plumbing of the carrier clients: one request path, one error mapping, batching.

Every client takes an injected `aiohttp.ClientSession`, puts a timeout on every request
and turns every failure into the engine's exception tree. `async_track` never raises
for request problems: each requested number gets its snapshot or the error that applies
to it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import asyncio
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from itertools import batched
import logging
import math
from typing import Any, ClassVar, Final

import aiohttp

from ..errors import (
    TrackingAuthenticationError,
    TrackingConnectionError,
    TrackingError,
    TrackingInvalidResponseError,
    TrackingNotFoundError,
    TrackingRateLimitError,
    TrackingResponseTooLargeError,
    TrackingTimeoutError,
)
from ..model import Source, SourceResult
from ..normalizers._util import decode_json, looks_blocked, number_key

_LOGGER = logging.getLogger(__name__)

DEFAULT_TIMEOUT: Final = 20.0
"""Seconds one request may take, connection and body included."""

MAX_REPLY_BYTES: Final = 4 * 1024 * 1024
"""The largest body read from any source (after decompression).

A full batch of real parcels takes well under a megabyte; a bigger body is refused
unread (announced by Content-Length) or as soon as the limit is passed.
"""

INLINE_PARSE_BYTES: Final = 256 * 1024
"""Bodies up to this size are decoded in the caller; bigger ones in a worker thread."""

MAX_RETRY_AFTER: Final = 6 * 3600.0
"""The longest rest a source may ask for, in seconds: a date in 2099 is not obeyed."""

_READ_CHUNK: Final = 64 * 1024

_REDACTED: Final = "**REDACTED**"

# Statuses a request returns to its caller unless it asks for others.
_OK: Final = frozenset({200})


@dataclass(frozen=True, slots=True)
class HttpReply:
    """One HTTP answer, fully read: status, raw body and headers."""

    status: int
    body: bytes
    headers: Mapping[str, str]


def unique_numbers(numbers: Iterable[str]) -> list[str]:
    """Numbers as lookup keys (no whitespace, upper case), first-seen order, no duplicates."""
    seen: dict[str, None] = {}
    for number in numbers:
        if (key := number_key(number)) is not None:
            seen.setdefault(key, None)
    return list(seen)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value: delta-seconds or an HTTP date.

    Returns None when the value is absent, unreadable or a negative delay; a date in the
    past is 0 and anything beyond MAX_RETRY_AFTER is capped to it.
    """
    if value is None or not (text := value.strip()):
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
    return capped_rest(seconds)


def capped_rest(seconds: float) -> float | None:
    """A rest a source asked for, in seconds, capped to MAX_RETRY_AFTER; None if absurd."""
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return min(seconds, MAX_RETRY_AFTER)


def stops_further_batches(error: TrackingError) -> bool:
    """True for errors after which sending more requests in the same call is pointless.

    A source that answered with megabytes would do it again for the next batch.
    """
    if isinstance(error, TrackingResponseTooLargeError):
        return True
    if isinstance(error, TrackingInvalidResponseError):
        return error.blocked
    return isinstance(error, TrackingRateLimitError | TrackingAuthenticationError)


class TrackingClient(ABC):
    """An async client for one tracking source.

    `requests_made` counts every HTTP request sent, token requests included.
    `base_url` is the scheme and host only (tests point it at the local carrier server);
    each client appends its service's real paths.
    """

    source: ClassVar[Source]
    max_batch: ClassVar[int]
    default_base_url: ClassVar[str]
    requests_made: int

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """Use `session` for every request, against `base_url` (default: the real service)."""
        self._session = session
        self._base_url = (base_url or self.default_base_url).rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self.requests_made = 0

    @property
    def base_url(self) -> str:
        """The scheme and host requests go to."""
        return self._base_url

    async def async_track(self, numbers: Sequence[str]) -> dict[str, SourceResult]:
        """Track `numbers`: a snapshot or an error for every (normalised) number.

        Numbers are sent in batches of at most `max_batch`. An error of a whole batch
        becomes each of its numbers' result; after a rate limit, an authentication
        failure or a block, no further batch is sent and the rest get the same error.
        """
        results: dict[str, SourceResult] = {}
        stop: TrackingError | None = None
        for batch in batched(unique_numbers(numbers), self.max_batch, strict=False):
            if stop is not None:
                results.update(dict.fromkeys(batch, stop))
                continue
            found = await self._async_track_batch_safely(list(batch))
            for number in batch:
                result = found[number] if number in found else self._missing(number)
                results[number] = result
                if stop is None and isinstance(result, TrackingError):
                    stop = result if stops_further_batches(result) else None
        return results

    async def _async_track_batch_safely(self, batch: list[str]) -> Mapping[str, SourceResult]:
        try:
            return await self._async_track_batch(batch)
        except TrackingError as err:
            _LOGGER.debug("%s: batch of %d failed: %s", self.source, len(batch), err)
            return dict.fromkeys(batch, err)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as err:
            # A reply shape nobody anticipated must not escape as a bare Python error.
            _LOGGER.debug("%s: unexpected reply shape", self.source, exc_info=True)
            error = TrackingInvalidResponseError(
                f"{self.source} returned an unexpected reply ({type(err).__name__})"
            )
            return dict.fromkeys(batch, error)

    @abstractmethod
    async def _async_track_batch(self, batch: list[str]) -> Mapping[str, SourceResult]:
        """Fetch one batch (already normalised, unique, at most `max_batch` numbers).

        May raise TrackingError for a failure of the whole batch; numbers missing from
        the mapping get `_missing(number)`.
        """

    @abstractmethod
    async def async_validate_credentials(self) -> None:
        """Make one cheap call that proves the credentials work.

        Raises TrackingAuthenticationError for rejected credentials and
        TrackingConnectionError when the service cannot be reached.
        """

    def _missing(self, number: str) -> TrackingError:
        """The result of a number the source's reply did not mention."""
        return TrackingNotFoundError(f"{self.source} did not return {number}")

    def _secrets(self) -> Collection[str]:
        """Credential values that must never appear in a message or log line."""
        return ()

    def _redact(self, text: str) -> str:
        """`text` with every credential value replaced."""
        for secret in self._secrets():
            if secret:
                text = text.replace(secret, _REDACTED)
        return text

    def _scrub(self, body: bytes) -> bytes:
        """A reply body with any echoed credential replaced, before anything reads it."""
        for secret in self._secrets():
            if secret:
                body = body.replace(secret.encode(), _REDACTED.encode())
        return body

    async def _request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        accept: Collection[int] = _OK,
    ) -> HttpReply:
        """Send one request to `base_url + path` and read its whole body.

        Statuses in `accept` are returned; every other status and every transport
        failure is raised as a TrackingError, a body over MAX_REPLY_BYTES as
        TrackingResponseTooLargeError.
        """
        self.requests_made += 1
        try:
            async with self._session.request(
                method,
                f"{self._base_url}{path}",
                params=params,
                json=json_body,
                data=form,
                headers=headers,
                timeout=self._timeout,
            ) as response:
                body = self._scrub(await _read_body(response, what=what))
                reply = HttpReply(response.status, body, response.headers)
        except TimeoutError as err:
            _LOGGER.debug("%s %s %s: timed out", self.source, method, path)
            raise TrackingTimeoutError(
                f"{what} did not answer within {self._timeout.total:g} s"
            ) from err
        except (aiohttp.ClientError, OSError) as err:
            _LOGGER.debug("%s %s %s: %s", self.source, method, path, type(err).__name__)
            raise TrackingConnectionError(
                self._redact(f"cannot reach {what}: {type(err).__name__}: {err}")
            ) from err
        _LOGGER.debug("%s %s %s: HTTP %s", self.source, method, path, reply.status)
        if reply.status in accept:
            return reply
        raise self._error_for_status(reply, what=what)

    def _error_for_status(self, reply: HttpReply, *, what: str) -> TrackingError:
        """The error an unexpected HTTP status stands for."""
        status = reply.status
        delay = parse_retry_after(reply.headers.get("Retry-After"))
        if status == 429 or (status == 503 and delay is not None):
            wait = delay if delay is not None else self._reset_after(reply)
            message = f"{what} is rate limiting requests (HTTP {status})"
            return TrackingRateLimitError(message, retry_after=wait)  # ha-compat: ok
        if status == 403 and (blocked := _block_page(reply, what=what)) is not None:
            # A firewall's block page is no verdict on our keys: no re-authentication.
            return blocked
        if status in (401, 403):
            return TrackingAuthenticationError(f"{what} rejected the credentials (HTTP {status})")
        if status >= 500:
            return TrackingConnectionError(f"{what} failed (HTTP {status})")
        if (blocked := _block_page(reply, what=what)) is not None:
            return blocked
        return TrackingInvalidResponseError(f"{what} answered HTTP {status}")

    def _reset_after(self, reply: HttpReply) -> float | None:
        """Seconds until a rate limit resets, from source-specific headers (none by default)."""
        return None

    async def _async_parse[T](self, reply: HttpReply, parse: Callable[[Any], T], *, what: str) -> T:
        """Decode the reply's JSON and read it with `parse`, off the event loop when big.

        Decoding and normalising a body of megabytes takes long enough to stall every
        other task of the loop (in Home Assistant: everything).
        """

        def decode_and_parse() -> T:
            return parse(decode_json(reply.body, what=what))

        if len(reply.body) <= INLINE_PARSE_BYTES:
            return decode_and_parse()
        _LOGGER.debug("%s: reading a reply of %d bytes in a worker", self.source, len(reply.body))
        return await asyncio.get_running_loop().run_in_executor(None, decode_and_parse)


async def _read_body(response: aiohttp.ClientResponse, *, what: str) -> bytes:
    """The whole body, refused once it is known to pass MAX_REPLY_BYTES.

    A Content-Length above the limit is refused before reading anything; without one
    (chunked), reading stops at the first chunk past the limit. The connection is
    closed either way rather than drained.
    """
    declared = response.content_length
    if declared is not None and declared > MAX_REPLY_BYTES:
        response.close()
        raise TrackingResponseTooLargeError(
            f"{what} announced a reply of {declared} bytes (at most {MAX_REPLY_BYTES} are read)"
        )
    body = bytearray()
    async for chunk in response.content.iter_chunked(_READ_CHUNK):
        body += chunk
        if len(body) > MAX_REPLY_BYTES:
            response.close()
            raise TrackingResponseTooLargeError(
                f"{what} sent a reply of more than {MAX_REPLY_BYTES} bytes"
            )
    return bytes(body)


def _block_page(reply: HttpReply, *, what: str) -> TrackingInvalidResponseError | None:
    """The block error when the body is a block or captcha page (not JSON), else None."""
    if len(reply.body) > INLINE_PARSE_BYTES:
        # Too big to decode on the loop just to name an error: its head tells a block page.
        if looks_blocked(reply.body):
            return TrackingInvalidResponseError(
                f"{what} returned a block or captcha page", blocked=True
            )
        return None
    try:
        decode_json(reply.body, what=what)
    except TrackingInvalidResponseError as err:
        return err if err.blocked else None
    return None


class Throttle:
    """Spaces request starts at least `min_interval` seconds apart (per client).

    `clock` and `sleep` default to the running loop's clock and `asyncio.sleep`; tests
    pass a zero interval to stay fast.
    """

    def __init__(
        self,
        min_interval: float,
        *,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        """Allow one request start per `min_interval` seconds."""
        self.min_interval = min_interval
        self._clock = clock
        self._sleep: Callable[[float], Awaitable[None]] = sleep or asyncio.sleep
        self._lock = asyncio.Lock()
        self._last: float | None = None

    def _now(self) -> float:
        return self._clock() if self._clock else asyncio.get_running_loop().time()

    async def wait(self) -> None:
        """Return once a request may start, then count it as started."""
        async with self._lock:
            if self._last is not None:
                delay = self._last + self.min_interval - self._now()
                if delay > 0:
                    await self._sleep(delay)
            self._last = self._now()
