"""The subscription status rules (DESIGN.md §4), each defined once.

Each rule is a list of terms (a state among some, a flag, a timestamp before or after
"now"), and every form a caller needs is built from those terms: the Python predicate
(on a `Subscription`, or on the plain rows of the worker's hot paths), the queryset
`Q`, and, where a hot path writes raw SQL, the SQL fragment. A rule therefore cannot
say one thing in Python and another in SQL.

- *In service*: the customer can use the line now. Live, or cancelled at period end
  and still running to it (DESIGN: "cancelled: runs to period end"); paid time left;
  and not stopped by a cancellation "now" (`ended_at`).
- *Service ends at*: the end of paid time, or the cancellation "now" if earlier.
- *Holds its eSIM*: open (incomplete, or live even while suspended, since it is
  renewed rather than bought again) or still in service. Another subscription cannot
  start on the eSIM, nor can the eSIM be released.
- *Suspended*: live with no service (DESIGN: "no current period: service interrupted").
- *Renews automatically*: live with auto-renew on and paid time left; *due for
  auto-renew* when, besides, its next try's time has come (at expiry it is suspended
  and renewed by hand).
- *A period runs*: it started, has not ended, and its subscription is in service. The
  period a customer is shown is the one running, else the last one that ran (`period_ran_q`).
- *Expiring*: in service and ending within `EXPIRING_WITHIN` (3 days), or with at most
  `EXPIRING_DATA_FRACTION` of its data left. The console's count of upcoming expiries
  looks further ahead (`UPCOMING_EXPIRY_WITHIN`, 7 days: the first expiry reminder);
  that is the same "service ends within" rule over another window, not a status.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any, Literal, Protocol

from django.db.models import F, Q

from simrenew.subscriptions.models import (
    DATA_CRITICAL_PERCENT,
    DATA_LOW_PERCENT,
    SubscriptionState,
    used_at_least,
)

EXPIRING_WITHIN = timedelta(days=3)
EXPIRING_DATA_FRACTION = 0.10
# How far ahead the operator's overview counts upcoming expiries: as far as the earliest
# expiry reminder (reminders.EXPIRY_REMINDERS), so the figure covers everyone about to be told.
UPCOMING_EXPIRY_WITHIN = timedelta(days=7)


class ServiceRow(Protocol):
    """What the service rules read: a `Subscription`, or a light row of a hot path."""

    @property
    def state(self) -> str: ...
    @property
    def paid_through(self) -> datetime | None: ...
    @property
    def ended_at(self) -> datetime | None: ...


class AutoRenewRow(Protocol):
    """What the auto-renew rule reads (a `Subscription` or the worker's `DueRow`)."""

    @property
    def state(self) -> str: ...
    @property
    def auto_renew(self) -> bool: ...
    @property
    def renewal_due_at(self) -> datetime | None: ...
    @property
    def paid_through(self) -> datetime | None: ...


# --- the terms a rule is made of ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Term:
    """One condition on one column, in its three forms. `kind` is one of:
    `in` (the value is one of `states`), `true` (a flag is set), `due` (a time has
    come: value <= now), `after` (value > now; NULL is not after), `after_or_null`."""

    field: str
    kind: str
    states: tuple[str, ...] = ()

    def check(self) -> Callable[[Any, datetime], bool]:
        """The condition as a Python predicate over a row and `now`."""
        get = attrgetter(self.field)
        if self.kind == "in":
            states = frozenset(self.states)
            return lambda row, now: get(row) in states
        if self.kind == "true":
            return lambda row, now: bool(get(row))
        if self.kind == "due":
            return lambda row, now: (value := get(row)) is not None and value <= now
        if self.kind == "after":
            return lambda row, now: (value := get(row)) is not None and value > now
        assert self.kind == "after_or_null"
        return lambda row, now: (value := get(row)) is None or value > now

    def q(self, now: datetime, prefix: str) -> Q:
        lookup = prefix + self.field
        if self.kind == "in":
            return Q(**{f"{lookup}__in": list(self.states)}) if len(self.states) > 1 else Q(**{lookup: self.states[0]})
        if self.kind == "true":
            return Q(**{lookup: True})
        if self.kind == "due":
            return Q(**{f"{lookup}__lte": now})
        if self.kind == "after":
            return Q(**{f"{lookup}__gt": now})
        return Q(**{f"{lookup}__isnull": True}) | Q(**{f"{lookup}__gt": now})

    def sql(self, alias: str, now: str) -> str:
        column = f"{alias}.{self.field}"
        if self.kind == "in":
            # Enum values, never input: quoted here so that the SQL follows SubscriptionState.
            values = ", ".join(f"'{state}'" for state in self.states)
            return f"{column} = {values}" if len(self.states) == 1 else f"{column} IN ({values})"
        if self.kind == "true":
            return column
        if self.kind == "due":
            return f"{column} <= {now}"
        if self.kind == "after":
            return f"{column} > {now}"
        return f"({column} IS NULL OR {column} > {now})"


class _Rule:
    """A conjunction of terms, offered as a predicate, a `Q` and an SQL fragment."""

    def __init__(self, *terms: _Term) -> None:
        self.terms = terms
        checks = tuple(term.check() for term in terms)

        def holds(row: Any, now: datetime) -> bool:
            return all(check(row, now) for check in checks)

        self.holds: Callable[[Any, datetime], bool] = holds

    def q(self, now: datetime, prefix: str = "") -> Q:
        combined = Q()
        for term in self.terms:
            combined &= term.q(now, prefix)
        return combined

    def sql(self, alias: str, now: str) -> str:
        """The rule over the table `alias`, with `now` an SQL expression (a placeholder or a
        subquery) repeated at each comparison with the time."""
        return " AND ".join(term.sql(alias, now) for term in self.terms)


def _state_in(*states: SubscriptionState) -> _Term:
    return _Term("state", "in", tuple(state.value for state in states))


OPEN_STATES = (SubscriptionState.INCOMPLETE, SubscriptionState.LIVE)  # not yet over: see "holds its eSIM"
_PAID_TIME_LEFT = _Term("paid_through", "after")
# Paid time left and no cancellation "now" behind us: the time half of "in service".
_SERVICE_TIME = _Rule(_PAID_TIME_LEFT, _Term("ended_at", "after_or_null"))
_IN_SERVICE = _Rule(_state_in(SubscriptionState.LIVE, SubscriptionState.CANCELLED), *_SERVICE_TIME.terms)
_RUNNING_TO_PERIOD_END = _Rule(_state_in(SubscriptionState.CANCELLED), *_SERVICE_TIME.terms)
_OPEN = _Rule(_state_in(*OPEN_STATES))
_LIVE = _Rule(_state_in(SubscriptionState.LIVE))
_AUTO_RENEW_ON = _Term("auto_renew", "true")
_RENEWS_AUTOMATICALLY = _Rule(_state_in(SubscriptionState.LIVE), _AUTO_RENEW_ON, _PAID_TIME_LEFT)
_DUE_FOR_AUTO_RENEW = _Rule(
    _state_in(SubscriptionState.LIVE),
    _AUTO_RENEW_ON,
    _Term("renewal_due_at", "due"),
    _PAID_TIME_LEFT,
)


# --- in service ---------------------------------------------------------------------------------------------------


in_service: Callable[[ServiceRow, datetime], bool] = _IN_SERVICE.holds


def in_service_q(now: datetime, *, prefix: str = "") -> Q:
    """`in_service` as a filter; `prefix` reaches the subscription through a relation
    (`"subscription__"` from a period)."""
    return _IN_SERVICE.q(now, prefix)


def in_service_sql(alias: str, *, now: str = "%s") -> str:
    """`in_service` as SQL over the subscriptions table `alias`; `now` appears
    `IN_SERVICE_SQL_NOWS` times (pass that many parameters if it is a placeholder)."""
    return _IN_SERVICE.sql(alias, now)


IN_SERVICE_SQL_NOWS = in_service_sql("s", now="%s").count("%s")


running_to_period_end: Callable[[ServiceRow, datetime], bool] = _RUNNING_TO_PERIOD_END.holds
"""Cancelled at period end and still in service: it may be resumed until then."""


# --- holds its eSIM -----------------------------------------------------------------------------------------------


def holds_esim(subscription: ServiceRow, now: datetime) -> bool:
    return _OPEN.holds(subscription, now) or _IN_SERVICE.holds(subscription, now)


def holds_esim_q(now: datetime, *, prefix: str = "") -> Q:
    return _OPEN.q(now, prefix) | _IN_SERVICE.q(now, prefix)


# --- suspended ----------------------------------------------------------------------------------------------------


def suspended(subscription: ServiceRow, now: datetime) -> bool:
    return _LIVE.holds(subscription, now) and not _SERVICE_TIME.holds(subscription, now)


def suspended_q(now: datetime, *, prefix: str = "") -> Q:
    # A negated comparison with a nullable column: Django adds the IS NOT NULL that keeps
    # a live subscription without `paid_through` suspended, as the predicate says.
    return _LIVE.q(now, prefix) & ~_SERVICE_TIME.q(now, prefix)


def lapsed_q(now: datetime, *, since: datetime | None = None) -> Q:
    """`suspended_q` in the form the worker's (state, paid_through) index serves: live with
    its paid time over by `now` (and, with `since`, run out after `since`). On every live
    row the two agree: a subscription becomes live with its first paid period, and only
    cancelling "now" sets `ended_at` (such a subscription is never resumed)."""
    lapsed = Q(state=SubscriptionState.LIVE, paid_through__lte=now)
    return lapsed & Q(paid_through__gt=since) if since is not None else lapsed


def live_service_ends_between_q(after: datetime, until: datetime) -> Q:
    """Live subscriptions whose `service_ends_at` is in (after, until]: a range on the
    (state, paid_through) index, since a live row has no `ended_at` (see `lapsed_q`)."""
    return Q(state=SubscriptionState.LIVE, paid_through__gt=after, paid_through__lte=until)


# --- due for auto-renew -------------------------------------------------------------------------------------------


renews_automatically: Callable[[AutoRenewRow, datetime], bool] = _RENEWS_AUTOMATICALLY.holds
"""Live, auto-renew on, paid time left: the worker will try it when `renewal_due_at` comes."""


def renews_automatically_q(now: datetime) -> Q:
    return _RENEWS_AUTOMATICALLY.q(now, "")


due_for_auto_renew: Callable[[AutoRenewRow, datetime], bool] = _DUE_FOR_AUTO_RENEW.holds


def due_for_auto_renew_q(now: datetime) -> Q:
    return _DUE_FOR_AUTO_RENEW.q(now, "")


def due_for_auto_renew_sql(alias: str, *, now: str = "%s") -> str:
    """`due_for_auto_renew` as SQL over the subscriptions table `alias`; `now` appears
    `DUE_FOR_AUTO_RENEW_SQL_NOWS` times."""
    return _DUE_FOR_AUTO_RENEW.sql(alias, now)


DUE_FOR_AUTO_RENEW_SQL_NOWS = due_for_auto_renew_sql("s", now="%s").count("%s")


# --- service ends at -----------------------------------------------------------------------------------------------


def service_ends_at(subscription: ServiceRow) -> datetime | None:
    """When service stops unless renewed: the end of paid time, or the cancellation "now"
    if that came first (None if it never had either)."""
    ended_at, paid_through = subscription.ended_at, subscription.paid_through
    if ended_at is None or paid_through is None:
        return ended_at or paid_through
    return min(ended_at, paid_through)


def _service_ends_by_q(lookup: str, instant: datetime, prefix: str) -> Q:
    # min(ended_at, paid_through) compared with `instant`: either one is (NULL compares false).
    return Q(**{f"{prefix}paid_through__{lookup}": instant}) | Q(**{f"{prefix}ended_at__{lookup}": instant})


def service_ends_by_q(instant: datetime, *, prefix: str = "") -> Q:
    """`service_ends_at` at or before `instant`, as a filter."""
    return _service_ends_by_q("lte", instant, prefix)


def service_ends_before_q(instant: datetime, *, prefix: str = "") -> Q:
    """`service_ends_at` strictly before `instant`, as a filter."""
    return _service_ends_by_q("lt", instant, prefix)


def service_ended_between_q(after: datetime, until: datetime) -> Q:
    """Live or cancelled subscriptions whose `service_ends_at` is in (after, until]."""
    live = live_service_ends_between_q(after, until)
    cancelled_now = Q(ended_at__isnull=False, ended_at__lt=F("paid_through"), ended_at__gt=after, ended_at__lte=until)
    at_period_end = Q(paid_through__gt=after, paid_through__lte=until) & (
        Q(ended_at__isnull=True) | Q(ended_at__gte=F("paid_through"))
    )
    return live | (Q(state=SubscriptionState.CANCELLED) & (cancelled_now | at_period_end))


# --- the period shown ------------------------------------------------------------------------------------------------


def period_ran_q(now: datetime) -> Q:
    """Periods (`subscriptions.Period`) that started by `now` and before any cancellation "now":
    service ran (or runs) in them. The last of them is the period a customer is shown, and its plan
    the plan shown (DESIGN.md §1.8: "the plan shown is the one running now"): the running period
    while in service; when none runs (suspended, cancelled now, ended), the one that ran last; a
    prepaid period that has not started is never it."""
    before_any_stop = Q(subscription__ended_at__isnull=True) | Q(starts_at__lt=F("subscription__ended_at"))
    return Q(starts_at__lte=now) & before_any_stop


def period_ran_sql(period: str, subscription: str, *, now: str = "%s") -> str:
    """`period_ran_q` as SQL over the periods table `period` joined to its subscription `subscription`."""
    return (
        f"{period}.starts_at <= {now}"
        f" AND ({subscription}.ended_at IS NULL OR {period}.starts_at < {subscription}.ended_at)"
    )


# --- the period running now ---------------------------------------------------------------------------------------

# A period's own time: started by "now" and not ended (its subscription's service is the other half).
_PERIOD_TIME = _Rule(_Term("starts_at", "due"), _Term("ends_at", "after"))


def period_runs_q(now: datetime, *, prefix: str = "") -> Q:
    """Periods (`subscriptions.Period`) running at `now`: started, not ended, and their subscription
    in service (`in_service`) as stored. `prefix` reaches the period through a relation."""
    return _PERIOD_TIME.q(now, prefix) & _IN_SERVICE.q(now, f"{prefix}subscription__")


def period_runs_sql(period: str, subscription: str, *, now: str = "%s") -> str:
    """`period_runs_q` as SQL over the periods table `period` joined to its subscription `subscription`."""
    return f"{_PERIOD_TIME.sql(period, now)} AND {_IN_SERVICE.sql(subscription, now)}"


# --- expiring -----------------------------------------------------------------------------------------------------


def ends_within(subscription: ServiceRow, now: datetime, window: timedelta) -> bool:
    ends = service_ends_at(subscription)
    return ends is not None and ends <= now + window


def ends_within_q(now: datetime, window: timedelta, *, prefix: str = "") -> Q:
    """`ends_within` as a filter."""
    return service_ends_by_q(now + window, prefix=prefix)


DataLevel = Literal["ok", "low", "critical"]


def data_level(*, used_bytes: int, allowance_mb: int) -> DataLevel:
    """How much of a period's data (allowance and top-ups) is used: `critical` from
    DATA_CRITICAL_PERCENT, `low` from DATA_LOW_PERCENT (the data reminders' shares), else `ok`.
    The dashboard's bar turns amber, then red, and offers a top-up."""
    if used_at_least(DATA_CRITICAL_PERCENT, used_bytes=used_bytes, allowance_mb=allowance_mb):
        return "critical"
    if used_at_least(DATA_LOW_PERCENT, used_bytes=used_bytes, allowance_mb=allowance_mb):
        return "low"
    return "ok"


def expiring_by_data(*, total_mb: int, left_mb: int) -> bool:
    return left_mb <= total_mb * EXPIRING_DATA_FRACTION


def expiring(subscription: ServiceRow, now: datetime, *, total_mb: int, left_mb: int) -> bool:
    """In service and ending within `EXPIRING_WITHIN`, or short of data (the data half
    needs the current period's figures, so it has no `Q`: a filter narrows by time and
    by service, and the rows are checked after)."""
    if not in_service(subscription, now):
        return False
    return ends_within(subscription, now, EXPIRING_WITHIN) or expiring_by_data(total_mb=total_mb, left_mb=left_mb)


def not_expiring_by_time_q(now: datetime, *, prefix: str = "") -> Q:
    """In service and not ending within `EXPIRING_WITHIN` (it may still be short of data)."""
    return in_service_q(now, prefix=prefix) & ~ends_within_q(now, EXPIRING_WITHIN, prefix=prefix)


def upcoming_expiry_q(now: datetime) -> Q:
    """In service and ending within `UPCOMING_EXPIRY_WITHIN` (the console's count)."""
    return in_service_q(now) & ends_within_q(now, UPCOMING_EXPIRY_WITHIN)
