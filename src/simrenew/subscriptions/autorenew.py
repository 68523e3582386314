"""Auto-renew (DESIGN.md §4 and §5): the rules the worker follows, in batches.

A subscription is due when it is live with auto-renew on, its `renewal_due_at`
has come and its paid time has not yet run out. Each try charges the first
method of its chain not yet tried at this moment of the schedule: the
subscription's method (or the customer's default), then the wallet if it holds
enough, then the customer's other methods if they allowed it. A try whose
chain is spent moves `renewal_due_at` to the next slot of the schedule (or
clears it after a hard decline or the last slot) and tells the customer once.

Every charge has a key made of the subscription, the period it buys, the
scheduled moment and the method, so a worker that dies anywhere and one that
takes its batch over can never make two charges for one period: the second
insert of a key fails, and an attempt still open is left to reconciliation.

Claims expire by the system clock (a frozen test clock must not pin them). The
functions that say "(edge)" own their transactions, like `charging.execute`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from simrenew.billing.services import InvoiceLine, issue_invoices
from simrenew.catalog.services import quote
from simrenew.kit import clock, rows
from simrenew.notifications.services import Event, emit, emit_many
from simrenew.payments.charging import FINAL_STATUSES, RECONCILE_SCHEDULE, create_attempt, reconcile_at, run_charge
from simrenew.payments.gateway import ChargeRequest, ChargeResult, ChargeStatus, failure_message
from simrenew.payments.models import AttemptPurpose, AttemptStatus, MethodType, PaymentAttempt, PaymentMethod, Wallet
from simrenew.subscriptions.models import Period, Subscription, SubscriptionState
from simrenew.subscriptions.periods import next_period
from simrenew.subscriptions.queries import _aware, last_periods, lock_for_renewal
from simrenew.subscriptions.renewals import (
    PeriodFacts,
    _previous,
    _purpose_data,
    on_period_paid,
    period_paid_event_data,
)
from simrenew.subscriptions.schedule import first_try_at, next_try_after

log = logging.getLogger(__name__)

# Declines that another try of the same card cannot fix: ask the customer at once.
HARD_DECLINES = frozenset({"expired_card", "lost_card", "stolen_card"})
OPEN_STATUSES = (AttemptStatus.PENDING, AttemptStatus.UNKNOWN)
# What reconciliation calls a charge the gateway never saw, and how soon such a try is made again.
UNREACHED = "gateway_unreachable"
UNREACHED_RETRY = timedelta(minutes=15)


# --- claims -------------------------------------------------------------------------------------------------------

_DUE = (
    "SELECT s.id FROM subscriptions_subscription s"
    " WHERE s.state = 'live' AND s.auto_renew AND s.renewal_due_at <= %s AND s.paid_through > %s"
    "   AND (s.claim_expires_at IS NULL OR s.claim_expires_at < %s)"
    "   AND NOT EXISTS (SELECT 1 FROM payments_paymentattempt a"
    "     WHERE a.subscription_id = s.id AND a.status IN ('pending', 'unknown'))"
    " ORDER BY s.renewal_due_at LIMIT %s"
)
_CLAIM = "SET claimed_by = %s, claim_expires_at = %s"
_STILL_FREE = "(claim_expires_at IS NULL OR claim_expires_at < %s)"


def _claim_params(*, worker_id: str, limit: int) -> tuple[list[Any], list[Any]]:
    """The parameters of the due SELECT and of the claiming SET/WHERE."""
    now = clock.now()
    system_now = clock.system_now()
    until = system_now + timedelta(seconds=settings.SIMRENEW_WORKER_CLAIM_SECONDS)
    adapt = connection.ops.adapt_datetimefield_value
    return [adapt(now), adapt(now), adapt(system_now), limit], [worker_id, adapt(until), adapt(system_now)]


@contextmanager
def _claim_in_due_order(cursor: Any) -> Iterator[None]:
    """Read the due index in order and stop at the limit (PostgreSQL). Right after
    many rows became due the statistics still say "few are due", and the planner
    would rather fetch them all, sort them and keep the first batch: once per
    batch, quadratic over a large run. The setting is put back after the claim, not
    left to the end of the transaction: a caller's outer transaction (a test's)
    would otherwise plan every later query without sorts."""
    if connection.vendor != "postgresql":
        yield
        return
    cursor.execute("SELECT current_setting('enable_sort'), set_config('enable_sort', 'off', true)")
    (before, _) = cursor.fetchone()
    try:
        yield
    finally:
        cursor.execute("SELECT set_config('enable_sort', %s, true)", [before])


def claim_due(*, worker_id: str, limit: int) -> list[int]:
    """(edge) Claim up to `limit` due subscriptions for this worker, oldest due first.

    One statement: on PostgreSQL the inner SELECT skips rows another worker is
    claiming right now (SKIP LOCKED); on SQLite the statement runs under the
    single writer lock. Subscriptions with an open charge wait for reconciliation."""
    due, claim = _claim_params(worker_id=worker_id, limit=limit)
    if connection.vendor == "postgresql":
        # A materialized CTE runs once: inside `IN (…)` the planner may rerun a
        # SKIP LOCKED subquery and claim more rows than the limit.
        sql = (
            f"WITH due AS MATERIALIZED ({_DUE} FOR UPDATE SKIP LOCKED)"
            f" UPDATE subscriptions_subscription {_CLAIM} FROM due"
            f" WHERE subscriptions_subscription.id = due.id AND {_STILL_FREE} RETURNING subscriptions_subscription.id"
        )
        params = due + claim
    else:  # one statement under SQLite's single writer lock
        sql = f"UPDATE subscriptions_subscription {_CLAIM} WHERE id IN ({_DUE}) AND {_STILL_FREE} RETURNING id"
        params = claim[:2] + due + claim[2:]
    with transaction.atomic(), connection.cursor() as cursor, _claim_in_due_order(cursor):
        cursor.execute(sql, params)
        return sorted(int(row[0]) for row in cursor.fetchall())


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
    method_removed: bool
    last_number: int  # 0 before the first period
    maybe_tried: bool  # an auto-renew attempt made at or after this moment exists


# What a claimed subscription's row brings along: its plan, zone, method, last
# period number, and whether anything was tried at this moment already.
_DUE_COLUMNS = (
    "s.id, s.customer_id, s.renewal_due_at, s.paid_through, s.state, s.auto_renew,"
    " pl.id, pl.name, pl.price_minor, pl.currency, pl.data_mb, pl.period_unit, pl.period_count, cu.time_zone,"
    " m.id, m.customer_id, m.type, m.gateway, m.token, m.removed_at IS NOT NULL,"
    " (SELECT MAX(p.number) FROM subscriptions_period p WHERE p.subscription_id = s.id),"
    " EXISTS (SELECT 1 FROM payments_paymentattempt a WHERE a.subscription_id = s.id"
    "   AND a.purpose = 'auto_renewal' AND a.created_at >= s.renewal_due_at)"
)
_DUE_JOINS = (
    " JOIN catalog_plan pl ON pl.id = s.plan_id JOIN customers_customer cu ON cu.id = s.customer_id"
    " LEFT JOIN payments_paymentmethod m ON m.id = s.payment_method_id"
)


def claim_batch(*, worker_id: str, limit: int) -> list[DueRow]:
    """(edge) `claim_due`, and what each claimed subscription needs to be tried:
    on PostgreSQL in the same statement, on SQLite in a second one."""
    if connection.vendor != "postgresql":
        ids = claim_due(worker_id=worker_id, limit=limit)
        if not ids:
            return []
        among, params = rows.among("s.id", ids)
        with connection.cursor() as cursor:
            sql = f"SELECT {_DUE_COLUMNS} FROM subscriptions_subscription s {_DUE_JOINS} WHERE {among}"  # noqa: S608
            cursor.execute(sql, params)
            return _due_rows(cursor.fetchall())
    due, claim = _claim_params(worker_id=worker_id, limit=limit)
    sql = (
        f"WITH due AS MATERIALIZED ({_DUE} FOR UPDATE SKIP LOCKED),"  # noqa: S608
        f" claimed AS (UPDATE subscriptions_subscription {_CLAIM} FROM due"
        f"   WHERE subscriptions_subscription.id = due.id AND {_STILL_FREE} RETURNING subscriptions_subscription.*)"
        f" SELECT {_DUE_COLUMNS} FROM claimed s {_DUE_JOINS}"
    )
    with transaction.atomic(), connection.cursor() as cursor, _claim_in_due_order(cursor):
        cursor.execute(sql, due + claim)
        return _due_rows(cursor.fetchall())


def _due_rows(found: Sequence[Sequence[Any]]) -> list[DueRow]:
    made = []
    for row in found:
        (
            sid,
            customer_id,
            due_at,
            paid_through,
            state,
            auto_renew,
            *plan,
            zone,
            method_id,
            owner,
            kind,
            gateway,
            token,
        ) = row[:19]
        made.append(
            DueRow(
                subscription_id=sid,
                customer_id=customer_id,
                renewal_due_at=_utc(due_at),
                paid_through=None if paid_through is None else _utc(paid_through),
                state=state,
                auto_renew=bool(auto_renew),
                plan_id=plan[0],
                plan_name=plan[1],
                price_minor=plan[2],
                currency=plan[3],
                data_mb=plan[4],
                period_unit=plan[5],
                period_count=plan[6],
                time_zone=zone,
                method_id=method_id,
                method_customer_id=owner,
                method_type=kind,
                method_gateway=gateway,
                method_token=token,
                method_removed=bool(row[19]),
                last_number=row[20] or 0,
                maybe_tried=bool(row[21]),
            )
        )
    made.sort(key=lambda due: due.subscription_id)
    return made


def _utc(value: datetime | str) -> datetime:
    return _aware(value).astimezone(UTC)


def release_claims(*, worker_id: str, subscription_ids: Sequence[int] | None = None) -> int:
    """(edge) Give claims back: the batch's when done, or all of this worker's when it stops."""
    claims = Subscription.objects.filter(claimed_by=worker_id)
    if subscription_ids is not None:
        if not subscription_ids:
            return 0
        claims = claims.filter(pk__in=list(subscription_ids))
    with transaction.atomic():
        return claims.update(claimed_by="", claim_expires_at=None)


# --- what to try --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlannedCharge:
    subscription: Subscription
    method: PaymentMethod
    key: str


@dataclass(slots=True)
class GatewayCharge:
    """One auto-renew charge at a gateway, from its plan to its settlement, as
    plain values. `attempt_id` is set once its attempt is written (step 1)."""

    subscription_id: int
    customer_id: int
    method_id: int
    token: str
    gateway: str
    key: str
    amount_minor: int
    currency: str
    plan_id: int
    plan_name: str
    data_mb: int
    period_unit: str
    period_count: int
    time_zone: str
    attempt_id: int = 0
    created_at: datetime | None = None

    def purpose_data(self) -> dict[str, object]:
        # What `renewals._purpose_data` writes for a price without a promotion.
        return {
            "plan_id": self.plan_id,
            "subtotal_minor": self.amount_minor,
            "discount_minor": 0,
            "bonus_data_mb": 0,
            "promo_code": None,
        }


@dataclass(slots=True)
class BatchPlan:
    """What a claimed batch needs: charges at a gateway (made together), charges
    settled inside (wallet, free), tries whose chain is spent, and the rest."""

    gateway: list[GatewayCharge] = field(default_factory=list)
    internal: list[PlannedCharge] = field(default_factory=list)
    spent: list[tuple[Subscription, list[PaymentAttempt]]] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)


def try_prefix(subscription: Subscription, target_number: int) -> str:
    assert subscription.renewal_due_at is not None
    return _try_prefix(subscription.pk, target_number, subscription.renewal_due_at)


def _try_prefix(subscription_id: int, target_number: int, due_at: datetime) -> str:
    moment = due_at.strftime("%Y%m%dT%H%M%S.%f")
    return f"auto-renew:{subscription_id}:{target_number}:{moment}"


def plan_claimed(claimed: Sequence[DueRow]) -> BatchPlan:
    """The common try in plain values: nothing tried yet at this moment, and the
    subscription's own card or PayPal, usable, charged the plan's price. Every
    other case (a retry of this moment, a missing or removed method, the wallet,
    a free plan, no longer due) goes through `plan_batch`, which reads models."""
    now = clock.now()
    plan = BatchPlan()
    others: list[int] = []
    for due in claimed:
        if (
            due.maybe_tried
            or due.method_id is None
            or due.method_removed
            or due.method_customer_id != due.customer_id
            or due.method_type == MethodType.WALLET
            or due.price_minor == 0
            or not (due.state == SubscriptionState.LIVE and due.auto_renew)
            or not (due.renewal_due_at <= now and due.paid_through is not None and due.paid_through > now)
        ):
            others.append(due.subscription_id)
            continue
        prefix = _try_prefix(due.subscription_id, due.last_number + 1, due.renewal_due_at)
        plan.gateway.append(
            GatewayCharge(
                subscription_id=due.subscription_id,
                customer_id=due.customer_id,
                method_id=due.method_id,
                token=due.method_token or "",
                gateway=due.method_gateway or "",
                key=f"{prefix}:{due.method_id}",
                amount_minor=due.price_minor,
                currency=due.currency,
                plan_id=due.plan_id,
                plan_name=due.plan_name,
                data_mb=due.data_mb,
                period_unit=due.period_unit,
                period_count=due.period_count,
                time_zone=due.time_zone,
            )
        )
    if others:
        rest = plan_batch(others)
        plan.gateway.extend(rest.gateway)
        plan.internal.extend(rest.internal)
        plan.spent.extend(rest.spent)
        plan.skipped.extend(rest.skipped)
    return plan


def plan_batch(subscription_ids: Sequence[int]) -> BatchPlan:
    """Read what each claimed subscription should try now (a constant number of
    queries for any batch), with models: the retries, fallbacks and odd cases."""
    now = clock.now()
    plan = BatchPlan()
    subscriptions = list(
        Subscription.objects.filter(pk__in=list(subscription_ids))
        .select_related("plan", "payment_method", "customer")
        .only(*_BATCH_FIELDS)
    )
    due = [s for s in subscriptions if _still_due(s, now)]
    plan.skipped.extend(s.pk for s in subscriptions if not _still_due(s, now))
    if not due:
        return plan
    numbers = {sid: last.number for sid, last in last_periods([s.pk for s in due]).items()}
    earliest = min(s.renewal_due_at for s in due if s.renewal_due_at is not None)
    tried: dict[int, list[PaymentAttempt]] = defaultdict(list)
    for attempt in PaymentAttempt.objects.filter(
        subscription_id__in=[s.pk for s in due], purpose=AttemptPurpose.AUTO_RENEWAL, created_at__gte=earliest
    ).order_by("id"):
        tried[attempt.subscription_id or 0].append(attempt)
    defaults = _default_methods([s for s in due if not _usable(s.payment_method)])
    for subscription in due:
        prefix = try_prefix(subscription, numbers.get(subscription.pk, 0) + 1)
        this_try = [a for a in tried.get(subscription.pk, []) if a.idempotency_key.startswith(prefix + ":")]
        if any(a.status not in FINAL_STATUSES or a.status == AttemptStatus.SUCCEEDED for a in this_try):
            plan.skipped.append(subscription.pk)  # open: reconciliation decides; succeeded: nothing is due
            continue
        primary = (
            subscription.payment_method
            if _usable(subscription.payment_method)
            else defaults.get(subscription.customer_id)
        )
        chain = [primary] if primary is not None and not this_try else method_chain(subscription, primary)
        used = {a.payment_method_id for a in this_try}
        method = next((m for m in chain if m is not None and m.pk not in used), None)
        if method is None:
            plan.spent.append((subscription, this_try))
            continue
        charge = PlannedCharge(subscription, method, f"{prefix}:{method.pk}")
        internal = method.type == MethodType.WALLET or subscription.plan.price_minor == 0
        if internal:
            plan.internal.append(charge)
        else:
            plan.gateway.append(_gateway_charge(charge))
    return plan


def _gateway_charge(charge: PlannedCharge) -> GatewayCharge:
    subscription, plan = charge.subscription, charge.subscription.plan
    price = quote(plan=plan, customer=subscription.customer, promo_code=None)
    assert price.discount.amount_minor == 0 and price.promotion is None  # auto-renew takes no promotion code
    return GatewayCharge(
        subscription_id=subscription.pk,
        customer_id=subscription.customer_id,
        method_id=charge.method.pk,
        token=charge.method.token,
        gateway=charge.method.gateway,
        key=charge.key,
        amount_minor=price.total.amount_minor,
        currency=price.total.currency,
        plan_id=plan.pk,
        plan_name=plan.name,
        data_mb=plan.data_mb,
        period_unit=plan.period_unit,
        period_count=plan.period_count,
        time_zone=subscription.customer.time_zone,
    )


# What a batch reads (a tenth of the columns: loading the rest, timestamps above all, was
# a third of a batch's time). Anything else read later costs a query per subscription.
_BATCH_FIELDS = (
    "state",
    "auto_renew",
    "renewal_due_at",
    "paid_through",
    "ended_at",
    "sequence",
    "customer__time_zone",
    "customer__renew_with_other_methods",
    "plan__name",
    "plan__price_minor",
    "plan__currency",
    "plan__data_mb",
    "plan__period_unit",
    "plan__period_count",
    "plan__carrier_id",
    "payment_method__customer_id",
    "payment_method__type",
    "payment_method__gateway",
    "payment_method__token",
    "payment_method__removed_at",
)


def _still_due(subscription: Subscription, now: datetime) -> bool:
    return (
        subscription.state == SubscriptionState.LIVE
        and subscription.auto_renew
        and subscription.renewal_due_at is not None
        and subscription.renewal_due_at <= now
        and subscription.paid_through is not None
        and subscription.paid_through > now
    )


def _usable(method: PaymentMethod | None) -> bool:
    return method is not None and method.removed_at is None


def _default_methods(subscriptions: list[Subscription]) -> dict[int, PaymentMethod]:
    if not subscriptions:
        return {}
    found = PaymentMethod.objects.filter(
        customer_id__in={s.customer_id for s in subscriptions}, is_default=True, removed_at__isnull=True
    )
    return {method.customer_id: method for method in found}


def method_chain(subscription: Subscription, primary: PaymentMethod | None) -> list[PaymentMethod]:
    """The methods one try may use, in order: the subscription's (or default), the
    wallet when it holds the price, then the others if the customer allowed it."""
    chain = [primary] if primary is not None else []
    plan = subscription.plan
    wallet = Wallet.objects.filter(customer_id=subscription.customer_id).first()
    if wallet is not None and wallet.currency == plan.currency and wallet.balance_minor >= plan.price_minor:
        wallet_method = PaymentMethod.objects.filter(
            customer_id=subscription.customer_id, type=MethodType.WALLET, removed_at__isnull=True
        ).first()
        if wallet_method is not None and wallet_method not in chain:
            chain.append(wallet_method)
    if subscription.customer.renew_with_other_methods:
        others = PaymentMethod.objects.filter(customer_id=subscription.customer_id, removed_at__isnull=True).exclude(
            type=MethodType.WALLET
        )
        chain.extend(m for m in others.order_by("-is_default", "id") if m not in chain)
    return chain


# --- step 1 and 3 in bulk -----------------------------------------------------------------------------------------


def begin_charges(charges: Sequence[GatewayCharge]) -> list[GatewayCharge]:
    """(edge) Step 1 for a batch: the attempts with their keys, committed in one
    COPY/INSERT. If another worker inserted one of these keys first (it took the
    batch over), each is written alone and the ones already there are left to it."""
    if not charges:
        return []
    with clock.one_instant() as now:
        reconcile_after = now + RECONCILE_SCHEDULE[0]
        for charge in charges:
            charge.created_at = now
        values = [_attempt_row(charge, now, reconcile_after) for charge in charges]
    try:
        with transaction.atomic():
            ids = rows.insert_many(PaymentAttempt, _ATTEMPT_COLUMNS, values)
        for charge, pk in zip(charges, ids, strict=True):
            charge.attempt_id = pk
        return list(charges)
    except IntegrityError:
        pass
    written = []
    for charge, row in zip(charges, values, strict=True):
        try:
            with transaction.atomic():
                (charge.attempt_id,) = rows.insert_many(PaymentAttempt, _ATTEMPT_COLUMNS, [row])
            written.append(charge)
        except IntegrityError:
            log.info("auto-renew key %s already used; left to its owner", charge.key)
    return written


_ATTEMPT_COLUMNS = (
    "customer_id",
    "subscription_id",
    "payment_method_id",
    "purpose",
    "purpose_data",
    "amount_minor",
    "currency",
    "idempotency_key",
    "status",
    "failure_code",
    "failure_message",
    "gateway",
    "gateway_charge_id",
    "created_at",
    "completed_at",
    "reconcile_after",
    "reconcile_count",
)


def _attempt_row(charge: GatewayCharge, now: datetime, reconcile_after: datetime) -> tuple[object, ...]:
    return (
        charge.customer_id,
        charge.subscription_id,
        charge.method_id,
        AttemptPurpose.AUTO_RENEWAL.value,
        charge.purpose_data(),
        charge.amount_minor,
        charge.currency,
        charge.key,
        AttemptStatus.PENDING.value,
        "",
        "",
        charge.gateway,
        "",
        now,
        None,
        reconcile_after,
        0,
    )


def charge_requests(charges: Sequence[GatewayCharge]) -> list[ChargeRequest]:
    return [
        ChargeRequest(
            token=charge.token,
            amount_minor=charge.amount_minor,
            currency=charge.currency,
            idempotency_key=charge.key,
            description=f"simrenew {AttemptPurpose.AUTO_RENEWAL.value} {charge.attempt_id}",
        )
        for charge in charges
    ]


@dataclass(frozen=True, slots=True)
class SettledBatch:
    succeeded: int
    failed: int
    unknown: int
    released: tuple[int, ...] = ()  # subscriptions whose claims were given back with their new period


def settle_charges(charges: Sequence[GatewayCharge], results: Sequence[ChargeResult]) -> SettledBatch:
    """(edge) Step 3 for a batch, in one transaction: the outcomes, then the
    periods, invoices and events of the paid ones, in a few statements."""
    succeeded: list[GatewayCharge] = []
    failed = unknown = 0
    with transaction.atomic(), clock.one_instant() as now:
        outcomes = [_outcome(charge, result, now) for charge, result in zip(charges, results, strict=True)]
        # Only attempts still open change: one settled meanwhile (reconciliation) keeps its outcome.
        changed = rows.update_many(
            PaymentAttempt, _OUTCOME_COLUMNS, outcomes, where_in={"status": [s.value for s in OPEN_STATUSES]}
        )
        for charge, outcome in zip(charges, outcomes, strict=True):
            if charge.attempt_id not in changed:
                continue
            if outcome[0] == AttemptStatus.SUCCEEDED:
                succeeded.append(charge)
            elif outcome[0] == AttemptStatus.FAILED:
                failed += 1
            else:
                unknown += 1
        released = apply_paid_periods(succeeded, now)
    return SettledBatch(len(succeeded), failed, unknown, released)


_OUTCOME_COLUMNS = ("status", "gateway_charge_id", "failure_code", "failure_message", "completed_at", "reconcile_after")


def _outcome(charge: GatewayCharge, result: ChargeResult, now: datetime) -> tuple[object, ...]:
    """The attempt's `_OUTCOME_COLUMNS` and id, as `charging.settle` records them."""
    if result.status == ChargeStatus.UNKNOWN:
        assert charge.created_at is not None
        return (
            AttemptStatus.UNKNOWN.value,
            "",
            "",
            "",
            None,
            reconcile_at(charge.created_at, 0, now),
            charge.attempt_id,
        )
    if result.status == ChargeStatus.FAILED:
        message = (result.failure_message or failure_message(result.failure_code))[:300]
        return (
            AttemptStatus.FAILED.value,
            result.charge_id,
            result.failure_code,
            message,
            now,
            None,
            charge.attempt_id,
        )
    return (AttemptStatus.SUCCEEDED.value, result.charge_id, result.failure_code, "", now, None, charge.attempt_id)


def apply_paid_periods(charges: list[GatewayCharge], now: datetime) -> tuple[int, ...]:
    """`renewals.on_period_paid` for a batch of paid renewals of live subscriptions,
    with the same rows and events; anything unusual (cancelled, ended or moved to
    another plan while the charge was in flight) takes `on_period_paid` itself.
    Returns the subscriptions whose claims the same write gave back."""
    if not charges:
        return ()
    locked = lock_for_renewal(sorted({c.subscription_id for c in charges}))
    usual: list[GatewayCharge] = []
    for charge in charges:
        row = locked[charge.subscription_id]
        if row.state == SubscriptionState.LIVE and row.ended_at is None and row.plan_id == charge.plan_id:
            usual.append(charge)
        else:
            on_period_paid(
                PaymentAttempt.objects.select_related("subscription__plan", "customer", "payment_method").get(
                    pk=charge.attempt_id
                )
            )
    if not usual:
        return ()
    # The invoices' and events' view of each attempt: only the columns they read.
    attempts = [_PaidAttempt.of(c) for c in usual]
    invoices = issue_invoices(
        [
            InvoiceLine(attempt=a, description=c.plan_name, subtotal_minor=c.amount_minor)
            for a, c in zip(attempts, usual, strict=True)
        ]
    )
    periods: list[tuple[object, ...]] = []
    changes: list[tuple[object, ...]] = []
    events: list[Event] = []
    for charge, paid, invoice in zip(usual, attempts, invoices, strict=True):
        row = locked[charge.subscription_id]
        span = next_period(
            previous=_previous(row.last, None),
            period_unit=charge.period_unit,
            period_count=charge.period_count,
            time_zone=charge.time_zone,
            now=now,
        )
        number = (row.last.number + 1) if row.last else 1
        periods.append(
            (
                charge.subscription_id,
                number,
                charge.plan_id,
                span.starts_at,
                span.ends_at,
                span.anchor_at,
                span.anchor_offset,
                span.time_zone,
                charge.data_mb,
                0,
                0,
                invoice.id,
                now,
            )
        )
        sequence = row.sequence + 1
        # One write per subscription: the new end, the next try, the event order, and its claim given back.
        changes.append((span.ends_at, first_try_at(span.ends_at), sequence, "", None, charge.subscription_id))
        fact = PeriodFacts(number, span.starts_at, span.ends_at, charge.plan_id)
        events.append(
            Event(
                "subscription.renewed",
                customer_id=charge.customer_id,
                subscription_id=charge.subscription_id,
                data=period_paid_event_data(paid, period=fact, invoice_number=invoice.number, first=False),
            )
        )
    rows.insert_many(Period, _PERIOD_COLUMNS, periods, returning=False)
    rows.update_many(
        Subscription, ("paid_through", "renewal_due_at", "sequence", "claimed_by", "claim_expires_at"), changes
    )
    emit_many(events)
    return tuple(c.subscription_id for c in usual)


@dataclass(frozen=True, slots=True)
class _PaidAttempt:
    """A paid attempt as `billing.issue_invoices` and `renewals.period_paid_event_data`
    read it (they take a PaymentAttempt and read only these): a model instance
    per renewal cost more Python time than writing the invoice."""

    pk: int
    customer_id: int
    subscription_id: int
    purpose: str
    amount_minor: int
    currency: str

    @classmethod
    def of(cls, charge: GatewayCharge) -> _PaidAttempt:
        return cls(
            charge.attempt_id,
            charge.customer_id,
            charge.subscription_id,
            AttemptPurpose.AUTO_RENEWAL.value,
            charge.amount_minor,
            charge.currency,
        )


_PERIOD_COLUMNS = (
    "subscription_id",
    "number",
    "plan_id",
    "starts_at",
    "ends_at",
    "anchor_at",
    "anchor_offset",
    "time_zone",
    "data_mb",
    "top_up_mb",
    "used_bytes",
    "invoice_id",
    "created_at",
)


# --- the other outcomes -------------------------------------------------------------------------------------------


def charge_internally(charge: PlannedCharge) -> PaymentAttempt:
    """(edge) A wallet or free renewal: all three steps at once, nothing leaves the house."""

    def begin() -> PaymentAttempt:
        subscription = charge.subscription
        price = quote(plan=subscription.plan, customer=subscription.customer, promo_code=None)
        return create_attempt(
            customer=subscription.customer,
            payment_method=charge.method,
            purpose=AttemptPurpose.AUTO_RENEWAL,
            amount=price.total,
            idempotency_key=charge.key,
            purpose_data=_purpose_data(subscription.plan, price),
            subscription=subscription,
        )

    return run_charge(begin)


def record_spent_try(subscription: Subscription, tried: Sequence[PaymentAttempt]) -> datetime | None:
    """(edge) Every method of this try failed (or there was none): move to the next
    slot, or stop after a hard decline or the last slot, and tell the customer
    once. Returns when the next try is."""
    with transaction.atomic(), clock.one_instant() as now:
        locked = Subscription.objects.select_for_update().select_related("plan", "customer").get(pk=subscription.pk)
        if not _still_due(locked, now) or locked.renewal_due_at != subscription.renewal_due_at:
            return locked.renewal_due_at  # changed meanwhile (paid by hand, new card, …): nothing to record
        assert locked.paid_through is not None
        if tried and all(a.failure_code == UNREACHED for a in tried) and now + UNREACHED_RETRY < locked.paid_through:
            # Nothing reached the gateway (a worker stopped before sending, an outage):
            # nobody declined anything, so try again soon and trouble no one.
            locked.renewal_due_at = now + UNREACHED_RETRY
            locked.save(update_fields=["renewal_due_at"])
            return locked.renewal_due_at
        first = tried[0] if tried else None
        hard = any(a.failure_code in HARD_DECLINES for a in tried)
        next_try = None if hard or first is None else next_try_after(locked.paid_through, now)
        if first is None:
            code, message, action = (
                "no_payment_method",
                "No payment method is saved for auto-renew.",
                "update_payment_method",
            )
        else:
            code, message = first.failure_code, first.failure_message
            action = "update_payment_method" if hard else ("wait_for_retry" if next_try else "renew_by_hand")
        locked.renewal_due_at = next_try
        locked.sequence += 1
        locked.save(update_fields=["renewal_due_at", "sequence"])
        emit(
            "subscription.renewal_failed",
            customer=locked.customer,
            subscription=locked,
            data={
                "subscription_id": locked.pk,
                "failure_code": code,
                "failure_message": message,
                "amount_minor": locked.plan.price_minor,
                "currency": locked.plan.currency,
                "next_retry_at": next_try.isoformat() if next_try else None,
                "action": action,
                "expires_at": locked.paid_through.isoformat(),
            },
        )
        return next_try
