"""The soak's faults: what each portal does wrong, how often, and a server that forgets.

Rates are per source and per simulated day (a fault waits for the source's next request).
Besides the carrier server's own fault kinds, the soak adds wrong-type JSON (a reply of
the right media type and the wrong shape), a portal that shows only its newest events for
a few hours, 17TRACK's quota used up for a few hours, a huge well-formed reply and a
`Retry-After` date in 2099.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
import json
import random
from typing import Any, Final

from custom_components.parcel_handoff.tracking.clients.base import DEFAULT_TIMEOUT
from tests.carrier_server import Fault, ServerState, Track
from tests.carrier_server.journeys import JourneyEvent

SOURCES: Final = ("cainiao", "usps", "17track", "aftership")

# Faults per source per simulated day, by kind (a household's portals on a bad month).
RATES: Final[Mapping[str, Mapping[str, float]]] = {
    "cainiao": {
        "timeout": 0.3,
        "rate_limit": 0.3,
        "server_error": 0.4,
        "html_block": 0.3,
        "truncated_json": 0.2,
        "wrong_type_json": 0.2,
        "success_false": 0.2,
        "drop_old_events": 0.15,
    },
    "usps": {
        "timeout": 0.3,
        "rate_limit": 0.2,
        "server_error": 0.3,
        "unavailable": 0.2,
        "html_block": 0.1,
        "truncated_json": 0.2,
        "wrong_type_json": 0.2,
        "expire_token": 0.5,
        "drop_old_events": 0.1,
    },
    "17track": {
        "timeout": 0.2,
        "rate_limit": 0.3,
        "server_error": 0.2,
        "truncated_json": 0.1,
        "wrong_type_json": 0.1,
        "success_false": 0.2,
        "quota_exhausted": 0.1,
        "drop_old_events": 0.1,
    },
    "aftership": {
        "timeout": 0.2,
        "rate_limit": 0.3,
        "server_error": 0.2,
        "unavailable": 0.1,
        "truncated_json": 0.1,
        "wrong_type_json": 0.1,
        "success_false": 0.2,
        "drop_old_events": 0.1,
    },
}

# JSON of the right media type and the wrong shape, per source.
WRONG_TYPE_BODIES: Final[Mapping[str, tuple[str, ...]]] = {
    "cainiao": ('{"module": {"mailNo": 7}, "success": true}', "[]", "null", '"busy"'),
    "usps": ('{"trackingNumber": 12}', '[{"trackingEvents": "none"}]', "42"),
    "17track": ('{"code": 0, "data": []}', '{"code": 0, "data": {"accepted": 3}}', "[]"),
    "aftership": ('{"meta": {"code": 200}, "data": "none"}', '{"data": {"trackings": {}}}'),
}

# Retry-After of a hostile portal: decades away.
RETRY_AFTER_2099: Final = "Thu, 01 Jan 2099 00:00:00 GMT"
# A huge well-formed Cainiao reply: this many modules (about 10 MB of JSON).
HUGE_MODULES: Final = 150_000
# How long a forgetful portal or a used-up 17TRACK quota lasts (hours, drawn uniformly).
WINDOW_HOURS: Final = (2.0, 10.0)
# A forgetful portal shows only this many of its newest events.
NEWEST_KEPT: Final = 2
# Seconds a client waits before a request times out (the soak moves the clock past it).
CLIENT_TIMEOUT: Final = DEFAULT_TIMEOUT


def huge_cainiao_body() -> str:
    """A `detail.json` reply of HUGE_MODULES well-formed modules of numbers nobody asked."""
    modules = [
        {"mailNo": f"LP{index:014d}", "mailNoSource": "EXTERNAL", "detailList": []}
        for index in range(HUGE_MODULES)
    ]
    return json.dumps({"module": modules, "success": True})


@dataclass(kw_only=True)
class SoakServerState(ServerState):
    """The carrier server's state, plus forgetful portals and the faults it has served."""

    forgetful: set[str] = field(default_factory=set)
    served: Counter[str] = field(default_factory=Counter)
    hung: asyncio.Event = field(default_factory=asyncio.Event)
    labels: dict[int, str] = field(default_factory=dict)

    def visible(self, track: Track) -> list[JourneyEvent]:
        """What the portal shows: only the newest events while it is forgetful."""
        shown = super().visible(track)
        if track.source in self.forgetful and len(shown) > NEWEST_KEPT:
            self.served[f"{track.source}:drop_old_events"] += 1
            return shown[-NEWEST_KEPT:]
        return shown

    def take_fault(self, source: str, path: str) -> Fault | None:
        """The fault for this request, counted; a hanging request wakes the soak's clock."""
        fault = super().take_fault(source, path)
        if fault is not None:
            self.served[f"{source}:{self.labels.get(id(fault), fault.kind)}"] += 1
            if fault.kind == "timeout":
                self.hung.set()
        return fault

    def queue(self, kind: str, source: str, **options: Any) -> Fault:
        """Queue one fault, remembering the soak's name for it."""
        fault = self.add_fault(options.pop("server_kind", kind), source=source, **options)
        self.labels[id(fault)] = kind
        return fault


def fault_options(kind: str, source: str, rng: random.Random) -> dict[str, Any]:
    """The carrier-server fault (and options) that plays `kind` on `source`."""
    match kind:
        case "timeout":
            return {"delay": CLIENT_TIMEOUT * 3}
        case "rate_limit":
            return {"retry_after": str(rng.choice((60, 300, 900, 3600)))}
        case "server_error":
            return {"status": rng.choice((500, 502, 504))}
        case "unavailable":
            return {"retry_after": str(rng.choice((120, 600)))} if rng.random() < 0.5 else {}
        case "html_block":
            return {"status": rng.choice((200, 403))}
        case "wrong_type_json":
            return {
                "server_kind": "status",
                "status": 200,
                "body": rng.choice(WRONG_TYPE_BODIES[source]),
            }
        case _:
            return {}
