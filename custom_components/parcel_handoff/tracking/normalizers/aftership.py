"""AfterShip Tracking API: tracking objects of the legacy v4 and the dated (2023-10+) versions.

A tracking carries a `tag` (delivery status) and `subtag` (sub-status) for itself and
for each checkpoint. `checkpoint_time` is the carrier's local time, with an offset when
the carrier gave one; a zone-less one is read in the checkpoint's place (its country and
state, else the one country the journey implies), see `_naive_time_zone`. The final-mile
carrier of a multi-leg parcel is `last_mile` (`next_couriers` before 2025-01). Envelopes
differ by version: `data.tracking` (v4, 2023-10), `data` itself (2024-04 on),
`data.trackings[]` for a list, `msg` in a webhook.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timezone
from typing import Any, Final

from ..carriers import carrier_display_name
from ..errors import (
    InvalidTrackingNumberError,
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
    day_bound,
    join_location,
    mentions_export,
    newest_events,
    number_key,
    opt_str,
    parse_iso,
    plausible_time,
)
from ._zones import country_code, local_offset

# --- Errors ------------------------------------------------------------------------------

# AfterShip `meta.code` values of a failed request, and which of our errors each becomes.
AFTERSHIP_META_CODES: Final[Mapping[int, tuple[type[TrackingError], str]]] = {
    400: (TrackingError, "invalid request"),
    401: (TrackingAuthenticationError, "invalid API key"),
    403: (TrackingAuthenticationError, "request not allowed for this key"),
    404: (TrackingNotFoundError, "resource not found"),
    429: (TrackingRateLimitError, "too many requests"),
    500: (TrackingConnectionError, "internal error"),
    502: (TrackingConnectionError, "internal error"),
    503: (TrackingConnectionError, "service unavailable"),
    504: (TrackingConnectionError, "gateway timeout"),
    4001: (TrackingError, "invalid JSON"),
    4003: (TrackingError, "tracking already exists"),
    4004: (TrackingNotFoundError, "tracking does not exist"),
    4005: (InvalidTrackingNumberError, "tracking number is invalid"),
    4006: (TrackingError, "tracking object is required"),
    4007: (TrackingError, "tracking number is required"),
    4008: (TrackingError, "a field value is invalid"),
    4009: (TrackingError, "a required field is missing"),
    4010: (TrackingError, "the courier slug is invalid"),
    4011: (TrackingError, "a required field is missing or invalid"),
    4012: (TrackingNotFoundError, "the courier cannot be detected"),
    4013: (TrackingError, "retrack is not allowed for an active tracking"),
    4014: (TrackingError, "notification is required"),
    4015: (TrackingError, "the tracking ID is invalid"),
    4016: (TrackingError, "a tracking can be retracked once only"),
    4017: (InvalidTrackingNumberError, "the tracking number format is invalid"),
}

# The reason given when AfterShip rejects a number (a stable translation key).
REJECTED_BY_SOURCE: Final = "rejected_by_source"

_OK: Final = frozenset({200, 201})


def aftership_error_for(code: int, message: str) -> TrackingError:
    """The engine error for an AfterShip `meta.code` (unknown codes give the base error)."""
    kind, meaning = AFTERSHIP_META_CODES.get(code, (TrackingError, "unknown error"))
    text = f"AfterShip error {code}: {message or meaning}"
    if kind is InvalidTrackingNumberError:
        return InvalidTrackingNumberError(text, reason=REJECTED_BY_SOURCE)
    return kind(text)


def aftership_request_error(body: object) -> TrackingError | None:
    """The error of a failed request (`meta.code` not 200/201), None when it succeeded."""
    meta = body.get("meta") if isinstance(body, Mapping) else None
    if not isinstance(meta, Mapping):
        return None
    code = meta.get("code")
    if isinstance(code, bool) or not isinstance(code, int) or code in _OK:
        return None
    return aftership_error_for(code, opt_str(meta.get("message")) or "")


# --- Stages ------------------------------------------------------------------------------

# Sub-statuses (`subtag`), from AfterShip's delivery sub-status table. Left out on purpose:
# codes only other projects' maps name (Exception_014 and up, InTransit_010,
# AvailableForPickup_002/003, Pending_002..006): unverified, and their tag prefix already
# gives the right stage through `aftership_stage`'s fallback.
_SUBTAG_STAGES: Final[Mapping[str, Stage | None]] = {
    "Pending_001": None,  # no information yet
    "InfoReceived_001": Stage.INFO_RECEIVED,
    "InTransit_001": Stage.IN_TRANSIT,  # in transit
    "InTransit_002": Stage.ORIGIN_PROCESSING,  # acceptance scan
    "InTransit_003": Stage.IN_TRANSIT,  # arrival scan at a hub
    "InTransit_004": Stage.IN_TRANSIT,  # arrived at the destination country
    "InTransit_005": Stage.CUSTOMS,  # customs clearance completed
    "InTransit_006": Stage.CUSTOMS,  # customs clearance started
    "InTransit_007": Stage.IN_TRANSIT,  # departure scan
    "InTransit_008": Stage.IN_TRANSIT,  # problem resolved
    "InTransit_009": Stage.IN_TRANSIT,  # forwarded to a different address
    "OutForDelivery_001": Stage.OUT_FOR_DELIVERY,
    "OutForDelivery_002": Stage.AVAILABLE_FOR_PICKUP,  # older table: available for pickup
    "OutForDelivery_003": Stage.OUT_FOR_DELIVERY,  # customer contacted
    "OutForDelivery_004": Stage.LAST_MILE,  # delivery appointment scheduled
    "AvailableForPickup_001": Stage.AVAILABLE_FOR_PICKUP,
    "AttemptFail_001": Stage.DELIVERY_FAILED,
    "AttemptFail_002": Stage.DELIVERY_FAILED,  # addressee not available
    "AttemptFail_003": Stage.DELIVERY_FAILED,  # business closed
    "Delivered_001": Stage.DELIVERED,
    "Delivered_002": Stage.DELIVERED,  # picked up by the customer
    "Delivered_003": Stage.DELIVERED,  # signed by the customer
    "Delivered_004": Stage.DELIVERED,  # delivered, cash collected
    "Delivered_005": Stage.DELIVERED,  # delivered to a neighbour
    "Exception_001": Stage.EXCEPTION,
    "Exception_002": Stage.EXCEPTION,  # customer moved
    "Exception_003": Stage.EXCEPTION,  # customer refused delivery
    "Exception_004": Stage.EXCEPTION,  # delayed in customs
    "Exception_005": Stage.EXCEPTION,  # delayed by external factors
    "Exception_006": Stage.EXCEPTION,  # held for payment
    "Exception_007": Stage.EXCEPTION,  # incorrect address
    "Exception_008": Stage.EXCEPTION,  # pickup missed
    "Exception_009": Stage.EXCEPTION,  # rejected by the carrier
    "Exception_010": Stage.RETURNING,  # returning to sender
    "Exception_011": Stage.RETURNED,  # returned to sender
    "Exception_012": Stage.EXCEPTION,  # damaged
    "Exception_013": Stage.EXCEPTION,  # lost
    "Expired_001": None,  # no information for 30 days
}

# Delivery statuses (`tag`); also the fallback for a sub-status added after this table.
_TAG_STAGES: Final[Mapping[str, Stage | None]] = {
    "Pending": None,
    "InfoReceived": Stage.INFO_RECEIVED,
    "InTransit": Stage.IN_TRANSIT,
    "OutForDelivery": Stage.OUT_FOR_DELIVERY,
    "AttemptFail": Stage.DELIVERY_FAILED,
    "Delivered": Stage.DELIVERED,
    "AvailableForPickup": Stage.AVAILABLE_FOR_PICKUP,
    "Exception": Stage.EXCEPTION,
    "Expired": None,
}

_NOTHING_YET: Final = frozenset({None, "Pending", "Expired"})

# For `audit`: the JSON keys whose values these tables map.
AUDITED_CODES: Final[Mapping[str, Mapping[str, Stage | None]]] = {
    "subtag": _SUBTAG_STAGES,
    "tag": _TAG_STAGES,
}


def aftership_stage(subtag: str | None, tag: str | None, *, export: bool = False) -> Stage | None:
    """Our stage for an AfterShip sub-status and status.

    A known sub-status wins, then the status, then an unknown sub-status's own status
    prefix. Export customs (`export`) happen at origin.
    """
    if subtag is not None and subtag in _SUBTAG_STAGES:
        stage = _SUBTAG_STAGES[subtag]
    elif tag is not None and tag in _TAG_STAGES:
        stage = _TAG_STAGES[tag]
    elif subtag is not None:
        stage = _TAG_STAGES.get(subtag.partition("_")[0])
    else:
        stage = None
    if stage is Stage.CUSTOMS and export:
        return Stage.ORIGIN_PROCESSING
    return stage


# --- Checkpoints -------------------------------------------------------------------------


# Couriers that deliver in one country only: their checkpoints are in it.
_HOME_COUNTRIES: Final[Mapping[str, str]] = {
    "usps": "US",
    "canada-post": "CA",
    "australia-post": "AU",
    "royal-mail": "GB",
    "dhl-germany": "DE",
    "deutsch-post": "DE",
    "la-poste-colissimo": "FR",
    "colissimo": "FR",
    "poste-italiane": "IT",
    "postnl": "NL",
    "spain-correos-es": "ES",
    "poczta-polska": "PL",
    "israel-post": "IL",
    "ukrposhta": "UA",
    "korea-post": "KR",
    "japan-post": "JP",
    "nova-poshta": "UA",
    "inpost-paczkomaty": "PL",
    "brazil-correios": "BR",
}


def _observed_offset(checkpoints: list[Mapping[str, Any]], slug: str | None) -> timezone | None:
    """An offset another checkpoint states: the same courier's first, else any."""
    for wanted in (slug, None):
        for checkpoint in checkpoints:
            if wanted is not None and opt_str(checkpoint.get("slug")) != wanted:
                continue
            when = parse_iso(checkpoint.get("checkpoint_time"))
            if when is not None and isinstance(when.tzinfo, timezone):
                return when.tzinfo
    return None


def _checkpoint_country(checkpoint: Mapping[str, Any]) -> str | None:
    for key in ("country_region", "country_iso3", "country_name", "country_region_name"):
        if (code := country_code(opt_str(checkpoint.get(key)))) is not None:
            return code
    return None


def _journey_country(tracking: Mapping[str, Any], slug: str | None) -> str | None:
    """The one country a courier's checkpoints can be in, when the reply implies one."""
    if slug is not None and slug in _HOME_COUNTRIES:
        return _HOME_COUNTRIES[slug]
    if slug is not None and slug != opt_str(tracking.get("slug")):
        # A final-mile courier's checkpoints are in the destination country.
        for key in ("destination_country_region", "destination_country_iso3"):
            if (code := country_code(opt_str(tracking.get(key)))) is not None:
                return code
    countries = {
        code
        for key in (
            "origin_country_region",
            "origin_country_iso3",
            "destination_country_region",
            "destination_country_iso3",
        )
        if (code := country_code(opt_str(tracking.get(key)))) is not None
    }
    return countries.pop() if len(countries) == 1 else None


def _naive_time_zone(
    checkpoint: Mapping[str, Any],
    local: datetime,
    *,
    journey_country: str | None,
    observed: timezone | None,
) -> timezone:
    """The offset for a checkpoint time the carrier gave without one.

    AfterShip passes on the carrier's local wall-clock time, offset or not; reading a
    zone-less one as UTC puts US scans hours off. In order: the checkpoint's own country
    (and state), else the one country the journey implies (a domestic courier, or equal
    origin and destination), resolved by state where the country has several zones;
    then an offset another checkpoint of the reply states; then a multi-zone country's
    representative zone; UTC only when the reply says nothing about the place.
    """
    state = opt_str(checkpoint.get("state"))
    country = _checkpoint_country(checkpoint) or journey_country
    place = local_offset(country, state, local) if country else None
    if place is not None and place.exact:
        return place.offset
    if observed is not None:
        return observed
    return place.offset if place is not None else UTC


def _checkpoint_time(
    checkpoint: Mapping[str, Any],
    *,
    journey_country: str | None,
    observed: timezone | None,
) -> datetime | None:
    # `created_at` (when AfterShip stored it, UTC) stands in only when the carrier gave no time.
    when = parse_iso(checkpoint.get("checkpoint_time"))
    if when is None and (naive := parse_iso(checkpoint.get("checkpoint_time"), default_tz=UTC)):
        zone = _naive_time_zone(
            checkpoint, naive, journey_country=journey_country, observed=observed
        )
        when = naive.replace(tzinfo=zone)
    when = when or parse_iso(checkpoint.get("created_at"), default_tz=UTC)
    return when if when is not None and plausible_time(when) else None


def _checkpoint_location(checkpoint: Mapping[str, Any]) -> str | None:
    if (location := opt_str(checkpoint.get("location"))) is not None:
        return location
    country = (
        checkpoint.get("country_name")
        or checkpoint.get("country_region_name")
        or checkpoint.get("country_iso3")
        or checkpoint.get("country_region")
    )
    return join_location(checkpoint.get("city"), checkpoint.get("state"), country)


def _events(
    tracking: Mapping[str, Any], number: str, slug: str | None, local: tuple[str, str] | None
) -> list[TrackingEvent]:
    raw_checkpoints = as_list(tracking.get("checkpoints"), what="AfterShip checkpoints")
    if not raw_checkpoints and tracking.get("checkpoint") is not None:
        # The last-checkpoint endpoint answers one `checkpoint` instead of a list.
        raw_checkpoints = [tracking.get("checkpoint")]
    checkpoints = [as_dict(raw, what="AfterShip checkpoint") for raw in raw_checkpoints]
    events: list[TrackingEvent] = []
    places: dict[str | None, tuple[str | None, timezone | None]] = {}
    for checkpoint in checkpoints:
        own_slug = opt_str(checkpoint.get("slug")) or slug
        if own_slug not in places:
            places[own_slug] = (
                _journey_country(tracking, own_slug),
                _observed_offset(checkpoints, own_slug),
            )
        journey_country, observed = places[own_slug]
        when = _checkpoint_time(checkpoint, journey_country=journey_country, observed=observed)
        if when is None:
            continue
        subtag, tag = opt_str(checkpoint.get("subtag")), opt_str(checkpoint.get("tag"))
        message = opt_str(checkpoint.get("message")) or opt_str(checkpoint.get("subtag_message"))
        # Cainiao's export customs codes start CC_EX (import ones CC_IM).
        raw_tag = opt_str(checkpoint.get("raw_tag")) or ""
        export = raw_tag.upper().startswith("CC_EX") or mentions_export(message)
        # The final-mile courier's checkpoints are about its own number.
        own_number = local[1] if local and own_slug == local[0] and own_slug != slug else number
        events.append(
            TrackingEvent(
                time=when,
                description=message or "",
                location=_checkpoint_location(checkpoint),
                carrier=carrier_display_name(own_slug),
                source=Source.AFTERSHIP,
                stage=aftership_stage(subtag, tag, export=export),
                code=subtag or tag,
                tracking_number=own_number,
            )
        )
    events.sort(key=lambda e: e.time, reverse=True)
    return events


# --- Tracking ----------------------------------------------------------------------------


def _last_mile(tracking: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The final-mile courier's slug and number (`last_mile`, or v4's `next_couriers`)."""
    last_mile = tracking.get("last_mile")
    if isinstance(last_mile, Mapping):
        return opt_str(last_mile.get("slug")), number_key(last_mile.get("tracking_number"))
    couriers = tracking.get("next_couriers")
    first = couriers[0] if isinstance(couriers, list) and couriers else None
    if isinstance(first, Mapping):
        return opt_str(first.get("slug")), number_key(first.get("tracking_number"))
    return None, None


# Estimate fields, best first: the carrier's own, AfterShip's latest pick, its AI's, custom;
# each as (field, earliest, latest, single date).
_EDD: Final = (
    "estimated_delivery_date_min",
    "estimated_delivery_date_max",
    "estimated_delivery_date",
)
_ETA_FIELDS: Final = (
    ("courier_estimated_delivery_date", *_EDD),
    ("latest_estimated_delivery", "datetime_min", "datetime_max", "datetime"),
    ("aftership_estimated_delivery_date", *_EDD),
    ("custom_estimated_delivery_date", *_EDD),
)


def _eta(tracking: Mapping[str, Any], tz: timezone) -> EtaWindow | None:
    for field, low, high, single in _ETA_FIELDS:
        estimate = tracking.get(field)
        if not isinstance(estimate, Mapping):
            continue
        earliest = day_bound(estimate.get(low) or estimate.get(single), tz=tz, end=False)
        latest = day_bound(estimate.get(high) or estimate.get(single), tz=tz, end=True)
        if earliest is not None or latest is not None:
            return EtaWindow(earliest=earliest, latest=latest)
    expected = tracking.get("expected_delivery")
    earliest = day_bound(expected, tz=tz, end=False)
    latest = day_bound(expected, tz=tz, end=True)
    if earliest is None and latest is None:
        return None
    return EtaWindow(earliest=earliest, latest=latest)


def _first_str(tracking: Mapping[str, Any], *keys: str) -> str | None:
    return next((text for key in keys if (text := opt_str(tracking.get(key)))), None)


def _snapshot(tracking: Mapping[str, Any], number: str) -> SourceSnapshot:
    slug = opt_str(tracking.get("slug"))
    local_slug, local_number = _last_mile(tracking)
    local = (local_slug, local_number) if local_slug and local_number else None
    events = _events(tracking, number, slug, local)
    subtag, tag = opt_str(tracking.get("subtag")), opt_str(tracking.get("tag"))
    found = bool(events) or tag not in _NOTHING_YET
    eta_tz = events[0].time.tzinfo if events else UTC
    return SourceSnapshot(
        source=Source.AFTERSHIP,
        tracking_number=number,
        found=found,
        carrier=carrier_display_name(slug),
        events=newest_events(events, what="AfterShip checkpoints"),
        status_stage=aftership_stage(subtag, tag) if found else None,
        status_text=opt_str(tracking.get("subtag_message")) or tag,
        local_carrier=carrier_display_name(local_slug),
        local_tracking_number=local_number,
        local_carrier_code=local_slug,
        eta=_eta(tracking, eta_tz if isinstance(eta_tz, timezone) else UTC),
        origin_country=_first_str(tracking, "origin_country_region", "origin_country_iso3"),
        destination_country=_first_str(
            tracking,
            "destination_country_region",
            "destination_country_iso3",
            "courier_destination_country_region",
            "courier_destination_country_iso3",
        ),
    )


def _add(results: dict[str, SourceResult], raw: object) -> None:
    tracking = as_dict(raw, what="AfterShip tracking")
    number = number_key(tracking.get("tracking_number"))
    if number is None:
        raise TrackingInvalidResponseError("AfterShip tracking without a tracking number")
    try:
        result: SourceResult = _snapshot(tracking, number)
    except TrackingInvalidResponseError as err:
        # One mangled tracking spoils only its own number.
        result = err
    old = results.get(number)
    if old is None or (
        isinstance(result, SourceSnapshot)
        and (not isinstance(old, SourceSnapshot) or len(result.events) > len(old.events))
    ):
        results[number] = result


def parse_aftership(body: object) -> dict[str, SourceResult]:
    """Map an AfterShip response or webhook onto results keyed by number.

    Accepts `{"meta", "data": {"tracking": {...}}}` (v4, 2023-10), `{"data": {...}}`
    (2024-04 on), `{"data": {"trackings": [...]}}` (a list), a webhook's `{"msg": {...}}`
    and a bare tracking object. Keys are the numbers upper-cased without spaces. A
    tracking AfterShip has nothing on yet (`Pending`, no checkpoints) gives
    `found=False`. Anything unrecognisable, and a failed request, raises
    TrackingInvalidResponseError (a failed request's error is its cause).
    """
    root = as_dict(body, what="AfterShip")
    if (error := aftership_request_error(root)) is not None:
        raise TrackingInvalidResponseError(f"AfterShip refused the request: {error}") from error
    results: dict[str, SourceResult] = {}
    if "tracking_number" in root:
        _add(results, root)
        return results
    if "msg" in root:
        _add(results, root.get("msg"))
        return results
    data = as_dict(root.get("data"), what="AfterShip data")
    if "trackings" in data:
        for raw in capped_list(data.get("trackings"), what="AfterShip trackings"):
            _add(results, raw)
    elif "tracking" in data:
        _add(results, data.get("tracking"))
    elif "tracking_number" in data:
        _add(results, data)
    else:
        raise TrackingInvalidResponseError("AfterShip data holds no tracking")
    return results
