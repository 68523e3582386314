"""Read paths: what a customer or partner sees of a subscription right now."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Case, IntegerField, Model, Prefetch, QuerySet, Value, When
from django.utils.dateparse import parse_datetime

from simrenew.kit import clock, rows
from simrenew.subscriptions.models import MB, Period, Subscription, SubscriptionState, TopUp

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
    parsed = parse_datetime(value) if isinstance(value, str) else value
    if parsed is None:
        raise ValueError(f"not a datetime: {value!r}")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def last_periods(subscription_ids: list[int]) -> dict[int, LastPeriod]:
    """`last_period` for many subscriptions in one query."""
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


# --- an eSIM's plans, for partners (GET /esims/{id}/usage, /packages) ------------------------------

OPEN_STATES = (SubscriptionState.INCOMPLETE, SubscriptionState.LIVE)


def subscription_of_esim(esim_id: int) -> Subscription | None:
    """The eSIM's open subscription (at most one), else its most recent one; None if it never had one."""
    open_first = Case(When(state__in=OPEN_STATES, then=Value(0)), default=Value(1), output_field=IntegerField())
    return Subscription.objects.filter(esim_id=esim_id).select_related("plan").order_by(open_first, "-id").first()


def periods_of_esim(esim_id: int) -> QuerySet[Period]:
    """Every period bought for the eSIM, across its subscriptions, with its plan, invoice and top-ups
    (a page of them costs three queries, whatever its length)."""
    return (
        Period.objects.filter(subscription__esim_id=esim_id)
        .select_related("plan", "invoice", "subscription")
        .prefetch_related(Prefetch("top_ups", queryset=TopUp.objects.select_related("pack", "invoice").order_by("id")))
    )


def period_phase(period: Period, now: datetime) -> str:
    """`upcoming` (prepaid, not started), `current`, `past` (ended, or service stopped within it), or
    `cancelled` (service was stopped before it began: it never runs)."""
    stopped = period.subscription.ended_at
    if stopped is not None and stopped <= period.starts_at:
        return "cancelled"
    if period.ends_at <= now or (stopped is not None and stopped <= now):
        return "past"
    if period.starts_at > now:
        return "upcoming"
    return "current"


@dataclass(frozen=True, slots=True)
class RenewalLock:
    state: str
    sequence: int
    ended_at: datetime | None
    plan_id: int
    last: LastPeriod | None


def lock_for_renewal(subscription_ids: list[int]) -> dict[int, RenewalLock]:
    """The subscriptions locked, with their `last_periods`, at once, for appending periods: on PostgreSQL
    one statement locks the rows (in id order) and reads their last periods."""
    if not subscription_ids:
        return {}
    if connection.vendor != "postgresql":
        # SQLite: the transaction already holds the writer lock; read as two queries.
        lasts = last_periods(subscription_ids)
        among, params = rows.among("id", subscription_ids)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, state, sequence, ended_at, plan_id FROM subscriptions_subscription WHERE {among}",  # noqa: S608
                params,
            )
            found = cursor.fetchall()
        return {
            sid: RenewalLock(state, sequence, None if ended_at is None else _aware(ended_at), plan_id, lasts.get(sid))
            for sid, state, sequence, ended_at, plan_id in found
        }
    among, params = rows.among("s.id", subscription_ids)
    found = rows.fetch_binary(
        "SELECT s.id, s.state, s.sequence, s.ended_at, s.plan_id,"  # noqa: S608
        " p.number, p.ends_at, p.anchor_at, p.anchor_offset, p.time_zone, c.period_unit, c.period_count"
        " FROM subscriptions_subscription s"
        " LEFT JOIN LATERAL (SELECT number, ends_at, anchor_at, anchor_offset, time_zone, plan_id"
        "   FROM subscriptions_period WHERE subscription_id = s.id ORDER BY number DESC LIMIT 1) p ON true"
        " LEFT JOIN catalog_plan c ON c.id = p.plan_id"
        f" WHERE {among} ORDER BY s.id FOR NO KEY UPDATE OF s",
        params,
    )
    return {
        sid: RenewalLock(
            state,
            sequence,
            ended_at,
            plan_id,
            None if number is None else LastPeriod(number, ends_at, anchor_at, offset, zone, unit, count),
        )
        for sid, state, sequence, ended_at, plan_id, number, ends_at, anchor_at, offset, zone, unit, count in found
    }


# --- one subscription as the API shows it, in one statement (GET /api/v1/subscriptions/{id}) -------


def _loaded_columns(model: type[Model], wanted: set[str]) -> tuple[tuple[str, ...], frozenset[str]]:
    """The columns of `wanted` in the model's field order (as `Model.from_db` takes them), and which
    of them are timestamps (plain SQL hands them back as text on SQLite)."""
    fields = [f for f in model._meta.concrete_fields if f.attname in wanted]
    stamps = frozenset(f.attname for f in fields if f.get_internal_type() == "DateTimeField")
    return tuple(f.attname for f in fields), stamps


# What the view needs of each row; any other field is deferred (read on first access, as `.only()`).
_SUBSCRIPTION_COLUMNS, _SUBSCRIPTION_STAMPS = _loaded_columns(
    Subscription,
    {
        "id",
        "customer_id",
        "esim_id",
        "plan_id",
        "payment_method_id",
        "auto_renew",
        "state",
        "paid_through",
        "cancelled_at",
        "ended_at",
        "renewal_due_at",
    },
)
_PERIOD_COLUMNS, _PERIOD_STAMPS = _loaded_columns(
    Period,
    {"id", "subscription_id", "number", "plan_id", "starts_at", "ends_at", "data_mb", "top_up_mb", "used_bytes"},
)
# "now" is a parameter, or in sandbox mode the frozen test clock if there is one, read in the same
# statement; it is selected, then bounds the current period (the period query of `current_period`).
_VIEW_SQL = (
    "SELECT {subscription}, {now}, {period}"
    " FROM subscriptions_subscription s"
    " LEFT JOIN subscriptions_period p ON p.id = ("
    "SELECT c.id FROM subscriptions_period c WHERE c.subscription_id = s.id"
    " AND c.starts_at <= {now} AND c.ends_at > {now} ORDER BY c.number DESC LIMIT 1)"
    " WHERE s.id = %s"
)
_VIEW_SQL_AT = _VIEW_SQL.format(
    subscription=", ".join(f"s.{name}" for name in _SUBSCRIPTION_COLUMNS),
    period=", ".join(f"p.{name}" for name in _PERIOD_COLUMNS),
    now="%s",
)
_VIEW_SQL_TEST_CLOCK = _VIEW_SQL.format(
    subscription=", ".join(f"s.{name}" for name in _SUBSCRIPTION_COLUMNS),
    period=", ".join(f"p.{name}" for name in _PERIOD_COLUMNS),
    now="COALESCE((SELECT frozen_at FROM kit_testclock WHERE id = 1), %s)",
)


def _row_values(values: tuple[Any, ...], columns: tuple[str, ...], stamps: frozenset[str]) -> list[Any]:
    return [
        _aware(value) if value is not None and name in stamps else value
        for name, value in zip(columns, values, strict=True)
    ]


def read_view(subscription_id: int, *, now: datetime | None = None) -> SubscriptionView | None:
    """`view()` of one subscription in one statement (its row, its current period and, in sandbox
    mode, the test clock), or None when there is no such subscription: the partner API's hot read.
    It answers what `view(Subscription.objects.get(pk=subscription_id), now=now)` answers.

    `now` defaults to the clock's (inside `clock.one_instant()`, pass `now=clock.now()`). The
    subscription and period carry only the fields the view needs; others load on first access.
    """
    sql = _VIEW_SQL_TEST_CLOCK if now is None and settings.SIMRENEW_SANDBOX else _VIEW_SQL_AT
    at = connection.ops.adapt_datetimefield_value(now or clock.system_now())
    with connection.cursor() as cursor:
        cursor.execute(sql, [at, at, at, subscription_id])
        row = cursor.fetchone()
    if row is None:
        return None
    split = len(_SUBSCRIPTION_COLUMNS)
    values = _row_values(row[:split], _SUBSCRIPTION_COLUMNS, _SUBSCRIPTION_STAMPS)
    values[_SUBSCRIPTION_COLUMNS.index("auto_renew")] = bool(values[_SUBSCRIPTION_COLUMNS.index("auto_renew")])
    subscription = Subscription.from_db(connection.alias, list(_SUBSCRIPTION_COLUMNS), values)
    period = None
    if row[split + 1] is not None:  # the period's id: NULL when none runs now
        period_values = _row_values(row[split + 1 :], _PERIOD_COLUMNS, _PERIOD_STAMPS)
        period = Period.from_db(connection.alias, list(_PERIOD_COLUMNS), period_values)
    return view_of(subscription, period, _aware(row[split]))


def view_of(subscription: Subscription, running: Period | None, now: datetime) -> SubscriptionView:
    """What `view()` derives, given the period running at `now` (read however the caller likes)."""
    period = running if subscription.state != SubscriptionState.INCOMPLETE else None
    if subscription.ended_at is not None and subscription.ended_at <= now:
        period = None  # as `current_period`: service stopped
    total_mb = (period.data_mb + period.top_up_mb) if period else 0
    left_mb = data_left_bytes(period) // MB if period else 0
    service_ends = subscription.ended_at or subscription.paid_through
    remaining = (service_ends - now) if (service_ends and period) else timedelta(0)
    days_left = math.ceil(remaining.total_seconds() / 86400) if remaining > timedelta(0) else 0
    status = derive_status(subscription, period=period, remaining=remaining, total_mb=total_mb, left_mb=left_mb)
    return SubscriptionView(subscription, status, period, total_mb, left_mb, days_left, now)
