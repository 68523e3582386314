"""The OpenAPI document's `webhooks`: every event type a partner's endpoint can receive, with the
body it carries, generated from the typed payloads (`notifications.payloads`, through
`notifications.events.payload_schema`) so the documentation cannot drift from what is sent.

A body is `{"type", "timestamp", "data"}`; `data` is the event's payload plus the fields every
event carries (`ENVELOPE_FIELDS`, added on sending by `notifications.webhook_events.event_payload`).
"""

from __future__ import annotations

import re
from typing import Any

from simrenew.notifications.events import SPECS, EventType, payload_schema

SCHEMA_REF = "#/components/schemas/"

_NULLABLE_ID = {"anyOf": [{"type": "integer"}, {"type": "null"}]}
ENVELOPE_FIELDS: dict[str, dict[str, Any]] = {
    "event_id": {
        "type": "string",
        "format": "uuid",
        "description": "The event's stable id (also the `webhook-id` header): deduplicate by it.",
    },
    "customer_id": {**_NULLABLE_ID, "description": "The customer the event is about, if any."},
    "subscription_id": {**_NULLABLE_ID, "description": "The subscription the event is about, if any."},
    "sequence": {
        **_NULLABLE_ID,
        "description": "The subscription's event number: 1, 2, 3, … in order, without gaps "
        "(null without a subscription). Order a subscription's events by it; a gap means one is still coming.",
    },
}

SIGNATURE_HEADERS: list[dict[str, Any]] = [
    {
        "name": "webhook-id",
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
        "description": "The event id (`data.event_id`); the same on every retry.",
    },
    {
        "name": "webhook-timestamp",
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
        "description": "When this request was signed, in seconds since the epoch.",
    },
    {
        "name": "webhook-signature",
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
        "description": "Standard Webhooks signatures (`v1,<base64>`, space-separated; two during a secret "
        "rotation) of `<webhook-id>.<webhook-timestamp>.<body>` with the endpoint's secret.",
    },
]

ACKNOWLEDGED = {
    "2XX": {
        "description": "Received. Any other answer, or none, is retried with backoff (1 min … 24 h); "
        "the same event may come more than once."
    }
}


def schema_name(event_type: str) -> str:
    """subscription.renewal_failed -> SubscriptionRenewalFailedEvent."""
    return "".join(word.capitalize() for word in re.split(r"[._]", event_type)) + "Event"


def event_schema(event_type: str) -> dict[str, Any]:
    """The JSON Schema of the body a webhook of `event_type` carries."""
    data = payload_schema(event_type)
    data["properties"] = {**data["properties"], **ENVELOPE_FIELDS}
    data["required"] = sorted(set(data["required"]) | set(ENVELOPE_FIELDS))
    return {
        "title": schema_name(event_type),
        "description": f"`{event_type}`: {SPECS[EventType(event_type)].summary}",
        "type": "object",
        "required": ["type", "timestamp", "data"],
        "properties": {
            "type": {"const": event_type},
            "timestamp": {"type": "string", "format": "date-time", "description": "When it happened."},
            "data": data,
        },
    }


def add_webhooks(spec: dict[str, Any]) -> None:
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    webhooks: dict[str, Any] = {}
    for event_type, event in SPECS.items():
        name = schema_name(event_type)
        schemas[name] = event_schema(event_type)
        webhooks[str(event_type)] = {
            "post": {
                "operationId": "webhook_" + event_type.replace(".", "_"),
                "summary": event.summary,
                "description": f"Sent to every enabled endpoint that asked for `{event_type}` (or for every event).",
                "tags": ["webhooks"],
                "parameters": SIGNATURE_HEADERS,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": SCHEMA_REF + name}}},
                },
                "responses": ACKNOWLEDGED,
            }
        }
    spec["webhooks"] = webhooks
