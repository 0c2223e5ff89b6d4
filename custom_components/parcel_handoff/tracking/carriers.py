"""Carrier names: one display name per carrier, and which source can follow it."""

from __future__ import annotations

from functools import lru_cache
import re
from typing import Final

from .model import Source

# Folded name (lowercase letters and digits only) -> display name.
_DISPLAY_NAMES: Final[dict[str, str]] = {
    "cainiao": "Cainiao",
    "aliexpress": "Cainiao",
    "aliexpressstandardshipping": "Cainiao",
    "usps": "USPS",
    "unitedstatespostalservice": "USPS",
    "uspostalservice": "USPS",
    "israelpost": "Israel Post",
    "ups": "UPS",
    "fedex": "FedEx",
    "dhl": "DHL",
    "dhlexpress": "DHL Express",
    "royalmail": "Royal Mail",
    "canadapost": "Canada Post",
    "australiapost": "Australia Post",
    "deutschepost": "Deutsche Post",
    "dhlparcel": "DHL Parcel",
    "laposte": "La Poste",
    "colissimo": "Colissimo",
    "postnl": "PostNL",
    "correos": "Correos",
    "pocztapolska": "Poczta Polska",
    "yunexpress": "YunExpress",
    "yanwen": "Yanwen",
    "4px": "4PX",
    "sunyou": "SunYou",
    "chinapost": "China Post",
    "chinaems": "China EMS",
}

# Carriers that one of our own clients can track directly by their number.
_FOLLOWED_BY: Final[dict[str, Source]] = {
    "USPS": Source.USPS,
    "Cainiao": Source.CAINIAO,
}


def _fold(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


@lru_cache(maxsize=1024)
def carrier_display_name(raw: str | None) -> str | None:
    """Return the display name for a carrier as any portal spells it."""
    if raw is None or not (text := " ".join(raw.split())):
        return None
    return _DISPLAY_NAMES.get(_fold(text), text)


@lru_cache(maxsize=1024)
def source_for_carrier(carrier: str | None) -> Source | None:
    """Return the source whose client follows this carrier's numbers, if we have one."""
    name = carrier_display_name(carrier)
    return _FOLLOWED_BY.get(name) if name else None
