"""Command line: normalise saved payloads, detect carriers, track a number live.

normalize [--now T] cainiao:a.json usps:b.json   merge saved payloads of one shipment
audit cainiao:a.json 17track:b.json              stage, unmapped codes, ignored fields per file
detect LP00123456789012                          rank the carriers of a number
track LP00123456789012 [--source cainiao]        look a number up live
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
import json
import os
from pathlib import Path
import sys
from typing import Any

import aiohttp

from .audit import AuditReport, audit_payload
from .detection import detect_carriers
from .errors import TrackingError
from .model import Shipment, Source, SourceResult, SourceSnapshot
from .normalizers import PARSERS
from .normalizers._util import decode_json
from .normalizers.usps import parse_usps
from .policy import CheckContext, next_check
from .serialize import shipment_to_dict
from .timeline import build_shipment
from .tracker import ShipmentConfig, Tracker

# Credentials for `track`, read from the environment (never printed).
CREDENTIAL_ENV: Mapping[Source, Mapping[str, str]] = {
    Source.USPS: {
        "client_id": "PARCEL_HANDOFF_USPS_CLIENT_ID",
        "client_secret": "PARCEL_HANDOFF_USPS_CLIENT_SECRET",
    },
    Source.SEVENTEEN_TRACK: {"api_key": "PARCEL_HANDOFF_17TRACK_KEY"},
    Source.AFTERSHIP: {"api_key": "PARCEL_HANDOFF_AFTERSHIP_KEY"},
}


class UsageError(Exception):
    """A problem with the command line's input: one line on stderr, exit 2."""

    exit_code = 2


class LookupFailedError(UsageError):
    """A live lookup failed (connection, credentials, rate limit): one line, exit 1."""

    exit_code = 1


def _parse_now(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        now = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as err:
        raise UsageError(f"--now: not an ISO 8601 time: {value}") from err
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def _snapshots(results: Mapping[str, SourceResult]) -> list[SourceSnapshot]:
    return [result for result in results.values() if isinstance(result, SourceSnapshot)]


def shipment_report(
    number: str, snapshots: Sequence[SourceSnapshot], source: Source, now: datetime
) -> dict[str, Any]:
    """Merge the snapshots of one parcel and add when to look again."""
    shipment: Shipment = build_shipment(number, snapshots, now=now)
    report = shipment_to_dict(shipment)
    upcoming = next_check(shipment, now, CheckContext(source=source, last_check=now))
    report["next_check"] = upcoming.isoformat() if upcoming else None
    return report


def _payload_spec(item: str) -> tuple[Source, str]:
    """Split PROVIDER:FILE, or raise UsageError."""
    provider, sep, filename = item.partition(":")
    if not sep or not filename:
        raise UsageError(f"expected PROVIDER:FILE, got {item!r}")
    try:
        return Source(provider), filename
    except ValueError as err:
        choices = ", ".join(s.value for s in Source)
        raise UsageError(f"unknown provider {provider!r} (one of {choices})") from err


def _read_payload(source: Source, filename: str) -> Any:
    """Read and decode one saved reply, or raise UsageError."""
    try:
        body = Path(filename).read_bytes()
    except OSError as err:
        raise UsageError(f"{filename}: {err.strerror or err}") from err
    try:
        return decode_json(body, what=filename)
    except TrackingError as err:
        raise UsageError(f"{filename}: not a {source.value} payload: {err}") from err


def _parse_payload(source: Source, body: Any, number: str | None) -> dict[str, SourceResult]:
    """Normalise a reply; `number` names a USPS error body's number (the client knows it)."""
    if source is Source.USPS and number is not None:
        return parse_usps(body, tracking_number=number)
    return PARSERS[source](body)


def _normalize(args: argparse.Namespace) -> dict[str, Any]:
    now = _parse_now(args.now)
    snapshots: list[SourceSnapshot] = []
    main: tuple[str, Source] | None = None
    for item in args.payloads:
        source, filename = _payload_spec(item)
        body = _read_payload(source, filename)
        try:
            results = _parse_payload(source, body, args.number)
        except TrackingError as err:
            raise UsageError(f"{filename}: not a {source.value} payload: {err}") from err
        if not results:
            raise UsageError(f"{filename}: the {source.value} payload holds no tracking number")
        found = _snapshots(results)
        if not found and (error := next(iter(results.values()))) is not None:
            # An error body keyed by --number: report it rather than a silent not_found.
            raise UsageError(f"{filename}: {error}")
        if main is None:
            main = (next(iter(results)), source)
        snapshots.extend(found)
    assert main is not None  # argparse requires at least one payload
    return shipment_report(main[0], snapshots, main[1], now)


def _audit(args: argparse.Namespace) -> list[tuple[str, AuditReport | str]]:
    """Audit every file; a bad argument or file is reported on its own line."""
    lines: list[tuple[str, AuditReport | str]] = []
    for item in args.payloads:
        try:
            source, filename = _payload_spec(item)
        except UsageError as err:
            lines.append((item, str(err)))
            continue
        try:
            body = _read_payload(source, filename)
        except UsageError as err:
            lines.append((filename, str(err)))
            continue
        lines.append((filename, audit_payload(source, body, tracking_number=args.number)))
    return lines


def _print_audit(lines: list[tuple[str, AuditReport | str]], *, as_json: bool) -> None:
    if as_json:
        output = [
            {"file": name, **(r.as_dict() if isinstance(r, AuditReport) else {"error": r})}
            for name, r in lines
        ]
        print(json.dumps(output, indent=2, ensure_ascii=False))
        return
    for name, report in lines:
        text = report.line() if isinstance(report, AuditReport) else f"error: {report}"
        print(f"{name}: {text}")


def _detect(args: argparse.Namespace) -> list[dict[str, object]]:
    try:
        candidates = detect_carriers(args.number)
    except TrackingError as err:
        raise UsageError(str(err)) from err
    return [candidate.as_dict() for candidate in candidates]


def _credentials(source: Source) -> dict[str, str] | None:
    """The source's credentials from the environment; None when any is missing.

    Cainiao needs none: it is always configured.
    """
    if source is Source.CAINIAO:
        return {}
    names = CREDENTIAL_ENV.get(source, {})
    values = {key: os.environ.get(env, "") for key, env in names.items()}
    return None if not all(values.values()) else values


def _endpoints(items: Sequence[str]) -> dict[Source, str]:
    endpoints: dict[Source, str] = {}
    for item in items:
        name, sep, url = item.partition("=")
        try:
            endpoints[Source(name)] = url
        except ValueError as err:
            raise UsageError(f"--endpoint: unknown source {name!r}") from err
        if not sep or not url.startswith(("http://", "https://")):
            raise UsageError(f"--endpoint: expected SOURCE=URL, got {item!r}")
    return endpoints


async def _track(args: argparse.Namespace) -> dict[str, Any]:
    """Follow one number for one refresh of the tracker, handoff included."""
    from .clients import create_client

    endpoints = _endpoints(args.endpoint)
    number = args.number
    source = Source(args.source) if args.source else None
    if source is None:
        try:
            candidates = detect_carriers(number)
        except TrackingError as err:
            raise UsageError(str(err)) from err
        number = candidates[0].tracking_number if candidates else number
    elif source is not Source.CAINIAO and _credentials(source) is None:
        names = ", ".join(CREDENTIAL_ENV[source].values())
        raise UsageError(f"{source.value} needs credentials in the environment: {names}")

    async with aiohttp.ClientSession() as session:
        clients = {
            configured: create_client(
                configured,
                session,
                credentials=credentials,
                base_url=endpoints.get(configured),
            )
            for configured in Source
            if (credentials := _credentials(configured)) is not None
        }
        tracker = Tracker(clients)
        config = ShipmentConfig(
            shipment_id=number, title=number, tracking_number=number, carrier=source
        )
        tracker.sync([config])
        result = await tracker.async_refresh()
    state = result.shipments[number]
    main = state.legs[0]
    check = state.record.checks.get(main.key)
    if check is not None and check.error is not None:
        raise LookupFailedError(f"{main.source.value}: the lookup failed ({check.error})")
    shipment = state.shipment or build_shipment(number, (), now=datetime.now(UTC))
    report = shipment_to_dict(shipment)
    upcoming = state.next_check
    report["next_check"] = upcoming.isoformat() if upcoming else None
    return report


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and documentation)."""
    parser = argparse.ArgumentParser(
        prog="python -m custom_components.parcel_handoff.tracking",
        description="Parcel Handoff tracking engine.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    normalize = commands.add_parser(
        "normalize", help="merge saved carrier payloads of one shipment into one answer"
    )
    normalize.add_argument("--now", help="the current time (ISO 8601), for reproducible output")
    normalize.add_argument(
        "--number", help="the tracking number of an error body that names none (USPS v3)"
    )
    normalize.add_argument(
        "payloads", nargs="+", metavar="PROVIDER:FILE", help="cainiao, usps, 17track or aftership"
    )
    audit = commands.add_parser(
        "audit",
        help="per saved reply: the stage, the codes no table maps and the fields left unread",
    )
    audit.add_argument("--json", action="store_true", help="print JSON instead of one line a file")
    audit.add_argument(
        "--number", help="the tracking number of an error body that names none (USPS v3)"
    )
    audit.add_argument(
        "payloads", nargs="+", metavar="PROVIDER:FILE", help="cainiao, usps, 17track or aftership"
    )
    detect = commands.add_parser("detect", help="rank the carriers a tracking number may belong to")
    detect.add_argument("number")
    track = commands.add_parser("track", help="look a tracking number up live")
    track.add_argument("number")
    track.add_argument("--source", choices=[s.value for s in Source])
    track.add_argument(
        "--endpoint",
        action="append",
        default=[],
        metavar="SOURCE=URL",
        help="ask SOURCE at another base URL (e.g. the local carrier server)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "audit":
            _print_audit(_audit(args), as_json=args.json)
            return 0
        if args.command == "normalize":
            output: Any = _normalize(args)
        elif args.command == "detect":
            output = _detect(args)
        else:
            output = asyncio.run(_track(args))
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    print(json.dumps(output, indent=2, ensure_ascii=False))
    return 0
