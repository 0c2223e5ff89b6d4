"""Cainiao and USPS vocabulary for the JSON fuzzing helpers in json_trees.py."""

from __future__ import annotations

from .json_trees import json_trees, load, paths, replaced

# Keys the normalizers read, so random objects reach past the first lookup now and then.
KNOWN_KEYS = (
    "success",
    "module",
    "mailNo",
    "mailNoSource",
    "status",
    "statusDesc",
    "detailList",
    "time",
    "timeStr",
    "timeZone",
    "actionCode",
    "standerdDesc",
    "desc",
    "destCpInfo",
    "cpName",
    "copyRealMailNo",
    "realMailNo",
    "globalEtaInfo",
    "deliveryMinTime",
    "deliveryMaxTime",
    "trackingNumber",
    "trackingEvents",
    "eventTimestamp",
    "GMTTimestamp",
    "GMTOffset",
    "eventCode",
    "eventType",
    "eventCity",
    "statusCategory",
    "statusCode",
    "error",
    "errors",
    "code",
    "message",
    "expectedDeliveryTimeStamp",
    "deliveryDateExpectation",
    "predictedDeliveryDate",
    "predictedDeliveryWindowStartTime",
    "endOfDay",
)

# Values that look like the real thing, for the same reason.
KNOWN_STRINGS = [
    "2025-03-04T19:05:00",
    "2025-03-04T00:05:44Z",
    "-05:00",
    "GMT+8",
    "2023-09-22 17:51:16",
    "1695376276000",
    "GTMS_SIGNED",
    "CC_IM_START",
    "01",
    "150001",
    "EXTERNAL",
    "9:00pm",
    "",
]

json_values = json_trees(KNOWN_KEYS, KNOWN_STRINGS)

__all__ = ["KNOWN_KEYS", "KNOWN_STRINGS", "json_values", "load", "paths", "replaced"]
