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
from typing import Any

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet

from simrenew.catalog.models import Plan
from simrenew.catalog.services import PriceQuote, period_price
from simrenew.kit import clock
from simrenew.notifications import payloads
from simrenew.notifications.events import EventType
from simrenew.notifications.services import emit
from simrenew.payments.charging import FINAL_STATUSES, create_attempt, run_charge
from simrenew.payments.failures import HARD_DECLINES, FailureCode, failure_message
from simrenew.payments.models import (
    AttemptPurpose,
    AttemptStatus,
    MethodType,
    PaymentAttempt,
    PaymentMethod,
    Wallet,
)
from simrenew.subscriptions.autorenew_claims import DueRow
from simrenew.subscriptions.models import Subscription
from simrenew.subscriptions.paid_periods import PeriodPurchase
from simrenew.subscriptions.queries import last_periods
from simrenew.subscriptions.schedule import next_try_after
from simrenew.subscriptions.status import due_for_auto_renew

log = logging.getLogger(__name__)

# What reconciliation calls a charge the gateway never saw, and how soon such a try is made again.
UNREACHED = FailureCode.GATEWAY_UNREACHABLE
UNREACHED_RETRY = timedelta(minutes=15)


# --- what to try --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChosenCharge:
    """A subscription, the method this try charges, and the try's key."""

    subscription: Subscription
    method: PaymentMethod
    key: str


@dataclass(slots=True)
class GatewayCharge:
    """One auto-renew charge at a gateway, from its preparation to its settlement, as
    plain values. `attempt_id` is set once its attempt is written (step 1)."""

    subscription_id: int
    customer_id: int
    method_id: int
    token: str
    provider_customer: str
    gateway: str
    key: str
    purchase: PeriodPurchase  # the period it buys, priced by `renewal_price`
    plan_name: str
    data_mb: int  # the plan's allowance; a promotion's bonus is in `purchase`
    period_unit: str
    period_count: int
    time_zone: str
    attempt_id: int = 0
    created_at: datetime | None = None

    @property
    def amount_minor(self) -> int:
        return self.purchase.total_minor

    @property
    def currency(self) -> str:
        return self.purchase.currency

    @property
    def plan_id(self) -> int:
        return self.purchase.plan_id


@dataclass(slots=True)
class PreparedBatch:
    """What a claimed batch needs: charges at a gateway (made together), charges
    settled inside (wallet, free), tries whose chain is spent, and the rest."""

    gateway: list[GatewayCharge] = field(default_factory=list)
    internal: list[ChosenCharge] = field(default_factory=list)
    spent: list[tuple[Subscription, list[PaymentAttempt]]] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)


def renewal_price(*, price_minor: int, currency: str) -> PriceQuote:
    """What auto-renew charges for a period of a plan: `catalog.period_price` without a
    promotion (auto-renew takes no code), as every other purchase is priced."""
    return period_price(price_minor=price_minor, currency=currency)


def try_prefix(subscription: Subscription, target_number: int) -> str:
    assert subscription.renewal_due_at is not None
    return _try_prefix(subscription.pk, target_number, subscription.renewal_due_at)


def _try_prefix(subscription_id: int, target_number: int, due_at: datetime) -> str:
    moment = due_at.strftime("%Y%m%dT%H%M%S.%f")
    return f"auto-renew:{subscription_id}:{target_number}:{moment}"


def prepare_claimed_charges(claimed: Sequence[DueRow]) -> PreparedBatch:
    """The common try in plain values: nothing tried yet at this moment, and the
    subscription's own card or PayPal, usable, charged the plan's price. Every
    other case (a retry of this moment, a missing or removed method, the wallet,
    a free plan, no longer due) goes through `prepare_charges`, which reads models."""
    now = clock.now()
    prepared = PreparedBatch()
    others: list[int] = []
    # A batch holds few plans: each is priced once (prices are pure, so the same for every row).
    purchases: dict[tuple[int, int, str], PeriodPurchase] = {}
    for due in claimed:
        if (
            due.maybe_tried
            or due.method_id is None
            or due.method_removed
            or due.method_customer_id != due.customer_id
            or due.method_type == MethodType.WALLET
            or not due_for_auto_renew(due, now)
        ):
            others.append(due.subscription_id)
            continue
        plan_price = (due.plan_id, due.price_minor, due.currency)
        purchase = purchases.get(plan_price)
        if purchase is None:
            price = renewal_price(price_minor=due.price_minor, currency=due.currency)
            purchase = purchases[plan_price] = PeriodPurchase.of(due.plan_id, price)
        if purchase.total_minor == 0:  # free: settled inside
            others.append(due.subscription_id)
            continue
        prefix = _try_prefix(due.subscription_id, due.last_number + 1, due.renewal_due_at)
        prepared.gateway.append(
            GatewayCharge(
                subscription_id=due.subscription_id,
                customer_id=due.customer_id,
                method_id=due.method_id,
                token=due.method_token or "",
                provider_customer=due.method_provider_customer or "",
                gateway=due.method_gateway or "",
                key=f"{prefix}:{due.method_id}",
                purchase=purchase,
                plan_name=due.plan_name,
                data_mb=due.data_mb,
                period_unit=due.period_unit,
                period_count=due.period_count,
                time_zone=due.time_zone,
            )
        )
    if others:
        rest = prepare_charges(others)
        prepared.gateway.extend(rest.gateway)
        prepared.internal.extend(rest.internal)
        prepared.spent.extend(rest.spent)
        prepared.skipped.extend(rest.skipped)
    return prepared


def prepare_charges(subscription_ids: Sequence[int]) -> PreparedBatch:
    """Read what each claimed subscription should try now (a constant number of
    queries for any batch), with models: the retries, fallbacks and odd cases."""
    now = clock.now()
    prepared = PreparedBatch()
    subscriptions = list(
        Subscription.objects.filter(pk__in=list(subscription_ids))
        .select_related("plan", "payment_method", "customer")
        .only(*_BATCH_FIELDS)
    )
    due: list[Subscription] = []
    for subscription in subscriptions:
        if due_for_auto_renew(subscription, now):
            due.append(subscription)
        else:
            prepared.skipped.append(subscription.pk)
    if not due:
        return prepared
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
            prepared.skipped.append(subscription.pk)  # open: reconciliation decides; succeeded: nothing is due
            continue
        primary = (
            subscription.payment_method
            if _usable(subscription.payment_method)
            else defaults.get(subscription.customer_id)
        )
        # A first try charges the primary method alone, unless it is a wallet (which `method_chain` checks).
        first_alone = primary is not None and primary.type != MethodType.WALLET and not this_try
        chain = [primary] if first_alone else method_chain(subscription, primary)
        used = {a.payment_method_id for a in this_try}
        method = next((m for m in chain if m is not None and m.pk not in used), None)
        if method is None:
            prepared.spent.append((subscription, this_try))
            continue
        charge = ChosenCharge(subscription, method, f"{prefix}:{method.pk}")
        price = _price_of(subscription.plan)
        if method.type == MethodType.WALLET or price.total.amount_minor == 0:
            prepared.internal.append(charge)
        else:
            prepared.gateway.append(_gateway_charge(charge, price))
    return prepared


def _price_of(plan: Plan) -> PriceQuote:
    return renewal_price(price_minor=plan.price_minor, currency=plan.currency)


def _gateway_charge(charge: ChosenCharge, price: PriceQuote) -> GatewayCharge:
    subscription, plan = charge.subscription, charge.subscription.plan
    return GatewayCharge(
        subscription_id=subscription.pk,
        customer_id=subscription.customer_id,
        method_id=charge.method.pk,
        token=charge.method.token,
        provider_customer=charge.method.provider_customer,
        gateway=charge.method.gateway,
        key=charge.key,
        purchase=PeriodPurchase.of(plan.pk, price),
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
    "payment_method__provider_customer",
    "payment_method__removed_at",
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


def wallets_that_can_pay(
    *,
    customer_id: Any,  # an id or an OuterRef (the stubs type the lookup as a plain id)
    currency: str | OuterRef,
    amount_minor: int | F,
) -> QuerySet[Wallet]:
    """The customer's wallet if it holds `amount_minor` in `currency`: the one rule for "the wallet can pay"
    (plain values for `method_chain`, outer references for `usable_method_q`)."""
    return Wallet.objects.filter(customer_id=customer_id, currency=currency, balance_minor__gte=amount_minor)


def renewal_price_sql(plan: str = "plan__", *, outer: bool = False) -> F:
    """`renewal_price` as SQL for a plan's row (`outer`: of the outer query, from a subquery):
    auto-renew takes no promotion, so it charges the list price
    (tests/subscriptions/test_autorenew_usable_method.py checks the two agree)."""
    return (OuterRef if outer else F)(f"{plan}price_minor")


def usable_method_q() -> Q:
    """A subscription's auto-renew charge has a method that can pay its renewal price, as
    `prepare_charges` and `method_chain` pick it: its own card or PayPal (not removed), else the
    customer's default, else the wallet when it holds the price, or the customer's other methods
    if they allowed it. A wallet (the subscription's own, the default or the fallback) counts only
    when it holds the price. Card expiry is not judged here: the card-expiring notice tells of it,
    and a declined charge clears the schedule, which brings the expiry reminders."""
    methods = PaymentMethod.objects.filter(customer_id=OuterRef("customer_id"), removed_at__isnull=True)
    not_wallet = ~Q(type=MethodType.WALLET)
    wallet_pays = Q(
        Exists(
            wallets_that_can_pay(
                customer_id=OuterRef("customer_id"),
                currency=OuterRef("plan__currency"),
                amount_minor=renewal_price_sql(outer=True),
            )
        ),
        Exists(methods.filter(type=MethodType.WALLET)),
    )
    own = Q(payment_method__isnull=False, payment_method__removed_at__isnull=True)
    no_own = Q(payment_method__isnull=True) | Q(payment_method__removed_at__isnull=False)
    return (
        (own & ~Q(payment_method__type=MethodType.WALLET))
        | (no_own & Q(Exists(methods.filter(not_wallet, is_default=True))))
        | wallet_pays
        | Q(Exists(methods.filter(not_wallet)), customer__renew_with_other_methods=True)
    )


def method_chain(subscription: Subscription, primary: PaymentMethod | None) -> list[PaymentMethod]:
    """The methods one try may use, in order: the subscription's (or default), the wallet
    when it holds the price (a wallet as primary too), then the others if the customer
    allowed it. `usable_method_q` is the same rule in SQL: the chain is empty exactly when
    it does not hold."""
    price = _price_of(subscription.plan).total
    wallet_pays = wallets_that_can_pay(
        customer_id=subscription.customer_id, currency=price.currency, amount_minor=price.amount_minor
    ).exists()
    chain = [primary] if primary is not None and (primary.type != MethodType.WALLET or wallet_pays) else []
    if wallet_pays:
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


# --- the other outcomes -------------------------------------------------------------------------------------------


def charge_internally(charge: ChosenCharge) -> PaymentAttempt:
    """(edge) A wallet or free renewal: all three steps at once, nothing leaves the house."""

    def begin() -> PaymentAttempt:
        subscription = charge.subscription
        price = _price_of(subscription.plan)
        return create_attempt(
            customer=subscription.customer,
            payment_method=charge.method,
            purpose=AttemptPurpose.AUTO_RENEWAL,
            amount=price.total,
            idempotency_key=charge.key,
            purpose_data=PeriodPurchase.of(subscription.plan.pk, price).purpose_data(),
            subscription=subscription,
        )

    return run_charge(begin)


def record_spent_try(subscription: Subscription, tried: Sequence[PaymentAttempt]) -> datetime | None:
    """(edge) Every method of this try failed (or there was none): move to the next
    slot, or stop after a hard decline or the last slot, and tell the customer
    once. Returns when the next try is."""
    with transaction.atomic(), clock.one_instant() as now:
        locked = Subscription.objects.select_for_update().select_related("plan", "customer").get(pk=subscription.pk)
        if not due_for_auto_renew(locked, now) or locked.renewal_due_at != subscription.renewal_due_at:
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
        action: payloads.RenewalAction
        if first is None:
            code: str = FailureCode.NO_PAYMENT_METHOD
            message, action = failure_message(code), "update_payment_method"
        else:
            code, message = first.failure_code, first.failure_message
            bank_check = next((a for a in tried if a.failure_code == FailureCode.AUTHENTICATION_REQUIRED), None)
            if bank_check is not None:  # only the customer can answer their bank: they pay on the plan's page
                code, message, action = bank_check.failure_code, bank_check.failure_message, "confirm_payment"
            else:
                action = "update_payment_method" if hard else ("wait_for_retry" if next_try else "renew_by_hand")
        locked.renewal_due_at = next_try
        locked.save(update_fields=["renewal_due_at"])
        price = _price_of(locked.plan).total  # what the try charged (and the next one will)
        emit(
            EventType.RENEWAL_FAILED,
            customer=locked.customer,
            subscription=locked,
            data=payloads.renewal_failed(
                subscription_id=locked.pk,
                failure_code=code,
                failure_message=message,
                amount_minor=price.amount_minor,
                currency=price.currency,
                next_retry_at=next_try,
                action=action,
                expires_at=locked.paid_through,
            ),
        )
        return next_try
