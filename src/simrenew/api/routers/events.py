"""Events of the last 30 days, each in the very shape a webhook carries: a partner that
missed some (or never had an endpoint) reads them here, by subscription and in order."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from django.http import HttpRequest
from ninja import Field, Path, Query, Router, Schema

from simrenew.api.pagination import paginate
from simrenew.api.schemas import ID_MAX, PageQuery
from simrenew.kit.errors import ValidationFailed
from simrenew.notifications import webhook_events
from simrenew.notifications.events import EVENT_KINDS
from simrenew.notifications.models import OutboxMessage

router = Router(tags=["events"])

EventId = Annotated[UUID, Path(description="The event's id (the `webhook-id` header and `data.event_id`).")]


class EventOut(Schema):
    type: str = Field(..., examples=["subscription.renewed"])
    timestamp: str = Field(..., description="When it happened, ISO 8601 with an offset.")
    data: dict[str, Any] = Field(
        ...,
        description="The event's fields, plus `event_id`, `customer_id`, `subscription_id` and `sequence` "
        "(the subscription's event number: 1, 2, 3, … in order, without gaps; null without a subscription).",
        examples=[
            {
                "subscription_id": 42,
                "period": {
                    "number": 3,
                    "starts_at": "2026-03-15T12:00:00+00:00",
                    "ends_at": "2026-04-15T12:00:00+00:00",
                },
                "invoice": "SR-00000108",
                "amount_minor": 2500,
                "currency": "USD",
                "auto_renewed": True,
                "event_id": "0b8f6a52-6b33-4c4b-9d3e-5d7c1b0f7a21",
                "customer_id": 7,
                "sequence": 5,
            }
        ],
    )


class EventList(Schema):
    items: list[EventOut]
    has_more: bool
    next_starting_after: int | None = Field(..., description="Pass back as `starting_after` for the next page.")


class EventQuery(PageQuery):
    type: str | None = Field(None, max_length=60, description="Only events of this type.")
    subscription_id: int | None = Field(None, ge=1, le=ID_MAX, description="Only this subscription's, in order.")


@router.get("", response=EventList, summary="List events of the last 30 days")
def list_events(request: HttpRequest, query: Query[EventQuery]) -> dict[str, Any]:
    """Oldest first. A subscription's events come in their `sequence` order."""
    events = OutboxMessage.objects.filter(created_at__gte=webhook_events.retention_start())
    if query.type is not None:
        if query.type not in EVENT_KINDS:
            raise ValidationFailed.on("type", f"Unknown event type {query.type!r}; known: {', '.join(EVENT_KINDS)}.")
        events = events.filter(event_type=query.type)
    if query.subscription_id is not None:
        events = events.filter(subscription_id=query.subscription_id)
    page = paginate(events, limit=query.limit, starting_after=query.starting_after)
    return {
        "items": [webhook_events.event_payload(message) for message in page.items],
        "has_more": page.has_more,
        "next_starting_after": page.next_starting_after,
    }


@router.get("/{event_id}", response=EventOut, summary="Get an event")
def get_event(request: HttpRequest, event_id: EventId) -> dict[str, Any]:
    """410 for an event older than 30 days."""
    return webhook_events.event_payload(webhook_events.recent_event(event_id))
