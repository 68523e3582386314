"""Scheduled reminders (DESIGN.md §4): before expiry, before an auto-renew charge,
before a card stops working, and when data runs low. Services never commit.

Each reminder goes out once per subscription, kind and period: the `Reminder`
ledger's unique constraint decides. Every pass selects a bounded batch of due
subscriptions (an indexed range scan on `(state, paid_through)` with a NOT EXISTS
against the ledger), inserts their ledger rows with INSERT … ON CONFLICT DO
NOTHING RETURNING, and emits only for the rows this call inserted. Two workers
racing on PostgreSQL: the second insert waits for the first transaction and then
does nothing, so the reminder is sent once.

The rules:

- "Will be charged" means auto-renew is on, a charge is scheduled (`renewal_due_at`
  set) and there is a method the charge can use (`will_be_charged`). Auto-renew clears
  the schedule after a hard decline or its last try; without a usable method the
  charge cannot happen: either way the service ends unless the customer acts, so they
  get the expiry reminders instead of the auto-renew notice.
- Expiry is the end of paid service (DESIGN.md §1.7): `paid_through`, the end of the
  last prepaid period, never the end of the period running now. The 7-, 3- and 1-day
  reminders count back from it, for live subscriptions that will not be charged. Only
  the most urgent reminder due is sent (a worker that was down sends the 3-day one two
  days before, and records the 7-day one as sent so it never goes later).
- A 7- or 3-day reminder goes only when its moment falls strictly after the purchase
  that set `paid_through` (the last period's `created_at`): a 7-day plan bought today
  is not "ending in 7 days" news. The 1-day reminder always goes, whatever the plan's
  length and however late the end became known (a daily plan, a hard decline at T-6h):
  issue 15 asks that a daily plan be told the day before, so one bought by hand is told
  "ends in 1 day" when it is paid for, and texted six hours before when it can be.
- The last warning, 6 hours before (`FINAL_WARNING`), goes by SMS to customers who
  gave a phone number and did not explicitly turn SMS off (`notifications.events`: its
  channels are fixed), with the same "will not be charged" rule and no condition on the
  purchase. Within those hours only one of it and the 1-day reminder goes: the SMS to
  a customer it reaches (`texted_q`), else the 1-day email; the other is recorded as
  sent, so a late-known end never brings two events in one tick.
- Each of these goes once per subscription, kind and last period: a renewal appends a
  period and so moves `paid_through`, and the reminders come again for the new end.
- Auto-renew notice: 3 days before the first charge (`paid_through` minus the
  first entry of SIMRENEW_RENEWAL_RETRY_HOURS), until that charge is due, when the
  charge will happen; with the same "after the purchase" rule.
- Card expiring: the subscription's card or debit card is no longer valid
  (after the last day of its expiry month, UTC) at the first charge moment. Due
  from the auto-renew notice's moment (so both go together) until the period
  ends, so a card chosen later is reported at once.
- Data: the current period's usage reached 80 % / 95 % of its allowance plus
  top-ups; crossing both at once sends only the 95 % one. Cancelled
  subscriptions still running are included (they may still top up).

A goodwill extension gives the period a new end: the end-bound reminders whose
moment is still ahead of it are forgotten and come again (`forget_reminders_ahead_of`).

Reminders report the state as it is: they change nothing of the subscription.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import (
    BigIntegerField,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)

from simrenew.customers.models import NotificationKind, NotificationPreference
from simrenew.kit import clock
from simrenew.notifications import payloads
from simrenew.notifications.events import EventType
from simrenew.notifications.services import Event, emit_many
from simrenew.payments.models import MethodType, PaymentMethod
from simrenew.subscriptions.autorenew import renewal_price, usable_method_q
from simrenew.subscriptions.models import (
    DATA_CRITICAL_PERCENT,
    DATA_LOW_PERCENT,
    Period,
    Reminder,
    ReminderKind,
    Subscription,
    data_used_at_least,
)
from simrenew.subscriptions.queries import MB, data_left_bytes
from simrenew.subscriptions.schedule import first_try_at, retry_offsets
from simrenew.subscriptions.status import live_service_ends_between_q, period_runs_q

# Most urgent first: (kind, days before paid_through).
EXPIRY_REMINDERS: tuple[tuple[str, int], ...] = (
    (ReminderKind.EXPIRING_1_DAY.value, 1),
    (ReminderKind.EXPIRING_3_DAYS.value, 3),
    (ReminderKind.EXPIRING_7_DAYS.value, 7),
)
# The reminder every ending service gets, however short its last plan and however late its
# end became known (see the module's docstring).
ALWAYS_SENT = ReminderKind.EXPIRING_1_DAY.value


class FinalWarning(NamedTuple):
    kind: str
    lead: timedelta


# The last warning before the line stops, by SMS (notifications.events fixes its channels).
FINAL_WARNING = FinalWarning(ReminderKind.FINAL_WARNING.value, timedelta(hours=6))
AUTO_RENEW_NOTICE_BEFORE_CHARGE = timedelta(days=3)
# Most urgent first: (kind, percent of the period's data used).
DATA_THRESHOLDS: tuple[tuple[str, int], ...] = (
    (ReminderKind.DATA_95.value, DATA_CRITICAL_PERCENT),
    (ReminderKind.DATA_80.value, DATA_LOW_PERCENT),
)
CARD_TYPES = (MethodType.CARD.value, MethodType.DEBIT.value)

LedgerKey = tuple[int, str, int]  # (subscription id, kind, period number)
_INSERT_CHUNK = 1000  # rows per statement: 4 parameters each, far below either database's limit


# --- the ledger ---------------------------------------------------------------------------------------------------


def record_once(keys: Iterable[LedgerKey], *, sent_at: datetime) -> set[LedgerKey]:
    """Insert the ledger rows not there yet; return the ones this call inserted.

    One INSERT … ON CONFLICT DO NOTHING RETURNING per chunk (the same SQL on
    SQLite ≥ 3.35 and PostgreSQL). Rows go in sorted order so that two workers
    inserting overlapping batches wait for each other in the same order."""
    ordered = sorted({(int(s), str(k), int(p)) for s, k, p in keys})
    if not ordered:
        return set()
    connection = connections[DEFAULT_DB_ALIAS]
    quote = connection.ops.quote_name
    stamp = connection.ops.adapt_datetimefield_value(sent_at)
    table = quote(Reminder._meta.db_table)
    won: set[LedgerKey] = set()
    with connection.cursor() as cursor:
        for start in range(0, len(ordered), _INSERT_CHUNK):
            chunk = ordered[start : start + _INSERT_CHUNK]
            values = ", ".join(["(%s, %s, %s, %s)"] * len(chunk))
            params: list[Any] = []
            for subscription_id, kind, period_number in chunk:
                params += [subscription_id, kind, period_number, stamp]
            cursor.execute(
                f"INSERT INTO {table} (subscription_id, kind, period_number, sent_at) VALUES {values}"  # noqa: S608
                " ON CONFLICT (subscription_id, kind, period_number) DO NOTHING"
                " RETURNING subscription_id, kind, period_number",
                params,
            )
            won.update((int(s), str(k), int(p)) for s, k, p in cursor.fetchall())
    return won


def not_yet_sent(kind: str, *, subscription: str = "pk", period_number: str = "period_number") -> Q:
    """No ledger row of `kind` for the outer row's subscription and period (an anti-join)."""
    sent = Reminder.objects.filter(
        subscription_id=OuterRef(subscription), kind=kind, period_number=OuterRef(period_number)
    )
    return ~Q(Exists(sent))


def with_last_period(subscriptions: QuerySet[Subscription]) -> QuerySet[Subscription]:
    """Annotate `period_number`: the last paid period (the one ending at
    `paid_through`), an index lookup on (subscription, number)."""
    last = Period.objects.filter(subscription_id=OuterRef("pk")).order_by("-number")
    return subscriptions.annotate(period_number=Subquery(last.values("number")[:1])).filter(period_number__isnull=False)


def bought_before(subscriptions: QuerySet[Subscription], lead: timedelta) -> QuerySet[Subscription]:
    """Those whose `paid_through` was bought (the last period written) strictly before the
    moment `lead` ahead of it: a reminder `lead` before the end is news, not the purchase
    itself."""
    before = ExpressionWrapper(F("paid_through") - lead, output_field=DateTimeField())
    return with_bought_at(subscriptions).filter(Q(bought_at__lt=before))


def with_bought_at(subscriptions: QuerySet[Subscription]) -> QuerySet[Subscription]:
    """Alias `bought_at`, when the last period was written. (A scalar subquery on (subscription,
    number): as an EXISTS, PostgreSQL scans every period.)"""
    last = Period.objects.filter(subscription_id=OuterRef("pk")).order_by("-number")
    return subscriptions.alias(bought_at=Subquery(last.values("created_at")[:1]))


def texted_q() -> Q:
    """The customer gets the last warning's SMS: a phone number, and SMS not explicitly turned off
    for expiry reminders (notifications.delivery: a fixed channel yields only to an explicit "off")."""
    turned_off = NotificationPreference.objects.filter(
        customer_id=OuterRef("customer_id"), kind=NotificationKind.EXPIRY_REMINDER, sms=False
    )
    return ~Q(customer__phone="") & ~Q(Exists(turned_off))


def will_be_charged() -> Q:
    """Auto-renew is on, a charge is scheduled and it has a method to use: the service goes
    on by itself, so the customer gets the auto-renew notice, not the expiry reminders."""
    return Q(auto_renew=True, renewal_due_at__isnull=False) & usable_method_q()


def forget_reminders_ahead_of(subscription: Subscription, *, period_number: int, now: datetime) -> int:
    """After goodwill moved the last period's end (`paid_through`) later: drop the ledger
    rows of the end-bound reminders (expiry, auto-renew notice, card expiring) whose
    moment, counted from the new end, is still ahead, so they come again before the new
    end. The key stays (subscription, kind, period): a reminder goes once per period and
    kind for each end the period has, and rows whose moment has passed stay, so nothing
    already due is sent twice. Returns how many rows were dropped."""
    paid_through = subscription.paid_through
    if paid_through is None:
        return 0
    kinds = [kind for kind, days in EXPIRY_REMINDERS if paid_through - timedelta(days=days) > now]
    if paid_through - FINAL_WARNING.lead > now:
        kinds.append(FINAL_WARNING.kind)
    if first_try_at(paid_through) - AUTO_RENEW_NOTICE_BEFORE_CHARGE > now:
        kinds += [ReminderKind.AUTO_RENEW_UPCOMING.value, ReminderKind.CARD_EXPIRING.value]
    if not kinds:
        return 0
    ahead = Reminder.objects.filter(subscription=subscription, period_number=period_number, kind__in=kinds)
    dropped, _ = ahead.delete()
    return dropped


# --- the passes ---------------------------------------------------------------------------------------------------


ReminderStep = Callable[[datetime, int], int]


def reminder_steps() -> list[tuple[str, ReminderStep]]:
    """One step per reminder kind, most urgent expiry last as before: each takes the
    instant and a batch size and returns how many it sent (in the caller's transaction)."""
    steps: list[tuple[str, ReminderStep]] = []
    for index, (kind, days) in enumerate(EXPIRY_REMINDERS):
        after = EXPIRY_REMINDERS[index - 1][1] if index else 0
        less_urgent = [k for k, d in EXPIRY_REMINDERS if d > days]
        steps.append(
            (
                kind,
                functools.partial(_expiring_step, kind, days, after, less_urgent),
            )
        )
    steps.append((FINAL_WARNING.kind, _send_final_warning))
    steps.append((ReminderKind.AUTO_RENEW_UPCOMING.value, _auto_renew_step))
    steps.append((ReminderKind.CARD_EXPIRING.value, _card_expiring_step))
    for index, (kind, percent) in enumerate(DATA_THRESHOLDS):
        below = DATA_THRESHOLDS[index - 1][1] if index else None
        less_urgent = [k for k, p in DATA_THRESHOLDS if p < percent]
        steps.append((kind, functools.partial(_data_threshold_step, kind, percent, below, less_urgent)))
    return steps


def _expiring_step(kind: str, days: int, after: int, less_urgent: list[str], now: datetime, limit: int) -> int:
    return _send_expiring(kind, days, after_days=after, also_record=less_urgent, now=now, limit=limit)


def _auto_renew_step(now: datetime, limit: int) -> int:
    return _send_auto_renew_notices(now=now, limit=limit)


def _card_expiring_step(now: datetime, limit: int) -> int:
    return _send_card_expiring(now=now, limit=limit)


def _data_threshold_step(
    kind: str, percent: int, below: int | None, less_urgent: list[str], now: datetime, limit: int
) -> int:
    return _send_data_threshold(kind, percent, below_percent=below, also_record=less_urgent, now=now, limit=limit)


def send_due_reminders(*, limit: int = 500) -> dict[str, int]:
    """Every kind once, at most `limit` each, in the caller's transaction; returns how
    many of each kind were sent."""
    with clock.one_instant() as now:
        return {kind: step(now, limit) for kind, step in reminder_steps()}


def send_all_due_reminders(*, limit: int = 500, should_stop: Callable[[], bool] = lambda: False) -> dict[str, int]:
    """(edge) Send every reminder due now: one transaction per kind and batch, until
    each kind has nothing left. A transaction holds one kind's ledger rows (inserted in
    subscription order) and then its events' counter rows (in subscription order), never
    a second kind's: two workers racing for the same reminders wait for each other
    instead of deadlocking across kinds."""
    totals: dict[str, int] = {}
    for kind, step in reminder_steps():
        while not should_stop():
            with transaction.atomic(), clock.one_instant() as now:
                sent = step(now, limit)
            totals[kind] = totals.get(kind, 0) + sent
            if not sent:
                break
    return totals


def _live_ending(after: datetime, until: datetime) -> QuerySet[Subscription]:
    """Live subscriptions whose paid time ends in (after, until]: a range scan on
    the (state, paid_through) index."""
    return with_last_period(Subscription.objects.filter(live_service_ends_between_q(after, until)))


def _nobody_ends(after: datetime, until: datetime) -> bool:
    """Whether no live subscription's paid time ends in (after, until]. Most passes of the worker
    find nobody in a reminder's window: this index probe spares them building the reminder's full
    query, whose compilation in Python costs many times the probe."""
    return not Subscription.objects.filter(live_service_ends_between_q(after, until)).exists()


def record_senders(
    candidates: Sequence[Subscription], kind: str, *, also_record: Sequence[str], now: datetime
) -> list[Subscription]:
    """Write the ledger rows for the candidates; the ones whose `kind` row this call won
    (the ones this call sends to). Not the worker's claim on due subscriptions."""
    keys: list[LedgerKey] = []
    for subscription in candidates:
        number = _period_number(subscription)
        keys += [(subscription.pk, k, number) for k in (kind, *also_record)]
    won = record_once(keys, sent_at=now)
    return [s for s in candidates if (s.pk, kind, _period_number(s)) in won]


def _period_number(subscription: Subscription) -> int:
    return int(subscription.period_number)  # type: ignore[attr-defined]  # annotated by with_last_period


def _event(event_type: EventType, subscription: Subscription, data: Mapping[str, object]) -> Event:
    return Event(event_type, subscription.customer_id, subscription.pk, data)


def _send_expiring(
    kind: str, days: int, *, after_days: int, also_record: Sequence[str], now: datetime, limit: int
) -> int:
    """The `days`-day reminder, for subscriptions ending in (now + after_days, now + days]:
    within `after_days` a more urgent one is due instead. The 1-day one (`ALWAYS_SENT`) is also
    due inside the last warning's hours, where one of the two goes, never both: the SMS to a
    customer it reaches (`texted_q`), else this email, which then stands for the last warning."""
    if _nobody_ends(now + timedelta(days=after_days), now + timedelta(days=days)):
        return 0
    ending = _live_ending(now + timedelta(days=after_days), now + timedelta(days=days)).filter(~will_be_charged())
    final = now + FINAL_WARNING.lead
    if kind != ALWAYS_SENT:
        ending = bought_before(ending, timedelta(days=days))
    else:
        inside_final = Q(paid_through__lte=final)
        ending = ending.exclude(inside_final & texted_q())
    candidates = list(ending.filter(not_yet_sent(kind)).order_by("paid_through", "pk")[:limit])
    inside = [s for s in candidates if kind == ALWAYS_SENT and _paid_through(s) <= final]
    won = {
        s.pk
        for s in record_senders([s for s in candidates if s not in inside], kind, also_record=also_record, now=now)
        + record_senders(inside, kind, also_record=(*also_record, FINAL_WARNING.kind), now=now)
    }
    winners = [s for s in candidates if s.pk in won]
    emit_many(
        [
            _event(
                EventType.EXPIRING,
                s,
                payloads.subscription_expiring(
                    subscription_id=s.pk, period_number=_period_number(s), expires_at=_paid_through(s), days_left=days
                ),
            )
            for s in winners
        ]
    )
    return len(winners)


def _send_final_warning(now: datetime, limit: int) -> int:
    """The last warning, for subscriptions ending within `FINAL_WARNING`'s hours that will
    not be charged: the event goes to everyone (webhooks too), its SMS to those with a phone. It
    stands for the expiry reminders not sent yet (the 1-day one runs first in a pass and leaves
    this one the customers it texts), so they never follow it."""
    kind, lead = FINAL_WARNING
    if _nobody_ends(now, now + lead):
        return 0
    ending = _live_ending(now, now + lead).filter(~will_be_charged())
    candidates = list(ending.filter(not_yet_sent(kind)).order_by("paid_through", "pk")[:limit])
    expiry_kinds = [k for k, _days in EXPIRY_REMINDERS]
    winners = record_senders(candidates, kind, also_record=expiry_kinds, now=now)
    emit_many(
        [
            _event(
                EventType.EXPIRING_SOON,
                s,
                payloads.subscription_expiring_soon(
                    subscription_id=s.pk,
                    period_number=_period_number(s),
                    expires_at=_paid_through(s),
                    hours_left=int(lead.total_seconds() // 3600),
                ),
            )
            for s in winners
        ]
    )
    return len(winners)


def _send_auto_renew_notices(*, now: datetime, limit: int) -> int:
    kind = ReminderKind.AUTO_RENEW_UPCOMING.value
    lead = retry_offsets()[0]  # auto-renew first charges this long before paid_through
    if _nobody_ends(now + lead, now + lead + AUTO_RENEW_NOTICE_BEFORE_CHARGE):
        return 0
    ending = _live_ending(now + lead, now + lead + AUTO_RENEW_NOTICE_BEFORE_CHARGE).filter(will_be_charged())
    candidates = list(
        bought_before(ending, lead + AUTO_RENEW_NOTICE_BEFORE_CHARGE)
        .filter(not_yet_sent(kind))
        .select_related("plan", "payment_method")
        .order_by("paid_through", "pk")[:limit]
    )
    winners = record_senders(candidates, kind, also_record=(), now=now)
    labels = _method_labels(winners)
    emit_many(
        [
            _event(
                EventType.AUTO_RENEW_UPCOMING,
                s,
                payloads.auto_renew_upcoming(
                    subscription_id=s.pk,
                    period_number=_period_number(s),
                    charge_at=first_try_at(_paid_through(s)),
                    expires_at=_paid_through(s),
                    amount_minor=renewal_price(
                        price_minor=s.plan.price_minor, currency=s.plan.currency
                    ).total.amount_minor,
                    currency=s.plan.currency,
                    payment_method=labels.get(s.pk, ""),
                ),
            )
            for s in winners
        ]
    )
    return len(winners)


def _paid_through(subscription: Subscription) -> datetime:
    assert subscription.paid_through is not None, "live subscriptions have paid periods"
    return subscription.paid_through


def _method_labels(subscriptions: Sequence[Subscription]) -> dict[int, str]:
    """How the customer knows the method auto-renew will charge: the subscription's,
    or (as auto-renew does) the customer's default when it has none."""
    labels = {s.pk: str(s.payment_method) for s in subscriptions if s.payment_method is not None}
    without = {s.customer_id for s in subscriptions if s.payment_method is None}
    if without:
        defaults = {
            m.customer_id: str(m)
            for m in PaymentMethod.objects.filter(customer_id__in=without, is_default=True, removed_at__isnull=True)
        }
        labels.update({s.pk: defaults.get(s.customer_id, "") for s in subscriptions if s.payment_method is None})
    return labels


def _card_unusable_at_charge(charge_from: datetime, charge_to: datetime, lead: timedelta) -> Q:
    """The card's expiry month ends before the first charge (paid_through - lead),
    for charges in [charge_from, charge_to]. The charge month depends on each row,
    so the window is cut at month starts: within each piece the charge month is a
    constant and the test is a plain comparison of `card_month` (year * 12 + month)."""
    test: Q | None = None
    month = datetime(charge_from.year, charge_from.month, 1, tzinfo=UTC)
    while month <= charge_to:
        following = datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=UTC)
        piece = Q(
            paid_through__gte=month + lead,
            paid_through__lt=following + lead,
            card_month__lt=month.year * 12 + month.month,
        )
        test = piece if test is None else test | piece
        month = following
    assert test is not None
    return test


def _send_card_expiring(*, now: datetime, limit: int) -> int:
    kind = ReminderKind.CARD_EXPIRING.value
    lead = retry_offsets()[0]  # auto-renew first charges this long before paid_through
    latest = now + lead + AUTO_RENEW_NOTICE_BEFORE_CHARGE
    if _nobody_ends(now, latest):
        return 0
    candidates = list(
        _live_ending(now, latest)
        .filter(will_be_charged(), payment_method__type__in=CARD_TYPES)
        .annotate(
            card_month=ExpressionWrapper(
                F("payment_method__exp_year") * 12 + F("payment_method__exp_month"), output_field=BigIntegerField()
            )
        )
        .filter(_card_unusable_at_charge(now - lead, latest - lead, lead))
        .filter(not_yet_sent(kind))
        .select_related("payment_method")
        .order_by("paid_through", "pk")[:limit]
    )
    winners = record_senders(candidates, kind, also_record=(), now=now)
    events = []
    for s in winners:
        method = s.payment_method
        assert method is not None
        events.append(
            _event(
                EventType.PAYMENT_METHOD_EXPIRING,
                s,
                payloads.payment_method_expiring(
                    subscription_id=s.pk,
                    period_number=_period_number(s),
                    payment_method_id=method.pk,
                    payment_method=str(method),
                    exp_month=method.exp_month,
                    exp_year=method.exp_year,
                    renews_at=first_try_at(_paid_through(s)),
                ),
            )
        )
    emit_many(events)
    return len(events)


def periods_running_low(percent: int, *, below_percent: int | None, now: datetime) -> QuerySet[Period]:
    """Periods running now whose usage reached `percent` of their allowance (but not
    `below_percent`, for which the more urgent reminder is due instead), read from the
    index of periods running low (`period_data_running_low`, by end) rather than from
    every live subscription's current period."""
    periods = (
        Period.objects.filter(data_running_low=True)
        .filter(period_runs_q(now))
        .filter(Q(data_mb__gt=0) | Q(top_up_mb__gt=0))  # an allowance of nothing has no share to reach
    )
    if percent > DATA_LOW_PERCENT:  # the column holds the lowest threshold already
        periods = periods.filter(data_used_at_least(percent))
    if below_percent is not None:
        periods = periods.exclude(data_used_at_least(below_percent))
    return periods


def _send_data_threshold(
    kind: str, percent: int, *, below_percent: int | None, also_record: Sequence[str], now: datetime, limit: int
) -> int:
    # As `_nobody_ends`: one probe of the partial index spares the full query when no period is low.
    if not Period.objects.filter(data_running_low=True, ends_at__gt=now).exists():
        return 0
    periods = periods_running_low(percent, below_percent=below_percent, now=now)
    candidates = list(
        periods.filter(not_yet_sent(kind, subscription="subscription_id", period_number="number"))
        .select_related("subscription")
        .order_by("subscription_id")[:limit]
    )
    keys = [(p.subscription_id, k, p.number) for p in candidates for k in (kind, *also_record)]
    won = record_once(keys, sent_at=now)
    events = [
        _event(
            EventType.USAGE_THRESHOLD_REACHED,
            p.subscription,
            payloads.usage_threshold_reached(
                subscription_id=p.subscription_id,
                period_number=p.number,
                percent=percent,
                data_total_mb=p.data_mb + p.top_up_mb,
                data_left_mb=data_left_bytes(p) // MB,
            ),
        )
        for p in candidates
        if (p.subscription_id, kind, p.number) in won
    ]
    emit_many(events)
    return len(events)
