"""Constants of the Parcel Handoff integration."""

from __future__ import annotations

import logging
from typing import Final

from .tracking import tracker
from .tracking.model import Source

DOMAIN: Final = "parcel_handoff"
LOGGER: Final = logging.getLogger(__package__)

MANUFACTURER: Final = "Parcel Handoff"

# Credentials in the config entry's data, per source (Cainiao needs none).
CONF_USPS_CLIENT_ID: Final = "usps_client_id"
CONF_USPS_CLIENT_SECRET: Final = "usps_client_secret"  # noqa: S105 (a key name)
CONF_SEVENTEEN_TRACK_API_KEY: Final = "17track_api_key"
CONF_AFTERSHIP_API_KEY: Final = "aftership_api_key"

# Per source, the entry-data key of each credential its client takes (by the client's
# name for it); all of them must be set for the source to be used.
SOURCE_CREDENTIALS: Final[dict[Source, dict[str, str]]] = {
    Source.CAINIAO: {},
    Source.USPS: {"client_id": CONF_USPS_CLIENT_ID, "client_secret": CONF_USPS_CLIENT_SECRET},
    Source.SEVENTEEN_TRACK: {"api_key": CONF_SEVENTEEN_TRACK_API_KEY},
    Source.AFTERSHIP: {"api_key": CONF_AFTERSHIP_API_KEY},
}
CREDENTIAL_KEYS: Final[tuple[str, ...]] = tuple(
    key for keys in SOURCE_CREDENTIALS.values() for key in keys.values()
)

# Base URL overrides ({source: url}) for tests and the demo; users never see them.
CONF_ENDPOINTS: Final = "endpoints"
ENV_ENDPOINTS: Final = "PARCEL_HANDOFF_ENDPOINTS"

# Shipments are config subentries of this type.
SUBENTRY_SHIPMENT: Final = "shipment"
CONF_TRACKING_NUMBER: Final = "tracking_number"
CONF_ORDER_NUMBER: Final = "order_number"
CONF_CARRIER: Final = "carrier"
CONF_LOCAL_TRACKING_NUMBER: Final = "local_tracking_number"
CONF_LOCAL_CARRIER: Final = "local_carrier"
CARRIER_AUTO: Final = "auto"

# Options.
CONF_SPEED: Final = "speed"
CONF_SENSITIVITY: Final = "sensitivity"
CONF_KEEP_DELIVERED_DAYS: Final = "keep_delivered_days"

SPEEDS: Final[dict[str, float]] = {"slower": 0.5, "normal": 1.0, "faster": 2.0}
# Patience scales the attention limits: relaxed waits longer before it warns.
SENSITIVITIES: Final[dict[str, float]] = {"relaxed": 1.5, "normal": 1.0, "strict": 0.6}
DEFAULT_SPEED: Final = "normal"
DEFAULT_SENSITIVITY: Final = "normal"
DEFAULT_KEEP_DELIVERED_DAYS: Final = 0
MAX_KEEP_DELIVERED_DAYS: Final = 365

# Polling bounds of the coordinator, whatever the policy asks (the tracker's).
MIN_UPDATE_INTERVAL: Final = tracker.MIN_REFRESH_INTERVAL
MAX_UPDATE_INTERVAL: Final = tracker.MAX_REFRESH_INTERVAL

# Event types of the journey event entity besides the stages.
EVENT_HANDOFF: Final = tracker.EVENT_HANDOFF

# Actions.
SERVICE_ADD_SHIPMENT: Final = "add_shipment"
SERVICE_REMOVE_SHIPMENT: Final = "remove_shipment"
SERVICE_REFRESH: Final = "refresh"
SERVICE_GET_SHIPMENTS: Final = "get_shipments"
ATTR_CONFIG_ENTRY_ID: Final = "config_entry_id"

STORAGE_VERSION: Final = 1
STORAGE_SAVE_DELAY: Final = 10  # seconds: coalesce the saves of a busy refresh
