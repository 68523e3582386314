"""Partner webhook endpoints and what they are sent (Standard Webhooks). Services never commit."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterable
from datetime import datetime

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import F
from standardwebhooks.webhooks import Webhook

from simrenew.kit import clock
from simrenew.kit.errors import ValidationFailed
from simrenew.notifications.events import EVENT_KINDS
from simrenew.notifications.models import OutboxMessage
from simrenew.webhooks.models import WebhookEndpoint

SECRET_PREFIX = "whsec_"
USER_AGENT = "simrenew-webhooks/1"


def new_secret() -> str:
    """A signing secret in the form the standardwebhooks library reads: whsec_ + base64 of 24 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def validate_event_types(event_types: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(event_types))
    unknown = [name for name in chosen if name not in EVENT_KINDS]
    if unknown:
        raise ValidationFailed.on("event_types", f"Unknown event types: {', '.join(unknown)}.")
    return chosen


def create_endpoint(*, url: str, event_types: Iterable[str] = (), description: str = "") -> WebhookEndpoint:
    """A new endpoint with a fresh secret (the caller shows `endpoint.secret` to the partner once)."""
    return WebhookEndpoint.objects.create(
        url=url,
        secret=new_secret(),
        event_types=validate_event_types(event_types),
        description=description,
        created_at=clock.now(),
    )


def event_body(message: OutboxMessage) -> str:
    """The JSON a receiver gets: `{"type", "timestamp", "data"}` as the Standard Webhooks
    spec suggests, with the subscription's sequence number in `data` so events can be ordered."""
    payload = message.payload if isinstance(message.payload, dict) else {"value": message.payload}
    return json.dumps(
        {
            "type": message.event_type,
            "timestamp": message.created_at.isoformat(),
            "data": {**payload, "sequence": message.sequence},
        },
        cls=DjangoJSONEncoder,
    )


def signed_headers(endpoint: WebhookEndpoint, message: OutboxMessage, body: str, *, at: datetime) -> dict[str, str]:
    """Standard Webhooks headers. The id is the event's, the same on every retry, so a
    receiver deduplicates by it; the timestamp is the real time of this attempt (receivers
    refuse signatures older than a few minutes), never the sandbox's test clock."""
    event_id = str(message.event_id)
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(endpoint.secret).sign(msg_id=event_id, timestamp=at, data=body),
    }


def record_failure(endpoint_id: int) -> None:
    # Counted so that an endpoint failing for days can be disabled automatically
    # (a later issue: it will set enabled=False and disabled_at past a threshold).
    WebhookEndpoint.objects.filter(pk=endpoint_id).update(consecutive_failures=F("consecutive_failures") + 1)


def record_success(endpoint_id: int) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint_id, consecutive_failures__gt=0).update(consecutive_failures=0)
