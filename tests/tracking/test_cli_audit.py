"""The command line's `audit` and `normalize --number`: checking a captured reply."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from custom_components.parcel_handoff.tracking.audit import audit_payload
from custom_components.parcel_handoff.tracking.cli import main
from custom_components.parcel_handoff.tracking.model import Source, Stage
from tests.conftest import FIXTURES

# Our own fixtures per source; the study's shapes live under real_shapes/<source>/.
SOURCE_DIRS = {"cainiao": "cainiao", "usps": "usps", "17track": "17track", "aftership": "aftership"}
# Error bodies: the answer is a refusal, reported on the file's line.
ERROR_BODIES = {
    "cainiao/failure.json",
    "17track/error_invalid_key.json",
    "17track/getquota.json",  # a quota reply, not tracking
    "usps/v3_error_401_invalid_client.json",
    "usps/v3_error_no_status_yet.json",  # names no number without --number
    # The study's error bodies (real_shapes/).
    "usps/v3_no_status_yet_broken_entity.json",
    "17track/error_invalid_security_key_v1_code.json",
    "aftership/error_500_internal.json",
    "cainiao/old_detail_htm_data_sections.json",
    "cainiao/rate_limited_html_instead_of_json.json",
    "usps/v32_string_error_without_number.json",
}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def fixture_specs() -> list[str]:
    specs = []
    for provider, folder in SOURCE_DIRS.items():
        for root in (FIXTURES / folder, FIXTURES / "real_shapes" / folder):
            specs += [f"{provider}:{path}" for path in sorted(root.glob("*.json"))]
    return specs


@pytest.mark.parametrize("spec", fixture_specs(), ids=lambda spec: spec.rsplit("/", 2)[-2:][-1])
def test_audit_works_on_every_fixture(capsys: pytest.CaptureFixture[str], spec: str) -> None:
    """Exit 0, one line naming the file; a payload gets stages, an error body a refusal."""
    status, out, err = run(capsys, "audit", spec)
    assert status == 0
    assert err == ""
    (line,) = out.splitlines()
    path = spec.partition(":")[2]
    assert line.startswith(f"{path}: ")
    relative = "/".join(Path(path).parts[-2:])
    if relative in ERROR_BODIES:
        assert ": not a " in line
    else:
        assert "unmapped codes: " in line
        assert "ignored fields: " in line


def test_audit_reports_unmapped_codes_and_ignored_fields() -> None:
    """An unknown code, a family-mapped one and fields nobody reads are all named."""
    body = {
        "success": True,
        "module": [
            {
                "mailNo": "LP00123456789012",
                "status": "SOMETHING_NEW",
                "shinyNewField": {"a": 1},
                "detailList": [
                    {"time": 1760000000000, "actionCode": "GTMS_TELEPORTED", "desc": "Beamed"},
                    {"time": 1750000000000, "actionCode": "CC_IM_HOLD_X", "desc": "Held"},
                    {"time": 1740000000000, "actionCode": "PU_PICKUP_SUCCESS", "extra": 3},
                ],
            }
        ],
    }
    report = audit_payload(Source.CAINIAO, body)
    assert report.error is None
    assert report.stages == {"LP00123456789012": Stage.EXCEPTION}
    assert report.unmapped_codes == (
        "actionCode GTMS_TELEPORTED (no stage)",
        "actionCode CC_IM_HOLD_X (family: exception)",
        "status SOMETHING_NEW",
    )
    assert "module[].shinyNewField" in report.ignored_fields
    assert "module[].detailList[].extra" in report.ignored_fields
    # What the parser reads is never reported.
    assert not {"module[].mailNo", "module[].detailList[].actionCode"} & set(report.ignored_fields)


def test_audit_json_and_bad_inputs_each_on_their_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Unreadable, non-JSON and misnamed inputs are reported, the rest still audited."""
    text = tmp_path / "notes.txt"
    text.write_text("hello", encoding="utf-8")
    good = FIXTURES / "17track" / "webhook_tracking_stopped.json"
    status, out, _ = run(
        capsys,
        "audit",
        f"cainiao:{text}",
        "nowhere:x.json",
        f"usps:{tmp_path / 'missing.json'}",
        f"17track:{good}",
    )
    assert status == 0
    lines = out.splitlines()
    assert len(lines) == 4
    assert (
        lines[0] == f"{text}: error: {text}: not a cainiao payload: {text} returned not valid JSON"
    )
    assert lines[1].startswith("nowhere:x.json: error: unknown provider 'nowhere'")
    assert lines[2].startswith(f"{tmp_path / 'missing.json'}: error: ")
    assert "No such file" in lines[2]
    assert lines[3].startswith(f"{good}: RB077105325SG not_found")
    assert "RB077105325SG no longer followed by the source" in lines[3]

    status, out, _ = run(capsys, "audit", "--json", f"17track:{good}", "nowhere:x.json")
    assert status == 0
    first, second = json.loads(out)
    assert first["stopped"] == ["RB077105325SG"]
    assert first["ignored_fields"] == ["data.carrier", "data.param", "data.tag"]
    assert second == {"file": "nowhere:x.json", "error": second["error"]}


def test_audit_number_keys_a_usps_error_body(capsys: pytest.CaptureFixture[str]) -> None:
    """With --number, the no-status-yet body is that number's not-found answer."""
    path = FIXTURES / "usps" / "v3_error_no_status_yet.json"
    status, out, _ = run(capsys, "audit", "--number", "9400100000000000000000", f"usps:{path}")
    assert status == 0
    assert f"{path}: 9400100000000000000000 not_found" in out


def test_normalize_number_reports_a_credentials_error(capsys: pytest.CaptureFixture[str]) -> None:
    """The 401 body, keyed by --number, is reported as the credentials error it is."""
    path = FIXTURES / "usps" / "v3_error_401_invalid_client.json"
    status, out, err = run(capsys, "normalize", "--number", "9400 1000", f"usps:{path}")
    assert status == 2
    assert out == ""
    assert "credentials" in err
    assert "no tracking number" not in err
    status, _, err = run(capsys, "normalize", f"usps:{path}")
    assert status == 2
    assert "credentials" in err


def test_normalize_number_keys_a_no_status_yet_body(capsys: pytest.CaptureFixture[str]) -> None:
    """The number the client asked about names the shipment of a body that names none."""
    path = FIXTURES / "usps" / "v3_error_no_status_yet.json"
    status, out, _ = run(
        capsys,
        "normalize",
        "--now",
        "2026-01-01T00:00:00Z",
        "--number",
        "9400100000000000000000",
        f"usps:{path}",
    )
    assert status == 0
    report = json.loads(out)
    assert report["tracking_number"] == "9400100000000000000000"
    assert report["stage"] == "not_found"
