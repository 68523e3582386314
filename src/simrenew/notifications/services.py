"""The outbox: events written in the caller's transaction, delivered later by the worker."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from simrenew.customers.models import Customer
from simrenew.kit import clock, rows
from simrenew.notifications.models import OutboxMessage, OutboxStatus
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


@dataclass(frozen=True, slots=True)
class Event:
    event_type: str
    customer_id: int | None
    subscription_id: int | None
    sequence: int
    data: dict[str, Any]


def emit_many(events: Sequence[Event]) -> None:
    """`emit` for a batch (the worker's bulk renewals): one INSERT, no model instances."""
    now = clock.now()
    rows.insert_many(
        OutboxMessage,
        (
            "event_id",
            "event_type",
            "customer_id",
            "subscription_id",
            "sequence",
            "payload",
            "status",
            "attempts",
            "next_attempt_at",
            "last_error",
            "created_at",
        ),
        [
            (
                uuid.uuid4(),
                e.event_type,
                e.customer_id,
                e.subscription_id,
                e.sequence,
                e.data,
                OutboxStatus.PENDING.value,
                0,
                now,
                "",
                now,
            )
            for e in events
        ],
        returning=False,
    )
