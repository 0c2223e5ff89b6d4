"""Audit a captured reply: the stage it reads as, the codes no table maps, the fields unread.

Anyone can check a reply they saved against the engine without reading its code:

- the stage of each number (the reply alone merged into a shipment);
- the codes (Cainiao `actionCode` and module `status`, USPS `eventCode`, 17TRACK
  `sub_status`/`status`/`stage`, AfterShip `tag`/`subtag`) that no table lists; a Cainiao
  code that only a family pattern maps says so and which stage it got;
- the fields the normalizer never looked at, found by handing it a copy of the reply
  that records every key it reads. Nothing is guessed from a schema: a field is
  "ignored" when the parser did not ask for it anywhere in the reply.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from .errors import TrackingError
from .model import Source, SourceSnapshot, Stage
from .normalizers import PARSERS
from .normalizers.aftership import AUDITED_CODES as AFTERSHIP_CODES
from .normalizers.cainiao import AUDITED_CODES as CAINIAO_CODES, action_stage
from .normalizers.seventeen_track import AUDITED_CODES as SEVENTEEN_TRACK_CODES
from .normalizers.usps import AUDITED_CODES as USPS_CODES, parse_usps
from .timeline import build_shipment

# Per source: JSON key -> the table its values are looked up in.
_CODE_TABLES: Final[Mapping[Source, Mapping[str, Mapping[str, Stage | None]]]] = {
    Source.CAINIAO: CAINIAO_CODES,
    Source.USPS: USPS_CODES,
    Source.SEVENTEEN_TRACK: SEVENTEEN_TRACK_CODES,
    Source.AFTERSHIP: AFTERSHIP_CODES,
}

type _Path = tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditReport:
    """What the engine makes of one reply. `error` is set when it is not a payload."""

    source: Source
    stages: Mapping[str, Stage] = field(default_factory=dict)
    rejected: Mapping[str, str] = field(default_factory=dict)
    stopped: tuple[str, ...] = ()  # numbers the source said it stopped following
    unmapped_codes: tuple[str, ...] = ()
    ignored_fields: tuple[str, ...] = ()
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, for `audit --json`."""
        return {
            "source": self.source.value,
            "stages": {number: stage.value for number, stage in self.stages.items()},
            "rejected": dict(self.rejected),
            "stopped": list(self.stopped),
            "unmapped_codes": list(self.unmapped_codes),
            "ignored_fields": list(self.ignored_fields),
            "error": self.error,
        }

    def line(self) -> str:
        """One line of text: the stage per number, then what was not understood."""
        if self.error is not None:
            return f"not a {self.source.value} payload: {self.error}"
        parts = [", ".join(f"{n} {s.value}" for n, s in self.stages.items()) or "no tracking"]
        parts += [f"{number} no longer followed by the source" for number in self.stopped]
        parts += [f"{number} rejected ({why})" for number, why in self.rejected.items()]
        parts.append("unmapped codes: " + (", ".join(self.unmapped_codes) or "none"))
        parts.append("ignored fields: " + (", ".join(self.ignored_fields) or "none"))
        return "; ".join(parts)


class _Recorder:
    """Collects the paths of every key a parser reads (list indices folded to `[]`)."""

    def __init__(self) -> None:
        self.read: set[_Path] = set()

    def wrap(self, value: Any, path: _Path) -> Any:
        if isinstance(value, dict):
            return _RecordingDict(value, path, self)
        if isinstance(value, list):
            return _RecordingList(self.wrap(item, (*path, "[]")) for item in value)
        return value


class _RecordingDict(Mapping[str, Any]):
    """A read-only JSON object that notes each key asked for."""

    def __init__(self, data: dict[str, Any], path: _Path, recorder: _Recorder) -> None:
        self._data = {key: recorder.wrap(value, (*path, key)) for key, value in data.items()}
        self._path = path
        self._recorder = recorder

    def __getitem__(self, key: str) -> Any:
        self._recorder.read.add((*self._path, key))
        return self._data[key]

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self._recorder.read.add((*self._path, key))
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        # Iterating means every key was looked at.
        self._recorder.read.update((*self._path, key) for key in self._data)
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


class _RecordingList(list[Any]):
    """A JSON array whose items record their reads (a list, so `isinstance` checks pass)."""


def _ignored(value: Any, read: set[_Path], path: _Path = ()) -> Iterator[_Path]:
    """The topmost paths of `value` that no read touched."""
    if isinstance(value, dict):
        for key, child in value.items():
            child_path = (*path, key)
            if child_path not in read:
                yield child_path
            else:
                yield from _ignored(child, read, child_path)
    elif isinstance(value, list):
        for item in value:
            yield from _ignored(item, read, (*path, "[]"))


def _dotted(path: _Path) -> str:
    return ".".join(path).replace(".[]", "[]") or "(root)"


def _values_of(value: Any, key: str) -> Iterator[str]:
    """Every string value stored under `key`, anywhere in the reply."""
    if isinstance(value, dict):
        for name, child in value.items():
            if name == key and isinstance(child, str) and child.strip():
                yield child.strip()
            else:
                yield from _values_of(child, key)
    elif isinstance(value, list):
        for item in value:
            yield from _values_of(item, key)


def _unmapped(source: Source, body: Any) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for key, table in _CODE_TABLES[source].items():
        for code in _values_of(body, key):
            if code in table or code.upper() in table:
                continue
            if source is Source.CAINIAO and key == "actionCode":
                stage = action_stage(code.upper().replace(" ", "_"))
                label = f"family: {stage.value}" if stage else "no stage"
                found[f"{key} {code} ({label})"] = None
            else:
                found[f"{key} {code}"] = None
    return tuple(found)


def audit_payload(source: Source, body: Any, *, tracking_number: str | None = None) -> AuditReport:
    """Audit one decoded reply of `source`; `tracking_number` keys a USPS error body."""
    recorder = _Recorder()
    wrapped = recorder.wrap(body, ())
    try:
        if source is Source.USPS and tracking_number is not None:
            results = parse_usps(wrapped, tracking_number=tracking_number)
        else:
            results = PARSERS[source](wrapped)
    except TrackingError as err:
        return AuditReport(source=source, error=str(err))
    now = datetime.now(UTC)
    # Each number on its own: a batch reply holds several parcels.
    stages = {
        number: build_shipment(number, [result], now=now).stage
        for number, result in results.items()
        if isinstance(result, SourceSnapshot)
    }
    rejected = {
        number: str(result) for number, result in results.items() if isinstance(result, Exception)
    }
    stopped = tuple(
        number
        for number, result in results.items()
        if isinstance(result, SourceSnapshot) and result.tracking_stopped
    )
    ignored = tuple(dict.fromkeys(_dotted(path) for path in _ignored(body, recorder.read)))
    return AuditReport(
        source=source,
        stages=stages,
        rejected=rejected,
        stopped=stopped,
        unmapped_codes=_unmapped(source, body),
        ignored_fields=ignored,
    )
