"""17TRACK API v2.2: `gettrackinfo` responses, `TRACKING_UPDATED` webhooks, quota and errors.

17TRACK relays several carriers for one number: `track_info.tracking.providers` holds one
entry per carrier (origin and, once known, the final-mile carrier), each with its own
events. `misc_info.local_number` / `local_provider` name the final-mile carrier and the
number it uses. Every problem with one number arrives as a `rejected` item with a
17TRACK error code; the whole request fails with a non-zero `code` or `data.errors`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timezone
import re
from typing import Any, Final

from ..carriers import carrier_display_name
from ..errors import (
    InvalidTrackingNumberError,
    TrackingAuthenticationError,
    TrackingConnectionError,
    TrackingError,
    TrackingInvalidResponseError,
    TrackingNotFoundError,
    TrackingQuotaExceededError,
    TrackingRateLimitError,
)
from ..model import EtaWindow, Source, SourceResult, SourceSnapshot, Stage, TrackingEvent
from ._util import (
    as_dict,
    as_list,
    capped_list,
    day_bound,
    join_location,
    mentions_export,
    newest_events,
    number_key,
    opt_str,
    parse_iso,
    parse_offset,
    plausible_time,
)

_WHAT = "17TRACK"

# --- Error codes -------------------------------------------------------------------------

# 17TRACK's documented error codes: which of our errors each becomes, and what it means.
SEVENTEEN_TRACK_ERROR_CODES: Final[Mapping[int, tuple[type[TrackingError], str]]] = {
    -18010001: (TrackingAuthenticationError, "IP address is not in the key's whitelist"),
    -18010002: (TrackingAuthenticationError, "invalid security key"),
    -18010003: (TrackingConnectionError, "internal service error, try again later"),
    -18010004: (TrackingAuthenticationError, "account is disabled"),
    -18010005: (TrackingAuthenticationError, "unauthorized access"),
    -18010010: (TrackingError, "a required field is missing"),
    -18010011: (InvalidTrackingNumberError, "the value of the submitted data is invalid"),
    -18010012: (InvalidTrackingNumberError, "the format of the submitted data is invalid"),
    -18010013: (TrackingError, "invalid submitted data"),
    -18010014: (TrackingError, "more than 40 tracking numbers in one request"),
    -18010015: (TrackingError, "the value of a field is invalid"),
    -18010016: (TrackingError, "a last-mile carrier can only be set for postal services"),
    -18010018: (TrackingError, "the carrier needs the destination country and postal code"),
    -18010019: (TrackingError, "the carrier needs the destination postal code"),
    -18010020: (TrackingError, "the carrier needs the recipient's phone number"),
    -18010022: (TrackingError, "the carrier needs more information to track this parcel"),
    -18010201: (TrackingError, "webhook URL is required"),
    -18010202: (TrackingError, "webhook URL has an incorrect format"),
    -18010203: (TrackingError, "webhook test failed"),
    -18010204: (TrackingError, "webhook URL not set, cannot push data"),
    -18010205: (TrackingError, "incorrect IP address format"),
    -18010206: (TrackingError, "push failed"),
    -18019801: (TrackingError, "number registered with several carriers: name the old one"),
    -18019802: (TrackingError, "the new carrier code is incorrect"),
    -18019803: (TrackingError, "the new carrier is the same as the current one"),
    -18019804: (TrackingError, "the new carrier must be given"),
    -18019805: (TrackingError, "number not registered with the given carrier"),
    -18019806: (TrackingError, "a stopped number's carrier cannot be changed"),
    -18019807: (TrackingError, "the carrier has been changed too many times"),
    -18019808: (TrackingError, "no result yet since the last registration or change"),
    -18019809: (TrackingError, "this number is already registered with that carrier"),
    -18019810: (TrackingError, "more than one registration matches the change"),
    -18019811: (TrackingError, "nothing valid to change"),
    -18019815: (TrackingConnectionError, "the carrier's interface timed out"),
    -18019816: (TrackingConnectionError, "the carrier's interface failed"),
    -18019817: (TrackingConnectionError, "system error, the request was not charged"),
    -18019818: (TrackingError, "the carrier is not supported by real-time tracking"),
    -18019901: (TrackingError, "the tracking number is already registered"),
    -18019902: (TrackingNotFoundError, "the tracking number is not registered"),
    -18019903: (TrackingNotFoundError, "the carrier cannot be detected"),
    -18019904: (TrackingError, "only stopped numbers can be re-tracked"),
    -18019905: (TrackingError, "a number can only be re-tracked once"),
    -18019906: (TrackingError, "only numbers being tracked can be stopped"),
    -18019907: (TrackingRateLimitError, "daily tracking limit exceeded"),
    -18019908: (TrackingQuotaExceededError, "tracking quota used up"),
    -18019909: (TrackingNotFoundError, "no tracking information at the moment"),
    -18019910: (TrackingError, "the carrier code is incorrect"),
    -18019911: (TrackingError, "this carrier's numbers cannot be registered at the moment"),
    -18019912: (TrackingAuthenticationError, "not authorized for real-time tracking"),
}

ALREADY_REGISTERED: Final = -18019901

# The reason given when 17TRACK rejects a number's format (a stable translation key).
REJECTED_BY_SOURCE: Final = "rejected_by_source"


def is_already_registered(code: int) -> bool:
    """True when `register` refused a number only because it is registered already."""
    return code == ALREADY_REGISTERED


def seventeen_track_error_for(code: int, message: str) -> TrackingError:
    """The engine error for a 17TRACK error code (unknown codes give the base error)."""
    kind, meaning = SEVENTEEN_TRACK_ERROR_CODES.get(code, (TrackingError, "unknown error"))
    text = f"17TRACK error {code}: {message or meaning}"
    if kind is InvalidTrackingNumberError:
        return InvalidTrackingNumberError(text, reason=REJECTED_BY_SOURCE)
    return kind(text)


def _error_code(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = opt_str(value)
    return int(text) if text is not None and re.fullmatch(r"-?\d{1,18}", text) else None


def seventeen_track_request_error(body: object) -> TrackingError | None:
    """The error of a whole request (non-zero `code` or `data.errors`), None when it succeeded.

    Per-number problems (`data.rejected`) are not request errors: `parse_17track` returns
    them for their numbers.
    """
    if not isinstance(body, Mapping):
        return None
    data = body.get("data")
    errors = data.get("errors") if isinstance(data, Mapping) else None
    first = errors[0] if isinstance(errors, list) and errors else None
    if isinstance(first, Mapping) and (code := _error_code(first.get("code"))) is not None:
        return seventeen_track_error_for(code, opt_str(first.get("message")) or "")
    code = _error_code(body.get("code"))
    if code is not None and code != 0:
        return seventeen_track_error_for(code, opt_str(body.get("message")) or "")
    return None


def _raise_for_request_error(body: object) -> None:
    if (error := seventeen_track_request_error(body)) is not None:
        raise TrackingInvalidResponseError(f"17TRACK refused the request: {error}") from error


# --- Quota -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SeventeenTrackQuota:
    """The account's registration quota, from `getquota`."""

    total: int
    used: int
    remaining: int
    today_used: int | None = None
    daily_limit: int | None = None


def _count(value: object, *, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TrackingInvalidResponseError(f"17TRACK quota: {what} is not a count: {value!r}")
    return value


def parse_17track_quota(body: object) -> SeventeenTrackQuota:
    """Read a `getquota` response; any other shape raises TrackingInvalidResponseError."""
    _raise_for_request_error(body)
    data = as_dict(as_dict(body, what=_WHAT).get("data"), what="17TRACK quota data")
    today, daily = data.get("today_used"), data.get("max_track_daily")
    return SeventeenTrackQuota(
        total=_count(data.get("quota_total"), what="quota_total"),
        used=_count(data.get("quota_used"), what="quota_used"),
        remaining=_count(data.get("quota_remain"), what="quota_remain"),
        today_used=None if today is None else _count(today, what="today_used"),
        daily_limit=None if daily is None else _count(daily, what="max_track_daily"),
    )


# --- Stages ------------------------------------------------------------------------------

# Sub-statuses, both the package's (`latest_status.sub_status`) and each event's.
_SUB_STATUS_STAGES: Final[Mapping[str, Stage | None]] = {
    "NotFound_Other": None,
    "NotFound_InvalidCode": None,
    "InfoReceived": Stage.INFO_RECEIVED,
    "InTransit_PickedUp": Stage.ORIGIN_PROCESSING,
    "InTransit_Departure": Stage.IN_TRANSIT,
    "InTransit_Arrival": Stage.IN_TRANSIT,
    "InTransit_CustomsProcessing": Stage.CUSTOMS,
    "InTransit_CustomsReleased": Stage.CUSTOMS,
    "InTransit_CustomsRequiringInformation": Stage.EXCEPTION,
    "InTransit_Other": Stage.IN_TRANSIT,
    "Expired_Other": None,
    "AvailableForPickup_Other": Stage.AVAILABLE_FOR_PICKUP,
    "OutForDelivery_Other": Stage.OUT_FOR_DELIVERY,
    "DeliveryFailure_Other": Stage.DELIVERY_FAILED,
    "DeliveryFailure_NoBody": Stage.DELIVERY_FAILED,
    "DeliveryFailure_Security": Stage.DELIVERY_FAILED,
    "DeliveryFailure_Rejected": Stage.DELIVERY_FAILED,
    "DeliveryFailure_InvalidAddress": Stage.DELIVERY_FAILED,
    "Delivered_Other": Stage.DELIVERED,
    "Exception_Returning": Stage.RETURNING,
    "Exception_Returned": Stage.RETURNED,
    "Exception_NoBody": Stage.EXCEPTION,
    "Exception_Security": Stage.EXCEPTION,
    "Exception_Damage": Stage.EXCEPTION,
    "Exception_Rejected": Stage.EXCEPTION,
    "Exception_Delayed": Stage.EXCEPTION,
    "Exception_Lost": Stage.EXCEPTION,
    "Exception_Destroyed": Stage.EXCEPTION,
    "Exception_Cancel": Stage.EXCEPTION,
    "Exception_Other": Stage.EXCEPTION,
}

# Main statuses (`latest_status.status`) and event stages (the milestones' key stages).
_STATUS_STAGES: Final[Mapping[str, Stage | None]] = {
    "NotFound": None,
    "InfoReceived": Stage.INFO_RECEIVED,
    "PickedUp": Stage.ORIGIN_PROCESSING,
    "Departure": Stage.IN_TRANSIT,
    "Arrival": Stage.IN_TRANSIT,
    "InTransit": Stage.IN_TRANSIT,
    "Expired": None,
    "AvailableForPickup": Stage.AVAILABLE_FOR_PICKUP,
    "OutForDelivery": Stage.OUT_FOR_DELIVERY,
    "DeliveryFailure": Stage.DELIVERY_FAILED,
    "Delivered": Stage.DELIVERED,
    "Returning": Stage.RETURNING,
    "Returned": Stage.RETURNED,
    "Exception": Stage.EXCEPTION,
}

# For `audit`: the JSON keys whose values these tables map.
AUDITED_CODES: Final[Mapping[str, Mapping[str, Stage | None]]] = {
    "sub_status": _SUB_STATUS_STAGES,
    "status": _STATUS_STAGES,
    "stage": _STATUS_STAGES,
}

# Statuses that, without events, mean 17TRACK knows nothing of the parcel.
_NOTHING_YET: Final = frozenset({None, "NotFound", "Expired"})


def seventeen_track_stage(
    sub_status: str | None, status: str | None, description: str | None = None
) -> Stage | None:
    """Our stage for a 17TRACK sub-status and main status (or event stage).

    A specific sub-status wins; a generic one (`*_Other`) yields to the stage, which
    tells e.g. a pickup from other transit; an unknown future sub-status falls back to
    its main status. Customs that speak of export happen at origin.
    """
    stage: Stage | None = None
    generic = sub_status is None or sub_status.endswith("_Other")
    if sub_status is not None and not generic and sub_status in _SUB_STATUS_STAGES:
        stage = _SUB_STATUS_STAGES[sub_status]
    elif status is not None and status in _STATUS_STAGES:
        stage = _STATUS_STAGES[status]
    elif sub_status is not None:
        stage = _SUB_STATUS_STAGES.get(sub_status, _STATUS_STAGES.get(sub_status.partition("_")[0]))
    if stage is Stage.CUSTOMS and mentions_export(description):
        return Stage.ORIGIN_PROCESSING
    return stage


# --- Events ------------------------------------------------------------------------------


def _offset_of(event: Mapping[str, Any]) -> timezone | None:
    """The local offset an event states, in `time_iso` or `time_raw.timezone`."""
    iso = parse_iso(event.get("time_iso"))
    if iso is not None and isinstance(iso.tzinfo, timezone):
        return iso.tzinfo
    raw = event.get("time_raw")
    return parse_offset(raw.get("timezone")) if isinstance(raw, Mapping) else None


def _event_time(event: Mapping[str, Any], fallback_tz: timezone) -> datetime | None:
    """The event's instant, kept in its local offset.

    `time_utc` gives the instant and `time_iso` the offset; without either, `time_raw`
    (local date and time) is read in its own timezone or, lacking one, the offset the
    carrier's other events use.
    """
    offset = _offset_of(event)
    instant = parse_iso(event.get("time_utc"), default_tz=UTC) or parse_iso(event.get("time_iso"))
    if instant is None:
        raw = event.get("time_raw")
        if isinstance(raw, Mapping):
            day, clock = opt_str(raw.get("date")), opt_str(raw.get("time"))
            local = f"{day}T{clock}" if day and clock else day
        else:
            local = opt_str(raw)  # some carriers' `time_raw` is a plain local time string
        instant = parse_iso(local, default_tz=offset or fallback_tz)
    if instant is None or not plausible_time(instant):
        return None
    return instant.astimezone(offset or fallback_tz)


def _event_location(event: Mapping[str, Any]) -> str | None:
    if (location := opt_str(event.get("location"))) is not None:
        return location
    address = event.get("address")
    if not isinstance(address, Mapping):
        return None
    return join_location(address.get("city"), address.get("state"), address.get("country"))


def _event_description(event: Mapping[str, Any]) -> str:
    # A translation exists only when the registration asked for a language: prefer it.
    translation = event.get("description_translation")
    translated = (
        opt_str(translation.get("description")) if isinstance(translation, Mapping) else None
    )
    return translated or opt_str(event.get("description")) or ""


def _to_event(
    raw: object, *, carrier: str | None, number: str, fallback_tz: timezone
) -> TrackingEvent | None:
    event = as_dict(raw, what="17TRACK event")
    when = _event_time(event, fallback_tz)
    if when is None:
        return None
    sub_status, stage = opt_str(event.get("sub_status")), opt_str(event.get("stage"))
    description = _event_description(event)
    return TrackingEvent(
        time=when,
        description=description,
        location=_event_location(event),
        carrier=carrier,
        source=Source.SEVENTEEN_TRACK,
        stage=seventeen_track_stage(sub_status, stage, description),
        code=sub_status or stage,
        tracking_number=number,
    )


@dataclass(frozen=True, slots=True)
class _Provider:
    key: str | None
    name: str | None
    events: tuple[Mapping[str, Any], ...]


def _providers(track_info: Mapping[str, Any]) -> list[_Provider]:
    tracking = track_info.get("tracking")
    if tracking is None:
        return []
    tracking = as_dict(tracking, what="17TRACK tracking")
    providers: list[_Provider] = []
    for raw in as_list(tracking.get("providers"), what="17TRACK providers"):
        entry = as_dict(raw, what="17TRACK provider")
        info = entry.get("provider")
        info = as_dict(info, what="17TRACK provider info") if info is not None else {}
        name = opt_str(info.get("name")) or opt_str(info.get("alias"))
        events = tuple(
            as_dict(event, what="17TRACK event")
            for event in as_list(entry.get("events"), what="17TRACK events")
        )
        providers.append(_Provider(opt_str(info.get("key")), carrier_display_name(name), events))
    return providers


def _fallback_tz(providers: list[_Provider], provider: _Provider) -> timezone:
    """The offset to read a carrier's zone-less local times in: its own, else any carrier's."""
    for candidate in (provider, *providers):
        for event in candidate.events:
            if (offset := _offset_of(event)) is not None:
                return offset
    return UTC


# --- Snapshots ---------------------------------------------------------------------------


def _eta(track_info: Mapping[str, Any], tz: timezone) -> EtaWindow | None:
    metrics = track_info.get("time_metrics")
    window = metrics.get("estimated_delivery_date") if isinstance(metrics, Mapping) else None
    if not isinstance(window, Mapping):
        return None
    earliest = day_bound(window.get("from"), tz=tz, end=False)
    latest = day_bound(window.get("to"), tz=tz, end=True)
    if earliest is None and latest is None:
        return None
    return EtaWindow(earliest=earliest, latest=latest)


def _country(track_info: Mapping[str, Any], item: Mapping[str, Any], side: str) -> str | None:
    shipping = track_info.get("shipping_info")
    address = shipping.get(f"{side}_address") if isinstance(shipping, Mapping) else None
    if not isinstance(address, Mapping):
        # Seen in a recorded webhook: the address beside `shipping_info`, not inside it.
        address = track_info.get(f"{side}_address")
    country = opt_str(address.get("country")) if isinstance(address, Mapping) else None
    return country or opt_str(
        item.get("origin_country" if side == "shipper" else "destination_country")
    )


def _snapshot(item: Mapping[str, Any], number: str) -> SourceSnapshot:
    track_info = item.get("track_info")
    if track_info is None:
        if isinstance(item.get("track"), Mapping):
            # v1's `track.z0/z1` codes: a reply of another API version, not "nothing yet".
            raise TrackingInvalidResponseError("17TRACK item is in the v1 shape, not v2.2")
        # A register or gettracklist item: no tracking, maybe the news that 17TRACK
        # stopped following the number (`tracking_status: Stopped`).
        return SourceSnapshot(
            source=Source.SEVENTEEN_TRACK,
            tracking_number=number,
            found=False,
            tracking_stopped=opt_str(item.get("tracking_status")) == "Stopped",
        )
    track_info = as_dict(track_info, what="17TRACK track_info")

    misc = track_info.get("misc_info")
    misc = misc if isinstance(misc, Mapping) else {}
    local_number = number_key(misc.get("local_number"))
    local_carrier = carrier_display_name(opt_str(misc.get("local_provider")))
    local_key = opt_str(misc.get("local_key"))
    local_key = None if local_key in {None, "0"} else local_key

    providers = _providers(track_info)

    def is_local(provider: _Provider) -> bool:
        if local_key is not None:
            return provider.key == local_key
        return local_carrier is not None and provider.name == local_carrier

    # The registered carrier is the origin; 17TRACK's provider order is not promised.
    registered = opt_str(item.get("carrier"))
    origin = next((p for p in providers if registered and p.key == registered), None) or next(
        (p for p in providers if not is_local(p)), providers[0] if providers else None
    )

    events: list[TrackingEvent] = []
    for provider in providers:
        fallback = _fallback_tz(providers, provider)
        own_number = local_number if local_number and is_local(provider) else number
        for raw in provider.events:
            event = _to_event(raw, carrier=provider.name, number=own_number, fallback_tz=fallback)
            if event is not None:
                events.append(event)
    if not events and (latest := track_info.get("latest_event")) is not None:
        # A short webhook may carry only the latest event.
        event = _to_event(
            latest, carrier=origin.name if origin else None, number=number, fallback_tz=UTC
        )
        if event is not None:
            events.append(event)
    events.sort(key=lambda e: e.time, reverse=True)

    latest_status = track_info.get("latest_status")
    latest_status = latest_status if isinstance(latest_status, Mapping) else {}
    status, sub_status = (
        opt_str(latest_status.get("status")),
        opt_str(latest_status.get("sub_status")),
    )
    found = bool(events) or status not in _NOTHING_YET
    eta_tz = events[0].time.tzinfo if events else UTC
    return SourceSnapshot(
        source=Source.SEVENTEEN_TRACK,
        tracking_number=number,
        found=found,
        carrier=origin.name if origin else None,
        events=newest_events(events, what="17TRACK events"),
        status_stage=seventeen_track_stage(sub_status, status) if found else None,
        status_text=opt_str(latest_status.get("sub_status_descr")) or status,
        local_carrier=local_carrier,
        local_tracking_number=local_number,
        local_carrier_code=local_key,
        eta=_eta(track_info, eta_tz if isinstance(eta_tz, timezone) else UTC),
        origin_country=_country(track_info, item, "shipper"),
        destination_country=_country(track_info, item, "recipient"),
    )


def _rejection(item: Mapping[str, Any]) -> TrackingError:
    error = item.get("error")
    error = error if isinstance(error, Mapping) else {}
    code = _error_code(error.get("code"))
    if code is None:
        code = _error_code(item.get("error_code"))
    message = opt_str(error.get("message")) or opt_str(item.get("error_message")) or ""
    if code is None:
        return TrackingInvalidResponseError(
            f"17TRACK rejected the number without a code: {message}"
        )
    return seventeen_track_error_for(code, message)


def _better(new: SourceResult, old: SourceResult | None) -> bool:
    """Whether a second entry for one number should replace the first."""
    if old is None:
        return True
    if not isinstance(new, SourceSnapshot):
        return False
    if not isinstance(old, SourceSnapshot):
        return True
    return (new.found, len(new.events)) > (old.found, len(old.events))


def _add(results: dict[str, SourceResult], number: str, result: SourceResult) -> None:
    if _better(result, results.get(number)):
        results[number] = result


def _item_number(item: Mapping[str, Any]) -> str:
    number = number_key(item.get("number"))
    if number is None:
        raise TrackingInvalidResponseError("17TRACK item without a tracking number")
    return number


def _accepted(item: Mapping[str, Any], results: dict[str, SourceResult]) -> None:
    number = _item_number(item)
    try:
        result: SourceResult = _snapshot(item, number)
    except TrackingInvalidResponseError as err:
        # One mangled entry spoils only its own number.
        result = err
    _add(results, number, result)


def parse_17track(body: object) -> dict[str, SourceResult]:
    """Map a `gettrackinfo` response or a webhook body onto results keyed by number.

    Keys are the numbers upper-cased without spaces. Accepted numbers give a snapshot
    (`found=False` while 17TRACK has nothing), rejected ones their error. A
    `TRACKING_STOPPED` webhook names a number but holds no tracking: it gives a snapshot
    with `tracking_stopped=True` and `found=False`, so the caller keeps the last known
    state and marks the number as no longer followed by 17TRACK. Anything
    unrecognisable, and a request 17TRACK refused as a whole, raises
    TrackingInvalidResponseError (the refusal is its cause).
    """
    root = as_dict(body, what=_WHAT)
    results: dict[str, SourceResult] = {}
    if "event" in root:
        event = opt_str(root.get("event"))
        if event == "TRACKING_STOPPED":
            data = as_dict(root.get("data"), what="17TRACK webhook data")
            number = _item_number(data)
            results[number] = SourceSnapshot(
                source=Source.SEVENTEEN_TRACK,
                tracking_number=number,
                found=False,
                tracking_stopped=True,
            )
            return results
        if event != "TRACKING_UPDATED":
            raise TrackingInvalidResponseError(f"17TRACK webhook event {event!r} is unknown")
        _accepted(as_dict(root.get("data"), what="17TRACK webhook data"), results)
        return results

    _raise_for_request_error(root)
    data = as_dict(root.get("data"), what="17TRACK data")
    if "accepted" not in data and "rejected" not in data:
        raise TrackingInvalidResponseError("17TRACK data has neither accepted nor rejected")
    for raw in capped_list(data.get("accepted"), what="17TRACK accepted"):
        _accepted(as_dict(raw, what="17TRACK accepted item"), results)
    for raw in capped_list(data.get("rejected"), what="17TRACK rejected"):
        item = as_dict(raw, what="17TRACK rejected item")
        _add(results, _item_number(item), _rejection(item))
    return results
