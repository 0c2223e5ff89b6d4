"""Hypothesis helpers: random JSON values, and real-shaped bodies with a subtree replaced."""

from __future__ import annotations

from collections.abc import Iterator
import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

type JsonPath = tuple[str | int, ...]

# Keys the normalizers read, so random objects reach past the first lookup now and then.
KNOWN_KEYS = (
    "success",
    "module",
    "mailNo",
    "mailNoSource",
    "status",
    "statusDesc",
    "detailList",
    "time",
    "timeStr",
    "timeZone",
    "actionCode",
    "standerdDesc",
    "desc",
    "destCpInfo",
    "cpName",
    "copyRealMailNo",
    "realMailNo",
    "globalEtaInfo",
    "deliveryMinTime",
    "deliveryMaxTime",
    "trackingNumber",
    "trackingEvents",
    "eventTimestamp",
    "GMTTimestamp",
    "GMTOffset",
    "eventCode",
    "eventType",
    "eventCity",
    "statusCategory",
    "statusCode",
    "error",
    "errors",
    "code",
    "message",
    "expectedDeliveryTimeStamp",
    "deliveryDateExpectation",
    "predictedDeliveryDate",
    "predictedDeliveryWindowStartTime",
    "endOfDay",
)

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(
        [
            "2025-03-04T19:05:00",
            "2025-03-04T00:05:44Z",
            "-05:00",
            "GMT+8",
            "2023-09-22 17:51:16",
            "1695376276000",
            "GTMS_SIGNED",
            "CC_IM_START",
            "01",
            "150001",
            "EXTERNAL",
            "9:00pm",
            "",
        ]
    )
)

json_values = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(KNOWN_KEYS) | st.text(max_size=8), children, max_size=5),
    max_leaves=20,
)


def load(path: Path) -> Any:
    """A fixture or sample file's decoded JSON."""
    return json.loads(path.read_text(encoding="utf-8"))


def paths(value: Any, prefix: JsonPath = ()) -> Iterator[JsonPath]:
    """Every path to a subtree of a decoded JSON value, the root included."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths(child, (*prefix, index))


def replaced(value: Any, path: JsonPath, new: Any) -> Any:
    """A deep copy of value with the subtree at path replaced by new."""
    if not path:
        return new
    result = copy.deepcopy(value)
    parent = result
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = new
    return result
