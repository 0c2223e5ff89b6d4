"""17TRACK tracking API v2.2: `register`, `gettrackinfo` and `getquota`.

Each registration costs one unit of the account's quota, so the client registers only
numbers it has not registered before (`registered`, seedable so the integration can
persist it); "already registered" counts as success. It never registers while the last
known quota says nothing is left: those numbers get TrackingQuotaExceededError.
Requests are spaced by an internal throttle (at most 3 per second by default).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import replace
import logging
from typing import Any, Final

import aiohttp

from ..errors import TrackingInvalidResponseError, TrackingQuotaExceededError
from ..model import Source, SourceResult
from ..normalizers._util import as_dict, capped_list, number_key, opt_str
from ..normalizers.seventeen_track import (
    SeventeenTrackQuota,
    is_already_registered,
    parse_17track,
    parse_17track_quota,
    seventeen_track_error_for,
    seventeen_track_request_error,
)
from .base import DEFAULT_TIMEOUT, Throttle, TrackingClient

_LOGGER = logging.getLogger(__name__)

API_PREFIX: Final = "/track/v2.2"
REGISTER_PATH: Final = f"{API_PREFIX}/register"
TRACK_INFO_PATH: Final = f"{API_PREFIX}/gettrackinfo"
QUOTA_PATH: Final = f"{API_PREFIX}/getquota"

MAX_REQUESTS_PER_SECOND: Final = 3
_WHAT: Final = "17TRACK"
_NOT_REGISTERED: Final = -18019902
_QUOTA_USED_UP: Final = -18019908


class SeventeenTrackClient(TrackingClient):
    """17TRACK, 40 numbers per request, registering each number once."""

    source = Source.SEVENTEEN_TRACK
    max_batch = 40
    default_base_url = "https://api.17track.net"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        api_key: str,
        *,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        registered: Iterable[str] = (),
        carrier_hints: Mapping[str, int] | None = None,
        quota: SeventeenTrackQuota | None = None,
        throttle: Throttle | None = None,
    ) -> None:
        """Create a client for the account behind `api_key`.

        `registered` seeds the numbers already registered (persisted by the caller),
        `carrier_hints` gives 17TRACK carrier codes to register numbers with, `quota`
        the last known quota, and `throttle` replaces the default 3-per-second spacing.
        """
        super().__init__(session, base_url=base_url, timeout=timeout)
        self._api_key = api_key
        self.registered: set[str] = {key for n in registered if (key := number_key(n))}
        self._carrier_hints: dict[str, int] = {}
        self.set_carrier_hints(carrier_hints or {})
        self.quota = quota
        self._quota_used_up = False
        self.throttle = throttle or Throttle(1 / MAX_REQUESTS_PER_SECOND)

    @property
    def quota_exhausted(self) -> bool:
        """True when the last known quota leaves no registration."""
        return self._quota_used_up or (self.quota is not None and self.quota.remaining <= 0)

    def set_carrier_hints(self, hints: Mapping[str, int]) -> None:
        """Register these numbers with these 17TRACK carrier codes (0 or less: auto-detect)."""
        for number, code in hints.items():
            if (key := number_key(number)) is not None:
                if code > 0:
                    self._carrier_hints[key] = code
                else:
                    self._carrier_hints.pop(key, None)

    def _secrets(self) -> Collection[str]:
        return (self._api_key,)

    async def _post[T](self, path: str, body: Any, read: Callable[[Any], T]) -> T:
        """POST one 17TRACK call (throttled); `read` its decoded body once it is a success."""
        await self.throttle.wait()
        reply = await self._request(
            "POST",
            path,
            what=_WHAT,
            json_body=body,
            headers={"17token": self._api_key, "Content-Type": "application/json"},
        )

        def read_success(decoded: Any) -> T:
            if (error := seventeen_track_request_error(decoded)) is not None:
                raise error
            return read(decoded)

        return await self._async_parse(reply, read_success, what=_WHAT)

    async def async_get_quota(self) -> SeventeenTrackQuota:
        """Fetch the account's quota and remember it as the last known one."""
        self.quota = await self._post(QUOTA_PATH, None, parse_17track_quota)
        self._quota_used_up = False
        return self.quota

    async def async_validate_credentials(self) -> None:
        """Check the key with `getquota` (free of charge)."""
        await self.async_get_quota()

    async def _async_track_batch(self, batch: list[str]) -> Mapping[str, SourceResult]:
        results: dict[str, SourceResult] = {}
        new = [number for number in batch if number not in self.registered]
        if new:
            results.update(await self._async_register(new))
        wanted = [number for number in batch if number in self.registered]
        if not wanted:
            return results
        tracked, unregistered = await self._post(
            TRACK_INFO_PATH, [{"number": number} for number in wanted], _track_info
        )
        # Registered elsewhere once, gone now (e.g. deleted): register again next time.
        self.registered.difference_update(unregistered)
        results.update((number, tracked[number]) for number in wanted if number in tracked)
        return results

    async def _async_register(self, numbers: list[str]) -> dict[str, SourceResult]:
        """Register `numbers`; return the errors of those that could not be registered."""
        if self.quota_exhausted:
            error = TrackingQuotaExceededError("17TRACK registration quota is used up")
            return dict.fromkeys(numbers, error)
        accepted_numbers, rejected = await self._post(
            REGISTER_PATH, [self._register_item(n) for n in numbers], _registration
        )
        self.registered.update(accepted_numbers)
        accepted = len(accepted_numbers)
        errors: dict[str, SourceResult] = {}
        for number, code, message in rejected:
            if is_already_registered(code):
                self.registered.add(number)
                continue
            if code == _QUOTA_USED_UP:
                self._quota_used_up = True
            errors[number] = seventeen_track_error_for(code, message)
        self._spend_quota(accepted)
        _LOGGER.debug("17TRACK registered %d of %d numbers", accepted, len(numbers))
        return errors

    def _register_item(self, number: str) -> dict[str, Any]:
        item: dict[str, Any] = {"number": number}
        if (carrier := self._carrier_hints.get(number)) is not None:
            item["carrier"] = carrier
        return item

    def _spend_quota(self, count: int) -> None:
        """Keep the last known quota current after `count` registrations."""
        if self.quota is not None and count:
            self.quota = replace(
                self.quota,
                used=self.quota.used + count,
                remaining=max(0, self.quota.remaining - count),
            )


def _track_info(body: Any) -> tuple[dict[str, SourceResult], list[str]]:
    """A `gettrackinfo` reply's results, and the numbers it says are not registered."""
    return parse_17track(body), _rejected_with(body, _NOT_REGISTERED)


def _registration(body: Any) -> tuple[list[str], list[tuple[str, int, str]]]:
    """A `register` reply: the accepted numbers, and each rejected number's code and message."""
    data = as_dict(as_dict(body, what=_WHAT).get("data"), what="17TRACK register data")
    accepted = [
        number
        for raw in capped_list(data.get("accepted"), what="17TRACK accepted")
        if (number := number_key(as_dict(raw, what="17TRACK accepted item").get("number")))
    ]
    rejected: list[tuple[str, int, str]] = []
    for raw in capped_list(data.get("rejected"), what="17TRACK rejected"):
        item = as_dict(raw, what="17TRACK rejected item")
        if (number := number_key(item.get("number"))) is not None:
            rejected.append((number, *_error_of(item)))
    return accepted, rejected


def _error_of(item: Mapping[str, Any]) -> tuple[int, str]:
    """The error code and message of a rejected item."""
    error = item.get("error")
    error = error if isinstance(error, Mapping) else {}
    raw_code = error.get("code", item.get("error_code"))
    if isinstance(raw_code, bool) or not isinstance(raw_code, int | str):
        raise TrackingInvalidResponseError("17TRACK rejected a number without an error code")
    try:
        code = int(raw_code)
    except ValueError as err:
        raise TrackingInvalidResponseError(
            f"17TRACK error code is not a number: {raw_code!r}"
        ) from err
    return code, opt_str(error.get("message", item.get("error_message"))) or ""


def _rejected_with(body: Any, code: int) -> list[str]:
    """Numbers a `gettrackinfo` reply rejected with `code`."""
    data = body.get("data") if isinstance(body, Mapping) else None
    rejected = data.get("rejected") if isinstance(data, Mapping) else None
    found: list[str] = []
    for item in rejected if isinstance(rejected, list) else ():
        if not isinstance(item, Mapping) or (number := number_key(item.get("number"))) is None:
            continue
        try:
            item_code, _ = _error_of(item)
        except TrackingInvalidResponseError:
            continue
        if item_code == code:
            found.append(number)
    return found
