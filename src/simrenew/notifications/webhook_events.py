"""Events as webhooks carry them, and their deliveries to endpoints: the payload and body,
replays, what becomes of waiting deliveries when an endpoint stops, and the operator's email
when one is disabled. Services never commit.

Here and not in webhooks: webhooks know endpoints (registry, secrets, signatures, health) and
nothing of events, so that notifications, which deliver through them, depend on webhooks and
not the reverse. `register` tells webhooks the event types and the stopped-endpoint listener.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.mail import send_mail
from django.core.serializers.json import DjangoJSONEncoder

from simrenew.kit import clock
from simrenew.kit.audit import record_change
from simrenew.kit.errors import NotFound, SimrenewError, ValidationFailed
from simrenew.notifications.events import EVENT_KINDS
from simrenew.notifications.models import Delivery, DeliveryChannel, DeliveryStatus, OutboxMessage
from simrenew.webhooks.models import WebhookEndpoint
from simrenew.webhooks.services import (
    GIVEN_UP_PREFIX,
    EndpointDisabled,
    EndpointNotFound,
    register_event_types,
    register_on_stopped,
)

log = logging.getLogger(__name__)

# Events can be listed and replayed this long after they happened.
EVENT_RETENTION = timedelta(days=30)
# One time-range replay sends at most this many events (narrow the range for more).
REPLAY_MAX_EVENTS = 1000


class EventNotFound(NotFound):
    slug = "event-not-found"
    title = "No such event"


class EventExpired(SimrenewError):
    status = 410
    slug = "event-expired"
    title = "The event is older than 30 days"


def register() -> None:
    register_event_types(EVENT_KINDS)
    register_on_stopped(give_up_waiting)


# --- what is sent ---------------------------------------------------------------------------------


def event_payload(message: OutboxMessage) -> dict[str, Any]:
    """An event as receivers see it: `{"type", "timestamp", "data"}` as the Standard Webhooks
    spec suggests. `data` holds the event's own fields plus its id, its customer and
    subscription, and the subscription's event number `sequence` (1, 2, 3, … in the order
    the events happened; null for events of no subscription), so receivers can order
    events and notice one missing."""
    payload = message.payload if isinstance(message.payload, dict) else {"value": message.payload}
    return {
        "type": message.event_type,
        "timestamp": message.created_at.isoformat(),
        "data": {
            **payload,
            "event_id": str(message.event_id),
            "customer_id": message.customer_id,
            "subscription_id": message.subscription_id,
            "sequence": message.sequence if message.subscription_id is not None else None,
        },
    }


def event_body(message: OutboxMessage) -> str:
    """The exact JSON text a webhook carries (and its signature covers)."""
    return json.dumps(event_payload(message), cls=DjangoJSONEncoder)


# --- endpoints that stop, and their operator ----------------------------------------------------


def give_up_waiting(endpoint_id: int, why: str) -> None:
    """Mark an endpoint's pending deliveries dead with `why` (the operator can still see and
    retry them): called by webhooks when the endpoint is disabled or deleted."""
    Delivery.objects.filter(endpoint_id=endpoint_id, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.DEAD, last_error=why[:500], claimed_by="", claim_expires_at=None
    )


def operator_addresses() -> list[str]:
    return list(settings.SIMRENEW_OPERATOR_EMAIL) or [address for _name, address in settings.ADMINS]


def notify_operator_of_disabled(endpoint_id: int) -> bool:
    """Email the operator that the endpoint was disabled (through the configured mail
    backend). Call it outside any transaction; returns whether a message went out."""
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).first()
    recipients = operator_addresses()
    if endpoint is None or not recipients:
        log.warning("webhook endpoint %s was disabled; no operator address to tell", endpoint_id)
        return False
    last_error = (
        Delivery.objects.filter(endpoint_id=endpoint_id)
        .exclude(last_error="")
        .exclude(last_error__startswith=GIVEN_UP_PREFIX)  # the real error, not our giving up
        .order_by("-id")
        .values_list("last_error", flat=True)
        .first()
    )
    since = endpoint.failing_since.isoformat() if endpoint.failing_since else "unknown"
    body = (
        f"The webhook endpoint {endpoint.pk} ({endpoint.url}) was disabled: {endpoint.disabled_reason}.\n\n"
        f"Failing since: {since}\n"
        f"Failed attempts in a row: {endpoint.consecutive_failures}\n"
        f"Last error: {last_error or 'none recorded'}\n"
        f"Description: {endpoint.description or '-'}\n\n"
        "No more events are sent to it. Once the receiver works again, enable the endpoint in the "
        "console (Webhooks > Webhook endpoints) or with PATCH /api/v1/webhook-endpoints/"
        f'{endpoint.pk} {{"enabled": true}}, then replay what it missed (POST …/replay with a time range).\n'
    )
    try:
        send_mail(
            f"[simrenew] Webhook endpoint {endpoint.pk} disabled after failing",
            body,
            settings.DEFAULT_FROM_EMAIL,
            recipients,
            fail_silently=False,
        )
    except Exception:  # the endpoint stays disabled and visible in the console; the log says why
        log.exception("could not email the operator that webhook endpoint %s was disabled", endpoint_id)
        return False
    return True


# --- events and replays ---------------------------------------------------------------------------


def retention_start(now: datetime | None = None) -> datetime:
    return (now or clock.now()) - EVENT_RETENTION


def recent_event(event_id: UUID) -> OutboxMessage:
    """The event with this id, if it is within the last 30 days (410 when older)."""
    message = OutboxMessage.objects.filter(event_id=event_id).first()
    if message is None:
        raise EventNotFound(f"No event with id {event_id}.")
    if message.created_at < retention_start():
        raise EventExpired(
            f"Event {event_id} happened on {message.created_at.date().isoformat()}, more than 30 days ago; "
            "events are kept for replay and listing for 30 days.",
        )
    return message


def replay(
    endpoint: WebhookEndpoint,
    *,
    event_id: UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    reason: str = "",
) -> list[Delivery]:
    """New deliveries, due now, of one event or of every event in [since, until) that the
    endpoint wants, within the last 30 days (a range leaves out the events still waiting
    to go out to it). They carry the same `webhook-id` as the first
    time (receivers that already have an event may drop it) and keep the endpoint's order:
    they go out before anything newer waiting for it."""
    if endpoint.deleted_at is not None:
        raise EndpointNotFound(f"No webhook endpoint with id {endpoint.pk}.")
    if not endpoint.enabled:
        raise EndpointDisabled(
            f"Webhook endpoint {endpoint.pk} is disabled ({endpoint.disabled_reason or 'by an operator'}); "
            "enable it first, then replay."
        )
    if event_id is not None:
        message = recent_event(event_id)
        if not endpoint.wants(message.event_type):
            raise ValidationFailed.on(
                "event_id", f"Endpoint {endpoint.pk} does not subscribe to {message.event_type} events."
            )
        messages = [message]
    else:
        messages = _events_in_range(endpoint, since=since, until=until)
    now = clock.now()
    # Lock the endpoint row: two replays at once must not pick the same replay number.
    WebhookEndpoint.objects.select_for_update().filter(pk=endpoint.pk).first()
    earlier = Delivery.objects.filter(endpoint=endpoint, message__in=messages)
    already = Counter(earlier.values_list("message_id", flat=True))
    if event_id is None:
        # A range brings back what the endpoint missed; an event still waiting to go out to
        # it would arrive twice.
        waiting = set(earlier.filter(status=DeliveryStatus.PENDING).values_list("message_id", flat=True))
        messages = [m for m in messages if m.pk not in waiting]
    deliveries = [
        Delivery(
            message=message,
            channel=DeliveryChannel.WEBHOOK,
            # The first delivery of an event to an endpoint is named by the endpoint's id; each
            # replay adds its number (the row is unique per message, channel and recipient).
            recipient=str(endpoint.pk) if not already[message.pk] else f"{endpoint.pk}:replay:{already[message.pk]}",
            endpoint=endpoint,
            next_attempt_at=now,
            created_at=now,
        )
        for message in messages
    ]
    created = Delivery.objects.bulk_create(deliveries)
    record_change(
        action="replay",
        target=endpoint,
        after={"event_ids": [str(message.event_id) for message in messages], "since": since, "until": until},
        reason=reason,
    )
    return created


def _events_in_range(
    endpoint: WebhookEndpoint, *, since: datetime | None, until: datetime | None
) -> list[OutboxMessage]:
    now = clock.now()
    if since is None:
        raise ValidationFailed.on("since", "Give an event_id, or a time range starting at `since`.")
    if since.tzinfo is None or (until is not None and until.tzinfo is None):
        raise ValidationFailed.on("since", "Give times with an offset, e.g. 2026-01-15T12:00:00+00:00.")
    until = until or now
    if until <= since:
        raise ValidationFailed.on("until", "`until` must come after `since`.")
    if since < retention_start(now):
        raise ValidationFailed.on("since", "Events are kept for 30 days; `since` may be at most 30 days ago.")
    found = OutboxMessage.objects.filter(created_at__gte=since, created_at__lt=until).order_by("id")
    if endpoint.event_types:
        found = found.filter(event_type__in=endpoint.event_types)
    messages = list(found[: REPLAY_MAX_EVENTS + 1])
    if len(messages) > REPLAY_MAX_EVENTS:
        raise ValidationFailed.on(
            "until", f"More than {REPLAY_MAX_EVENTS} events fall in this range; replay a shorter range at a time."
        )
    return messages
