"""Print the Python requirements of the integrations a configuration makes Home Assistant load.

`scripts/setup` installs them, so that `hass --skip-pip` (the demo and the end-to-end test)
finds every integration it sets up ready, without reaching for PyPI at run time:

    .venv/bin/python scripts/ha_requirements.py config/configuration.yaml

The integrations are the ones Home Assistant always sets up (its bootstrap's lists), the
top-level keys of the configuration, Parcel Handoff, and all their dependencies; the
requirements of their after-dependencies are added too. The frontend package is left to
`scripts/install_frontend`.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
import re
import sys

from homeassistant import bootstrap

# What Home Assistant's bootstrap sets up whatever the configuration says.
ALWAYS = ("CORE_INTEGRATIONS", "DEFAULT_INTEGRATIONS")
TOP_LEVEL_KEY = re.compile(r"^([a-z0-9_]+)(?:\s+\S+)?:", re.MULTILINE)
REPO = Path(__file__).resolve().parents[1]
SKIP = ("home-assistant-frontend==",)


def _manifest(components: Path, domain: str) -> dict[str, list[str]] | None:
    for root in (REPO / "custom_components", components):
        path = root / domain / "manifest.json"
        if path.is_file():
            data: dict[str, list[str]] = json.loads(path.read_text(encoding="utf-8"))
            return data
    return None


def requirements(configuration: Path) -> list[str]:
    """The requirements of every integration `configuration` makes Home Assistant load."""
    spec = importlib.util.find_spec("homeassistant.components")
    assert spec is not None
    assert spec.submodule_search_locations is not None
    components = Path(next(iter(spec.submodule_search_locations)))
    todo = {"parcel_handoff"}
    for name in ALWAYS:
        todo.update(getattr(bootstrap, name, ()))
    todo.update(TOP_LEVEL_KEY.findall(configuration.read_text(encoding="utf-8")))
    seen: set[str] = set()
    found: set[str] = set()
    while todo:
        domain = todo.pop()
        if domain in seen:
            continue
        seen.add(domain)
        manifest = _manifest(components, domain)
        if manifest is None:  # a core key such as `homeassistant:` or a removed one
            continue
        found.update(r for r in manifest.get("requirements", []) if not r.startswith(SKIP))
        todo.update(manifest.get("dependencies", []))
        # An integration may import its after-dependencies' modules (analytics imports
        # hassio's): their own requirements, not what they would load themselves.
        for after in manifest.get("after_dependencies", []):
            if (other := _manifest(components, after)) is not None:
                found.update(r for r in other.get("requirements", []) if not r.startswith(SKIP))
    return sorted(found)


def main() -> None:
    """Print one requirement a line."""
    for line in requirements(Path(sys.argv[1])):
        print(line)


if __name__ == "__main__":
    main()
