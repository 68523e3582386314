"""Outbox delivery, the worker's half of notifications (DESIGN.md §4, §5).

Two steps, each driven from rows:

1. `dispatch_pending` plans each new event: one `Delivery` per channel and
   recipient (the customer's email and phone, as their preferences say, and every
   enabled webhook endpoint that wants the event), written in bulk in the same
   transaction that marks the events dispatched.
2. `deliver_due` claims due deliveries, sends each outside any transaction and
   records each outcome in its own short one: sent, retried later with
   exponential backoff, or dead (the operator sees it in the admin and can retry).

Webhooks keep each endpoint's order: a delivery is not sent while an earlier one
(by event) to the same endpoint is pending, so a receiver that was down gets what
it missed oldest first once it is back (`queries.claim_webhook_runs`). A dead
delivery no longer holds up the ones behind it.

Delivery is at least once: a worker that dies after sending but before recording
sends again when its claim lapses. Receivers deduplicate by the event id (the
webhook-id header, the email's Message-ID and X-Simrenew-Event-Id).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet

from simrenew.customers.models import Customer, NotificationPreference
from simrenew.customers.services import Channels as NoticeChannels
from simrenew.customers.services import channel_wanted
from simrenew.kit import clock, logs, metrics, tracing
from simrenew.notifications import queries
from simrenew.notifications.channels import Channels, SendFailed
from simrenew.notifications.events import fixed_channels, notice_kind
from simrenew.notifications.models import (
    Delivery,
    DeliveryChannel,
    DeliveryStatus,
    OutboxMessage,
    OutboxStatus,
)
from simrenew.notifications.rendering import RenderingError
from simrenew.notifications.webhook_events import notify_operator_of_disabled
from simrenew.webhooks import services as webhooks
from simrenew.webhooks.models import WebhookEndpoint

log = logging.getLogger(__name__)

# Waits after the 1st, 2nd, … failed attempt; the last step repeats.
RETRY_STEPS = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
    timedelta(hours=12),
    timedelta(hours=24),
)
# A delivery is given up (dead) once its next try would fall more than this long after
# its first attempt was due. Deliveries are due the moment they are planned, so that is
# their `created_at`: a reminder days late is no use, even if the worker was down.
RETRY_WINDOW = timedelta(days=3)
ERROR_LENGTH = 500


@dataclass(frozen=True, slots=True)
class DeliveryRun:
    """What one `deliver_due` batch did."""

    sent: int = 0
    retrying: int = 0
    dead: int = 0

    @property
    def total(self) -> int:
        return self.sent + self.retrying + self.dead


# A delivery's status after an attempt, as the metrics say it (a pending one is waiting to retry).
_OUTCOME_WORDS: dict[str, str] = {
    DeliveryStatus.SENT: "sent",
    DeliveryStatus.PENDING: "retrying",
    DeliveryStatus.DEAD: "dead",
}


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt (1-based)."""
    return RETRY_STEPS[min(max(attempts, 1), len(RETRY_STEPS)) - 1]


# --- 1. Plan the deliveries of new events ------------------------------------------------------


def dispatch_pending(*, limit: int = 500) -> int:
    """Plan the deliveries of up to `limit` pending events; return how many were dispatched.

    A constant number of queries per batch, whatever its size: the events with their
    customers, the customers' preferences, the enabled endpoints, one bulk insert, one
    update. On PostgreSQL concurrent workers take disjoint batches (SKIP LOCKED)."""
    with transaction.atomic(), clock.one_instant() as now:
        pending = OutboxMessage.objects.filter(status=OutboxStatus.PENDING).select_related("customer").order_by("id")
        if connection.features.has_select_for_update_skip_locked:
            pending = pending.select_for_update(skip_locked=True, of=("self",))
        messages = list(pending[:limit])
        if not messages:
            return 0
        customer_ids = {message.customer_id for message in messages if message.customer_id is not None}
        chosen = _preferences(customer_ids)
        endpoints = list(WebhookEndpoint.objects.filter(enabled=True).order_by("id"))
        deliveries: list[Delivery] = []
        for message in messages:
            try:
                deliveries.extend(_plan(message, chosen, endpoints, now))
            except Exception:  # one malformed event must not hold up the batch
                log.exception("could not plan the deliveries of event %s (%s)", message.event_id, message.event_type)
        Delivery.objects.bulk_create(deliveries, batch_size=1000, ignore_conflicts=True)
        OutboxMessage.objects.filter(pk__in=[message.pk for message in messages]).update(status=OutboxStatus.DISPATCHED)
    log.info("outbox dispatched events=%d deliveries=%d", len(messages), len(deliveries))
    return len(messages)


def _preferences(customer_ids: set[int]) -> dict[tuple[int, str], NotificationPreference]:
    rows = NotificationPreference.objects.filter(customer_id__in=customer_ids) if customer_ids else []
    return {(row.customer_id, row.kind): row for row in rows}


def _wants(customer: Customer, kind: str, channel: str, chosen: dict[tuple[int, str], NotificationPreference]) -> bool:
    """`customers.services.wants_notification`, answered from preferences loaded for the
    whole batch (no row means the defaults)."""
    row = chosen.get((customer.pk, kind))
    channels = NoticeChannels(email=row.email, sms=row.sms) if row is not None else NoticeChannels()
    return channel_wanted(customer, channels, channel)


def _turned_off(
    customer: Customer, kind: str, channel: str, chosen: dict[tuple[int, str], NotificationPreference]
) -> bool:
    """The customer saved a preference for this kind of notice with `channel` off (no row: unset)."""
    row = chosen.get((customer.pk, kind))
    return row is not None and not getattr(row, channel)


def _plan(
    message: OutboxMessage,
    chosen: dict[tuple[int, str], NotificationPreference],
    endpoints: list[WebhookEndpoint],
    now: datetime,
) -> list[Delivery]:
    planned: list[Delivery] = []

    def deliver(channel: str, recipient: str, endpoint: WebhookEndpoint | None = None) -> None:
        planned.append(
            Delivery(
                message=message,
                channel=channel,
                recipient=recipient,
                endpoint=endpoint,
                next_attempt_at=now,
                created_at=now,
            )
        )

    kind = notice_kind(message.event_type)
    customer = message.customer
    fixed = fixed_channels(message.event_type, message.payload)

    def wanted(customer: Customer, kind: str, channel: str) -> bool:
        # A fixed channel (the last warning's SMS) goes whatever the defaults say, but a channel
        # the customer explicitly turned off for this kind of notice stays off.
        if fixed is None:
            return _wants(customer, kind, channel, chosen)
        return channel in fixed and not _turned_off(customer, kind, channel, chosen)

    # An erased customer (privacy.erasure) is never written to again, whatever is still reported.
    if kind is not None and customer is not None and customer.erased_at is None:
        if customer.email and wanted(customer, kind, "email"):
            deliver(DeliveryChannel.EMAIL, customer.email)
        if customer.phone and wanted(customer, kind, "sms"):
            deliver(DeliveryChannel.SMS, customer.phone)
    for endpoint in endpoints:
        if endpoint.wants(message.event_type):
            deliver(DeliveryChannel.WEBHOOK, str(endpoint.pk), endpoint)
    return planned


# --- 2. Send what is due ------------------------------------------------------------------------


def deliver_due(*, worker_id: str, limit: int = 200) -> DeliveryRun:
    """Claim up to `limit` due deliveries for `worker_id`, send them, record each outcome."""
    claimed = _claim(worker_id, limit)
    if not claimed:
        return DeliveryRun()
    outcomes: Counter[str] = Counter()
    done: set[int] = set()
    # Endpoints whose delivery in this batch failed and waits for its retry: what follows
    # it is not sent (it would overtake it) but given back below, still pending.
    held_up: set[int] = set()
    try:
        with Channels() as channels:
            for delivery in claimed:
                if delivery.endpoint_id is not None and delivery.endpoint_id in held_up:
                    continue
                outcome = _attempt(channels, delivery, worker_id)
                outcomes[outcome] += 1
                metrics.DELIVERIES.labels(delivery.channel, _OUTCOME_WORDS[outcome]).inc()
                done.add(delivery.pk)
                if delivery.endpoint_id is not None and outcome == DeliveryStatus.PENDING:
                    held_up.add(delivery.endpoint_id)
    finally:
        # Stopped mid-batch (a signal, an interrupt): give back what was not tried.
        left = [delivery.pk for delivery in claimed if delivery.pk not in done]
        if left:
            _release(Delivery.objects.filter(pk__in=left, claimed_by=worker_id))
    run = DeliveryRun(
        sent=outcomes[DeliveryStatus.SENT],
        retrying=outcomes[DeliveryStatus.PENDING],
        dead=outcomes[DeliveryStatus.DEAD],
    )
    log.info("deliveries sent=%d retrying=%d dead=%d", run.sent, run.retrying, run.dead)
    return run


def _claim(worker_id: str, limit: int) -> list[Delivery]:
    real_now = clock.system_now()
    claim_until = real_now + timedelta(seconds=settings.SIMRENEW_WORKER_CLAIM_SECONDS)
    with transaction.atomic():
        ids = queries.claim_due(
            worker_id=worker_id, now=clock.now(), real_now=real_now, claim_until=claim_until, limit=limit
        )
    if not ids:
        return []
    found = list(Delivery.objects.filter(pk__in=ids).select_related("message", "message__customer", "endpoint"))
    # Emails and texts oldest due first; webhooks endpoint by endpoint, in event order.
    others = sorted((d for d in found if d.endpoint_id is None), key=lambda d: (d.next_attempt_at, d.pk))
    hooks = sorted((d for d in found if d.endpoint_id is not None), key=lambda d: (d.endpoint_id, d.message_id, d.pk))
    return others + hooks


def _attempt(channels: Channels, delivery: Delivery, worker_id: str) -> str:
    """Send one delivery and record what happened; returns the delivery's new status.

    Traced (kit.tracing) as a child of the span that wrote the event, whose context the event
    keeps: the delivery joins the trace of the request or job that caused it. With tracing off
    this costs a check of one global (the event's `traceparent` came with its row)."""
    with logs.bound(customer_id=delivery.message.customer_id):
        if not tracing.is_on():
            return _send_and_record(channels, delivery, worker_id)
        message = delivery.message
        attributes: dict[str, tracing.AttributeValue | None] = {
            "messaging.system": "simrenew.outbox",
            "messaging.operation.type": "process",
            "simrenew.delivery.channel": delivery.channel,
            "simrenew.delivery.attempt": delivery.attempts + 1,
            "simrenew.event.type": message.event_type,
            "simrenew.event.id": str(message.event_id),
            "simrenew.webhook.endpoint_id": delivery.endpoint_id,
        }
        with tracing.continued_span(message.traceparent, f"deliver {delivery.channel}", attributes) as span:
            outcome = _send_and_record(channels, delivery, worker_id)
            tracing.set_attributes(span, {"simrenew.delivery.outcome": str(outcome)})
            return outcome


def _send_and_record(channels: Channels, delivery: Delivery, worker_id: str) -> str:
    try:
        reference = channels.send(delivery)
    except SendFailed as exc:
        return _record_failure(delivery, worker_id, exc.reason, permanent=exc.permanent)
    except RenderingError as exc:
        return _record_failure(delivery, worker_id, f"cannot render: {exc}", permanent=True)
    except Exception as exc:  # a bug or a surprise from a library: retried, and visible in the log
        log.exception("delivery %d (%s of %s) failed unexpectedly", delivery.pk, delivery.channel, delivery.message_id)
        return _record_failure(delivery, worker_id, f"unexpected error: {exc.__class__.__name__}", permanent=False)
    return _record_sent(delivery, reference)


def _record_sent(delivery: Delivery, reference: str) -> str:
    with transaction.atomic():
        # Recorded even if our claim lapsed meanwhile: the message did go out.
        Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.PENDING).update(
            status=DeliveryStatus.SENT,
            attempts=delivery.attempts + 1,
            sent_at=clock.now(),
            provider_reference=reference[:200],
            last_error="",
            claimed_by="",
            claim_expires_at=None,
        )
        if delivery.endpoint_id is not None:
            webhooks.record_success(delivery.endpoint_id)
    return DeliveryStatus.SENT


def _record_failure(delivery: Delivery, worker_id: str, reason: str, *, permanent: bool) -> str:
    now = clock.now()
    attempts = delivery.attempts + 1
    next_attempt_at = now + retry_delay(attempts)
    gives_up = permanent or next_attempt_at > delivery.created_at + RETRY_WINDOW
    status = DeliveryStatus.DEAD if gives_up else DeliveryStatus.PENDING
    disabled_endpoint = False
    with transaction.atomic():
        # Only while the claim is still ours: another worker that took over owns the schedule.
        changed = Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.PENDING, claimed_by=worker_id).update(
            status=status,
            attempts=attempts,
            last_error=reason[:ERROR_LENGTH],
            next_attempt_at=delivery.next_attempt_at if gives_up else next_attempt_at,
            claimed_by="",
            claim_expires_at=None,
        )
        if changed and delivery.endpoint_id is not None and delivery.endpoint is not None and delivery.endpoint.enabled:
            disabled_endpoint = webhooks.record_failure(delivery.endpoint_id)
    if disabled_endpoint and delivery.endpoint_id is not None:
        # Once, by the failure that disabled it; outside the transaction (SMTP may be slow).
        log.warning("webhook endpoint %d disabled: every attempt failed for days", delivery.endpoint_id)
        notify_operator_of_disabled(delivery.endpoint_id)
    if gives_up:
        log.warning(
            "delivery %d (%s of event %s, %s) is dead after %d attempt(s): %s",
            delivery.pk,
            delivery.channel,
            delivery.message.event_id,
            delivery.message.event_type,
            attempts,
            reason,
        )
    return status


# --- Claims and figures for the worker command ----------------------------------------------------


def _release(deliveries: QuerySet[Delivery]) -> int:
    return deliveries.filter(status=DeliveryStatus.PENDING).update(claimed_by="", claim_expires_at=None)


def release_claims(worker_id: str) -> int:
    """Give back the claims `worker_id` holds on deliveries not yet done (a graceful stop),
    so another worker takes them at once instead of after the claim lapses."""
    with transaction.atomic():
        return _release(Delivery.objects.filter(claimed_by=worker_id))


def delivery_counts() -> dict[str, int]:
    """Deliveries by state: pending_due, pending_later, claimed, retrying (pending after a
    failed attempt), dead, sent; and events_undispatched (events not planned yet)."""
    return queries.counts(now=clock.now(), real_now=clock.system_now())
