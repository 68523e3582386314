"""Read paths: what a customer or partner sees of a subscription right now."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    ExpressionWrapper,
    IntegerField,
    Model,
    Prefetch,
    QuerySet,
    Value,
    When,
)
from django.utils.dateparse import parse_datetime

from simrenew.catalog.models import Plan
from simrenew.kit import clock, rows
from simrenew.subscriptions import status as rules
from simrenew.subscriptions.models import MB, Period, Subscription, SubscriptionState, TopUp


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
    # The period shown (`status.period_ran_q`): the running one, else the one that ran last; None
    # before the first period started (an incomplete subscription).
    shown_period: Period | None

    @property
    def plan_id(self) -> int:
        """The plan shown: the running period's; when none runs, the plan of the period that ran
        last; before any ran, the plan being bought (the renewal plan)."""
        return self.shown_period.plan_id if self.shown_period is not None else self.subscription.plan_id

    @property
    def plan(self) -> Plan:
        """The plan shown (see `plan_id`)."""
        return self.shown_period.plan if self.shown_period is not None else self.subscription.plan

    @property
    def renewal_plan_id(self) -> int:
        """What auto-renew and "Renew" buy (`Subscription.plan`): only the customer's choice changes it."""
        return self.subscription.plan_id


def current_period(subscription: Subscription, now: datetime) -> Period | None:
    """The period running at `now`, if the subscription is in service then: judged on its row
    as stored, not on `subscription`'s fields, which a caller may have read before a renewal."""
    return (
        Period.objects.filter(rules.period_runs_q(now), subscription=subscription)
        .select_related("plan")
        .order_by("-number")
        .first()
    )


def next_auto_renew_charge(subscription: Subscription, now: datetime) -> datetime | None:
    """When auto-renew next charges, only while it renews by itself (live, auto-renew on, paid time
    left): a cancelled subscription shows none (portal, console and API alike)."""
    return subscription.renewal_due_at if rules.renews_automatically(subscription, now) else None


def data_left_bytes(period: Period) -> int:
    return max(0, (period.data_mb + period.top_up_mb) * MB - period.used_bytes)


def _shown_period(subscription_id: int, now: datetime) -> tuple[Period | None, bool]:
    """The period shown of the subscription (`status.period_ran_q`'s last), with its plan, and
    whether it runs now (`status.period_runs_q`, its subscription judged as stored)."""
    running = ExpressionWrapper(rules.period_runs_q(now), output_field=BooleanField())
    periods = Period.objects.filter(rules.period_ran_q(now)).annotate(running=running).select_related("plan__carrier")
    shown = periods.filter(subscription_id=subscription_id).order_by("-number").first()
    return (shown, bool(shown.running)) if shown is not None else (None, False)


def view(subscription: Subscription, *, now: datetime | None = None) -> SubscriptionView:
    """What a customer sees of the subscription at `now`: one query. The running period is judged on
    the subscription's row as stored (as `current_period`), not on `subscription`'s fields."""
    now = now or clock.now()
    shown, running = _shown_period(subscription.pk, now)
    return _view_with(subscription, shown if running else None, now, shown)


# Whether the period `p` of the subscription `s` runs at {now}, 1 or 0 (`status.period_runs_sql`):
# the plain-SQL reads below (`views_of`, `read_view`) select it beside the period shown.
_RUNNING_SQL = "CASE WHEN " + rules.period_runs_sql("p", "s", now="{now}") + " THEN 1 ELSE 0 END"

# The period shown of each of many subscriptions and whether it runs, in plain SQL: the same rules
# (`status.period_ran_sql`, `status.period_runs_sql`) as `_shown_period` and `read_view`, without
# the ORM's cost of compiling a window query on every page (the dashboard's budget is tight).
_SHOWN_PERIODS_SQL = (
    "SELECT s.id, p.id, "  # noqa: S608 (rules' fragments: enum values, no input)
    + _RUNNING_SQL
    + " FROM subscriptions_subscription s JOIN subscriptions_period p ON p.id = ("
    "SELECT c.id FROM subscriptions_period c WHERE c.subscription_id = s.id AND "
    + rules.period_ran_sql("c", "s", now="{now}")
    + " ORDER BY c.number DESC LIMIT 1) WHERE {among}"
)


def views_of(subscriptions: list[Subscription], *, now: datetime | None = None) -> dict[int, SubscriptionView]:
    """`view()` of many subscriptions in two queries whatever their number (the dashboard's), by id."""
    now = now or clock.now()
    if not subscriptions:
        return {}
    among, params = rows.among("s.id", [s.pk for s in subscriptions])
    sql = _SHOWN_PERIODS_SQL.replace("{among}", among).replace("{now}", "%s")
    at = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*[at] * (sql.count("%s") - len(params)), *params])
        found = {subscription_id: (period_id, bool(running)) for subscription_id, period_id, running in cursor}
    periods = Period.objects.select_related("plan__carrier").in_bulk([period_id for period_id, _ in found.values()])
    views: dict[int, SubscriptionView] = {}
    for subscription in subscriptions:
        period_id, running = found.get(subscription.pk, (None, False))
        shown = periods.get(period_id) if period_id is not None else None
        views[subscription.pk] = _view_with(subscription, shown if running else None, now, shown)
    return views


def derive_status(
    subscription: Subscription, *, period: Period | None, now: datetime, total_mb: int, left_mb: int
) -> str:
    """The status a customer sees; `period` is the one running at `now` (None when out of service)."""
    if subscription.state == SubscriptionState.TERMINATED:
        return Status.TERMINATED
    if subscription.state == SubscriptionState.INCOMPLETE:
        return Status.INCOMPLETE
    if subscription.state == SubscriptionState.CANCELLED:
        return Status.CANCELLED
    if period is None:
        return Status.SUSPENDED
    if rules.ends_within(subscription, now, rules.EXPIRING_WITHIN) or rules.expiring_by_data(
        total_mb=total_mb, left_mb=left_mb
    ):
        return Status.EXPIRING
    return Status.ACTIVE


def future_periods(subscription: Subscription, now: datetime) -> int:
    if subscription.paid_through is None or subscription.paid_through <= now:
        return 0
    return count_future_periods(subscription.pk, now)


@dataclass(frozen=True, slots=True)
class LockedSubscription:
    state: str
    ended_at: datetime | None
    plan_id: int  # the renewal plan


# The lock an UPDATE of the row's columns takes (PostgreSQL): it keeps other appends and
# changes out, not the inserts of rows that refer to the subscription (its periods, invoices).
_LOCK_FOR_CHANGE_POSTGRESQL = (
    "SELECT state, ended_at, plan_id FROM subscriptions_subscription WHERE id = %s FOR NO KEY UPDATE"
)
# SQLite has no row locks, only the database's single writer lock. Settings open every
# transaction IMMEDIATE (which takes it at BEGIN), but a DEFERRED transaction takes it only at
# its first write: a no-op UPDATE takes it whatever the mode, so two payments can never both
# read the same last period.
_LOCK_FOR_CHANGE_SQLITE = (
    "UPDATE subscriptions_subscription SET id = id WHERE id = %s RETURNING state, ended_at, plan_id"
)


def lock_for_change(subscription_id: int) -> LockedSubscription:
    """Lock the subscription's row and return its fresh state, in one statement. The lock
    holds until the caller's transaction ends, so period appends queue up."""
    sql = _LOCK_FOR_CHANGE_POSTGRESQL if connection.vendor == "postgresql" else _LOCK_FOR_CHANGE_SQLITE
    with connection.cursor() as cursor:
        cursor.execute(sql, [subscription_id])
        state, ended_at, plan_id = cursor.fetchone()
    if isinstance(ended_at, str):
        ended_at = parse_datetime(ended_at)
    return LockedSubscription(state, ended_at, plan_id)


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
    plan_id: int = 0  # the plan the period bought (its code: the line's plan at the network)
    plan_code: str = ""


def last_period(subscription_id: int) -> LastPeriod | None:
    return last_periods([subscription_id]).get(subscription_id)


def as_aware(value: datetime | str) -> datetime:
    """Plain SQL hands back text on SQLite and aware datetimes on PostgreSQL."""
    parsed = parse_datetime(value) if isinstance(value, str) else value
    if parsed is None:
        raise ValueError(f"not a datetime: {value!r}")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


# Rows of plain SQL are read by name: each select list below is written from the fields of the
# NamedTuple that reads its rows back, so adding or moving a column cannot shift the others.


class _LastPeriodRow(NamedTuple):
    subscription_id: int
    number: int
    ends_at: datetime | str  # text on SQLite
    anchor_at: datetime | str
    anchor_offset: int
    time_zone: str
    period_unit: str
    period_count: int
    plan_id: int
    plan_code: str


# Where a last period's columns come from: the period `p` and the plan it bought, `c`.
_LAST_PERIOD_SOURCES = {
    "subscription_id": "p.subscription_id",
    "number": "p.number",
    "ends_at": "p.ends_at",
    "anchor_at": "p.anchor_at",
    "anchor_offset": "p.anchor_offset",
    "time_zone": "p.time_zone",
    "period_unit": "c.period_unit",
    "period_count": "c.period_count",
    "plan_id": "c.id",
    "plan_code": "c.code",
}
_LAST_PERIODS_SQL = (
    "WITH last AS (SELECT subscription_id, MAX(number) AS number FROM subscriptions_period p"  # noqa: S608
    "   WHERE {among} GROUP BY subscription_id)"
    f" SELECT {', '.join(_LAST_PERIOD_SOURCES[name] for name in _LastPeriodRow._fields)}"
    " FROM last JOIN subscriptions_period p ON p.subscription_id = last.subscription_id"
    " AND p.number = last.number JOIN catalog_plan c ON c.id = p.plan_id"
)


def last_periods(subscription_ids: list[int]) -> dict[int, LastPeriod]:
    """`last_period` for many subscriptions in one query."""
    if not subscription_ids:
        return {}
    among, params = rows.among("p.subscription_id", subscription_ids)
    with connection.cursor() as cursor:
        cursor.execute(_LAST_PERIODS_SQL.format(among=among), params)
        found = [_LastPeriodRow._make(row) for row in cursor.fetchall()]
    return {
        row.subscription_id: LastPeriod(
            number=row.number,
            ends_at=as_aware(row.ends_at),
            anchor_at=as_aware(row.anchor_at),
            anchor_offset=row.anchor_offset,
            time_zone=row.time_zone,
            period_unit=row.period_unit,
            period_count=row.period_count,
            plan_id=row.plan_id,
            plan_code=row.plan_code,
        )
        for row in found
    }


# --- an eSIM's plans, for partners (GET /esims/{id}/usage, /packages) ------------------------------


def subscription_of_esim(esim_id: int) -> Subscription | None:
    """The eSIM's open subscription (at most one), else its most recent one; None if it never had one."""
    open_first = Case(When(state__in=rules.OPEN_STATES, then=Value(0)), default=Value(1), output_field=IntegerField())
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
        among, params = rows.among("s.id", subscription_ids)
        with connection.cursor() as cursor:
            cursor.execute(_LOCKED_SQLITE_SQL.format(among=among), params)
            subscriptions = [_LockedRow._make(row) for row in cursor.fetchall()]
        return {
            row.subscription_id: RenewalLock(
                row.state,
                None if row.ended_at is None else as_aware(row.ended_at),
                row.plan_id,
                lasts.get(row.subscription_id),
            )
            for row in subscriptions
        }
    among, params = rows.among("s.id", subscription_ids)
    found = rows.fetch_binary(_LOCKED_POSTGRESQL_SQL.format(among=among), params)
    locked = [_LockedWithLastRow._make(row) for row in found]
    return {
        row.subscription_id: RenewalLock(
            row.state,
            row.ended_at,
            row.plan_id,
            None
            if row.number is None
            else LastPeriod(
                number=row.number,
                ends_at=row.ends_at,
                anchor_at=row.anchor_at,
                anchor_offset=row.anchor_offset,
                time_zone=row.time_zone,
                period_unit=row.period_unit,
                period_count=row.period_count,
                plan_id=row.last_plan_id,
                plan_code=row.last_plan_code,
            ),
        )
        for row in locked
    }


class _LockedRow(NamedTuple):
    subscription_id: int
    state: str
    ended_at: datetime | str | None  # text on SQLite
    plan_id: int


class _LockedWithLastRow(NamedTuple):
    """PostgreSQL's: the subscription's row and its last period (NULLs before the first)."""

    subscription_id: int
    state: str
    ended_at: datetime | None
    plan_id: int
    number: int | None
    ends_at: datetime
    anchor_at: datetime
    anchor_offset: int
    time_zone: str
    period_unit: str
    period_count: int
    last_plan_id: int
    last_plan_code: str


# The subscription `s`; beside it (PostgreSQL) its last period `p` and that period's plan `c`,
# as last_periods reads them.
_LOCKED_SOURCES = {
    "subscription_id": "s.id",
    "state": "s.state",
    "ended_at": "s.ended_at",
    "plan_id": "s.plan_id",
    **{
        name: source
        for name, source in _LAST_PERIOD_SOURCES.items()
        if name not in ("subscription_id", "plan_id", "plan_code")
    },
    "last_plan_id": "c.id",
    "last_plan_code": "c.code",
}
_LOCKED_SQLITE_SQL = (
    f"SELECT {', '.join(_LOCKED_SOURCES[name] for name in _LockedRow._fields)}"  # noqa: S608
    " FROM subscriptions_subscription s WHERE {among}"
)
_LOCKED_POSTGRESQL_SQL = (
    f"SELECT {', '.join(_LOCKED_SOURCES[name] for name in _LockedWithLastRow._fields)}"  # noqa: S608
    " FROM subscriptions_subscription s"
    " LEFT JOIN LATERAL (SELECT number, ends_at, anchor_at, anchor_offset, time_zone, plan_id"
    "   FROM subscriptions_period WHERE subscription_id = s.id ORDER BY number DESC LIMIT 1) p ON true"
    " LEFT JOIN catalog_plan c ON c.id = p.plan_id"
    " WHERE {among} ORDER BY s.id FOR NO KEY UPDATE OF s"
)


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
# statement; it is selected, then picks the period shown (`status.period_ran_sql`'s last, as
# `_shown_period`), and `running` says whether it runs now (`status.period_runs_sql`).
_VIEW_SQL = (
    "SELECT {columns}"  # noqa: S608 (the rule's fragment: enum values, no input)
    " FROM subscriptions_subscription s"
    " LEFT JOIN subscriptions_period p ON p.id = ("
    "SELECT c.id FROM subscriptions_period c WHERE c.subscription_id = s.id"
    " AND " + rules.period_ran_sql("c", "s", now="{now}") + " ORDER BY c.number DESC LIMIT 1)"
    " WHERE s.id = %s"
)
# The row is read by name, like last_periods': the select list is written from these names
# (`s_…` the subscription's columns, `p_…` the period's), and each reader below finds its
# columns by name in that list, once, at import.
_VIEW_SOURCES: dict[str, str] = {
    **{f"s_{name}": f"s.{name}" for name in _SUBSCRIPTION_COLUMNS},
    "now": "{now}",
    **{f"p_{name}": f"p.{name}" for name in _PERIOD_COLUMNS},
    "running": _RUNNING_SQL,
}
_VIEW_NAMES = tuple(_VIEW_SOURCES)


def _view_reader(*names: str) -> itemgetter[tuple[Any, ...]]:
    return itemgetter(*(_VIEW_NAMES.index(name) for name in names))


_view_subscription = _view_reader(*(f"s_{name}" for name in _SUBSCRIPTION_COLUMNS))
_view_period = _view_reader(*(f"p_{name}" for name in _PERIOD_COLUMNS))
_VIEW_NOW = _VIEW_NAMES.index("now")
_VIEW_PERIOD_ID = _VIEW_NAMES.index("p_id")  # NULL before the first period started
_VIEW_RUNNING = _VIEW_NAMES.index("running")
_AUTO_RENEW = _SUBSCRIPTION_COLUMNS.index("auto_renew")  # 0/1 on SQLite


def _view_sql(now: str) -> str:
    columns = ", ".join(_VIEW_SOURCES[name] for name in _VIEW_NAMES)
    return _VIEW_SQL.format(columns=columns.format(now=now), now=now)


_VIEW_SQL_AT = _view_sql("%s")
_VIEW_SQL_TEST_CLOCK = _view_sql("COALESCE((SELECT frozen_at FROM kit_testclock WHERE id = 1), %s)")
# Both statements read "now" this many times, then the subscription's id.
_VIEW_NOWS = _VIEW_SQL_AT.count("%s") - 1


def _row_values(values: tuple[Any, ...], columns: tuple[str, ...], stamps: frozenset[str]) -> list[Any]:
    return [
        as_aware(value) if value is not None and name in stamps else value
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
        cursor.execute(sql, [*[at] * _VIEW_NOWS, subscription_id])
        row = cursor.fetchone()
    if row is None:
        return None
    values = _row_values(_view_subscription(row), _SUBSCRIPTION_COLUMNS, _SUBSCRIPTION_STAMPS)
    values[_AUTO_RENEW] = bool(values[_AUTO_RENEW])
    subscription = Subscription.from_db(connection.alias, list(_SUBSCRIPTION_COLUMNS), values)
    shown = None
    if row[_VIEW_PERIOD_ID] is not None:
        period_values = _row_values(_view_period(row), _PERIOD_COLUMNS, _PERIOD_STAMPS)
        shown = Period.from_db(connection.alias, list(_PERIOD_COLUMNS), period_values)
    running = shown if row[_VIEW_RUNNING] else None
    return _view_with(subscription, running, as_aware(row[_VIEW_NOW]), shown)


def _view_with(
    subscription: Subscription, period: Period | None, now: datetime, shown: Period | None
) -> SubscriptionView:
    """The view, given the period running at `now` while in service (None otherwise) and the period
    shown (`period` when one runs)."""
    total_mb = (period.data_mb + period.top_up_mb) if period else 0
    left_mb = data_left_bytes(period) // MB if period else 0
    service_ends = rules.service_ends_at(subscription)
    remaining = (service_ends - now) if (service_ends and period) else timedelta(0)
    days_left = math.ceil(remaining.total_seconds() / 86400) if remaining > timedelta(0) else 0
    status = derive_status(subscription, period=period, now=now, total_mb=total_mb, left_mb=left_mb)
    return SubscriptionView(subscription, status, period, total_mb, left_mb, days_left, now, shown)
