"""The command line: normalize, detect (track is tested against the carrier server)."""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys

import pytest

from custom_components.parcel_handoff.tracking.cli import main
from tests.conftest import FIXTURES

CLI = FIXTURES / "cli"
CAINIAO = f"cainiao:{CLI / 'cainiao_leg.json'}"
USPS = f"usps:{CLI / 'usps_leg.json'}"
NOW = "2026-02-12T15:00:00Z"
MODULE = "custom_components.parcel_handoff.tracking"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the command line in-process and return (status, stdout, stderr)."""
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_normalize_merges_both_legs_across_the_handoff(capsys: pytest.CaptureFixture[str]) -> None:
    """Cainiao's leg and USPS's leg under a new number are one shipment."""
    status, out, _ = run(capsys, "normalize", "--now", NOW, CAINIAO, USPS)
    assert status == 0
    report = json.loads(out)
    assert report["stage"] == "out_for_delivery"
    assert report["carrier"] == "USPS"
    assert report["origin_carrier"] == "Cainiao"
    assert report["local_carrier"] == "USPS"
    assert report["local_tracking_number"] == "9200190211223344556677"
    assert report["tracking_numbers"] == ["LP00512345678901", "9200190211223344556677"]
    assert report["latest_event"]["description"] == "Out for Delivery"
    assert report["latest_event"]["time"] == "2026-02-12T08:41:00-06:00"
    times = [event["time"] for event in report["events"]]
    assert len(times) == 12  # the relayed handoff and USPS's acceptance scan are one event
    assert report["events"][-1]["stage"] == "info_received"
    assert report["eta"] == {
        "earliest": "2026-02-12T00:00:00-06:00",
        "latest": "2026-02-12T23:59:59-06:00",
    }
    assert report["attention"] is None
    assert report["next_check"] == "2026-02-12T15:20:00+00:00"  # out for delivery: 20 min


def test_normalize_now_makes_attention_reproducible(capsys: pytest.CaptureFixture[str]) -> None:
    """Two days after the round started and still out for delivery: check the mailbox."""
    status, out, _ = run(capsys, "normalize", "--now", "2026-02-14T12:00:00Z", CAINIAO, USPS)
    assert status == 0
    attention = json.loads(out)["attention"]
    assert attention == {
        "reason": "out_for_delivery_overdue",
        "action": "check_mailbox",
        "since": "2026-02-13T00:00:00-06:00",
    }


def test_normalize_one_leg_only(capsys: pytest.CaptureFixture[str]) -> None:
    """Cainiao alone already knows the handoff and the local number."""
    status, out, _ = run(capsys, "normalize", "--now", NOW, CAINIAO)
    report = json.loads(out)
    assert status == 0
    assert (report["stage"], report["carrier"]) == ("last_mile", "USPS")
    assert report["local_tracking_number"] == "9200190211223344556677"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cainiao:README.md"], "not a cainiao payload"),
        ([f"usps:{CLI / 'cainiao_leg.json'}"], "not a usps payload"),
        (["cainiao:/nonexistent/file.json"], "/nonexistent/file.json"),
        (["nowhere:file.json"], "unknown provider 'nowhere'"),
        (["no-colon"], "expected PROVIDER:FILE"),
        (["--now", "yesterday", CAINIAO], "--now"),
    ],
)
def test_normalize_bad_input_is_one_line_and_status_2(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    """A file that is no payload: one line on stderr, no traceback, status 2."""
    status, out, err = run(capsys, "normalize", *args)
    assert status == 2
    assert out == ""
    assert message in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_detect_ranks_candidates(capsys: pytest.CaptureFixture[str]) -> None:
    """A UPU S10 number from China: China Post first, Cainiao can track it."""
    status, out, _ = run(capsys, "detect", "rr 123456785 cn")
    candidates = json.loads(out)
    assert status == 0
    assert candidates[0]["format"] == "upu_s10"
    assert candidates[0]["checksum_valid"] is True
    assert candidates[0]["tracking_number"] == "RR123456785CN"
    assert "cainiao" in candidates[0]["sources"]


def test_detect_garbage(capsys: pytest.CaptureFixture[str]) -> None:
    """Garbage is refused with its reason."""
    status, _, err = run(capsys, "detect", "!!")
    assert status == 2
    assert err.startswith("error: ")


def test_module_entry_point(tmp_path: Path) -> None:
    """`python -m ...tracking` runs the same command line in a fresh interpreter."""
    result = subprocess.run(
        [sys.executable, "-m", MODULE, "detect", "AE010698498"],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).parents[2],
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["tracking_number"] == "AE010698498"
