"""The engine must stay free of Home Assistant so it can be published on its own."""

from __future__ import annotations

import ast
from pathlib import Path

from custom_components.parcel_handoff import tracking

ENGINE = Path(tracking.__file__).parent


def test_engine_has_python_files() -> None:
    """Guard against the scan below silently checking nothing."""
    assert len(list(ENGINE.rglob("*.py"))) >= 5


def test_engine_does_not_import_homeassistant() -> None:
    """No module under tracking/ imports homeassistant, directly or by relative escape."""
    offenders: list[str] = []
    for path in ENGINE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level > 0 and path.parent == ENGINE and node.level > 1:
                    names = ["<relative import out of the engine>"]
                elif node.level > 0:
                    depth = len(path.relative_to(ENGINE).parts) - 1
                    if node.level > depth + 1:
                        names = ["<relative import out of the engine>"]
                names.append(node.module or "")
            offenders.extend(
                f"{path.relative_to(ENGINE)}: {name}"
                for name in names
                if name.split(".")[0] == "homeassistant" or name.startswith("<relative")
            )
    assert offenders == []
