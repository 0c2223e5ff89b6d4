"""Config flow: the entry (optional credentials), shipments as subentries, and options."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import difflib
from typing import Any

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentry,
    ConfigSubentryFlow,
    OptionsFlow,
    SubentryFlowResult,
)
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import voluptuous as vol

from .const import (
    CARRIER_AUTO,
    CONF_AFTERSHIP_API_KEY,
    CONF_CARRIER,
    CONF_KEEP_DELIVERED_DAYS,
    CONF_LOCAL_CARRIER,
    CONF_LOCAL_TRACKING_NUMBER,
    CONF_ORDER_NUMBER,
    CONF_SENSITIVITY,
    CONF_SEVENTEEN_TRACK_API_KEY,
    CONF_SPEED,
    CONF_TRACKING_NUMBER,
    CONF_USPS_CLIENT_ID,
    CONF_USPS_CLIENT_SECRET,
    CREDENTIAL_KEYS,
    DEFAULT_KEEP_DELIVERED_DAYS,
    DEFAULT_SENSITIVITY,
    DEFAULT_SPEED,
    DOMAIN,
    LOGGER,
    MAX_KEEP_DELIVERED_DAYS,
    SENSITIVITIES,
    SOURCE_CREDENTIALS,
    SPEEDS,
    SUBENTRY_SHIPMENT,
)
from .coordinator import (
    async_create_source_client,
    configured_sources,
    endpoint_overrides,
)
from .tracking.carriers import carrier_display_name
from .tracking.clients.seventeen_track import SeventeenTrackClient
from .tracking.detection import (
    CarrierCandidate,
    detect_carriers,
    looks_mistyped,
    normalize_tracking_number,
)
from .tracking.errors import (
    InvalidTrackingNumberError,
    TrackingAuthenticationError,
    TrackingError,
    TrackingQuotaExceededError,
)
from .tracking.model import Source

TITLE = "Parcel Handoff"

_TEXT = TextSelector()
_SECRET = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))

CREDENTIALS_SCHEMA = vol.Schema(
    {
        vol.Optional(CONF_USPS_CLIENT_ID): _TEXT,
        vol.Optional(CONF_USPS_CLIENT_SECRET): _SECRET,
        vol.Optional(CONF_SEVENTEEN_TRACK_API_KEY): _SECRET,
        vol.Optional(CONF_AFTERSHIP_API_KEY): _SECRET,
    }
)

CARRIER_SELECTOR = SelectSelector(
    SelectSelectorConfig(
        options=[CARRIER_AUTO, *(source.value for source in Source)],
        translation_key=CONF_CARRIER,
        mode=SelectSelectorMode.DROPDOWN,
    )
)

SHIPMENT_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_TRACKING_NUMBER): _TEXT,
        vol.Optional(CONF_NAME): _TEXT,
        vol.Optional(CONF_ORDER_NUMBER): _TEXT,
        vol.Required(CONF_CARRIER, default=CARRIER_AUTO): CARRIER_SELECTOR,
    }
)

# The carriers parcels are handed to, offered for the local carrier (another can be typed).
LOCAL_CARRIERS: tuple[str, ...] = (
    "USPS",
    "UPS",
    "FedEx",
    "DHL",
    "DHL Express",
    "DHL Parcel",
    "Royal Mail",
    "Canada Post",
    "Australia Post",
    "Deutsche Post",
    "La Poste",
    "Colissimo",
    "PostNL",
    "Correos",
    "Poczta Polska",
    "Israel Post",
)

LOCAL_CARRIER_SELECTOR = SelectSelector(
    SelectSelectorConfig(
        options=list(LOCAL_CARRIERS),
        custom_value=True,
        sort=True,
        mode=SelectSelectorMode.DROPDOWN,
    )
)

RECONFIGURE_SHIPMENT_SCHEMA = vol.Schema(
    {
        vol.Optional(CONF_NAME): _TEXT,
        vol.Optional(CONF_ORDER_NUMBER): _TEXT,
        vol.Required(CONF_CARRIER, default=CARRIER_AUTO): CARRIER_SELECTOR,
        vol.Optional(CONF_LOCAL_TRACKING_NUMBER): _TEXT,
        vol.Optional(CONF_LOCAL_CARRIER): LOCAL_CARRIER_SELECTOR,
    }
)

OPTIONS_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_SPEED, default=DEFAULT_SPEED): SelectSelector(
            SelectSelectorConfig(options=list(SPEEDS), translation_key=CONF_SPEED)
        ),
        vol.Required(CONF_SENSITIVITY, default=DEFAULT_SENSITIVITY): SelectSelector(
            SelectSelectorConfig(options=list(SENSITIVITIES), translation_key=CONF_SENSITIVITY)
        ),
        vol.Required(CONF_KEEP_DELIVERED_DAYS, default=DEFAULT_KEEP_DELIVERED_DAYS): NumberSelector(
            NumberSelectorConfig(
                min=0,
                max=MAX_KEEP_DELIVERED_DAYS,
                step=1,
                mode=NumberSelectorMode.BOX,
                unit_of_measurement="d",
            )
        ),
    }
)

DEFAULT_OPTIONS: dict[str, Any] = {
    CONF_SPEED: DEFAULT_SPEED,
    CONF_SENSITIVITY: DEFAULT_SENSITIVITY,
    CONF_KEEP_DELIVERED_DAYS: DEFAULT_KEEP_DELIVERED_DAYS,
}


# --- Credentials ---------------------------------------------------------------------------


def clean_credentials(user_input: Mapping[str, Any]) -> dict[str, str]:
    """The credentials the user filled in, trimmed; blank fields dropped."""
    return {
        key: value.strip()
        for key in CREDENTIAL_KEYS
        if isinstance(value := user_input.get(key), str) and value.strip()
    }


async def async_validate_credentials(
    hass: HomeAssistant, data: Mapping[str, Any]
) -> dict[str, str]:
    """Try every source the credentials enable; return form errors by field."""
    errors: dict[str, str] = {}
    usps = [data.get(key) for key in SOURCE_CREDENTIALS[Source.USPS].values()]
    if any(usps) and not all(usps):
        missing = CONF_USPS_CLIENT_SECRET if data.get(CONF_USPS_CLIENT_ID) else CONF_USPS_CLIENT_ID
        errors[missing] = "usps_incomplete"
    endpoints = endpoint_overrides(data)
    for source in configured_sources(data):
        if not (keys := list(SOURCE_CREDENTIALS[source].values())):
            continue  # Cainiao needs no key: nothing to test
        if (error := await _async_test_source(hass, source, data, endpoints)) is not None:
            errors[keys[-1]] = error
    return errors


async def _async_test_source(
    hass: HomeAssistant,
    source: Source,
    data: Mapping[str, Any],
    endpoints: Mapping[Source, str],
) -> str | None:
    """One cheap call with the source's credentials: None when they work."""
    try:
        client = async_create_source_client(hass, source, data, endpoints=endpoints)
        await client.async_validate_credentials()
    except TrackingAuthenticationError:
        return "invalid_auth"
    except TrackingQuotaExceededError:
        return "quota_exhausted"
    except TrackingError as err:
        LOGGER.debug("Testing %s failed: %s", source, err)
        return "cannot_connect"
    if isinstance(client, SeventeenTrackClient) and client.quota_exhausted:
        return "quota_exhausted"
    return None


SOURCE_NAMES: dict[Source, str] = {
    Source.CAINIAO: "Cainiao",
    Source.USPS: "USPS",
    Source.SEVENTEEN_TRACK: "17TRACK",
    Source.AFTERSHIP: "AfterShip",
}


def _failing_sources(entry: ConfigEntry) -> str:
    """Display names of the sources that rejected their credentials, for the reauth form."""
    coordinator = getattr(entry, "runtime_data", None)
    health = getattr(coordinator, "health", {})
    names = [SOURCE_NAMES[source] for source, h in health.items() if h.auth_failed]
    return ", ".join(names) or "—"


def _with_credentials(
    entry_data: Mapping[str, Any], credentials: Mapping[str, str]
) -> dict[str, Any]:
    """The entry data with its credentials replaced (other keys, e.g. endpoints, kept)."""
    kept = {key: value for key, value in entry_data.items() if key not in CREDENTIAL_KEYS}
    return {**kept, **credentials}


# --- Shipments -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ShipmentInput:
    """A shipment as a person (or an automation) gave it."""

    tracking_number: str
    name: str | None = None
    order_number: str | None = None
    carrier: str = CARRIER_AUTO


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidShipment:
    """A shipment ready to become a subentry: normalised number, detected carriers."""

    tracking_number: str
    name: str | None
    order_number: str | None
    carrier: str
    candidates: tuple[CarrierCandidate, ...]

    @property
    def mistyped(self) -> bool:
        """The number has a check digit, and it does not match: most likely a typo."""
        return looks_mistyped(self.candidates)


def _strip(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a shipment is refused: an error key and the placeholders of its message."""

    key: str
    placeholders: dict[str, str]


def _shipment_numbers(entry: ConfigEntry, subentry: ConfigSubentry) -> set[str]:
    """Every number a shipment is followed under: its own, and its local one if known."""
    numbers = {
        number
        for number in (
            subentry.unique_id,
            subentry.data.get(CONF_TRACKING_NUMBER),
            subentry.data.get(CONF_LOCAL_TRACKING_NUMBER),
        )
        if number
    }
    # The local number a portal gave (the handoff), when the entry is loaded.
    states = getattr(getattr(entry, "runtime_data", None), "data", None) or {}
    if (state := states.get(subentry.subentry_id)) is not None and state.shipment is not None:
        numbers.update(state.shipment.tracking_numbers)
    return numbers


def tracked_by(
    entry: ConfigEntry, number: str, *, besides: str | None = None
) -> ConfigSubentry | None:
    """The shipment (other than `besides`) already followed under `number`, if any."""
    for subentry in entry.subentries.values():
        if subentry.subentry_id == besides or subentry.subentry_type != SUBENTRY_SHIPMENT:
            continue
        if number in _shipment_numbers(entry, subentry):
            return subentry
    return None


def _already_tracked(number: str, subentry: ConfigSubentry) -> Refusal:
    return Refusal("already_tracked", {"tracking_number": number, "name": subentry.title})


def validate_shipment(
    entry: ConfigEntry, user: ShipmentInput
) -> tuple[ValidShipment | None, Refusal | None]:
    """Normalise and check a new shipment; return it, or why it is refused."""
    try:
        number = normalize_tracking_number(user.tracking_number)
        candidates = tuple(detect_carriers(number))
    except InvalidTrackingNumberError as err:
        return None, Refusal(
            f"tracking_number_{err.reason}", {"tracking_number": user.tracking_number}
        )
    # The number to track: routing prefixes (USPS 420+ZIP) removed.
    number = candidates[0].tracking_number
    if (other := tracked_by(entry, number)) is not None:
        return None, _already_tracked(number, other)
    if user.carrier != CARRIER_AUTO and Source(user.carrier) not in configured_sources(entry.data):
        return None, Refusal("source_not_configured", {"tracking_number": number})
    return (
        ValidShipment(
            tracking_number=number,
            name=_strip(user.name),
            order_number=_strip(user.order_number),
            carrier=user.carrier,
            candidates=candidates,
        ),
        None,
    )


def local_carrier_name(typed: str) -> tuple[str | None, str | None]:
    """The local carrier's display name, or a known one it looks like a typo of.

    Returns (name, None) for a known carrier (however it was spelt) or one unlike any
    known name, and (None, suggestion) for a near miss such as "Royal Mial".
    """
    name = carrier_display_name(typed) or typed
    known = {carrier.casefold(): carrier for carrier in LOCAL_CARRIERS}
    if name in LOCAL_CARRIERS or name.casefold() in known:
        return known.get(name.casefold(), name), None
    close = difflib.get_close_matches(name.casefold(), list(known), n=1, cutoff=0.75)
    if close:
        return None, known[close[0]]
    return name, None


def shipment_data(shipment: ValidShipment) -> dict[str, Any]:
    """The subentry data of a new shipment."""
    data: dict[str, Any] = {
        CONF_TRACKING_NUMBER: shipment.tracking_number,
        CONF_CARRIER: shipment.carrier,
    }
    if shipment.order_number:
        data[CONF_ORDER_NUMBER] = shipment.order_number
    return data


def shipment_title(shipment: ValidShipment) -> str:
    """The subentry (and device) title: the name, else the tracking number."""
    return shipment.name or shipment.tracking_number


def _describe(candidates: tuple[CarrierCandidate, ...]) -> str:
    names = dict.fromkeys(carrier_display_name(c.carrier) or c.format.value for c in candidates)
    return ", ".join(names)


# --- Flows ---------------------------------------------------------------------------------


class ParcelHandoffConfigFlow(ConfigFlow, domain=DOMAIN):
    """One entry per Home Assistant; every credential optional and tested."""

    VERSION = 1
    MINOR_VERSION = 1

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> OptionsFlow:
        """Polling speed, attention sensitivity and how long delivered parcels stay."""
        return ParcelHandoffOptionsFlow()

    @classmethod
    @callback
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """Shipments are subentries."""
        return {SUBENTRY_SHIPMENT: ShipmentSubentryFlow}

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Set up with no key at all, or with the keys of the sources the user has."""
        if self._async_current_entries():
            return self.async_abort(reason="single_instance_allowed")
        errors: dict[str, str] = {}
        if user_input is not None:
            credentials = clean_credentials(user_input)
            if not (errors := await async_validate_credentials(self.hass, credentials)):
                return self.async_create_entry(
                    title=TITLE, data=credentials, options=dict(DEFAULT_OPTIONS)
                )
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(CREDENTIALS_SCHEMA, user_input),
            errors=errors,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change, add or remove credentials."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data = _with_credentials(entry.data, clean_credentials(user_input))
            if not (errors := await async_validate_credentials(self.hass, data)):
                return self._async_update_and_finish(entry, data, "reconfigure_successful")
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                CREDENTIALS_SCHEMA, user_input if user_input is not None else entry.data
            ),
            errors=errors,
        )

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """A source rejected its credentials."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Enter new credentials (or clear them to stop using that source)."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data = _with_credentials(entry.data, clean_credentials(user_input))
            if not (errors := await async_validate_credentials(self.hass, data)):
                return self._async_update_and_finish(entry, data, "reauth_successful")
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=self.add_suggested_values_to_schema(
                CREDENTIALS_SCHEMA, user_input if user_input is not None else entry.data
            ),
            errors=errors,
            description_placeholders={"sources": _failing_sources(entry)},
        )

    @callback
    def _async_update_and_finish(
        self, entry: ConfigEntry, data: dict[str, Any], reason: str
    ) -> ConfigFlowResult:
        """Save the new data; exactly one reload follows (ha-compat §2.3)."""
        if entry.update_listeners:
            # Loaded: the entry's update listener reloads it.
            self.hass.config_entries.async_update_entry(entry, data=data)
            return self.async_abort(reason=reason)
        return self.async_update_reload_and_abort(  # ha-compat: ok (no listener: not loaded)
            entry, data=data, reason=reason
        )


class ParcelHandoffOptionsFlow(OptionsFlow):
    """Polling speed, attention sensitivity, and how long delivered shipments stay."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """One form; the entry's update listener reloads with the new options."""
        if user_input is not None:
            return self.async_create_entry(
                data={
                    CONF_SPEED: user_input[CONF_SPEED],
                    CONF_SENSITIVITY: user_input[CONF_SENSITIVITY],
                    CONF_KEEP_DELIVERED_DAYS: int(user_input[CONF_KEEP_DELIVERED_DAYS]),
                }
            )
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(
                OPTIONS_SCHEMA, {**DEFAULT_OPTIONS, **self.config_entry.options}
            ),
        )


class ShipmentSubentryFlow(ConfigSubentryFlow):
    """Add a shipment, or change its name, carrier and local tracking number."""

    _pending: ValidShipment | None = None

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Tracking number, optional name and order number, optional carrier choice."""
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {"tracking_number": "", "name": ""}
        if user_input is not None:
            shipment, error = validate_shipment(
                self._get_entry(),
                ShipmentInput(
                    tracking_number=user_input[CONF_TRACKING_NUMBER],
                    name=user_input.get(CONF_NAME),
                    order_number=user_input.get(CONF_ORDER_NUMBER),
                    carrier=user_input.get(CONF_CARRIER, CARRIER_AUTO),
                ),
            )
            if error is not None:
                field = (
                    CONF_CARRIER if error.key == "source_not_configured" else CONF_TRACKING_NUMBER
                )
                errors[field] = error.key
                placeholders = error.placeholders
            elif shipment is not None and shipment.mistyped:
                self._pending = shipment
                return await self.async_step_check_digit()
            elif shipment is not None:
                return self._async_create(shipment)
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(SHIPMENT_SCHEMA, user_input),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_check_digit(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """The check digit does not match: add it anyway, or go back and fix it."""
        shipment = self._pending
        assert shipment is not None
        if user_input is not None:
            return self._async_create(shipment)
        return self.async_show_form(
            step_id="check_digit",
            data_schema=vol.Schema({}),
            description_placeholders={
                "tracking_number": shipment.tracking_number,
                "formats": _describe(shipment.candidates),
            },
        )

    @callback
    def _async_create(self, shipment: ValidShipment) -> SubentryFlowResult:
        return self.async_create_entry(
            title=shipment_title(shipment),
            data=shipment_data(shipment),
            unique_id=shipment.tracking_number,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Rename, change the carrier, or set the local tracking number by hand."""
        entry = self._get_entry()
        subentry = self._get_reconfigure_subentry()
        number = subentry.data[CONF_TRACKING_NUMBER]
        errors: dict[str, str] = {}
        placeholders = {"tracking_number": number, "name": "", "suggestion": ""}
        if user_input is not None:
            carrier = user_input.get(CONF_CARRIER, CARRIER_AUTO)
            data: dict[str, Any] = {CONF_TRACKING_NUMBER: number, CONF_CARRIER: carrier}
            if order := _strip(user_input.get(CONF_ORDER_NUMBER)):
                data[CONF_ORDER_NUMBER] = order
            if typed_carrier := _strip(user_input.get(CONF_LOCAL_CARRIER)):
                local_carrier, suggestion = local_carrier_name(typed_carrier)
                if local_carrier is not None:
                    data[CONF_LOCAL_CARRIER] = local_carrier
                else:
                    errors[CONF_LOCAL_CARRIER] = "local_carrier_unknown"
                    placeholders["suggestion"] = suggestion or ""
            if carrier != CARRIER_AUTO and Source(carrier) not in configured_sources(entry.data):
                errors[CONF_CARRIER] = "source_not_configured"
            if local := _strip(user_input.get(CONF_LOCAL_TRACKING_NUMBER)):
                try:
                    local_number = normalize_tracking_number(local)
                except InvalidTrackingNumberError as err:
                    errors[CONF_LOCAL_TRACKING_NUMBER] = f"tracking_number_{err.reason}"
                else:
                    data[CONF_LOCAL_TRACKING_NUMBER] = local_number
                    other = tracked_by(entry, local_number, besides=subentry.subentry_id)
                    if other is not None:
                        errors[CONF_LOCAL_TRACKING_NUMBER] = "already_tracked"
                        placeholders["name"] = other.title
            if not errors:
                return self.async_update_and_abort(
                    entry,
                    subentry,
                    title=_strip(user_input.get(CONF_NAME)) or number,
                    data=data,
                )
        suggested = {
            CONF_NAME: subentry.title,
            CONF_CARRIER: CARRIER_AUTO,
            **subentry.data,
        }
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                RECONFIGURE_SHIPMENT_SCHEMA, user_input if user_input is not None else suggested
            ),
            errors=errors,
            description_placeholders=placeholders,
        )
