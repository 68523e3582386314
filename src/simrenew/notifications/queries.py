"""Read and claim paths for deliveries; the database-specific SQL lives here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Exists, Min, OuterRef, Q, Subquery

from simrenew.notifications.models import Delivery, DeliveryChannel, DeliveryStatus, OutboxMessage, OutboxStatus
from simrenew.webhooks.models import WebhookEndpoint

WEBHOOK = DeliveryChannel.WEBHOOK.value


def claim_due(*, worker_id: str, now: datetime, real_now: datetime, claim_until: datetime, limit: int) -> list[int]:
    """Claim up to `limit` due deliveries for `worker_id` in one conditional UPDATE and
    return their ids, oldest due first.

    Due is by the project clock (`now`: the sandbox's test clock moves retries on);
    claims are by the system clock (`real_now`), so a frozen test clock never pins a
    claim and a crashed worker's claims lapse after their real length. On PostgreSQL the
    subselect skips rows another worker holds (FOR UPDATE SKIP LOCKED); on SQLite the
    statement runs under the single writer lock."""
    table = connection.ops.quote_name(Delivery._meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    due = (
        f"SELECT id FROM {table} WHERE status = %s AND next_attempt_at <= %s"  # noqa: S608 (table name from the model)
        " AND channel <> %s AND (claim_expires_at IS NULL OR claim_expires_at < %s)"
        " ORDER BY next_attempt_at, id LIMIT %s"
    )
    if connection.vendor == "postgresql":
        # A materialized CTE picks the rows once. Written as `id IN (subselect)`, PostgreSQL may
        # evaluate the subselect again while updating, and a locking re-scan passes over rows this
        # very UPDATE already changed, so LIMIT let more rows through than asked for (seen in tests).
        sql = (
            f"WITH due AS MATERIALIZED ({due} FOR UPDATE SKIP LOCKED)"  # noqa: S608
            f" UPDATE {table} AS d SET claimed_by = %s, claim_expires_at = %s FROM due WHERE d.id = due.id"
            " RETURNING d.id"
        )
        params: list[Any] = [DeliveryStatus.PENDING.value, now, WEBHOOK, real_now, limit, worker_id, claim_until]
    else:
        sql = f"UPDATE {table} SET claimed_by = %s, claim_expires_at = %s WHERE id IN ({due}) RETURNING id"  # noqa: S608
        params = [
            worker_id,
            adapt(claim_until),
            DeliveryStatus.PENDING.value,
            adapt(now),
            WEBHOOK,
            adapt(real_now),
            limit,
        ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        claimed = sorted(int(row[0]) for row in cursor.fetchall())
    return claimed + claim_webhook_runs(
        worker_id=worker_id, now=now, real_now=real_now, claim_until=claim_until, limit=limit
    )


def planned_before_every_pending_event(message_id: str) -> Q:
    """The delivery's event (`message_id`, a field or annotation of the outer row) is older
    than every outbox event still waiting to be dispatched.

    Part of the claiming statement itself, so it reads the outbox in the same snapshot
    as the deliveries: a dispatcher still planning events 1-500 holds them PENDING (its
    transaction has not committed), so deliveries of events 501-1000 that another
    dispatcher already committed are not claimed until 1-500 have their deliveries too.
    (Serializing dispatchers with an advisory lock would also do, but would make every
    worker wait for the slowest batch; this costs one probe of the `outbox_due` index.)"""
    return ~Q(Exists(OutboxMessage.objects.filter(status=OutboxStatus.PENDING, pk__lt=OuterRef(message_id))))


def claim_webhook_runs(
    *, worker_id: str, now: datetime, real_now: datetime, claim_until: datetime, limit: int
) -> list[int]:
    """Claim webhook deliveries so that each endpoint gets its events in order.

    An endpoint's pending deliveries form a queue in event order (message id, then id:
    a replay of an old event goes before newer ones). Only a run from the head of a
    queue is claimed: the head and the deliveries after it, up to the first one that is
    not due yet or that another worker holds. So while an earlier delivery is pending
    (waiting for its retry, or being sent) nothing later to that endpoint is sent; a
    dead or sent one no longer blocks. The sender stops an endpoint's run at its first
    failure and gives the rest back.

    Concurrent workers: each run is claimed under the endpoint's row lock (FOR UPDATE
    SKIP LOCKED on PostgreSQL: another worker passes over that endpoint; SQLite has one
    writer), and after commit the claimed head keeps every other worker off the queue.
    Finding the queues with work is one query, a head lookup per endpoint on the
    partial index `delivery_endpoint_queue`.

    Only deliveries of events older than every event not yet dispatched are claimed
    (`planned_before_every_pending_event`): dispatchers on PostgreSQL plan disjoint
    batches at once (SKIP LOCKED), so a later batch may commit its deliveries before an
    earlier one; its deliveries then wait until the earlier batch is planned too."""
    pending = Delivery.objects.filter(endpoint=OuterRef("pk"), status=DeliveryStatus.PENDING).order_by(
        "message_id", "id"
    )
    heads = (
        WebhookEndpoint.objects.filter(deleted_at__isnull=True)
        .annotate(head_due=Subquery(pending.values("next_attempt_at")[:1]))
        .annotate(head_claim=Subquery(pending.values("claim_expires_at")[:1]))
        .annotate(head_message=Subquery(pending.values("message_id")[:1]))
        .filter(head_due__lte=now)
        .filter(Q(head_claim__isnull=True) | Q(head_claim__lt=real_now))
        .filter(planned_before_every_pending_event("head_message"))
        .values_list("pk", flat=True)
    )
    endpoint_ids = list(heads)
    if not endpoint_ids:
        return []
    with transaction.atomic():  # the endpoint locks last until the claims are written
        return _claim_runs(
            endpoint_ids, worker_id=worker_id, now=now, real_now=real_now, claim_until=claim_until, limit=limit
        )


def _claim_runs(
    endpoint_ids: list[int], *, worker_id: str, now: datetime, real_now: datetime, claim_until: datetime, limit: int
) -> list[int]:
    locked = WebhookEndpoint.objects.filter(pk__in=endpoint_ids).order_by("pk")
    if connection.features.has_select_for_update_skip_locked:
        locked = locked.select_for_update(skip_locked=True)
    chosen: list[int] = []
    for endpoint_id in locked.values_list("pk", flat=True):
        if len(chosen) >= limit:
            break
        queue = (
            Delivery.objects.filter(endpoint_id=endpoint_id, status=DeliveryStatus.PENDING)
            .filter(planned_before_every_pending_event("message_id"))
            .order_by("message_id", "id")
            .values_list("pk", "next_attempt_at", "claim_expires_at")[: limit - len(chosen)]
        )
        for delivery_id, due_at, claim_expires_at in queue:
            if due_at > now or (claim_expires_at is not None and claim_expires_at >= real_now):
                break
            chosen.append(delivery_id)
    if not chosen:
        return []
    Delivery.objects.filter(pk__in=chosen, status=DeliveryStatus.PENDING).update(
        claimed_by=worker_id, claim_expires_at=claim_until
    )
    return sorted(Delivery.objects.filter(pk__in=chosen, claimed_by=worker_id).values_list("pk", flat=True))


def counts(*, now: datetime, real_now: datetime) -> dict[str, int]:
    """Where deliveries stand, for `simrenew worker --status` (one aggregate query each table)."""
    pending = Q(status=DeliveryStatus.PENDING)
    claimed = pending & Q(claim_expires_at__gte=real_now)
    unclaimed = pending & (Q(claim_expires_at__isnull=True) | Q(claim_expires_at__lt=real_now))
    figures = Delivery.objects.aggregate(
        pending_due=Count("id", filter=unclaimed & Q(next_attempt_at__lte=now)),
        pending_later=Count("id", filter=unclaimed & Q(next_attempt_at__gt=now)),
        claimed=Count("id", filter=claimed),
        retrying=Count("id", filter=pending & Q(attempts__gt=0)),
        dead=Count("id", filter=Q(status=DeliveryStatus.DEAD)),
        sent=Count("id", filter=Q(status=DeliveryStatus.SENT)),
    )
    figures["events_undispatched"] = OutboxMessage.objects.filter(status=OutboxStatus.PENDING).count()
    return {name: int(value or 0) for name, value in figures.items()}


def backlog_by_channel(*, now: datetime) -> dict[str, tuple[int, int, datetime | None]]:
    """Per channel: deliveries due and not sent (the backlog), dead ones, and the earliest due time
    of the backlog (how long the oldest has waited). One grouped query; for /metrics."""
    due = Q(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
    rows = (
        Delivery.objects.values("channel")
        .annotate(
            backlog=Count("id", filter=due),
            dead=Count("id", filter=Q(status=DeliveryStatus.DEAD)),
            oldest=Min("next_attempt_at", filter=due),
        )
        .order_by()
    )
    figures: dict[str, tuple[int, int, datetime | None]] = {channel.value: (0, 0, None) for channel in DeliveryChannel}
    for row in rows:
        figures[row["channel"]] = (int(row["backlog"]), int(row["dead"]), row["oldest"])
    return figures


def undispatched_events(*, now: datetime) -> tuple[int, datetime | None]:
    """Events written but not planned into deliveries yet, and the earliest due of them."""
    found = OutboxMessage.objects.filter(status=OutboxStatus.PENDING, next_attempt_at__lte=now).aggregate(
        count=Count("id"), oldest=Min("next_attempt_at")
    )
    return int(found["count"] or 0), found["oldest"]
