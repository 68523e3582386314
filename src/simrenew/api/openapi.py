"""What the generated OpenAPI document gains after ninja has built it: the error responses each
operation can give (all RFC 9457 problem+json, with examples), the rate-limit headers, and an
example on every schema.

Examples: a schema may bring its own (`json_schema_extra={"examples": [...]}`, as request bodies
do, because a good request example is a story, not a list of fields). The others get one made
from `FIELD_EXAMPLES` (a realistic value per field name) that respects the schema: enums, types,
nested schemas and lists. tests/api/test_api_openapi.py checks every example against its schema.

The document is committed as a snapshot (`openapi.json` beside this file); `document_text()` is
what the snapshot holds, and `scripts/update_openapi_snapshot.py` rewrites it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from simrenew.api.problems import PROBLEM_CONTENT_TYPE
from simrenew.api.webhook_docs import add_webhooks

SNAPSHOT_PATH = Path(__file__).with_name("openapi.json")
SCHEMA_REF = "#/components/schemas/"

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; every error the API returns has this shape.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "A stable URI reference naming the kind of problem."},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "What went wrong, for a human."},
        "errors": {
            "type": "array",
            "description": "For validation problems: one entry per field (dotted, e.g. records.0.bytes).",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
        "code": {"type": "string", "description": "A machine-readable reason within the type."},
    },
    "examples": [
        {
            "type": "/problems/validation-error",
            "title": "The request is not valid",
            "status": 422,
            "detail": "email: This field is required.",
            "errors": [{"field": "email", "message": "This field is required."}],
        }
    ],
}


def _problem(status: int, slug: str, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"type": f"/problems/{slug}", "title": title, "status": status, "detail": detail, **extra}


# status -> (description, {example name: problem})
ERROR_RESPONSES: dict[str, tuple[str, dict[str, dict[str, Any]]]] = {
    "400": (
        "The request cannot be read: malformed JSON, or a bad or missing `Idempotency-Key`",
        {
            "malformed-json": _problem(
                400,
                "malformed-json",
                "The body is not valid JSON",
                "The body is not valid JSON: Expecting value at line 1, column 1.",
            ),
            "idempotency-key-invalid": _problem(
                400,
                "idempotency-key-invalid",
                "The Idempotency-Key header is not valid",
                "The Idempotency-Key may be at most 255 characters.",
            ),
        },
    ),
    "401": (
        "Missing, unknown or revoked API key (with a `WWW-Authenticate: Bearer` challenge)",
        {
            "unauthorized": _problem(
                401, "unauthorized", "Authentication required", "Send your API key as `Authorization: Bearer <key>`."
            )
        },
    ),
    "403": (
        "The API key lacks the scope this needs (read < write < admin)",
        {
            "insufficient-scope": _problem(
                403,
                "insufficient-scope",
                "The API key lacks the scope for this",
                "This request needs an API key with the 'write' scope (or a broader one); this key has: read.",
            )
        },
    ),
    "404": (
        "Nothing has the id in the path",
        {"not-found": _problem(404, "not-found", "Not found", "No subscription with id 42.")},
    ),
    "409": (
        "Conflict: the `Idempotency-Key` was used for another request or is still in progress, "
        "or the resource is not in a state that allows this",
        {
            "idempotency-key-reused": _problem(
                409,
                "idempotency-key-reused",
                "The idempotency key was used for a different request",
                "The Idempotency-Key 'order-1001' was first used for POST /api/v1/customers with a different body. "
                "Use a new key for a new request.",
            ),
            "idempotency-key-in-use": _problem(
                409,
                "idempotency-key-in-use",
                "A request with this idempotency key is still in progress",
                "A request with the Idempotency-Key 'order-1001' is still being processed; retry in a moment.",
            ),
        },
    ),
    "422": (
        "The request is not valid; `errors` names each field",
        {
            "validation-error": _problem(
                422,
                "validation-error",
                "The request is not valid",
                "limit: Input should be less than or equal to 100.",
                errors=[{"field": "limit", "message": "Input should be less than or equal to 100."}],
            )
        },
    ),
    "429": (
        "Over the API key's rate limit; retry after `Retry-After` seconds",
        {
            "rate-limited": _problem(
                429,
                "rate-limited",
                "Too many requests",
                "This API key made more than 6000 reads in 60 s; retry after 12 s (see `Retry-After`).",
            )
        },
    ),
}

RATE_LIMIT_HEADERS: dict[str, Any] = {
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}},
    "RateLimit-Limit": {"description": "Requests of this kind allowed per window.", "schema": {"type": "integer"}},
    "RateLimit-Remaining": {"description": "Requests left in the window.", "schema": {"type": "integer"}},
    "RateLimit-Reset": {"description": "Seconds until the window resets.", "schema": {"type": "integer"}},
    "RateLimit-Policy": {"description": "The limit and window, e.g. `6000;w=60`.", "schema": {"type": "string"}},
}

# A realistic value per field name, used where it fits the field's schema.
FIELD_EXAMPLES: dict[str, Any] = {
    "id": 42,
    "customer_id": 7,
    "esim_id": 12,
    "subscription_id": 31,
    "plan_id": 3,
    "payment_method_id": 18,
    "invoice_id": 205,
    "endpoint_id": 4,
    "data_mb_pack_id": 2,
    "email": "ada@example.com",
    "paypal_email": "ada@example.com",
    "name": "Ada Lovelace",
    "plan_name": "AT&T 1 month",
    "locale": "en",
    "time_zone": "America/New_York",
    "phone": "+12125550100",
    "msisdn": "+12015550123",
    "carrier": "att",
    "code": "att-1m",
    "iccid": "8901260000000012345",
    "eid": "89049032000001000000000000000042",
    "activation_code": "1$smdp.example.com$MATCH-000123",
    "lpa_string": "LPA:1$smdp.example.com$MATCH-000123",
    "smdp_address": "smdp.example.com",
    "matching_id": "MATCH-000123",
    "ios_install_url": "https://esimsetup.apple.com/esim_qrcode_provisioning?carddata=LPA%3A1%24smdp.example.com%24MATCH-000123",
    "qr_svg_url": "https://esim.example.com/esims/qr/WzEyLDdd:1vQx2c:1tXyZa.svg",
    "qr_png_url": "https://esim.example.com/esims/qr/WzEyLDdd:1vQx2c:1tXyZa.png",
    "qr_code_data_uri": "data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciLz4=",
    "backup_reminder": "Back up your phone before you install an eSIM, and keep it on Wi-Fi.",
    "ios": ["Back up your iPhone and connect it to Wi-Fi.", "Open Settings > Mobile Data > Add eSIM > Use QR Code."],
    "android": ["Back up your phone and connect it to Wi-Fi.", "Open Settings > Network & internet > SIMs > Add SIM."],
    "url": "https://partner.example.com/hooks/simrenew",
    "currency": "USD",
    "amount_minor": 2500,
    "price_minor": 2500,
    "subtotal_minor": 2500,
    "discount_minor": 0,
    "total_minor": 2500,
    "refunded_minor": 0,
    "balance_minor": 1500,
    "data_mb": 10240,
    "bonus_data_mb": 0,
    "top_up_mb": 1024,
    "data_total_mb": 11264,
    "data_left_mb": 8192,
    "data_remaining_mb": 8192,
    "data_used_mb": 3072,
    "used_mb": 3072,
    "days_left": 19,
    "period_unit": "month",
    "period_count": 1,
    "version": 1,
    "number": "SR-00000205",
    "invoice_number": "SR-00000205",
    "brand": "visa",
    "last4": "4242",
    "exp_month": 12,
    "exp_year": 2030,
    "description": "AT&T 1 month, 15 Jan to 15 Feb 2026",
    "reason": "Customer could not use the plan",
    "failure_code": None,
    "failure_message": None,
    "source": "att-cdr",
    "record_id": "cdr-2026-01-15-000123",
    "bytes": 52428800,
    "accepted": 1,
    "duplicates": 0,
    "index": 0,
    "has_more": False,
    "next_starting_after": None,
    "limit": 20,
    "starting_after": None,
    "promo_code": "WELCOME10",
    "auto_renew": True,
    "is_current": True,
    "is_default": True,
    "sandbox": True,
    "frozen": True,
    "by": "P1DT12H",
    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "when": "period_end",
    "plan_purchase": "renewal",
    "notification_point": 3,
    "network_state": "active",
}
DATE_TIME_EXAMPLE = "2026-01-15T12:00:00+00:00"
LATER_EXAMPLES = {"ends_at", "period_end", "current_period_end", "paid_through", "expires_at", "until"}
LATER_DATE_TIME = "2026-02-15T12:00:00+00:00"
NULL_UNLESS_KNOWN = {"cancelled_at", "ended_at", "disabled_at", "failing_since", "since", "expiring_before"}


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith(SCHEMA_REF):
        return dict(spec["components"]["schemas"].get(ref.removeprefix(SCHEMA_REF), {}))
    return schema


def _fits(value: Any, schema: dict[str, Any]) -> bool:
    if "enum" in schema:
        return value in schema["enum"]
    kind = schema.get("type")
    checks = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
        "array": lambda v: isinstance(v, list),
        "object": lambda v: isinstance(v, dict),
    }
    if kind in checks and not checks[kind](value):
        return False
    if isinstance(value, str) and "maxLength" in schema and len(value) > schema["maxLength"]:
        return False
    if isinstance(value, int) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            return False
        if "maximum" in schema and value > schema["maximum"]:
            return False
    return kind is not None or "enum" in schema


def example_for(spec: dict[str, Any], schema: dict[str, Any], name: str = "", depth: int = 0) -> Any:
    """A value for a field called `name` that `schema` accepts."""
    schema = _resolve(spec, schema)
    if schema.get("examples"):
        return schema["examples"][0]
    if "const" in schema:
        return schema["const"]
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        resolved = [_resolve(spec, option) for option in options]
        if name in NULL_UNLESS_KNOWN and any(option.get("type") == "null" for option in resolved):
            return None
        known_null = name in FIELD_EXAMPLES and FIELD_EXAMPLES[name] is None
        if known_null and any(option.get("type") == "null" for option in resolved):
            return None
        for option in resolved:
            if option.get("type") != "null":
                return example_for(spec, option, name, depth + 1)
        return None
    if name in FIELD_EXAMPLES and _fits(FIELD_EXAMPLES[name], schema):
        return FIELD_EXAMPLES[name]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        if depth > 6:
            return {}
        return _object_example(spec, schema, depth)
    if kind == "array":
        item = example_for(spec, schema.get("items", {}), name, depth + 1)
        return [item] if "items" in schema else []
    if kind == "string":
        if schema.get("format") == "date-time":
            return LATER_DATE_TIME if name in LATER_EXAMPLES else DATE_TIME_EXAMPLE
        if schema.get("format") == "uuid":
            return "0b9f6a6e-6f7c-4d3a-9a59-3f1e2d4c5b6a"
        if schema.get("format") == "duration":
            return "P1D"
        return name.replace("_", " ") or "text"
    if kind == "integer":
        return max(int(schema.get("minimum", 1)), 1) if "maximum" not in schema else int(schema.get("minimum", 0))
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return False
    return None


def _object_example(spec: dict[str, Any], schema: dict[str, Any], depth: int) -> dict[str, Any]:
    properties: dict[str, Any] = schema.get("properties", {})
    # Request bodies (which refuse unknown fields) show what a client must send; answers show everything.
    is_request = schema.get("additionalProperties") is False
    wanted = schema.get("required", []) if is_request else list(properties)
    return {name: example_for(spec, properties[name], name, depth + 1) for name in wanted if name in properties}


def add_examples(spec: dict[str, Any]) -> None:
    for schema in spec.get("components", {}).get("schemas", {}).values():
        if "examples" in schema or not (schema.get("properties") or schema.get("enum")):
            continue
        if "enum" in schema:
            schema["examples"] = [schema["enum"][0]]
        else:
            schema["examples"] = [_object_example(spec, schema, 0)]


def _error_response(status: str) -> dict[str, Any]:
    description, examples = ERROR_RESPONSES[status]
    response: dict[str, Any] = {
        "description": description,
        "content": {
            PROBLEM_CONTENT_TYPE: {
                "schema": {"$ref": SCHEMA_REF + "Problem"},
                "examples": {name: {"value": value} for name, value in examples.items()},
            }
        },
    }
    if status == "429":
        response["headers"] = RATE_LIMIT_HEADERS
    return response


def error_statuses(path: str, operation: dict[str, Any]) -> list[str]:
    """The problems this operation can answer with, besides what it documents itself."""
    parameters = operation.get("parameters", [])
    idempotent = any(p.get("name") == "Idempotency-Key" for p in parameters)
    statuses: list[str] = []
    if operation.get("requestBody") or idempotent:
        statuses.append("400")
    if operation.get("security"):
        statuses += ["401", "403"]
    if "{" in path:
        statuses.append("404")
    if idempotent:
        statuses.append("409")
    if parameters or operation.get("requestBody"):
        statuses.append("422")
    if operation.get("security"):
        statuses.append("429")
    return statuses


RESPONSE_NAMES = {
    "400": "BadRequest",
    "401": "Unauthorized",
    "403": "Forbidden",
    "404": "NotFound",
    "409": "Conflict",
    "422": "ValidationError",
    "429": "TooManyRequests",
}


def add_error_responses(spec: dict[str, Any]) -> None:
    """Each problem response once under components/responses, referred to by every operation that gives it."""
    shared = spec.setdefault("components", {}).setdefault("responses", {})
    for status, name in RESPONSE_NAMES.items():
        shared[name] = _error_response(status)
    shared["Problem"] = {
        "description": "Any other problem (RFC 9457), e.g. 405, 413, 415 or 500",
        "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": SCHEMA_REF + "Problem"}}},
    }
    for path, path_item in spec.get("paths", {}).items():
        for operation in path_item.values():
            # ninja keys its own responses by int, openapi_extra by str; JSON has only strings.
            responses = {str(status): answer for status, answer in operation.get("responses", {}).items()}
            operation["responses"] = responses
            for status in error_statuses(path, operation):
                responses.setdefault(status, {"$ref": f"#/components/responses/{RESPONSE_NAMES[status]}"})
            responses.setdefault("default", {"$ref": "#/components/responses/Problem"})


def finish(spec: dict[str, Any]) -> dict[str, Any]:
    """Everything ninja does not add by itself (see the module's docstring)."""
    spec.setdefault("components", {}).setdefault("schemas", {})["Problem"] = copy.deepcopy(PROBLEM_SCHEMA)
    add_error_responses(spec)
    add_webhooks(spec)  # before the examples: each event's body gets one too
    add_examples(spec)
    return spec


def document_text() -> str:
    """The OpenAPI document as the committed snapshot holds it: sorted keys, two-space indent."""
    from simrenew.api.api import api

    return json.dumps(api.get_openapi_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
