"""Auto-renew claims: which due subscriptions a worker takes, and giving them back.

Claims expire by the system clock (a frozen test clock must not pin them), so a
crashed worker's batch is taken over. On PostgreSQL the claim is a
`SELECT … FOR UPDATE SKIP LOCKED` feeding an `UPDATE`, reading the due index in
order; on SQLite one statement under the single writer. The rules are in autorenew.py.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from simrenew.kit import clock, rows
from simrenew.payments.models import OPEN_ATTEMPT_STATUSES, AttemptPurpose
from simrenew.subscriptions.models import Subscription
from simrenew.subscriptions.queries import as_aware
from simrenew.subscriptions.status import DUE_FOR_AUTO_RENEW_SQL_NOWS, due_for_auto_renew_sql

log = logging.getLogger(__name__)


# --- claims -------------------------------------------------------------------------------------------------------

_OPEN_ATTEMPTS_SQL = ", ".join(f"'{status.value}'" for status in OPEN_ATTEMPT_STATUSES)  # enum values, never input
_DUE_TEMPLATE = (
    "SELECT s.id FROM subscriptions_subscription s"  # noqa: S608 (the rule's fragment: enum values, no input)
    " WHERE " + due_for_auto_renew_sql("s") + "   AND (s.claim_expires_at IS NULL OR s.claim_expires_at < %s)"
    "   AND NOT EXISTS (SELECT 1 FROM payments_paymentattempt a"
    "     WHERE a.subscription_id = s.id AND a.status IN (" + _OPEN_ATTEMPTS_SQL + "){fence})"
    " ORDER BY s.renewal_due_at LIMIT %s"
)
# On PostgreSQL `OFFSET 0` keeps the NOT EXISTS a per-row probe of the (subscription,
# status) index. Without it the planner, whose statistics say "hardly any attempt is
# open", turns it into an anti-join against every open attempt: in a busy run each
# claimed row was then compared with the thousands of attempts of the batches in
# flight (a million comparisons per batch of 500, a third of the database's time per
# renewal). SQLite has no OFFSET without LIMIT, and plans the probe per row anyway.
_DUE_POSTGRESQL = _DUE_TEMPLATE.format(fence=" OFFSET 0")
_DUE_SQLITE = _DUE_TEMPLATE.format(fence="")
_CLAIM = "SET claimed_by = %s, claim_expires_at = %s"
_STILL_FREE = "(claim_expires_at IS NULL OR claim_expires_at < %s)"


def _claim_params(*, worker_id: str, limit: int) -> tuple[list[Any], list[Any]]:
    """The parameters of the due SELECT and of the claiming SET/WHERE."""
    now = clock.now()
    system_now = clock.system_now()
    until = system_now + timedelta(seconds=settings.SIMRENEW_WORKER_CLAIM_SECONDS)
    adapt = connection.ops.adapt_datetimefield_value
    due = [adapt(now)] * DUE_FOR_AUTO_RENEW_SQL_NOWS + [adapt(system_now), limit]
    return due, [worker_id, adapt(until), adapt(system_now)]


@contextmanager
def _claim_in_due_order(cursor: Any) -> Iterator[None]:
    """Read the due index in order and stop at the limit (PostgreSQL). Right after
    many rows became due the statistics still say "few are due", and the planner
    would rather fetch them all, sort them and keep the first batch: once per
    batch, quadratic over a large run. The setting is put back after the claim, not
    left to the end of the transaction: a caller's outer transaction (a test's)
    would otherwise plan every later query without sorts."""
    cursor.execute("SELECT current_setting('enable_sort'), set_config('enable_sort', 'off', true)")
    (before, _) = cursor.fetchone()
    try:
        yield
    finally:
        cursor.execute("SELECT set_config('enable_sort', %s, true)", [before])


@dataclass(slots=True)
class DueRow:
    """What one claimed subscription needs for the common try (plain values, no
    model instances: building those was a third of a batch's Python time)."""

    subscription_id: int
    customer_id: int
    renewal_due_at: datetime
    paid_through: datetime | None
    state: str
    auto_renew: bool
    plan_id: int
    plan_name: str
    price_minor: int
    currency: str
    data_mb: int
    period_unit: str
    period_count: int
    time_zone: str
    method_id: int | None
    method_customer_id: int | None
    method_type: str | None
    method_gateway: str | None
    method_token: str | None
    method_provider_customer: str | None
    method_removed: bool
    last_number: int  # 0 before the first period
    maybe_tried: bool  # an auto-renew attempt made at or after this moment exists


# What a claimed subscription's row brings along, by DueRow field: its plan, zone, method,
# last period number, and whether anything was tried at this moment already. The select
# list is written from this in DueRow's field order, so a row is read back by name.
_DUE_SOURCES = {
    "subscription_id": "s.id",
    "customer_id": "s.customer_id",
    "renewal_due_at": "s.renewal_due_at",
    "paid_through": "s.paid_through",
    "state": "s.state",
    "auto_renew": "s.auto_renew",
    "plan_id": "pl.id",
    "plan_name": "pl.name",
    "price_minor": "pl.price_minor",
    "currency": "pl.currency",
    "data_mb": "pl.data_mb",
    "period_unit": "pl.period_unit",
    "period_count": "pl.period_count",
    "time_zone": "cu.time_zone",
    "method_id": "m.id",
    "method_customer_id": "m.customer_id",
    "method_type": "m.type",
    "method_gateway": "m.gateway",
    "method_token": "m.token",
    "method_provider_customer": "m.provider_customer",
    "method_removed": "m.removed_at IS NOT NULL",
    "last_number": "(SELECT MAX(p.number) FROM subscriptions_period p WHERE p.subscription_id = s.id)",
    "maybe_tried": (
        "EXISTS (SELECT 1 FROM payments_paymentattempt a WHERE a.subscription_id = s.id"  # noqa: S608 (an enum value)
        f"   AND a.purpose = '{AttemptPurpose.AUTO_RENEWAL.value}' AND a.created_at >= s.renewal_due_at)"
    ),
}
_DUE_COLUMNS = ", ".join(_DUE_SOURCES[f.name] for f in fields(DueRow))
_DUE_JOINS = (
    " JOIN catalog_plan pl ON pl.id = s.plan_id JOIN customers_customer cu ON cu.id = s.customer_id"
    " LEFT JOIN payments_paymentmethod m ON m.id = s.payment_method_id"
)


def claim_batch(*, worker_id: str, limit: int) -> list[DueRow]:
    """(edge) Claim up to `limit` due subscriptions for this worker, oldest due first,
    with what each needs to be tried. Subscriptions with an open charge wait for
    reconciliation.

    On PostgreSQL one statement: its SELECT skips rows another worker is claiming
    right now (SKIP LOCKED), in a materialized CTE that runs once (inside `IN (…)`
    the planner may rerun a SKIP LOCKED subquery and claim more rows than the
    limit). On SQLite the claim runs under the single writer lock, and a second
    statement reads the claimed rows."""
    due, claim = _claim_params(worker_id=worker_id, limit=limit)
    if connection.vendor != "postgresql":
        sql = f"UPDATE subscriptions_subscription {_CLAIM} WHERE id IN ({_DUE_SQLITE}) AND {_STILL_FREE} RETURNING id"
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, claim[:2] + due + claim[2:])
            ids = [int(row[0]) for row in cursor.fetchall()]
            if not ids:
                return []
            among, params = rows.among("s.id", ids)
            read = f"SELECT {_DUE_COLUMNS} FROM subscriptions_subscription s {_DUE_JOINS} WHERE {among}"  # noqa: S608
            cursor.execute(read, params)
            return _due_rows(cursor.fetchall())
    sql = (
        f"WITH due AS MATERIALIZED ({_DUE_POSTGRESQL} FOR UPDATE SKIP LOCKED),"  # noqa: S608
        f" claimed AS (UPDATE subscriptions_subscription {_CLAIM} FROM due"
        f"   WHERE subscriptions_subscription.id = due.id AND {_STILL_FREE} RETURNING subscriptions_subscription.*)"
        f" SELECT {_DUE_COLUMNS} FROM claimed s {_DUE_JOINS}"
    )
    with transaction.atomic(), connection.cursor() as cursor, _claim_in_due_order(cursor):
        return _due_rows(rows.fetch_binary(sql, due + claim))


def _due_rows(found: Sequence[Sequence[Any]]) -> list[DueRow]:
    made = []
    for values in found:
        due = DueRow(*values)  # selected in DueRow's field order (_DUE_COLUMNS)
        # What the drivers hand back as something else: SQLite's text timestamps and 0/1 booleans.
        due.renewal_due_at = _utc(due.renewal_due_at)
        if due.paid_through is not None:
            due.paid_through = _utc(due.paid_through)
        due.auto_renew = bool(due.auto_renew)
        due.method_removed = bool(due.method_removed)
        due.last_number = due.last_number or 0
        due.maybe_tried = bool(due.maybe_tried)
        made.append(due)
    made.sort(key=lambda due: due.subscription_id)
    return made


def _utc(value: datetime | str) -> datetime:
    return as_aware(value).astimezone(UTC)


def release_claims(*, worker_id: str, subscription_ids: Sequence[int] | None = None) -> int:
    """(edge) Give claims back: the batch's when done, or all of this worker's when it stops."""
    claims = Subscription.objects.filter(claimed_by=worker_id)
    if subscription_ids is not None:
        if not subscription_ids:
            return 0
        claims = claims.filter(pk__in=list(subscription_ids))
    with transaction.atomic():
        return claims.update(claimed_by="", claim_expires_at=None)
