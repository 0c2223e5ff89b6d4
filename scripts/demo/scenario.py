"""The demo: an owner, the Parcel Handoff entry, five parcels and a dashboard.

Everything is created through Home Assistant's own APIs, as a person would in the
frontend: onboarding, the integration's config flow, one shipment subentry flow per
parcel, the dashboard over the WebSocket API, and the `parcel_handoff.refresh` action
to move the recorded journeys on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
import json
from pathlib import Path
from typing import Any

from .api import JSON, HomeAssistantApi, WebSocket

DOMAIN = "parcel_handoff"
SUBENTRY_SHIPMENT = "shipment"
DASHBOARD_PATH = "dashboard-parcels"

DEMO_NAME = "Demo"
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-parcel"

# The carrier server accepts these (tests/carrier_server/state.py), under the entry's keys.
DEMO_CREDENTIALS: Mapping[str, str] = {
    "usps_client_id": "usps-demo-consumer-key-7c1e",
    "usps_client_secret": "usps-demo-consumer-secret-55d0a9",
    "17track_api_key": "17track-demo-key-0b5f3e92",
    "aftership_api_key": "asat_demo_key_4a8c61d2e9",
}

# What a person would call each recorded parcel (journey name -> shipment name).
DEMO_NAMES: Mapping[str, str] = {
    "aliexpress_cainiao_to_usps": "AliExpress headphones",
    "stuck_in_customs": "Bike lights",
    "usps_out_for_delivery": "Running shoes",
    "usps_delivered": "Coffee beans",
    "unknown_number": "Phone case",
}

# Home Assistant's onboarding adds these; the offline demo has no use for them.
ONBOARDING_LEFTOVERS = ("google_translate", "shopping_list", "met", "radio_browser")


@dataclass(frozen=True, slots=True)
class DemoShipment:
    """One recorded parcel: its journey, the name it gets and the number a person types."""

    journey: str
    name: str
    tracking_number: str


@dataclass(frozen=True, slots=True)
class ShipmentEntities:
    """The entities of one shipment, found through the registries."""

    name: str
    tracking_number: str
    subentry_id: str
    device_id: str | None
    stage: str
    attention: str
    journey: str


def demo_shipments(journeys: Iterable[Mapping[str, Any]]) -> list[DemoShipment]:
    """A shipment per journey, numbered as its first track (the number on the order)."""
    shipments = []
    for journey in journeys:
        name = str(journey["name"])
        number = str(journey["tracks"][0]["number"])
        shipments.append(
            DemoShipment(
                journey=name,
                name=DEMO_NAMES.get(name, name.replace("_", " ").capitalize()),
                tracking_number=number,
            )
        )
    return shipments


def read_journeys(directory: Path) -> list[dict[str, Any]]:
    """The decoded journey files of `directory`, in file order."""
    return [
        json.loads(path.read_text(encoding="utf-8")) for path in sorted(directory.glob("*.json"))
    ]


async def remove_onboarding_leftovers(api: HomeAssistantApi) -> None:
    """Delete the entries onboarding created for integrations the demo does not use."""
    entries: list[JSON] = await api.request("GET", "/api/config/config_entries/entry")
    for entry in entries:
        if entry["domain"] in ONBOARDING_LEFTOVERS:
            await api.request("DELETE", f"/api/config/config_entries/entry/{entry['entry_id']}")


async def ensure_entry(api: HomeAssistantApi, credentials: Mapping[str, str]) -> str:
    """The Parcel Handoff entry's id, adding the integration through its flow if needed."""
    for entry in await api.config_entries(DOMAIN):
        return str(entry["entry_id"])
    entry = await api.create_config_entry(DOMAIN, credentials)
    return str(entry["entry_id"])


async def ensure_shipments(
    api: HomeAssistantApi, entry_id: str, shipments: Iterable[DemoShipment]
) -> None:
    """Add each shipment the entry does not follow yet, through the subentry flow."""
    async with api.websocket() as ws:
        existing = await ws.command("config_entries/subentries/list", entry_id=entry_id)
    known = {item.get("unique_id") for item in existing} | {item["title"] for item in existing}
    for shipment in shipments:
        if shipment.tracking_number in known or shipment.name in known:
            continue
        await api.create_subentry(
            entry_id,
            SUBENTRY_SHIPMENT,
            {"tracking_number": shipment.tracking_number, "name": shipment.name},
        )


async def shipment_entities(
    ws: WebSocket, entry_id: str, shipments: Iterable[DemoShipment]
) -> dict[str, ShipmentEntities]:
    """Each shipment's entities by tracking number (those not created yet are left out)."""
    subentries = await ws.command("config_entries/subentries/list", entry_id=entry_id)
    by_title = {item["title"]: item["subentry_id"] for item in subentries}
    by_number = {item.get("unique_id"): item["subentry_id"] for item in subentries}
    entities: list[JSON] = await ws.command("config/entity_registry/list")
    found: dict[str, ShipmentEntities] = {}
    for shipment in shipments:
        subentry_id = by_number.get(shipment.tracking_number) or by_title.get(shipment.name)
        if subentry_id is None:
            continue
        own = {
            (item["entity_id"].split(".")[0], item.get("translation_key")): item
            for item in entities
            if item.get("config_subentry_id") == subentry_id and item["platform"] == DOMAIN
        }
        try:
            stage = own["sensor", "stage"]
            attention = own["binary_sensor", "attention"]
            journey = own["event", "journey"]
        except KeyError:
            continue
        found[shipment.tracking_number] = ShipmentEntities(
            name=shipment.name,
            tracking_number=shipment.tracking_number,
            subentry_id=subentry_id,
            device_id=stage.get("device_id"),
            stage=stage["entity_id"],
            attention=attention["entity_id"],
            journey=journey["entity_id"],
        )
    return found


async def wait_for_entities(
    api: HomeAssistantApi, entry_id: str, shipments: list[DemoShipment], *, within: float = 60
) -> dict[str, ShipmentEntities]:
    """Wait until every shipment has its entities; return them."""
    deadline = asyncio.get_running_loop().time() + within
    async with api.websocket() as ws:
        while True:
            found = await shipment_entities(ws, entry_id, shipments)
            if len(found) == len(shipments):
                return found
            if asyncio.get_running_loop().time() > deadline:
                missing = [s.name for s in shipments if s.tracking_number not in found]
                raise TimeoutError(f"no entities for {missing}")
            await asyncio.sleep(0.5)


CARD = "custom:parcel-handoff-card"


def dashboard_config(shipments: Iterable[ShipmentEntities]) -> JSON:
    """A dashboard: every active parcel (attention first), then the card of each parcel.

    The card (`custom:parcel-handoff-card`) ships with the integration, which has the
    frontend load it: no resource to add.
    """
    cards: list[JSON] = [{"type": CARD, "mode": "list"}]
    cards.extend({"type": CARD, "entity": shipment.stage} for shipment in shipments)
    return {
        "title": "Parcels",
        "views": [
            {
                "title": "Parcels",
                "path": "parcels",
                "icon": "mdi:package-variant",
                "cards": cards,
            }
        ],
    }


async def ensure_dashboard(api: HomeAssistantApi, shipments: Iterable[ShipmentEntities]) -> str:
    """Create (or rewrite) the Parcels dashboard; returns its path."""
    async with api.websocket() as ws:
        dashboards = await ws.command("lovelace/dashboards/list")
        if not any(item["url_path"] == DASHBOARD_PATH for item in dashboards):
            await ws.command(
                "lovelace/dashboards/create",
                url_path=DASHBOARD_PATH,
                title="Parcels",
                icon="mdi:package-variant",
                show_in_sidebar=True,
                require_admin=False,
                mode="storage",
            )
        await ws.command(
            "lovelace/config/save", url_path=DASHBOARD_PATH, config=dashboard_config(shipments)
        )
    return f"/{DASHBOARD_PATH}/parcels"


@dataclass(frozen=True, slots=True)
class Demo:
    """A set-up demo: the entry, its shipments and their entities."""

    entry_id: str
    shipments: list[DemoShipment]
    entities: dict[str, ShipmentEntities]


async def set_up_demo(
    api: HomeAssistantApi,
    journeys: Iterable[Mapping[str, Any]],
    *,
    credentials: Mapping[str, str] = DEMO_CREDENTIALS,
    dashboard: bool = True,
) -> Demo:
    """Onboard (or log in), add the integration and every demo shipment, build the dashboard."""
    await api.onboard(name=DEMO_NAME, username=DEMO_USERNAME, password=DEMO_PASSWORD)
    await api.wait_until_up(120)  # logged in: until Home Assistant has finished starting
    await remove_onboarding_leftovers(api)
    shipments = demo_shipments(journeys)
    entry_id = await ensure_entry(api, credentials)
    await ensure_shipments(api, entry_id, shipments)
    entities = await wait_for_entities(api, entry_id, shipments)
    if dashboard:
        await ensure_dashboard(api, entities.values())
    return Demo(entry_id=entry_id, shipments=shipments, entities=entities)


async def refresh(api: HomeAssistantApi, entry_id: str) -> None:
    """Ask the integration to check every shipment now (`parcel_handoff.refresh`)."""
    await api.call_service(DOMAIN, "refresh", {"config_entry_id": entry_id})


async def stages(api: HomeAssistantApi, demo: Demo) -> dict[str, str]:
    """Each shipment's current stage, by name."""
    return {name: view.stage for name, view in (await views(api, demo)).items()}


@dataclass(frozen=True, slots=True)
class ShipmentView:
    """What the terminal tells about one shipment: stage, handoff and attention."""

    stage: str
    local_carrier: str | None = None
    local_tracking_number: str | None = None
    attention: bool = False
    reason: str | None = None
    action: str | None = None


async def views(api: HomeAssistantApi, demo: Demo) -> dict[str, ShipmentView]:
    """Each shipment's stage, handoff and attention, by name (from one states read)."""
    states = {state["entity_id"]: state for state in await api.states()}
    result = {}
    for entities in demo.entities.values():
        stage = states.get(entities.stage) or {"state": "?", "attributes": {}}
        attention = states.get(entities.attention) or {"state": "off", "attributes": {}}
        result[entities.name] = ShipmentView(
            stage=stage["state"],
            local_carrier=stage["attributes"].get("local_carrier"),
            local_tracking_number=stage["attributes"].get("local_tracking_number"),
            attention=attention["state"] == "on",
            reason=attention["attributes"].get("reason"),
            action=attention["attributes"].get("action"),
        )
    return result


def _words(value: str | None) -> str:
    return (value or "?").replace("_", " ")


def news(before: Mapping[str, ShipmentView], after: Mapping[str, ShipmentView]) -> list[str]:
    """One line per change worth telling: stage changes, handoffs, attention on and off."""
    stages_changed = [
        f"{name}: {_words(view.stage)}"
        for name, view in after.items()
        if (old := before.get(name)) is None or old.stage != view.stage
    ]
    lines = ["stages     " + " | ".join(stages_changed)] if stages_changed else []
    for name, view in after.items():
        old = before.get(name)
        if old is None:
            continue  # the first look is the baseline
        if view.local_tracking_number and view.local_tracking_number != old.local_tracking_number:
            lines.append(
                f"handoff    {name}: handed to {view.local_carrier or 'the local carrier'}"
                f" under {view.local_tracking_number}"
            )
        if view.attention and (not old.attention or old.reason != view.reason):
            lines.append(
                f"attention  {name}: {_words(view.reason)} (suggested: {_words(view.action)})"
            )
        elif old.attention and not view.attention:
            lines.append(f"attention  {name}: fine again")
    return lines


async def _event_counts(api: HomeAssistantApi, entry_id: str) -> dict[str, int]:
    """How many events each shipment's merged timeline holds, by tracking number."""
    response = await api.call_service_with_response(
        DOMAIN, "get_shipments", {"config_entry_id": entry_id}
    )
    return {item["tracking_number"]: len(item["events"]) for item in response["shipments"]}


async def catch_up(api: HomeAssistantApi, demo: Demo, journeys: Iterable[Mapping[str, Any]]) -> int:
    """Bring a restarted carrier server back to where Home Assistant's parcels are.

    The carrier server reveals each journey from its first event again, while Home
    Assistant kept everything it had seen: each shipment is checked alone until a check
    brings an event Home Assistant did not have yet (or its journey has no more), so the
    story carries on instead of replaying in silence. Returns the checks made.
    """
    lengths = {
        str(journey["name"]): sum(len(track.get("events") or ()) for track in journey["tracks"])
        for journey in journeys
    }
    known = await _event_counts(api, demo.entry_id)
    checks = 0
    for shipment in demo.shipments:
        seen = known.get(shipment.tracking_number, 0)
        if seen == 0:
            continue
        for _ in range(lengths.get(shipment.journey, 0) + 1):
            await api.call_service(
                DOMAIN,
                "refresh",
                {"config_entry_id": demo.entry_id, "tracking_number": shipment.tracking_number},
            )
            checks += 1
            if (await _event_counts(api, demo.entry_id)).get(shipment.tracking_number, 0) > seen:
                break
    return checks
