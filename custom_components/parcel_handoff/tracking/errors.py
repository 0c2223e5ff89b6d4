"""The engine's exception tree: nothing else leaves the tracking package."""

from __future__ import annotations


class TrackingError(Exception):
    """Base error of the tracking engine and its carrier clients."""


class TrackingConnectionError(TrackingError):
    """The source could not be reached, or did not answer in time."""


class TrackingTimeoutError(TrackingConnectionError):
    """The source did not answer before the request timeout."""


class TrackingAuthenticationError(TrackingError):
    """The source rejected the credentials (invalid key, secret or token)."""


class TrackingRateLimitError(TrackingError):
    """The source asked us to slow down; `retry_after` is in seconds when known."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # ha-compat: ok (not HA's)


class TrackingQuotaExceededError(TrackingError):
    """The account's quota (e.g. 17TRACK registrations) is used up."""


class TrackingInvalidResponseError(TrackingError):
    """The response is not what the source's API returns.

    `blocked` is true when the body looks like a captcha or block page rather than a
    broken reply: the caller should back off hard, not retry soon.
    """

    def __init__(self, message: str, *, blocked: bool = False) -> None:
        super().__init__(message)
        self.blocked = blocked


class TrackingResponseTooLargeError(TrackingInvalidResponseError):
    """The reply is bigger than any real answer of the source (see `MAX_REPLY_BYTES`).

    No real parcel needs megabytes: the body is not read past the limit, and the source
    rests like after any other invalid reply.
    """


class TrackingNotFoundError(TrackingError):
    """The source does not know this tracking number (yet)."""


class TrackingStoredDataError(TrackingError):
    """The persisted state as a whole is not a shape this version can read."""


class InvalidTrackingNumberError(TrackingError, ValueError):
    """The input cannot be a tracking number; `reason` is a stable key for translations."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
