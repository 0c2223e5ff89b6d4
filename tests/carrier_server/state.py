"""The carrier server's state: journeys, clock, credentials, faults and counters.

Tests hold the `ServerState` and change it directly (`state.now = ...`,
`state.add_fault(...)`); the demo process changes it through `/_control/*`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

from .journeys import Journey, JourneyEvent, Track

type FaultKind = Literal[
    "timeout",  # sleep `delay` seconds, then answer normally (longer than the client waits)
    "rate_limit",  # 429, with `retry_after` as the Retry-After header when given
    "server_error",  # `status` (default 500), plain text
    "unavailable",  # 503, with Retry-After when `retry_after` is given
    "html_block",  # a captcha / block page (HTML) with `status` (default 200)
    "truncated_json",  # the real answer cut in half
    "success_false",  # the source's "the call failed" body with HTTP 200
    "expire_token",  # USPS: revoke every issued token and answer 401
    "status",  # `status` with `body` (JSON text) as given
    "oversized",  # the real answer grown to `size` bytes of valid JSON, written as it goes
]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind.__value__)

DEFAULT_CREDENTIALS: Mapping[str, str] = {
    "usps_client_id": "usps-demo-consumer-key-7c1e",
    "usps_client_secret": "usps-demo-consumer-secret-55d0a9",
    "seventeen_track_key": "17track-demo-key-0b5f3e92",
    "aftership_key": "asat_demo_key_4a8c61d2e9",
}


@dataclass(kw_only=True)
class Fault:
    """A misbehaviour for the next matching requests.

    `source` None matches every source; `path` is a path prefix (None: every path of
    the source, except that `expire_token` only hits tracking paths). The first `after`
    matching requests pass untouched; then the fault hits `times` requests (None: until
    cleared).
    """

    kind: FaultKind
    source: str | None = None
    path: str | None = None
    after: int = 0
    times: int | None = 1
    retry_after: str | None = None
    delay: float = 30.0
    status: int | None = None
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    size: int = 55_000_000  # oversized: bytes in all
    declare_length: bool = False  # oversized: send Content-Length (otherwise chunked)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}")

    def matches(self, source: str, path: str) -> bool:
        """Whether this fault applies to a request of `source` to `path`."""
        if self.times is not None and self.times <= 0:
            return False
        if self.source is not None and self.source != source:
            return False
        if self.path is not None:
            return path.startswith(self.path)
        return not (self.kind == "expire_token" and "/oauth2/" in path)


# Request headers worth keeping; the others may hold credentials.
RECORDED_HEADERS = ("User-Agent", "Referer", "Accept", "Content-Type")


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as the server received it (only RECORDED_HEADERS are kept)."""

    source: str
    method: str
    path: str
    query: dict[str, str]
    body: Any
    loop_time: float
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(kw_only=True)
class AfterShipTracking:
    """A tracking created on the fake AfterShip account."""

    id: str
    number: str
    slug: str
    created_at: datetime


@dataclass(kw_only=True)
class ServerState:
    """Everything the carrier server knows and counts."""

    journeys: list[Journey] = field(default_factory=list)
    now: datetime | None = None  # None: the real time
    advance_on_poll: bool = False

    usps_client_id: str = DEFAULT_CREDENTIALS["usps_client_id"]
    usps_client_secret: str = DEFAULT_CREDENTIALS["usps_client_secret"]
    usps_token_ttl: int = 28800
    usps_v3r2_enabled: bool = True
    seventeen_track_key: str = DEFAULT_CREDENTIALS["seventeen_track_key"]
    seventeen_track_quota_total: int = 100
    seventeen_track_quota_used: int = 0
    aftership_key: str = DEFAULT_CREDENTIALS["aftership_key"]

    faults: list[Fault] = field(default_factory=list)
    requests: Counter[str] = field(default_factory=Counter)
    paths: Counter[str] = field(default_factory=Counter)
    log: list[RequestRecord] = field(default_factory=list)
    polls: Counter[tuple[str, str]] = field(default_factory=Counter)
    usps_tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (loop time)
    usps_issued_tokens: list[str] = field(default_factory=list)
    seventeen_track_registered: dict[str, int] = field(default_factory=dict)
    aftership_trackings: dict[str, AfterShipTracking] = field(default_factory=dict)

    _tracks: dict[tuple[str, str], Track] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.add_journeys(self.journeys, keep=True)

    # --- journeys and clock ------------------------------------------------------------

    def add_journeys(self, journeys: Iterable[Journey], *, keep: bool = False) -> None:
        """Serve these journeys too (a number seen twice for one source is an error)."""
        for journey in journeys:
            if not keep:
                self.journeys.append(journey)
            for track in journey.tracks:
                key = (track.source, track.number)
                if key in self._tracks:
                    raise ValueError(f"{track.source} number {track.number} is in two journeys")
                self._tracks[key] = track

    def track(self, source: str, number: str) -> Track | None:
        """The journey track of `number` at `source`, if any."""
        return self._tracks.get((source, number))

    def journey(self, name: str) -> Journey:
        """The journey called `name`."""
        for journey in self.journeys:
            if journey.name == name:
                return journey
        raise KeyError(name)

    def current_time(self) -> datetime:
        """The server's "now": the set clock, else the real time."""
        return self.now if self.now is not None else datetime.now(UTC)

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward (starting from the real time when it was not set)."""
        self.now = self.current_time() + timedelta(seconds=seconds)
        return self.now

    def poll(self, source: str, number: str) -> None:
        """Count one poll of `number` at `source` (reveals an event in advance-on-poll mode)."""
        self.polls[(source, number)] += 1

    def visible(self, track: Track) -> list[JourneyEvent]:
        """The track's events that have happened, oldest first."""
        if self.advance_on_poll:
            return list(track.events[: self.polls[(track.source, track.number)]])
        now = self.current_time()
        return [event for event in track.events if event.at <= now]

    # --- faults and counters -----------------------------------------------------------

    def add_fault(self, kind: FaultKind, **options: Any) -> Fault:
        """Queue a fault (see Fault for the options) and return it."""
        fault = Fault(kind=kind, **options)
        self.faults.append(fault)
        return fault

    def take_fault(self, source: str, path: str) -> Fault | None:
        """The first fault matching a request, counting it as used once."""
        for fault in self.faults:
            if fault.matches(source, path):
                if fault.after > 0:
                    fault.after -= 1
                    continue
                if fault.times is not None:
                    fault.times -= 1
                return fault
        return None

    def clear_faults(self) -> None:
        """Forget every queued fault."""
        self.faults.clear()

    def record(self, record: RequestRecord) -> None:
        """Count and keep one received request."""
        self.requests[record.source] += 1
        self.paths[record.path] += 1
        self.log.append(record)

    @property
    def usps_tokens_issued(self) -> int:
        """How many USPS tokens the server has handed out."""
        return len(self.usps_issued_tokens)

    def requests_to(self, path: str) -> list[RequestRecord]:
        """Received requests whose path starts with `path`."""
        return [record for record in self.log if record.path.startswith(path)]

    def reset_stats(self) -> None:
        """Zero the counters and the request log (journeys' progress is kept)."""
        self.requests.clear()
        self.paths.clear()
        self.log.clear()

    def stats(self) -> dict[str, Any]:
        """Counters as JSON-friendly data (for `/_control/stats`)."""
        return {
            "now": self.current_time().isoformat(),
            "advance_on_poll": self.advance_on_poll,
            "requests": dict(self.requests),
            "paths": dict(self.paths),
            "polls": {f"{source}:{number}": n for (source, number), n in self.polls.items()},
            "faults": [asdict(fault) for fault in self.faults if fault.times != 0],
            "usps_tokens_issued": self.usps_tokens_issued,
            "seventeen_track": {
                "registered": sorted(self.seventeen_track_registered),
                "quota_total": self.seventeen_track_quota_total,
                "quota_used": self.seventeen_track_quota_used,
            },
            "aftership_trackings": sorted(self.aftership_trackings),
        }
