"""Database-specific SQL of the network outbox (STYLE §6): the claims of `LineOrder` rows.

Claims run on the system clock (`real_now`: a frozen test clock never pins one, and a crashed
worker's claims lapse after their real length); `not_before` (a plan change waiting for its
period) is on the project clock (`now`). On PostgreSQL the rows are picked once with
FOR UPDATE SKIP LOCKED, so workers take different orders; on SQLite one conditional UPDATE runs
under the single writer lock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import connection

from simrenew.provisioning.models import LineOrder, LineOrderStatus

# An order is final once nothing more will happen to it on its own: only then may the line's next
# order go. Failed and rejected orders are not: they block their line until an operator retries
# or resolves them (a restore must never overtake a suspension the network never carried out).
FINAL_FOR_SEQUENCE = (
    LineOrderStatus.COMPLETED.value,
    LineOrderStatus.RESOLVED.value,
    LineOrderStatus.SUPERSEDED.value,
)


def _claim(due: str, due_params: list[Any], *, set_sql: str, set_params: list[Any]) -> list[int]:
    table = connection.ops.quote_name(LineOrder._meta.db_table)
    if connection.vendor == "postgresql":
        # Materialized: the rows are picked once (see notifications.queries.claim_due_deliveries).
        sql = (
            f"WITH due AS MATERIALIZED ({due} FOR UPDATE OF o SKIP LOCKED)"  # noqa: S608 (names from the model)
            f" UPDATE {table} AS o2 SET {set_sql} FROM due WHERE o2.id = due.id RETURNING o2.id"
        )
        params = [*due_params, *set_params]
    else:
        sql = f"UPDATE {table} SET {set_sql} WHERE id IN ({due}) RETURNING id"  # noqa: S608
        params = [*set_params, *due_params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return sorted(int(row[0]) for row in cursor.fetchall())


def claim_sendable(
    *, worker_id: str, now: datetime, real_now: datetime, due_by: datetime, claim_until: datetime, limit: int
) -> list[int]:
    """Claim up to `limit` orders ready to go out: queued (or sent with no answer read), due by
    `due_by` (system clock), `not_before` passed (project clock), unclaimed, and the first
    non-final order of their line. They become `sending`, one more attempt. Returns their ids."""
    table = connection.ops.quote_name(LineOrder._meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    final = ", ".join(["%s"] * len(FINAL_FOR_SEQUENCE))
    due = (
        f"SELECT o.id FROM {table} o WHERE o.status IN (%s, %s) AND o.next_attempt_at <= %s"  # noqa: S608
        " AND (o.not_before IS NULL OR o.not_before <= %s)"
        " AND (o.claim_expires_at IS NULL OR o.claim_expires_at < %s)"
        f" AND NOT EXISTS (SELECT 1 FROM {table} e WHERE e.line_id = o.line_id AND e.sequence < o.sequence"
        f" AND e.status NOT IN ({final}))"
        " ORDER BY o.next_attempt_at, o.id LIMIT %s"
    )
    due_params: list[Any] = [
        LineOrderStatus.QUEUED.value,
        LineOrderStatus.SENDING.value,
        adapt(due_by),
        adapt(now),
        adapt(real_now),
        *FINAL_FOR_SEQUENCE,
        limit,
    ]
    return _claim(
        due,
        due_params,
        set_sql="status = %s, attempts = attempts + 1, claimed_by = %s, claim_expires_at = %s",
        set_params=[LineOrderStatus.SENDING.value, worker_id, adapt(claim_until)],
    )


def claim_pollable(
    *, worker_id: str, real_now: datetime, due_by: datetime, claim_until: datetime, limit: int
) -> list[int]:
    """Claim up to `limit` orders in progress at the carrier whose next look is due by `due_by`."""
    table = connection.ops.quote_name(LineOrder._meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    due = (
        f"SELECT o.id FROM {table} o WHERE o.status = %s AND o.next_attempt_at <= %s"  # noqa: S608
        " AND (o.claim_expires_at IS NULL OR o.claim_expires_at < %s)"
        " ORDER BY o.next_attempt_at, o.id LIMIT %s"
    )
    return _claim(
        due,
        [LineOrderStatus.IN_PROGRESS.value, adapt(due_by), adapt(real_now), limit],
        set_sql="claimed_by = %s, claim_expires_at = %s",
        set_params=[worker_id, adapt(claim_until)],
    )
