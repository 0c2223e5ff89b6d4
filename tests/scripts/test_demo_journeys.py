"""The demo's journeys moved to the present, its shipments and its dashboard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import json
from pathlib import Path

from scripts.demo.journeys import DEFAULT_ENDS_AGO, ENDS_AGO, shift_journey, write_shifted_journeys
from scripts.demo.processes import JOURNEYS, endpoints_value, prepare_config, reset_config
from scripts.demo.scenario import DEMO_NAMES, ShipmentEntities, dashboard_config, demo_shipments
from tests.carrier_server import load_journeys

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def _journey(**header: object) -> dict[str, object]:
    return {
        "name": "sample",
        "description": "two events",
        "tracks": [
            {
                "source": "usps",
                "number": "9400100000000000000000",
                "header": header,
                "events": [
                    {"at": "2025-04-07T08:00:00-07:00", "event": {"eventType": "Accepted"}},
                    {
                        "at": "2025-04-09T10:30:00-07:00",
                        "event": {"eventType": "Out for Delivery"},
                        "header": {"expectedDeliveryTimeStamp": "2025-04-09T00:00:00"},
                    },
                ],
            }
        ],
    }


def test_journey_ends_shortly_before_now_with_its_intervals_kept() -> None:
    shifted = shift_journey(_journey(), NOW)
    events = shifted["tracks"][0]["events"]
    first, last = (datetime.fromisoformat(event["at"]) for event in events)
    assert last == NOW - DEFAULT_ENDS_AGO
    assert last - first == timedelta(days=2, hours=2, minutes=30)
    assert events[1]["at"].endswith("-07:00")  # the carrier's own offset stays


def test_dates_inside_the_sources_fields_move_with_the_journey() -> None:
    shifted = shift_journey(
        _journey(
            globalEtaInfo={"deliveryMaxTime": 1744718400000},  # 2025-04-15T12:00Z
            estimated="2025-04-11",
            window={"to": "2025-04-12T18:00:00+01:00"},
            days_after_order=3,
        ),
        NOW,
    )
    header = shifted["tracks"][0]["header"]
    delta = (NOW - DEFAULT_ENDS_AGO) - datetime.fromisoformat("2025-04-09T10:30:00-07:00")
    days = round(delta / timedelta(days=1))
    moved = datetime.fromtimestamp(1744718400 + delta.total_seconds(), UTC)
    assert header["globalEtaInfo"]["deliveryMaxTime"] == int(moved.timestamp() * 1000)
    assert header["estimated"] == (datetime(2025, 4, 11) + timedelta(days=days)).date().isoformat()
    assert (
        datetime.fromisoformat(header["window"]["to"])
        == datetime.fromisoformat("2025-04-12T18:00:00+01:00") + delta
    )
    assert header["days_after_order"] == 3
    # A midnight is a date: it moves by whole days and stays a midnight.
    patch = shifted["tracks"][0]["events"][1]["header"]["expectedDeliveryTimeStamp"]
    assert patch == (datetime(2025, 4, 9) + timedelta(days=days)).isoformat()


def test_recorded_demo_journeys_shift_and_load(tmp_path: Path) -> None:
    written = write_shifted_journeys(JOURNEYS, tmp_path, NOW)
    journeys = load_journeys(tmp_path)
    assert [j.name for j in journeys] == [j["name"] for j in written]
    for journey in journeys:
        instants = [event.at for track in journey.tracks for event in track.events]
        if not instants:
            continue
        assert max(instants) == NOW - ENDS_AGO.get(journey.name, DEFAULT_ENDS_AGO)
    stuck = next(j for j in journeys if j.name == "stuck_in_customs")
    assert NOW - max(e.at for t in stuck.tracks for e in t.events) == timedelta(days=14)


def test_demo_shipments_are_named_and_numbered_from_the_journeys() -> None:
    journeys = [json.loads(path.read_text()) for path in sorted(JOURNEYS.glob("*.json"))]
    shipments = demo_shipments(journeys)
    assert {s.journey for s in shipments} == set(DEMO_NAMES)
    handoff = next(s for s in shipments if s.journey == "aliexpress_cainiao_to_usps")
    assert handoff.name == "AliExpress headphones"
    assert handoff.tracking_number == "LP00719238465102"  # the number on the order
    other = demo_shipments([{"name": "new_route", "tracks": [{"number": "X1"}]}])
    assert other[0].name == "New route"


def test_dashboard_has_the_list_and_a_card_per_shipment() -> None:
    shipments = [
        ShipmentEntities(
            name=name,
            tracking_number=f"LP{index}",
            subentry_id=f"s{index}",
            device_id=f"d{index}",
            stage=f"sensor.{key}_stage",
            attention=f"binary_sensor.{key}_needs_attention",
            journey=f"event.{key}_journey",
        )
        for index, (key, name) in enumerate((("phone_case", "Phone case"), ("shoes", "Shoes")))
    ]
    config = dashboard_config(shipments)
    (view,) = config["views"]
    assert view["path"] == "parcels"
    assert view["cards"] == [
        {"type": "custom:parcel-handoff-card", "mode": "list"},
        {"type": "custom:parcel-handoff-card", "entity": "sensor.phone_case_stage"},
        {"type": "custom:parcel-handoff-card", "entity": "sensor.shoes_stage"},
    ]


def test_config_folder_links_the_checkout_and_resets_to_configuration_yaml(tmp_path: Path) -> None:
    config = tmp_path / "config"
    prepare_config(config)
    prepare_config(config)  # twice: nothing to redo
    integration = config / "custom_components" / "parcel_handoff"
    assert (integration / "manifest.json").is_file()
    assert integration.is_symlink()
    blueprint = config / "blueprints/automation/parcel_handoff/notify_out_for_delivery.yaml"
    assert blueprint.is_file()
    assert (config / "automations.yaml").read_text() == "[]\n"
    (config / ".storage").mkdir(exist_ok=True)  # prepare_config seeds onboarding there
    reset_config(config)
    assert [path.name for path in config.iterdir()] == ["configuration.yaml"]
    assert endpoints_value("http://127.0.0.1:1") == (
        "cainiao=http://127.0.0.1:1,usps=http://127.0.0.1:1,"
        "17track=http://127.0.0.1:1,aftership=http://127.0.0.1:1"
    )
