"""USPS Tracking API (v3 and 3.2) replies mapped onto the canonical model.

Two shapes come in:

- v3 `GET /tracking/v3/tracking/{number}?expand=DETAIL`: one tracking object, or on
  HTTP 400 an error body `{"apiVersion": ..., "error": {"code", "message", "errors":
  [{"code", "title", "detail"}]}}` that names no number (the caller passes it).
- 3.2 `POST /tracking/v3r2/tracking`: a JSON array, one item per requested number. On
  HTTP 200 every item is a tracking object; on HTTP 207 (multi-status) an item may
  instead be an error. The shape assumed for such an item, as far as public clients
  show it: `{"trackingNumber", "statusCode": "404", "error": {"code", "message",
  "errors": [{"code", "title", "detail"}]}}`; a bare `errors` list or a string
  `error` is accepted too.

Decisions worth knowing:

- Stages come from USPS's own point of view of a domestic parcel: acceptance is
  origin_processing, the network is in_transit, arrival at the delivery Post Office is
  last_mile. The merge step lifts a final-mile carrier's events where needed.
- An event's stage comes from `eventCode` through `EVENT_STAGES`; an unknown code falls
  back to the event's wording, and the newest event then to the reply's
  `statusCategory` (which describes the latest status only, never older events).
- The instant is `eventTimestamp` (local, no offset) with `GMTOffset`, which keeps the
  local offset the polling policy needs. `GMTTimestamp` is only trusted to the minute
  and second: its date is sometimes a day off (`18:31` local, `-06:00`, stamped
  `00:31Z` of the same day). Without `GMTOffset` the offset is read from the two
  clocks' time-of-day difference; failing that it is borrowed from the nearest event
  that has one, and failing that it is US Eastern standard time (UTC-05:00).
- `USPS_ERROR_CODES` / `usps_error_for` turn an error code into a per-number result.
  Only `150001` ("a status update is not yet available") is confirmed from a real
  reply; it is not an error but a snapshot with `found=False`. Other `1500xx` codes
  are item-level tracking errors whose meanings USPS does not publish: they count as
  "not found" unless their message says otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time, timedelta, timezone
import html
import logging
import re
from typing import Any, Final

from ..errors import (
    TrackingAuthenticationError,
    TrackingConnectionError,
    TrackingError,
    TrackingInvalidResponseError,
    TrackingNotFoundError,
    TrackingRateLimitError,
)
from ..model import EtaWindow, Source, SourceResult, SourceSnapshot, Stage, TrackingEvent
from ._util import (
    as_dict,
    as_list,
    capped_list,
    newest_events,
    number_key,
    opt_str,
    parse_offset,
    plausible_time,
)

_LOGGER = logging.getLogger(__name__)

CARRIER: Final = "USPS"
# Used only when no event of the reply carries an offset at all.
DEFAULT_OFFSET: Final = timezone(timedelta(hours=-5), "UTC-05:00")

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

# eventCode -> stage (USPS Publication 97 / Product Tracking & Reporting event codes, and
# codes seen in real v3 replies). None means "known, but says nothing about where it is".
EVENT_STAGES: Final[Mapping[str, Stage | None]] = {
    # Electronic information only.
    "GX": _I,  # Shipping Label Created, USPS Awaiting Item
    "MA": _I,  # Pre-Shipment Info Sent to USPS, USPS Awaiting Item
    "89": _I,  # Merchant Order Receipt Notification
    # Accepted by USPS (or by a shipping partner on its way to USPS).
    "03": _O,  # USPS in possession of item / Accept or Pickup
    "OA": _O,  # Origin Acceptance
    "AD": _O,  # Accepted at USPS (Regional) Destination Facility
    "UA": _O,  # Accepted at USPS Facility
    "TM": _O,  # Shipment Received, Package Acceptance Pending
    "PA": _O,  # Passive acceptance
    "83": _O,  # Tendered to Postal Service
    "80": _O,  # Picked Up by Shipping Partner, USPS Awaiting Item
    # Moving through the network.
    "81": _T,  # Arrived Shipping Partner Facility, USPS Awaiting Item
    "82": _T,  # Departed Shipping Partner Facility, USPS Awaiting Item
    "10": _T,  # Processed / Arrived at USPS Regional Facility
    "A1": _T,  # Arrived at USPS Facility
    "T1": _T,  # Departed USPS Facility
    "U1": _T,  # In Transit to Next Facility
    "NT": _T,  # In Transit to Next Facility
    "L1": _T,  # Departed USPS Regional Facility
    "EF": _T,  # Departed Sort Facility
    "SF": _T,  # Departed Post Office
    "19": _T,  # DC eVS Arrive
    "41": _T,  # Received at Opening Unit
    "06": _T,  # Forwarded
    # At the delivery Post Office.
    "07": _L,  # Arrived at Post Office / Arrival at Unit
    "PC": _L,  # Sorting Complete
    "42": _L,  # USPS Handoff to Shipping Partner (for final delivery)
    "71": _L,  # Rescheduled to Next Delivery Day
    "OF": _OFD,  # Out for Delivery
    "14": _P,  # Arrival at Pickup Point
    "16": _P,  # Available for Pickup
    "01": _D,  # Delivered
    "17": _D,  # Picked Up By Agent
    "43": _D,  # Picked Up (at the Post Office)
    # Delivery attempted, notice left.
    "02": _F,
    "30": _F,  # No Access to Delivery Location
    "51": _F,  # Business Closed
    "52": _F,  # Notice Left
    "53": _F,  # Receptacle Blocked
    "54": _F,  # Receptacle Full / Item Oversized
    "55": _F,  # No Secure Location Available
    "56": _F,  # No Authorized Recipient Available
    # On the way back to the sender.
    "04": _R,  # Refused
    "09": _R,  # Return to Sender
    "21": _R,  # No Such Number
    "22": _R,  # Insufficient Address
    "23": _R,  # Moved, Left No Address
    "24": _R,  # Forward Expired
    "25": _R,  # Addressee Unknown
    "26": _R,  # Vacant
    "27": _R,  # Unclaimed
    "28": _R,  # Deceased
    "29": _R,  # Return to Sender, Other
    "31": _R,  # Not Picked Up
    "44": _R,  # Customer Recall
    # Alerts.
    "05": _X,  # Undeliverable as Addressed
    "08": _X,  # Missent
    "11": _X,  # Dead Letter
    "15": _X,  # Mis-shipped
    "DX": None,  # Delivery Status Not Updated
    "GC": None,  # Return Receipt Associated
}

# For `audit`: the JSON keys whose values these tables map.
AUDITED_CODES: Final[Mapping[str, Mapping[str, Stage | None]]] = {"eventCode": EVENT_STAGES}

# Wording -> stage, first match wins; for statusCategory values and unknown codes' eventType.
_WORDING_STAGES: Final[tuple[tuple[str, Stage], ...]] = (
    ("original sender", Stage.RETURNED),  # "Delivered, To Original Sender"
    ("return to sender", _R),
    ("returned to sender", _R),
    ("delivery attempt", _F),
    ("notice left", _F),
    ("available for pickup", _P),
    ("out for delivery", _OFD),
    ("delivered", _D),
    ("customs", _C),
    ("arrived at post office", _L),
    ("pre-shipment", _I),
    ("label created", _I),
    ("accept", _O),
    ("in possession", _O),
    ("moving through network", _T),
    ("in transit", _T),
    ("facility", _T),
    ("alert", _X),
)

# Left unmapped on purpose: H0, seen both as "Inbound Out of Customs" and on "Notice Left"
# attempts (Shopify/active_shipping#361); its eventType wording decides.

# Error code -> the per-number error it means; None means "no status yet", not an error.
USPS_ERROR_CODES: Final[Mapping[str, type[TrackingError] | None]] = {
    "150001": None,  # "A status update is not yet available on your package" (seen live)
    "400": TrackingError,
    "401": TrackingAuthenticationError,
    "403": TrackingAuthenticationError,  # e.g. the app lacks the tracking scope
    "404": TrackingNotFoundError,  # "Tracking is not available for this item"
    "429": TrackingRateLimitError,
    "500": TrackingConnectionError,
    "502": TrackingConnectionError,
    "503": TrackingConnectionError,
    "504": TrackingConnectionError,
}
_NO_STATUS_YET: Final = ("not yet available", "not yet in system")
_NOT_FOUND_WORDS: Final = (
    "not available for this item",
    "could not locate",
    "not found",
    "invalid",
    "no record",
    "does not exist",
)

_TRACKING_KEYS: Final = ("trackingNumber", "trackingEvents", "statusCategory", "status")
_SUPERSCRIPT: Final = re.compile(r"<sup>.*?</sup>", re.IGNORECASE | re.DOTALL)  # (R), TM marks
_TAG: Final = re.compile(r"<[^>]*>")
_LEADING_NUMBER: Final = re.compile(r"^\d+:\s*")
_TRAILING_DASH: Final = re.compile(r"\s*-\s*$")
_CLOCK: Final = re.compile(r"(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?\s*([ap])?\.?m?\.?", re.IGNORECASE)
_QUARTER_HOUR: Final = 900

_reported_codes: set[str] = set()


def parse_usps(body: object, *, tracking_number: str | None = None) -> dict[str, SourceResult]:
    """Normalise a decoded USPS v3 or 3.2 reply, keyed by tracking number.

    `tracking_number` names the number of a v3 reply (its error body names none) or of a
    3.2 array holding a single item. Raises TrackingInvalidResponseError when the body is
    not what USPS returns; a per-number error becomes that number's value instead.
    """
    fallback = number_key(tracking_number)
    if isinstance(body, list):
        results: dict[str, SourceResult] = {}
        single = len(body) == 1
        for raw in capped_list(body, what="USPS tracking results"):
            item = as_dict(raw, what="USPS tracking result")
            number, result = _parse_item(item, fallback if single else None)
            results.setdefault(number, result)
        return results
    number, result = _parse_item(as_dict(body, what="USPS reply"), fallback)
    return {number: result}


def usps_error_for(code: str, message: str) -> TrackingError | None:
    """The per-number error a USPS error code means, or None for "no status yet"."""
    code = code.strip()
    text = _clean_text(message) or "no message"
    lowered = text.lower()
    if code in USPS_ERROR_CODES:
        error = USPS_ERROR_CODES[code]
        if error is TrackingAuthenticationError:
            return error(f"USPS {code}: {text} (the app's credentials or scope were rejected)")
        return None if error is None else error(f"USPS {code}: {text}")
    if any(words in lowered for words in _NO_STATUS_YET):
        return None
    if code.startswith("1500") or any(words in lowered for words in _NOT_FOUND_WORDS):
        return TrackingNotFoundError(f"USPS {code}: {text}")
    return TrackingError(f"USPS {code or 'error'}: {text}")


# Errors about the request as a whole (credentials, rate, service), not about a number.
_REQUEST_ERRORS: Final = (
    TrackingAuthenticationError,
    TrackingRateLimitError,
    TrackingConnectionError,
)


def _parse_item(item: Mapping[str, Any], fallback: str | None) -> tuple[str, SourceResult]:
    number = number_key(item.get("trackingNumber")) or fallback
    if number is None:
        # An error body names no number; one about the request itself (a 401 for a bad
        # client id, a missing scope) is still reported for what it is.
        error_in = _error_in(item)
        refusal = usps_error_for(*error_in) if error_in is not None else None
        if isinstance(refusal, _REQUEST_ERRORS):
            raise TrackingInvalidResponseError(f"USPS refused the request: {refusal}") from refusal
        raise TrackingInvalidResponseError("USPS result names no tracking number")
    error = _error_in(item)
    if error is None:
        return number, _parse_tracking(item, number)
    code, message = error
    result = usps_error_for(code, message)
    if result is None:
        return number, SourceSnapshot(
            source=Source.USPS,
            tracking_number=number,
            found=False,
            carrier=CARRIER,
            status_text=_clean_text(message),
        )
    return number, result


def _error_in(item: Mapping[str, Any]) -> tuple[str, str] | None:
    """The (code, message) of an error result, or None for a tracking object."""
    error = item.get("error")
    errors = item.get("errors")
    status_code = opt_str(item.get("statusCode"))
    failed_status = status_code not in (None, "200") and item.get("trackingEvents") is None
    if error in (None, "") and not errors and not failed_status:
        return None
    codes: list[str | None] = []
    messages: list[str | None] = []
    detail: Mapping[str, Any] = {}
    if isinstance(error, str):
        messages.append(error)
    elif error is not None:
        detail = as_dict(error, what="USPS error")
    for entry in as_list(errors or detail.get("errors"), what="USPS errors"):
        entry_dict = as_dict(entry, what="USPS errors entry")
        codes.append(opt_str(entry_dict.get("code")))
        messages.extend(opt_str(entry_dict.get(key)) for key in ("title", "detail", "message"))
    codes.append(opt_str(detail.get("code")))
    messages.append(opt_str(detail.get("message")))
    codes.append(status_code)
    code = next((c for c in codes if c), "")
    message = next((m for m in messages if m), "")
    if not code and not message:
        raise TrackingInvalidResponseError("USPS error result has neither code nor message")
    return code, message


def _parse_tracking(item: Mapping[str, Any], number: str) -> SourceSnapshot:
    if not any(key in item for key in _TRACKING_KEYS):
        raise TrackingInvalidResponseError("USPS result is neither tracking nor an error")
    raw_events = [
        as_dict(raw, what="USPS tracking event")
        for raw in as_list(item.get("trackingEvents"), what="USPS trackingEvents")
    ]
    category_stage = _wording_stage(opt_str(item.get("statusCategory")))
    events = _events(raw_events, number=number, category_stage=category_stage)
    status = _clean_text(item.get("status"))
    zone = events[0].time.tzinfo if events else None
    return SourceSnapshot(
        source=Source.USPS,
        tracking_number=number,
        carrier=CARRIER,
        events=events,
        status_stage=category_stage or _wording_stage(status),
        status_text=status or _clean_text(item.get("statusSummary")),
        eta=_eta(item, zone if isinstance(zone, timezone) else DEFAULT_OFFSET),
        origin_country=opt_str(item.get("originCountry")),
        destination_country=opt_str(item.get("destinationCountry")),
    )


def _clean_text(value: object) -> str | None:
    """USPS text without its HTML (`<SUP>&#174;</SUP>`), reason number or trailing dash."""
    text = opt_str(value)
    if text is None:
        return None
    if "<" in text:  # each pattern is looked for only where it can match
        text = _TAG.sub("", _SUPERSCRIPT.sub("", text))
    text = html.unescape(text)
    if text[:1].isdigit():
        text = _LEADING_NUMBER.sub("", text)
    if "-" in text:
        text = _TRAILING_DASH.sub("", text)
    return opt_str(text)


def _wording_stage(text: str | None) -> Stage | None:
    if text is None:
        return None
    lowered = text.lower()
    return next((stage for words, stage in _WORDING_STAGES if words in lowered), None)


# --- events ---------------------------------------------------------------------------


def _events(
    raw_events: Sequence[Mapping[str, Any]], *, number: str, category_stage: Stage | None
) -> tuple[TrackingEvent, ...]:
    zones = _event_zones(raw_events)
    timed: list[tuple[datetime, Mapping[str, Any]]] = []
    for raw, zone in zip(raw_events, zones, strict=True):
        instant = _instant(raw, zone)
        if instant is None:
            _LOGGER.debug("Skipping a USPS %s event without a usable time", raw.get("eventCode"))
            continue
        timed.append((instant, raw))
    # USPS lists newest first; a stable sort keeps that order for equal instants.
    timed.sort(key=lambda pair: pair[0], reverse=True)
    events = [
        _event(raw, instant, number=number, fallback=category_stage if index == 0 else None)
        for index, (instant, raw) in enumerate(timed)
    ]
    return newest_events(events, what="USPS trackingEvents")


def _event(
    raw: Mapping[str, Any], instant: datetime, *, number: str, fallback: Stage | None
) -> TrackingEvent:
    code = (opt_str(raw.get("eventCode")) or "").upper() or None
    description = _clean_text(raw.get("eventType"))
    return TrackingEvent(
        time=instant,
        description=description or code or "USPS update",
        location=_location(raw),
        carrier=CARRIER,
        source=Source.USPS,
        stage=_event_stage(code, description, fallback),
        code=code,
        tracking_number=number,
    )


def _event_stage(code: str | None, description: str | None, fallback: Stage | None) -> Stage | None:
    if code is not None and code in EVENT_STAGES:
        return EVENT_STAGES[code]
    if code is not None and code not in _reported_codes:
        _reported_codes.add(code)
        _LOGGER.info("USPS event code %s (%s) is not mapped", code, description)
    return _wording_stage(description) or fallback


def _location(raw: Mapping[str, Any]) -> str | None:
    city = opt_str(raw.get("eventCity"))
    state = opt_str(raw.get("eventState"))
    zip_code = opt_str(raw.get("eventZIP")) or opt_str(raw.get("eventZIPCode"))
    region = f"{state} {zip_code}" if state and zip_code else state or zip_code
    tail = region or opt_str(raw.get("eventCountry"))
    return f"{city}, {tail}" if city and tail else city or tail


# --- time -----------------------------------------------------------------------------


def _naive_or_aware(value: object) -> datetime | None:
    """An ISO 8601 time as given: naive when the text carries no offset."""
    text = opt_str(value)
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        return None


def _gmt(raw: Mapping[str, Any]) -> datetime | None:
    parsed = _naive_or_aware(raw.get("GMTTimestamp"))
    if parsed is None:
        return None
    parsed = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    return parsed if plausible_time(parsed) else None


def _event_zones(raw_events: Sequence[Mapping[str, Any]]) -> list[timezone]:
    """Each event's offset: its own, read from its clocks, or its nearest neighbour's."""
    own = [parse_offset(raw.get("GMTOffset")) or _offset_from_clocks(raw) for raw in raw_events]
    known = {index: zone for index, zone in enumerate(own) if zone is not None}
    if not known:
        return [DEFAULT_OFFSET] * len(own)
    return [
        zone if zone is not None else known[_nearest(known, index)]
        for index, zone in enumerate(own)
    ]


def _nearest(candidates: Mapping[int, object], index: int) -> int:
    """The candidate position nearest `index`; on a tie the newer (earlier listed) one."""
    return min(candidates, key=lambda other: (abs(other - index), other))


def _offset_from_clocks(raw: Mapping[str, Any]) -> timezone | None:
    """The offset between local and GMT clocks, ignoring the GMT date (it can be a day off)."""
    local = _naive_or_aware(raw.get("eventTimestamp"))
    gmt = _gmt(raw)
    if (
        local is None
        or local.tzinfo is not None
        or gmt is None
        or not plausible_time(local.replace(tzinfo=UTC))
    ):
        return None
    seconds = (local - gmt.astimezone(UTC).replace(tzinfo=None)).total_seconds()
    seconds = (seconds + 11 * 3600) % 86400 - 11 * 3600  # USPS zones span UTC-11 to UTC+12
    rounded = round(seconds / _QUARTER_HOUR) * _QUARTER_HOUR
    if abs(seconds - rounded) > 120:
        return None
    return timezone(timedelta(seconds=rounded))


_DAY: Final = timedelta(days=1)
_MINUTE: Final = timedelta(minutes=1)


def _instant(raw: Mapping[str, Any], zone: timezone) -> datetime | None:
    local = _naive_or_aware(raw.get("eventTimestamp"))
    gmt = _gmt(raw)
    if local is None:
        return gmt.astimezone(zone) if gmt is not None else None
    if local.tzinfo is not None:
        return local if plausible_time(local) else None
    candidate = local.replace(tzinfo=zone)
    if not plausible_time(candidate):
        return None
    if gmt is not None:
        # Take the GMT clock's seconds, after moving it by whole days onto the local date.
        days = round((candidate - gmt) / _DAY)
        corrected = gmt + _DAY * days
        if abs(corrected - candidate) < _MINUTE:
            return corrected.astimezone(zone)
    return candidate


# --- expected delivery ----------------------------------------------------------------


def _eta(item: Mapping[str, Any], zone: timezone) -> EtaWindow | None:
    raw_expectation = item.get("deliveryDateExpectation")
    expectation = (
        as_dict(raw_expectation, what="USPS deliveryDateExpectation")
        if raw_expectation is not None
        else {}
    )

    def field(key: str) -> object:
        value = expectation.get(key)
        return value if value is not None else item.get(key)

    day = next(
        (
            parsed
            for key in (
                "predictedDeliveryDate",
                "predictedDeliveryTimeStamp",
                "expectedDeliveryDate",
                "expectedDeliveryTimeStamp",
                "guaranteedDeliveryDate",
                "guaranteedDeliveryTimeStamp",
            )
            if (parsed := _naive_or_aware(field(key))) is not None
        ),
        None,
    )
    if day is None or (day.tzinfo is not None and not plausible_time(day)):
        return None
    if day.tzinfo is not None:
        day = day.astimezone(zone)
    start = day.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=zone)
    if not plausible_time(start):
        return None
    window_start = _clock(field("predictedDeliveryWindowStartTime"))
    window_end = _clock(field("predictedDeliveryWindowEndTime")) or _clock(field("endOfDay"))
    by_time = day.time() if day.time() != time() else None
    earliest = _at(start, window_start) if window_start else start
    if window_end is not None:
        latest = _at(start, window_end)
    elif by_time is not None:
        latest = start.replace(hour=by_time.hour, minute=by_time.minute, second=by_time.second)
    else:
        latest = start + timedelta(days=1, seconds=-1)
    return EtaWindow(earliest=earliest, latest=max(latest, earliest))


def _at(day_start: datetime, clock: time) -> datetime:
    return day_start.replace(hour=clock.hour, minute=clock.minute, second=clock.second)


def _clock(value: object) -> time | None:
    """A time of day such as `14:00`, `2:00pm`, `9 p.m.` or an ISO date-time's clock."""
    text = opt_str(value)
    if text is None:
        return None
    if (parsed := _naive_or_aware(text)) is not None and "T" in text.upper():
        return parsed.time()
    match = _CLOCK.fullmatch(text)
    if match is None:
        return None
    hour, minute, second = (int(group or 0) for group in match.group(1, 2, 3))
    if (meridiem := match.group(4)) is not None:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if meridiem.lower() == "p" else 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    return time(hour, minute, second)
