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
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from simrenew.billing.services import InvoiceLine, issue_invoices
from simrenew.catalog.services import quote
from simrenew.kit import clock, rows
from simrenew.notifications.services import Event, emit, emit_many
from simrenew.payments.charging import FINAL_STATUSES, RECONCILE_SCHEDULE, create_attempt, next_reconcile_at, run_charge
from simrenew.payments.gateway import ChargeRequest, ChargeResult, ChargeStatus, failure_message
from simrenew.payments.models import AttemptPurpose, AttemptStatus, MethodType, PaymentAttempt, PaymentMethod, Wallet
from simrenew.subscriptions.models import Period, Subscription, SubscriptionState
from simrenew.subscriptions.periods import next_period
from simrenew.subscriptions.queries import last_periods, lock_many
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


def claim_due(*, worker_id: str, limit: int) -> list[int]:
    """(edge) Claim up to `limit` due subscriptions for this worker, oldest due first.

    One statement: on PostgreSQL the inner SELECT skips rows another worker is
    claiming right now (SKIP LOCKED); on SQLite the statement runs under the
    single writer lock. Subscriptions with an open charge wait for reconciliation."""
    now = clock.now()
    system_now = clock.system_now()
    until = system_now + timedelta(seconds=settings.SIMRENEW_WORKER_CLAIM_SECONDS)
    adapt = connection.ops.adapt_datetimefield_value
    due = (
        "SELECT s.id FROM subscriptions_subscription s"
        " WHERE s.state = 'live' AND s.auto_renew AND s.renewal_due_at <= %s AND s.paid_through > %s"
        "   AND (s.claim_expires_at IS NULL OR s.claim_expires_at < %s)"
        "   AND NOT EXISTS (SELECT 1 FROM payments_paymentattempt a"
        "     WHERE a.subscription_id = s.id AND a.status IN ('pending', 'unknown'))"
        " ORDER BY s.renewal_due_at LIMIT %s"
    )
    claim = "SET claimed_by = %s, claim_expires_at = %s"
    still_free = "(claim_expires_at IS NULL OR claim_expires_at < %s)"
    if connection.vendor == "postgresql":
        # A materialized CTE runs once: inside `IN (…)` the planner may rerun a
        # SKIP LOCKED subquery and claim more rows than the limit.
        sql = (
            f"WITH due AS MATERIALIZED ({due} FOR UPDATE SKIP LOCKED)"
            f" UPDATE subscriptions_subscription {claim} FROM due"
            f" WHERE subscriptions_subscription.id = due.id AND {still_free} RETURNING subscriptions_subscription.id"
        )
        params = [adapt(now), adapt(now), adapt(system_now), limit, worker_id, adapt(until), adapt(system_now)]
    else:  # one statement under SQLite's single writer lock
        sql = f"UPDATE subscriptions_subscription {claim} WHERE id IN ({due}) AND {still_free} RETURNING id"
        params = [worker_id, adapt(until), adapt(now), adapt(now), adapt(system_now), limit, adapt(system_now)]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return sorted(int(row[0]) for row in cursor.fetchall())


def release_claims(*, worker_id: str, subscription_ids: Sequence[int] | None = None) -> int:
    """(edge) Give claims back: the batch's when done, or all of this worker's when it stops."""
    claims = Subscription.objects.filter(claimed_by=worker_id)
    if subscription_ids is not None:
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
class BatchPlan:
    """What a claimed batch needs: charges at a gateway (made together), charges
    settled inside (wallet, free), tries whose chain is spent, and the rest."""

    gateway: list[PlannedCharge] = field(default_factory=list)
    internal: list[PlannedCharge] = field(default_factory=list)
    spent: list[tuple[Subscription, list[PaymentAttempt]]] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)


def try_prefix(subscription: Subscription, target_number: int) -> str:
    assert subscription.renewal_due_at is not None
    moment = subscription.renewal_due_at.strftime("%Y%m%dT%H%M%S.%f")
    return f"auto-renew:{subscription.pk}:{target_number}:{moment}"


def plan_batch(subscription_ids: Sequence[int]) -> BatchPlan:
    """Read what each claimed subscription should try now (a constant number of
    queries for the common case: nothing tried yet at this moment)."""
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
        (plan.internal if internal else plan.gateway).append(charge)
    return plan


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


def begin_charges(charges: Sequence[PlannedCharge]) -> list[PaymentAttempt]:
    """(edge) Step 1 for a batch: the attempts with their keys, committed in one
    INSERT. If another worker inserted one of these keys first (it took the batch
    over), each is written alone and the ones already there are left to it."""
    if not charges:
        return []
    with clock.one_instant() as now:
        attempts = [_attempt(charge, now) for charge in charges]
    try:
        with transaction.atomic():
            ids = rows.insert_many(PaymentAttempt, _ATTEMPT_COLUMNS, [_attempt_row(a) for a in attempts])
        for attempt, pk in zip(attempts, ids, strict=True):
            attempt.pk = pk
            attempt._state.adding = False
        return attempts
    except IntegrityError:
        pass
    written = []
    for attempt in attempts:
        try:
            with transaction.atomic():
                attempt.save(force_insert=True)
            written.append(attempt)
        except IntegrityError:
            log.info("auto-renew key %s already used; left to its owner", attempt.idempotency_key)
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


def _attempt_row(attempt: PaymentAttempt) -> tuple[object, ...]:
    return tuple(getattr(attempt, name) for name in _ATTEMPT_COLUMNS)


def _attempt(charge: PlannedCharge, now: datetime) -> PaymentAttempt:
    subscription = charge.subscription
    plan = subscription.plan
    price = quote(plan=plan, customer=subscription.customer, promo_code=None)
    return PaymentAttempt(
        customer=subscription.customer,
        subscription=subscription,
        payment_method=charge.method,
        purpose=AttemptPurpose.AUTO_RENEWAL,
        purpose_data=_purpose_data(plan, price),
        amount_minor=price.total.amount_minor,
        currency=price.total.currency,
        idempotency_key=charge.key,
        status=AttemptStatus.PENDING,
        gateway=charge.method.gateway,
        created_at=now,
        reconcile_after=now + RECONCILE_SCHEDULE[0],
    )


def charge_requests(attempts: Sequence[PaymentAttempt]) -> list[ChargeRequest]:
    return [
        ChargeRequest(
            token=attempt.payment_method.token,
            amount_minor=attempt.amount_minor,
            currency=attempt.currency,
            idempotency_key=attempt.idempotency_key,
            description=f"simrenew {attempt.purpose} {attempt.pk}",
        )
        for attempt in attempts
    ]


@dataclass(frozen=True, slots=True)
class SettledBatch:
    succeeded: int
    failed: int
    unknown: int


def settle_charges(attempts: Sequence[PaymentAttempt], results: Sequence[ChargeResult]) -> SettledBatch:
    """(edge) Step 3 for a batch, in one transaction: the outcomes, then the
    periods, invoices and events of the paid ones, in a few statements."""
    succeeded: list[PaymentAttempt] = []
    failed = unknown = 0
    with transaction.atomic(), clock.one_instant() as now:
        for attempt, result in zip(attempts, results, strict=True):
            _record_outcome(attempt, result, now)
        # Only attempts still open change: one settled meanwhile (reconciliation) keeps its outcome.
        changed = rows.update_many(
            PaymentAttempt,
            _OUTCOME_COLUMNS,
            [(*(getattr(a, n) for n in _OUTCOME_COLUMNS), a.pk) for a in attempts],
            where_in={"status": list(OPEN_STATUSES)},
        )
        for attempt in attempts:
            if attempt.pk not in changed:
                continue
            if attempt.status == AttemptStatus.SUCCEEDED:
                succeeded.append(attempt)
            elif attempt.status == AttemptStatus.FAILED:
                failed += 1
            else:
                unknown += 1
        apply_paid_periods(succeeded)
    return SettledBatch(len(succeeded), failed, unknown)


_OUTCOME_COLUMNS = ("status", "gateway_charge_id", "failure_code", "failure_message", "completed_at", "reconcile_after")


def _record_outcome(attempt: PaymentAttempt, result: ChargeResult, now: datetime) -> None:
    if result.status == ChargeStatus.UNKNOWN:
        attempt.status = AttemptStatus.UNKNOWN
        attempt.reconcile_after = next_reconcile_at(attempt)
        return
    failed = result.status == ChargeStatus.FAILED
    attempt.status = AttemptStatus(result.status.value)
    attempt.gateway_charge_id = result.charge_id
    attempt.failure_code = result.failure_code
    attempt.failure_message = (result.failure_message or failure_message(result.failure_code))[:300] if failed else ""
    attempt.completed_at = now
    attempt.reconcile_after = None


def apply_paid_periods(attempts: list[PaymentAttempt]) -> None:
    """`renewals.on_period_paid` for a batch of paid renewals of live subscriptions,
    with the same rows and events; anything unusual (cancelled or ended while the
    charge was in flight) takes `on_period_paid` itself."""
    if not attempts:
        return
    locked = lock_many(sorted({a.subscription_id for a in attempts if a.subscription_id}))
    usual = []
    for attempt in attempts:
        row = locked[attempt.subscription_id or 0]
        plan_id = int(attempt.purpose_data["plan_id"])
        subscription = attempt.subscription
        if (
            row.state == SubscriptionState.LIVE
            and row.ended_at is None
            and subscription
            and subscription.plan_id == plan_id
        ):
            usual.append(attempt)
        else:
            on_period_paid(attempt)
    if not usual:
        return
    now = clock.now()
    lasts = last_periods([a.subscription_id for a in usual if a.subscription_id])
    invoices = issue_invoices(
        [
            InvoiceLine(
                attempt=a,
                description=a.subscription.plan.name if a.subscription else "",
                subtotal_minor=int(a.purpose_data["subtotal_minor"]),
                discount_minor=int(a.purpose_data["discount_minor"]),
            )
            for a in usual
        ]
    )
    periods: list[tuple[object, ...]] = []
    facts: list[PeriodFacts] = []
    for attempt, invoice in zip(usual, invoices, strict=True):
        assert attempt.subscription is not None
        plan = attempt.subscription.plan
        last = lasts.get(attempt.subscription.pk)
        span = next_period(
            previous=_previous(last, None),
            period_unit=plan.period_unit,
            period_count=plan.period_count,
            time_zone=attempt.customer.time_zone,
            now=now,
        )
        number = (last.number + 1) if last else 1
        bonus_mb = int(attempt.purpose_data.get("bonus_data_mb") or 0)
        periods.append(
            (
                attempt.subscription.pk,
                number,
                plan.pk,
                span.starts_at,
                span.ends_at,
                span.anchor_at,
                span.anchor_offset,
                span.time_zone,
                plan.data_mb + bonus_mb,
                0,
                0,
                invoice.id,
                now,
            )
        )
        facts.append(PeriodFacts(number, span.starts_at, span.ends_at, plan.pk))
    rows.insert_many(Period, _PERIOD_COLUMNS, periods, returning=False)
    sequence = {a.subscription_id: locked[a.subscription_id or 0].sequence + 1 for a in usual}
    # One write per subscription: the new end, the next try, the event order, and its claim given back.
    rows.update_many(
        Subscription,
        ("paid_through", "renewal_due_at", "sequence", "claimed_by", "claim_expires_at"),
        [
            (f.ends_at, first_try_at(f.ends_at), sequence[a.subscription_id], "", None, a.subscription_id)
            for a, f in zip(usual, facts, strict=True)
        ],
    )
    emit_many(
        [
            Event(
                "subscription.renewed",
                customer_id=attempt.customer_id,
                subscription_id=attempt.subscription_id,
                sequence=sequence[attempt.subscription_id],
                data=period_paid_event_data(attempt, period=fact, invoice_number=invoice.number, first=False),
            )
            for attempt, fact, invoice in zip(usual, facts, invoices, strict=True)
        ]
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
