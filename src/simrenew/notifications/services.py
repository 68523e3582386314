"""The outbox: events written in the caller's transaction, delivered later by the worker."""

from __future__ import annotations

from typing import Any

from simrenew.customers.models import Customer
from simrenew.kit import clock, rows
from simrenew.notifications.models import OutboxMessage
from simrenew.subscriptions.models import Subscription


def emit(
    event_type: str,
    *,
    customer: Customer | None,
    subscription: Subscription | None = None,
    subscription_id: int | None = None,
    sequence: int | None = None,
    data: dict[str, Any],
) -> OutboxMessage:
    """Record an event; its `sequence` is the subscription's, bumped by the caller's change."""
    now = clock.now()
    if subscription is not None:
        subscription_id = subscription.pk
        sequence = subscription.sequence if sequence is None else sequence
    return rows.create(
        OutboxMessage,
        event_type=event_type,
        customer=customer,
        subscription_id=subscription_id,
        sequence=sequence or 0,
        payload=data,
        next_attempt_at=now,
        created_at=now,
    )
