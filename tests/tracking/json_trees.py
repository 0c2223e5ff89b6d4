"""Hypothesis strategies for decoded-JSON fuzzing of the normalizers.

Random trees reach deep into a parser only when their keys and strings look like the
real thing, so callers pass the field names and sample values of their source.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
import copy
import json
import os
from pathlib import Path as FilePath
from typing import Any

from hypothesis import HealthCheck, settings, strategies as st

# Examples per fuzz test: enough for the suite's time budget; raise it for a deeper run,
# e.g. PARCEL_HANDOFF_FUZZ_EXAMPLES=2000 scripts/test tests/tracking.
FUZZ = settings(
    max_examples=int(os.environ.get("PARCEL_HANDOFF_FUZZ_EXAMPLES", "80")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

type Path = tuple[str | int, ...]


def json_trees(keys: Sequence[str], strings: Sequence[str]) -> st.SearchStrategy[Any]:
    """Any JSON value, its object keys and strings biased toward `keys` and `strings`."""
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**63), max_value=2**63)
        | st.floats(allow_nan=True, allow_infinity=True)
        | st.sampled_from(strings)
        | st.text(max_size=12)
    )
    names = st.sampled_from(keys) | st.text(max_size=6)
    return st.recursive(
        scalars,
        lambda children: st.lists(children, max_size=4)
        | st.dictionaries(names, children, max_size=6),
        max_leaves=30,
    )


def load(path: FilePath) -> Any:
    """A fixture or sample file's decoded JSON."""
    return json.loads(path.read_text(encoding="utf-8"))


def paths(tree: Any, prefix: Path = ()) -> Iterator[Path]:
    """Every path to a value inside `tree`, the root included."""
    yield prefix
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            yield from paths(value, (*prefix, index))


def replaced(tree: Any, path: Path, value: Any) -> Any:
    """A deep copy of `tree` with the value at `path` replaced (the root when empty)."""
    if not path:
        return value
    result = copy.deepcopy(tree)
    node = result
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return result


def removed(tree: Any, path: Path) -> Any:
    """A deep copy of `tree` without the value at `path` (unchanged for the root)."""
    if not path:
        return tree
    result = copy.deepcopy(tree)
    node = result
    for step in path[:-1]:
        node = node[step]
    del node[path[-1]]
    return result
