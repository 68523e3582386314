"""JSON Schemas of the ES2+ request bodies (SGP.22 v2.5 §5.3 / §6.5.2, as summarised in
../shared/specs/es2plus.md), strict: `additionalProperties: false` everywhere, so a misspelt
member (``releaseflag``, ``finalProfileStatus``) fails instead of being ignored.

Required sets follow SGP.22: every request has the header; ConfirmOrder needs iccid and
releaseFlag; CancelOrder iccid and finalProfileStatusIndicator (Available | Unavailable);
HandleDownloadProgressInfo iccid, profileType, timestamp, notificationPointId and
notificationPointStatus.
"""

from __future__ import annotations

from typing import Any

import jsonschema_rs

# ICCID: 19 digits + F, or 19/20 digits (the Luhn check is the server's business, not the schema's).
ICCID = {"type": "string", "pattern": "^89[0-9]{17}([0-9]|F|f)?$"}
EID = {"type": "string", "pattern": "^[0-9]{32}$"}
TEXT = {"type": "string", "minLength": 1, "maxLength": 128}

REQUEST_HEADER = {
    "type": "object",
    "required": ["functionRequesterIdentifier", "functionCallIdentifier"],
    "properties": {"functionRequesterIdentifier": TEXT, "functionCallIdentifier": TEXT},
    "additionalProperties": False,
}

STATUS_CODE_DATA = {
    "type": "object",
    "required": ["subjectCode", "reasonCode"],
    "properties": {
        "subjectCode": {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)*$"},
        "reasonCode": {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)*$"},
        "subjectIdentifier": {"type": "string"},
        "message": {"type": "string"},
    },
    "additionalProperties": False,
}


def _request(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["header", *required],
        "properties": {"header": REQUEST_HEADER, **properties},
        "additionalProperties": False,
    }


DOWNLOAD_ORDER = _request([], {"eid": EID, "iccid": ICCID, "profileType": TEXT})
CONFIRM_ORDER = _request(
    ["iccid", "releaseFlag"],
    {
        "iccid": ICCID,
        "eid": EID,
        "matchingId": {"type": "string", "pattern": "^[0-9A-Z-]*$"},
        "confirmationCode": {"type": "string"},
        "smdsAddress": {"type": "string"},
        "releaseFlag": {"type": "boolean"},
    },
)
CANCEL_ORDER = _request(
    ["iccid", "finalProfileStatusIndicator"],
    {
        "iccid": ICCID,
        "eid": EID,
        "matchingId": {"type": "string"},
        "finalProfileStatusIndicator": {"enum": ["Available", "Unavailable"]},
    },
)
RELEASE_PROFILE = _request(["iccid"], {"iccid": ICCID})
HANDLE_DOWNLOAD_PROGRESS_INFO = _request(
    ["iccid", "profileType", "timestamp", "notificationPointId", "notificationPointStatus"],
    {
        "iccid": ICCID,
        "eid": EID,
        "profileType": TEXT,
        "timestamp": {"type": "string", "format": "date-time"},
        "notificationPointId": {"type": "integer", "minimum": 0},
        "notificationPointStatus": {
            "type": "object",
            "required": ["status"],
            "properties": {
                "status": {"enum": ["Executed-Success", "Executed-WithWarning", "Failed", "Expired"]},
                "statusCodeData": STATUS_CODE_DATA,
            },
            "additionalProperties": False,
        },
        "resultData": {"type": "string", "contentEncoding": "base64"},
    },
)

REQUESTS: dict[str, dict[str, Any]] = {
    "downloadOrder": DOWNLOAD_ORDER,
    "confirmOrder": CONFIRM_ORDER,
    "cancelOrder": CANCEL_ORDER,
    "releaseProfile": RELEASE_PROFILE,
    "handleDownloadProgressInfo": HANDLE_DOWNLOAD_PROGRESS_INFO,
}

_validators = {name: jsonschema_rs.validator_for(schema, validate_formats=True) for name, schema in REQUESTS.items()}


def request_errors(function: str, body: object) -> list[str]:
    """What is wrong with a request body for the function (empty when it is valid)."""
    validator = _validators.get(function)
    if validator is None:
        return [f"no ES2+ function {function!r}"]
    return [f"{error.instance_path}: {error.message}" for error in validator.iter_errors(body)]
