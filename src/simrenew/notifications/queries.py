"""Read and claim paths for deliveries; the database-specific SQL lives here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Count, Q

from simrenew.notifications.models import Delivery, DeliveryStatus, OutboxMessage, OutboxStatus


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
        " AND (claim_expires_at IS NULL OR claim_expires_at < %s) ORDER BY next_attempt_at, id LIMIT %s"
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
        params: list[Any] = [DeliveryStatus.PENDING.value, now, real_now, limit, worker_id, claim_until]
    else:
        sql = f"UPDATE {table} SET claimed_by = %s, claim_expires_at = %s WHERE id IN ({due}) RETURNING id"  # noqa: S608
        params = [worker_id, adapt(claim_until), DeliveryStatus.PENDING.value, adapt(now), adapt(real_now), limit]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return sorted(int(row[0]) for row in cursor.fetchall())


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
