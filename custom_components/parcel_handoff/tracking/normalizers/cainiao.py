"""Cainiao `global/detail.json` mapped onto the canonical model.

The endpoint is `GET https://global.cainiao.com/global/detail.json?mailNos=a,b&lang=en-US`
and answers `{"module": [...], "success": true}` with one module per number.

Decisions worth knowing:

- Each event's stage comes from its `actionCode` through `ACTION_STAGES` (exact codes),
  then `ACTION_FAMILIES` (patterns for codes we have not seen spelled out). A code in
  neither gets no stage and is logged once per process.
- The instant is `time` (epoch ms). `timeStr` is Beijing wall-clock time whatever
  `timeZone` says, so it is only a fallback, read as UTC+8. An event with neither is
  skipped (debug log); the rest of the number is kept.
- Events are presented in UTC, except the local carrier's own scans (`GTMS_*` and
  friends), which keep the offset of their `timeZone` when it parses: the polling policy
  reads the local hour from them.
- Cainiao stamps import-customs events before the parcel has even left (seen on real
  parcels: "Import clearance start" days before the flight). An import-customs event
  keeps its place in the timeline but loses its stage only when a later scan proves the
  parcel had not left or not arrived yet (an origin-side scan, the line-haul departure or
  the arrival). With no such later scan it stands: a reply may hold no departure at all.
- The module `status` is the portal's own summary (`_STATUS_STAGES`): the stage when there
  are no events, and a floor under the events' stage (see timeline.derive_stage).
- `latestTrace` is read as an event when it is newer than every `detailList` entry: a
  pickup-station scan can appear there before the list catches up.
- `local_tracking_number` is `copyRealMailNo`, else the number inside the `realMailNo`
  display text, else the queried number itself when there is evidence of a handoff (a
  named local carrier or a local-carrier scan). A new number is kept even when no
  `destCpInfo` names its carrier.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from fnmatch import fnmatchcase
from functools import lru_cache
import logging
import re
from typing import Any, Final

from ..carriers import carrier_display_name
from ..errors import TrackingInvalidResponseError
from ..model import EtaWindow, Source, SourceResult, SourceSnapshot, Stage, TrackingEvent
from ._util import (
    as_dict,
    as_list,
    capped_list,
    epoch_ms,
    newest_events,
    number_key,
    opt_str,
    parse_iso,
    parse_offset,
    plausible_time,
)

_LOGGER = logging.getLogger(__name__)

CARRIER: Final = "Cainiao"
_BEIJING: Final = timezone(timedelta(hours=8), "UTC+08:00")

_I = Stage.INFO_RECEIVED
_O = Stage.ORIGIN_PROCESSING
_T = Stage.IN_TRANSIT
_C = Stage.CUSTOMS
_L = Stage.LAST_MILE
_OFD = Stage.OUT_FOR_DELIVERY
_P = Stage.AVAILABLE_FOR_PICKUP
_D = Stage.DELIVERED
_F = Stage.DELIVERY_FAILED
_X = Stage.EXCEPTION
_R = Stage.RETURNING
_RD = Stage.RETURNED

# actionCode -> stage. None means "known, but says nothing about where the parcel is".
# Sources: Alibaba's published actionCode enum (aliexpress.logistics.redefining.
# querytrackingresult) and codes seen in real detail.json replies.
ACTION_STAGES: Final[Mapping[str, Stage | None]] = {
    # Seller and warehouse: electronic information first, then physical handling.
    "CONSIGN": _I,
    "OM_CONSIGN": _I,
    "PRE_READY_TO_SHIP": _I,
    "GWMS_ACCEPT": _I,  # "Shipment information received by warehouse electronically"
    "GWMS_PICK": _O,
    "GWMS_PACKAGE": _O,
    "GWMS_OUTBOUND": _O,
    "GWMS_HANDOVER": _O,
    "GWMS_REJECT": _X,
    "GWMS_EXCEPTION": _X,
    "GWMS_CANCEL": _X,
    "WMS_CONFIRMED": _O,
    "CW_INBOUND": _O,
    "CW_OUTBOUND": _O,
    "CW_COMMON_PROCESSING1": _O,
    "CW_SIGN_IN_SUCCESS": _O,  # consolidation warehouse signed the parcel in
    "GOT": _O,  # domestic (Chinese) courier pickup
    # Pickup and origin sorting centre.
    "PU_PICKUP_SUCCESS": _O,
    "PU_SIGN_IN_SUCCESS": _O,
    "PU_PICKUP_FAILURE": _X,
    "PU_SIGN_IN_FAILURE": _X,
    "SC_INBOUND_SUCCESS": _O,
    "SC_OUTBOUND_SUCCESS": _O,
    "SC_HO_OUT_SUCCESS": _O,
    "SC_SIGN_IN_SUCCESS": _O,
    "SC_TRANS_INBOUND_SUCCESS": _O,
    "SC_TRANS_OUTBOUND_SUCCESS": _O,
    "SC_OUTBOUND_FAILURE": _O,  # worded "Processing delay at sorting center": a delay, not a fault
    "SC_INBOUND_FAILURE": _X,
    "SC_HO_OUT_FAILURE": _X,
    "SC_SIGN_IN_FAILURE": _X,
    "SC_ARRIVE": _O,
    "SC_DEPART": _O,
    # Export hub and export customs: still in the origin country.
    "LH_HO_IN_SUCCESS": _O,
    "LH_HO_AIRLINE": _O,
    "CC_EX_START": _O,
    "CC_EX_SUCCESS": _O,
    "LH_HO_IN_FAILURE": _X,
    "LH_HO_AIRLINE_FAILURE": _X,
    "CC_EX_FAILURE": _X,
    # Documented as a failure; seen in a real Ukrainian reply worded "Accepted for
    # transportation by postal service" in the destination's zone. Unclear: no stage, the
    # module status (a floor) says where the parcel is.
    "LH_POST_COLLECTION": None,
    # Line haul and transit countries.
    "LH_DEPART": _T,
    "LH_TRANS_DEPART": _T,
    "LH_TRANS_ARRIVE": _T,
    "TD_TRANS_DEPART": _T,
    "TD_TRANS_ARRIVE": _T,
    "TD_TRANS_DEPART_C": _T,
    "TD_TRANS_ARRIVE_C": _T,
    "TD_TRANSWH_OUTBOUND": _T,
    "TRANSFER_DEPART": _T,
    "TRANSFER_ARRIVE": _T,
    "OE_DEPART": _T,
    # Seen in a real reply minutes after pickup, grouped "In transit" (AE_GROUP_DES_PROCESSING):
    # despite the prefix, not the local carrier's scan (see _LOCAL_EXCEPTIONS).
    "GTMS_OE_DEPART": _T,
    "COMMON_DEPART": _T,
    # Alibaba's enum: nodes of a domestic (in-China) delivery.
    "DEPARTURE": _T,
    "ARRIVAL": _T,
    "CC_TRANS_START": _T,
    "CC_TRANS_SUCCESS": _T,
    "CC_TRANS_FAILURE": _X,
    "LH_OTHER": None,
    "COMMON_INTRANSIT": None,  # also stamped on pre-shipment notices: proves nothing
    # Arrived in the destination country and import customs.
    "LH_ARRIVE": _C,
    "LH_LINEHAUL_ARRIVE": _C,
    "LH_HO_OUT_SUCCESS": _C,  # "Handed over from linehaul office", after arrival
    "TD_TRANS_ARRIVE_DCP": _C,  # "Awaiting for transit to final delivery office"
    "LH_ARRIVE_FAILURE": _X,
    "LH_HO_OUT_FAILURE": _X,
    "CC_HO_IN_SUCCESS": _C,
    "CC_HO_OUT_SUCCESS": _C,
    "CC_IM_START": _C,
    "CC_IM_PROCESS": _C,
    "CC_IM_SUCCESS": _C,  # cleared, but not yet with the local carrier
    "CUS_DECLARE": _C,
    "CUS_SUCCESS": _C,
    "CUS_TAX": _C,
    "CIQ_SUCCESS": _C,
    "CUSTOMS_ARRIVED_IN_AREA_CALLBACK": _C,
    "CC_IM_FAILURE": _X,
    "CC_IM_EXCEPTION": _X,
    "CC_HO_IN_FAILURE": _X,
    "CC_HO_OUT_FAILURE": _X,
    "CUS_FAILURE": _X,
    "CIQ_FAILURE": _X,
    # The local carrier.
    "GTMS_ASN": None,  # advance notice to the local carrier, sent while the parcel is far away
    "LAST_MILE_ASN_NOTIFY": None,
    "GTMS_ACCEPT": _L,
    "SL_ACCEPT": _L,
    "GTMS_SC_ARRIVE": _L,
    "GTMS_SC_DEPART": _L,
    "GTMS_DO_ARRIVE": _L,
    "GTMS_DO_DEPART": _L,
    "GTMS_STATION_IN": _L,
    "GTMS_STATION_OUT": _L,
    "GTMS_RELABEL": _L,
    "GSTAHUB_INBOUND": _L,
    "GTMS_DELIVERING": _OFD,
    "GTMS_RE_DELIVERING": _OFD,
    "LM_DELIVERY_DEPART": _OFD,
    "SENT_SCAN": _OFD,
    # A pickup station signing for the parcel is NOT the recipient signing.
    "GTMS_STA_SIGNED": _P,
    "GTMS_WAIT_SELF_PICK": _P,
    "GTMS_PUDO_INBOUND": _P,
    "PUDO_INBOUND": _P,
    "GSTA_INBOUND": _P,
    "GSTA_INFORM_BUYER": _P,
    "POSTMAN_POST": _P,  # put in a parcel locker
    "GTMS_SIGNED": _D,
    "LM_SIGN_SUCCESS": _D,
    "GSTA_SIGN": _D,
    "GSTA_BUYER_SIGN": _D,
    "GTMS_PUDO_SIGNED": _D,
    "PUDO_SIGN_SUCCESS": _D,
    "STA_SIGN": _D,
    "SIGNED": _D,
    "GTMS_DEL_FAILURE": _F,
    "GTMS_SIGN_FAILURE": _F,
    "GTMS_STA_SIGN_FAILURE": _F,
    "GSTA_SIGN_FAIL": _F,
    "GSTA_BUYER_SIGN_FAIL": _F,
    "FAILED": _F,
    "GTMS_SC_ARRIVE_FAILURE": _X,
    "GTMS_FAILURE": _X,
    "GSTA_INBOUND_FAIL": _X,
    "GSTAHUB_INBOUND_FAIL": _X,
    "GTMS_STA_WAIT_CUST_CHANGE_ADDRESS": _X,  # the buyer must act
    "GTMS_OTHER": None,
    "GSTA_OTHER": None,
    # Returns.
    "RT_INBOUND": _R,
    "RT_OUTBOUND": _R,
    "RT_HO_OUT": _R,
    "RT_TMS_ACCEPT": _R,
    "GTMS_RETURN_INBOUND": _R,
    "GTMS_RETURN_SIGNED": _RD,
    "RETURNED": _RD,
    "RT_DESTROY": _X,
    "RT_WH_DESTROY": _X,
    # "Carrier update" style notes.
    "TRANSIT_PORT_REROUTE_CALLBACK": None,
    "EXCEPTION": _X,
    "REJECT": _X,
}

# Patterns for codes not spelled out above, first match wins (fnmatch, case-sensitive).
ACTION_FAMILIES: Final[tuple[tuple[str, Stage], ...]] = (
    ("*RETURN*SIGN*", _RD),
    ("RT_*", _R),
    ("*RETURN*", _R),
    ("GTMS_*FAIL*", _F),
    ("CC_*HOLD*", _X),
    ("*_FAILURE", _X),
    ("*_FAIL", _X),
    ("*_EXCEPTION", _X),
    ("GWMS_*", _O),
    ("PU_*", _O),
    ("SC_*", _O),
    ("CC_EX_*", _O),
    ("CC_IM_*", _C),
)

# Module `status` -> stage: the stage without events, a floor under the events' stage.
# Statuses not listed give no floor. Left out on purpose until a real reply shows them:
# WAIT_ACCEPT, ACCEPTED, TRANSITING, FAILED, RETURN (only in other projects' maps) and the
# lower-case `transport` / `pickup` of one project's synthetic payloads.
_STATUS_STAGES: Final[Mapping[str, Stage]] = {
    "SELLER_PREPARING": _I,
    "WAIT_SELLER_SEND_GOODS": _I,
    # Seen on parcels anywhere from the export hub to the destination's line-haul office:
    # it proves only that the parcel left the seller.
    "DELIVERING": _O,
    "CLEAR_CUSTOMS": _C,
    "DELIVERED": _D,
    "SIGN": _D,
}

# For `audit`: the JSON keys whose values these tables map.
AUDITED_CODES: Final[Mapping[str, Mapping[str, Stage | None]]] = {
    "actionCode": ACTION_STAGES,
    "status": _STATUS_STAGES,
}

# Scans made by the local (final-mile) carrier rather than by Cainiao's network.
_LOCAL_PREFIXES: Final = ("GTMS_", "GSTA", "LM_", "PUDO_", "SL_")
# Import-customs codes that Cainiao may stamp before the parcel has left.
_IMPORT_CUSTOMS_PREFIXES: Final = ("CC_IM_", "CC_HO_", "CUS_", "CIQ_", "CUSTOMS_")
# Scans that, when later than an import-customs scan, prove it was stamped early.
_LEFT_OR_ARRIVED_CODES: Final = frozenset({"LH_DEPART", "LH_ARRIVE", "LH_LINEHAUL_ARRIVE"})

_LOCATION_PREFIX: Final = re.compile(r"^\[([^\]]+)\]\s*(.*)$")
_NUMBER_IN_TEXT: Final = re.compile(r"([A-Z0-9][A-Z0-9-]{5,})\s*$")

_reported_codes: set[str] = set()


def parse_cainiao(body: object) -> dict[str, SourceResult]:
    """Normalise a decoded `global/detail.json` reply, keyed by each module's number.

    Raises TrackingInvalidResponseError when the body is not what Cainiao returns,
    including `success: false`.
    """
    reply = as_dict(body, what="Cainiao reply")
    success = reply.get("success")
    if success is not True:
        if success is False:
            raise TrackingInvalidResponseError(f"Cainiao refused the query{_failure_detail(reply)}")
        raise TrackingInvalidResponseError("Cainiao reply has no success flag")
    if "module" not in reply:
        raise TrackingInvalidResponseError("Cainiao reply has no module list")
    results: dict[str, SourceResult] = {}
    for raw_module in capped_list(reply["module"], what="Cainiao module list"):
        snapshot = _parse_module(as_dict(raw_module, what="Cainiao module"))
        results.setdefault(snapshot.tracking_number, snapshot)
    return results


def action_stage(code: str | None) -> Stage | None:
    """The stage an actionCode means on its own, before any per-parcel correction."""
    if code is None:
        return None
    if code in ACTION_STAGES:
        return ACTION_STAGES[code]
    for pattern, stage in ACTION_FAMILIES:
        if fnmatchcase(code, pattern):
            if _first_sighting(code):
                _LOGGER.info("Cainiao action code %s is mapped by family to %s", code, stage)
            return stage
    if _first_sighting(code):
        _LOGGER.info("Cainiao action code %s is not mapped: its events get no stage", code)
    return None


def _first_sighting(code: str) -> bool:
    """True the first time this process meets a code outside ACTION_STAGES."""
    if code in _reported_codes:
        return False
    _reported_codes.add(code)
    return True


def _failure_detail(reply: Mapping[str, Any]) -> str:
    """The error code and message Cainiao gave, for the log (it never echoes credentials)."""
    parts = [
        text
        for key in ("errorCode", "errorMsg", "msg", "message")
        if (text := opt_str(reply.get(key))) is not None
    ]
    return f": {' '.join(parts)[:200]}" if parts else ""


def _parse_module(module: Mapping[str, Any]) -> SourceSnapshot:
    number = number_key(module.get("mailNo"))
    if number is None:
        raise TrackingInvalidResponseError("Cainiao module has no mailNo")

    dest_cp = module.get("destCpInfo")
    dest_cp_info = as_dict(dest_cp, what="Cainiao destCpInfo") if dest_cp is not None else {}
    local_carrier = carrier_display_name(opt_str(dest_cp_info.get("cpName")))
    local_carrier_code = opt_str(dest_cp_info.get("cpCode"))

    events = _parse_events(
        as_list(module.get("detailList"), what="Cainiao detailList"),
        number=number,
        local_carrier=local_carrier,
        latest=module.get("latestTrace"),
    )
    status = opt_str(module.get("status"))
    external = opt_str(module.get("mailNoSource")) == "EXTERNAL"
    handed_off = local_carrier is not None or any(_is_local(event.code) for event in events)

    return SourceSnapshot(
        source=Source.CAINIAO,
        tracking_number=number,
        found=bool(events) or not external,
        carrier=CARRIER,
        events=events,
        status_stage=_STATUS_STAGES.get(status.upper()) if status else None,
        status_text=opt_str(module.get("statusDesc")),
        local_carrier=local_carrier,
        local_tracking_number=_local_number(module, number, handed_off=handed_off),
        local_carrier_code=local_carrier_code,
        eta=_eta(module.get("globalEtaInfo")),
        origin_country=opt_str(module.get("originCountry")),
        destination_country=opt_str(module.get("destCountry")),
    )


def _local_number(module: Mapping[str, Any], number: str, *, handed_off: bool) -> str | None:
    if (copied := number_key(module.get("copyRealMailNo"))) is not None:
        return copied
    if (display := opt_str(module.get("realMailNo"))) is not None and (
        match := _NUMBER_IN_TEXT.search(display.upper())
    ):
        return match.group(1)
    return number if handed_off else None


def _eta(value: object) -> EtaWindow | None:
    if value is None:
        return None
    info = as_dict(value, what="Cainiao globalEtaInfo")
    earliest = _epoch_or_none(info.get("deliveryMinTime"))
    latest = _epoch_or_none(info.get("deliveryMaxTime"))
    if earliest is None and latest is None:
        return None
    return EtaWindow(earliest=earliest, latest=latest)


def _epoch_or_none(value: object) -> datetime | None:
    if type(value) is int:  # what Cainiao sends: `epoch_ms` without its checks of other types
        try:
            instant = datetime.fromtimestamp(float(value) / 1000, tz=UTC)
        except (ValueError, OverflowError, OSError):
            return None
        return instant if plausible_time(instant) else None
    if value is None or value == "":
        return None
    try:
        instant = epoch_ms(value, what="Cainiao time")
    except TrackingInvalidResponseError:
        return None
    return instant if plausible_time(instant) else None


# Codes with a local-carrier prefix that are not the local carrier's scans.
_LOCAL_EXCEPTIONS: Final = frozenset({"GTMS_OE_DEPART"})


def _is_local(code: str | None) -> bool:
    return code is not None and code.startswith(_LOCAL_PREFIXES) and code not in _LOCAL_EXCEPTIONS


def _parse_events(
    details: Sequence[Any], *, number: str, local_carrier: str | None, latest: object = None
) -> tuple[TrackingEvent, ...]:
    events: list[TrackingEvent] = []
    for raw in details:
        detail = as_dict(raw, what="Cainiao detailList entry")
        if (event := _parse_event(detail, number=number, local_carrier=local_carrier)) is not None:
            events.append(event)
    if isinstance(latest, Mapping) and latest:
        # Only when newer than the whole list: otherwise it repeats the list's head.
        trace = _parse_event(latest, number=number, local_carrier=local_carrier)
        if trace is not None and all(trace.time > event.time for event in events):
            events.append(trace)
    # Payload order is nominally newest first; a stable sort keeps it for equal instants.
    events.sort(key=lambda event: event.time, reverse=True)
    return newest_events(_demote_early_import_customs(events), what="Cainiao detailList")


def _parse_event(
    detail: Mapping[str, Any], *, number: str, local_carrier: str | None
) -> TrackingEvent | None:
    raw_code = detail.get("actionCode")
    instant = _event_instant(detail)
    if instant is None:
        _LOGGER.debug(
            "Skipping a Cainiao %s event without a usable time", _normalise_code(raw_code)
        )
        return None
    code, local, stage = (
        _code_facts(raw_code) if type(raw_code) is str else _facts(_normalise_code(raw_code))
    )
    if local and (offset := parse_offset(detail.get("timeZone"))) is not None:
        instant = instant.astimezone(offset)

    text = opt_str(detail.get("standerdDesc")) or opt_str(detail.get("desc")) or code
    location = None
    if text is not None and (match := _LOCATION_PREFIX.match(text)):
        location = opt_str(match.group(1))
        # The text is folded already: what follows the place has no whitespace to fold.
        text = match.group(2) or text
    return TrackingEvent(
        time=instant,
        description=text or "Carrier update",
        location=location,
        carrier=local_carrier if local else CARRIER,
        source=Source.CAINIAO,
        stage=stage,
        code=code,
        tracking_number=number,
    )


def _normalise_code(value: object) -> str | None:
    text = opt_str(value)
    return text.upper().replace(" ", "_") if text else None


def _facts(code: str | None) -> tuple[str | None, bool, Stage | None]:
    """A normalised code, whether the local carrier scanned it, and its stage."""
    return code, _is_local(code), action_stage(code)


@lru_cache(maxsize=1024)
def _code_facts(raw: str) -> tuple[str | None, bool, Stage | None]:
    """`_facts` of a code as the reply spells it: a reply repeats a few dozen codes."""
    return _facts(_normalise_code(raw))


def _event_instant(detail: Mapping[str, Any]) -> datetime | None:
    """`time` (epoch ms) is the instant; `timeStr` is Beijing time, a fallback only."""
    instant = _epoch_or_none(detail.get("time"))
    if instant is not None:
        return instant
    parsed = parse_iso(detail.get("timeStr"), default_tz=_BEIJING)
    if parsed is None or not plausible_time(parsed):
        return None
    return parsed.astimezone(UTC)


def _demote_early_import_customs(events: list[TrackingEvent]) -> tuple[TrackingEvent, ...]:
    """Drop the stage of import-customs scans that a later scan proves were stamped early.

    `events` is newest first. Proof is a later origin-side scan, departure or arrival;
    without one the import-customs scan stands, even with no departure in the reply.
    """
    demoted: list[TrackingEvent] = []
    proof_at: datetime | None = None  # the newest proving scan seen so far
    for event in events:
        if (
            proof_at is not None
            and event.time < proof_at
            and event.stage is Stage.CUSTOMS
            and event.code is not None
            and event.code.startswith(_IMPORT_CUSTOMS_PREFIXES)
        ):
            demoted.append(_without_stage(event))
            continue
        if proof_at is None and _proves_not_arrived(event):
            proof_at = event.time
        demoted.append(event)
    return tuple(demoted)


def _proves_not_arrived(event: TrackingEvent) -> bool:
    """True for a scan made before the parcel reached destination customs."""
    return event.code in _LEFT_OR_ARRIVED_CODES or event.stage is Stage.ORIGIN_PROCESSING


def _without_stage(event: TrackingEvent) -> TrackingEvent:
    return replace(event, stage=None)
