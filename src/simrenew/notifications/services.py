"""The outbox: events written in the caller's transaction, delivered later by the worker."""

from __future__ import annotations

from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
import json

from simrenew.customers.models import Customer
from simrenew.kit import clock
from simrenew.notifications.models import OutboxMessage
from simrenew.subscriptions.models import Subscription


def emit(
    event_type: str,
    *,
    customer: Customer | None,
    subscription: Subscription | None = None,
    data: dict[str, Any],
) -> OutboxMessage:
    """Record an event; its `sequence` is the subscription's, bumped by the caller's change."""
    now = clock.now()
    payload = json.loads(json.dumps(data, cls=DjangoJSONEncoder))
    return OutboxMessage.objects.create(
        event_type=event_type,
        customer=customer,
        subscription=subscription,
        sequence=subscription.sequence if subscription is not None else 0,
        payload=payload,
        next_attempt_at=now,
        created_at=now,
    )
