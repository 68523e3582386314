"""Read paths: what a customer or partner sees of a subscription right now."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from simrenew.kit import clock, rows
from simrenew.subscriptions.models import Period, Subscription, SubscriptionState

MB = 1024 * 1024  # plans count data in MiB, as carriers' "1 GB = 1024 MB" does
EXPIRING_WITHIN = timedelta(days=3)
EXPIRING_DATA_FRACTION = 0.10


class Status:
    INCOMPLETE = "incomplete"
    ACTIVE = "active"
    EXPIRING = "expiring"
    SUSPENDED = "suspended"
    CANCELLED = "cancelled"
    TERMINATED = "terminated"


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    subscription: Subscription
    status: str
    current_period: Period | None
    data_total_mb: int
    data_left_mb: int
    days_left: int
    now: datetime


def current_period(subscription: Subscription, now: datetime) -> Period | None:
    if subscription.ended_at is not None and subscription.ended_at <= now:
        return None
    return (
        Period.objects.filter(subscription=subscription, starts_at__lte=now, ends_at__gt=now)
        .select_related("plan")
        .order_by("-number")
        .first()
    )


def data_left_bytes(period: Period) -> int:
    return max(0, (period.data_mb + period.top_up_mb) * MB - period.used_bytes)


def view(subscription: Subscription, *, now: datetime | None = None) -> SubscriptionView:
    now = now or clock.now()
    period = current_period(subscription, now) if subscription.state != SubscriptionState.INCOMPLETE else None
    total_mb = (period.data_mb + period.top_up_mb) if period else 0
    left_mb = data_left_bytes(period) // MB if period else 0
    service_ends = subscription.ended_at or subscription.paid_through
    remaining = (service_ends - now) if (service_ends and period) else timedelta(0)
    days_left = math.ceil(remaining.total_seconds() / 86400) if remaining > timedelta(0) else 0
    status = derive_status(subscription, period=period, remaining=remaining, total_mb=total_mb, left_mb=left_mb)
    return SubscriptionView(subscription, status, period, total_mb, left_mb, days_left, now)


def derive_status(
    subscription: Subscription, *, period: Period | None, remaining: timedelta, total_mb: int, left_mb: int
) -> str:
    if subscription.state == SubscriptionState.TERMINATED:
        return Status.TERMINATED
    if subscription.state == SubscriptionState.INCOMPLETE:
        return Status.INCOMPLETE
    if subscription.state == SubscriptionState.CANCELLED:
        return Status.CANCELLED
    if period is None:
        return Status.SUSPENDED
    if remaining <= EXPIRING_WITHIN or left_mb <= total_mb * EXPIRING_DATA_FRACTION:
        return Status.EXPIRING
    return Status.ACTIVE


def future_periods(subscription: Subscription, now: datetime) -> int:
    if subscription.paid_through is None or subscription.paid_through <= now:
        return 0
    return count_future_periods(subscription.pk, now)


@dataclass(frozen=True, slots=True)
class LockedSubscription:
    state: str
    sequence: int
    ended_at: datetime | None


def lock_for_change(subscription_id: int) -> LockedSubscription:
    """Bump the subscription's event sequence and return its fresh state, in one
    statement. The UPDATE holds the row lock (PostgreSQL) or the writer lock
    (SQLite) until the caller's transaction ends, so period appends queue up."""
    from django.db import connection
    from django.utils.dateparse import parse_datetime

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE subscriptions_subscription SET sequence = sequence + 1 WHERE id = %s"
            " RETURNING state, sequence, ended_at",
            [subscription_id],
        )
        state, sequence, ended_at = cursor.fetchone()
    if isinstance(ended_at, str):
        ended_at = parse_datetime(ended_at)
    return LockedSubscription(state, sequence, ended_at)


def count_future_periods(subscription_id: int, now: datetime) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM subscriptions_period WHERE subscription_id = %s AND starts_at > %s",
            [subscription_id, connection.ops.adapt_datetimefield_value(now)],
        )
        return int(cursor.fetchone()[0])


@dataclass(frozen=True, slots=True)
class LastPeriod:
    number: int
    ends_at: datetime
    anchor_at: datetime
    anchor_offset: int
    time_zone: str
    period_unit: str
    period_count: int


def last_period(subscription_id: int) -> LastPeriod | None:
    return last_periods([subscription_id]).get(subscription_id)


def _aware(value: datetime | str) -> datetime:
    """Plain SQL hands back text on SQLite and aware datetimes on PostgreSQL."""
    from datetime import UTC

    from django.utils.dateparse import parse_datetime

    parsed = parse_datetime(value) if isinstance(value, str) else value
    if parsed is None:
        raise ValueError(f"not a datetime: {value!r}")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def last_periods(subscription_ids: list[int]) -> dict[int, LastPeriod]:
    """`last_period` for many subscriptions in one query."""
    from django.db import connection

    if not subscription_ids:
        return {}
    among, params = rows.among("p.subscription_id", subscription_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH last AS (SELECT subscription_id, MAX(number) AS number FROM subscriptions_period p"  # noqa: S608
            f"   WHERE {among} GROUP BY subscription_id)"
            " SELECT p.subscription_id, p.number, p.ends_at, p.anchor_at, p.anchor_offset, p.time_zone,"
            " c.period_unit, c.period_count"
            " FROM last JOIN subscriptions_period p ON p.subscription_id = last.subscription_id"
            " AND p.number = last.number JOIN catalog_plan c ON c.id = p.plan_id",
            params,
        )
        found = cursor.fetchall()
    return {
        sid: LastPeriod(number, _aware(ends_at), _aware(anchor_at), offset, zone, unit, count)
        for sid, number, ends_at, anchor_at, offset, zone, unit, count in found
    }


def lock_many(subscription_ids: list[int]) -> dict[int, LockedSubscription]:
    """Lock many subscriptions for a change and read their state, in one statement
    (rows in id order on PostgreSQL; on SQLite the transaction holds the writer
    lock from BEGIN). `sequence` is the current one: the writer bumps it."""
    from django.db import connection

    if not subscription_ids:
        return {}
    among, params = rows.among("id", subscription_ids)
    lock = " ORDER BY id FOR UPDATE" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, state, sequence, ended_at FROM subscriptions_subscription WHERE {among}{lock}",  # noqa: S608
            params,
        )
        found = cursor.fetchall()
    return {
        sid: LockedSubscription(state, sequence, None if ended_at is None else _aware(ended_at))
        for sid, state, sequence, ended_at in found
    }
