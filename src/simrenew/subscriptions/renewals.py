"""Buying periods: the first one, renewals (same or another plan), and what a
successful or failed payment does to the subscription. Services never commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from django.db.models import Q

from simrenew.billing.refunds import request_refund
from simrenew.billing.services import PaidAttempt, issue_invoice
from simrenew.catalog.models import Plan
from simrenew.catalog.services import PriceQuote, quote, redeem, release_redemption
from simrenew.customers.models import Customer
from simrenew.esims.models import EsimProfile, ProfileStatus
from simrenew.kit import clock, rows
from simrenew.kit.errors import ValidationFailed
from simrenew.notifications.services import emit
from simrenew.payments.charging import create_attempt, register_purpose
from simrenew.payments.models import AttemptPurpose, PaymentAttempt, PaymentMethod
from simrenew.payments.queries import attempt_for_key
from simrenew.subscriptions.errors import RenewalNotAllowed
from simrenew.subscriptions.models import Period, Subscription, SubscriptionState
from simrenew.subscriptions.periods import PeriodSpan, PreviousPeriod, next_period
from simrenew.subscriptions.queries import LastPeriod, future_periods, last_period, lock_for_change
from simrenew.subscriptions.schedule import first_try_at

MAX_PREPAID_PERIODS = 12


def _check_plan_fits(plan: Plan, esim: EsimProfile) -> None:
    if plan.carrier_id != esim.carrier_id:
        raise ValidationFailed.on("plan_id", "This plan is for another carrier than the eSIM's.")
    if not plan.is_current:
        raise ValidationFailed.on("plan_id", "This plan version is no longer sold; choose the current one.")


def _check_method(method: PaymentMethod, customer: Customer) -> None:
    if method.customer_id != customer.pk or method.removed_at is not None:
        raise ValidationFailed.on("payment_method_id", "This payment method does not belong to the customer.")


def _purpose_data(plan: Plan, price: PriceQuote) -> dict[str, object]:
    return {
        "plan_id": plan.pk,
        "subtotal_minor": price.subtotal.amount_minor,
        "discount_minor": price.discount.amount_minor,
        "bonus_data_mb": price.bonus_data_mb,
        "promo_code": price.promotion.code if price.promotion else None,
    }


def _same_esim(attempt: PaymentAttempt, esim: EsimProfile) -> bool:
    """Whether a first payment was for this eSIM (a failed one has lost its subscription:
    then it is enough that it was this customer's). Another eSIM's key is a conflict, not a replay."""
    if attempt.customer_id != esim.customer_id:
        return False
    subscription = attempt.subscription
    return subscription is None or subscription.esim_id == esim.pk


def _pay_for_period(
    purpose: str, subscription: Subscription, *, plan: Plan, price: PriceQuote, method: PaymentMethod, key: str
) -> PaymentAttempt:
    """The attempt that buys one period of `plan`, with its promotion counted."""
    attempt = create_attempt(
        customer=subscription.customer,
        payment_method=method,
        purpose=purpose,
        amount=price.total,
        idempotency_key=key,
        purpose_data=_purpose_data(plan, price),
        subscription=subscription,
    )
    redeem(price, customer=subscription.customer, attempt_id=attempt.pk)
    return attempt


def _has_running_subscription(esim: EsimProfile) -> bool:
    """Open, or cancelled at period end but still giving service: either way the
    eSIM has a plan, which is renewed (or resumed) rather than bought again."""
    now = clock.now()
    return Subscription.objects.filter(
        Q(state__in=[SubscriptionState.INCOMPLETE, SubscriptionState.LIVE])
        | Q(state=SubscriptionState.CANCELLED, ended_at__isnull=True, paid_through__gt=now),
        esim=esim,
    ).exists()


def begin_subscription(
    *,
    esim: EsimProfile,
    plan: Plan,
    payment_method: PaymentMethod,
    auto_renew: bool,
    promo_code: str | None,
    idempotency_key: str,
) -> PaymentAttempt:
    """Step 1 of buying a plan for an eSIM: an incomplete subscription and its first payment attempt."""
    replay = attempt_for_key(idempotency_key)
    if replay is not None and replay.purpose == AttemptPurpose.FIRST_PERIOD and _same_esim(replay, esim):
        return replay
    customer = esim.customer
    if customer is None or esim.status not in (ProfileStatus.ASSIGNED, ProfileStatus.INSTALLED):
        raise ValidationFailed.on("esim_id", "This eSIM is not assigned to a customer.")
    _check_plan_fits(plan, esim)
    _check_method(payment_method, customer)
    if _has_running_subscription(esim):
        raise RenewalNotAllowed("This eSIM already has a subscription; renew it instead.")
    price = quote(plan=plan, customer=customer, promo_code=promo_code)
    subscription = Subscription.objects.create(
        customer=customer,
        esim=esim,
        plan=plan,
        payment_method=payment_method,
        auto_renew=auto_renew,
        state=SubscriptionState.INCOMPLETE,
        created_at=clock.now(),
    )
    return _pay_for_period(
        AttemptPurpose.FIRST_PERIOD, subscription, plan=plan, price=price, method=payment_method, key=idempotency_key
    )


def begin_renewal(
    *,
    subscription: Subscription,
    idempotency_key: str,
    plan: Plan | None = None,
    payment_method: PaymentMethod | None = None,
    promo_code: str | None = None,
) -> PaymentAttempt:
    """Step 1 of a renewal. Another plan takes effect at the next period boundary."""
    replay = attempt_for_key(idempotency_key)
    if replay is not None and replay.purpose == AttemptPurpose.RENEWAL and replay.subscription_id == subscription.pk:
        return replay
    if subscription.state == SubscriptionState.INCOMPLETE:
        raise RenewalNotAllowed("The first payment of this subscription has not completed yet.")
    if subscription.state == SubscriptionState.CANCELLED:
        raise RenewalNotAllowed("This subscription is cancelled; resume it before renewing.")
    if subscription.state == SubscriptionState.TERMINATED:
        raise RenewalNotAllowed("This subscription has ended and its eSIM was released; start a new one.")
    now = clock.now()
    if future_periods(subscription, now) >= MAX_PREPAID_PERIODS:
        raise RenewalNotAllowed(f"At most {MAX_PREPAID_PERIODS} periods can be paid ahead.")
    customer = subscription.customer
    plan = plan or subscription.plan
    # Subscribers keep their version: renewing their own plan needs no check that it is still sold.
    if plan.pk != subscription.plan_id:
        _check_plan_fits(plan, subscription.esim)
    method = payment_method or subscription.payment_method
    if method is None:
        raise ValidationFailed.on("payment_method_id", "Choose a payment method for this renewal.")
    _check_method(method, customer)
    price = quote(plan=plan, customer=customer, promo_code=promo_code)
    return _pay_for_period(
        AttemptPurpose.RENEWAL, subscription, plan=plan, price=price, method=method, key=idempotency_key
    )


def preview_next_period(subscription: Subscription, plan: Plan, *, now: datetime | None = None) -> PeriodSpan:
    """What the next period would be if paid now (for "see the period before paying")."""
    last = last_period(subscription.pk)
    return next_period(
        previous=_previous(last, subscription.ended_at),
        period_unit=plan.period_unit,
        period_count=plan.period_count,
        time_zone=subscription.customer.time_zone,
        now=now or clock.now(),
    )


def _previous(last: LastPeriod | None, ended_at: datetime | None) -> PreviousPeriod | None:
    if last is None:
        return None
    ends_at = last.ends_at if ended_at is None else min(last.ends_at, ended_at)
    return PreviousPeriod(
        ends_at=ends_at,
        anchor_at=last.anchor_at,
        anchor_offset=last.anchor_offset,
        period_unit=last.period_unit,
        period_count=last.period_count,
        time_zone=last.time_zone,
    )


def _plan_bought(attempt: PaymentAttempt) -> Plan:
    """The plan version the attempt paid for; usually the one the subscription
    already holds (versions never change, so that instance is as good as a fresh read)."""
    plan_id = int(attempt.purpose_data["plan_id"])
    subscription = attempt.subscription
    if subscription is not None and subscription.plan_id == plan_id:
        return subscription.plan
    return Plan.objects.get(pk=plan_id)


def on_period_paid(attempt: PaymentAttempt) -> None:
    """Step 3 on success: append the period, issue the invoice, tell the world."""
    assert attempt.subscription_id is not None
    locked = lock_for_change(attempt.subscription_id)
    customer = attempt.customer
    data = attempt.purpose_data
    plan = _plan_bought(attempt)
    invoice = issue_invoice(
        attempt=attempt,
        description=plan.name,
        subtotal_minor=int(data["subtotal_minor"]),
        discount_minor=int(data["discount_minor"]),
    )
    if locked.state in (SubscriptionState.CANCELLED, SubscriptionState.TERMINATED):
        # The subscription ended while this payment was in flight: the money was
        # taken, so it is invoiced and given back the way it came, with the promotion.
        if invoice.total_minor:
            request_refund(invoice=invoice, amount_minor=invoice.total_minor, reason="paid after cancellation")
        release_redemption(attempt.pk)
        return
    last = last_period(attempt.subscription_id)
    previous = _previous(last, locked.ended_at)
    now = clock.now()
    span = next_period(
        previous=previous,
        period_unit=plan.period_unit,
        period_count=plan.period_count,
        time_zone=customer.time_zone,
        now=now,
    )
    period = rows.create(
        Period,
        subscription_id=attempt.subscription_id,
        number=(last.number + 1) if last else 1,
        plan=plan,
        starts_at=span.starts_at,
        ends_at=span.ends_at,
        anchor_at=span.anchor_at,
        anchor_offset=span.anchor_offset,
        time_zone=span.time_zone,
        data_mb=plan.data_mb + int(data.get("bonus_data_mb") or 0),
        invoice=invoice,
        created_at=now,
    )
    first = locked.state == SubscriptionState.INCOMPLETE
    rows.update_row(
        Subscription,
        attempt.subscription_id,
        state=SubscriptionState.LIVE,
        plan_id=plan.pk,
        paid_through=span.ends_at,
        ended_at=None,
        renewal_due_at=first_try_at(span.ends_at),
    )
    emit(
        "subscription.created" if first else "subscription.renewed",
        customer=customer,
        subscription_id=attempt.subscription_id,
        data=period_paid_event_data(
            attempt,
            period=PeriodFacts(period.number, period.starts_at, period.ends_at, plan.pk),
            invoice_number=invoice.number,
            first=first,
        ),
    )


class PaidEventAttempt(PaidAttempt, Protocol):
    @property
    def purpose(self) -> str: ...


def period_paid_event_data(
    attempt: PaidEventAttempt, *, period: PeriodFacts, invoice_number: str, first: bool
) -> dict[str, Any]:
    """What "subscription.created" / "subscription.renewed" tell, whichever path paid the period."""
    data: dict[str, Any] = {
        "subscription_id": attempt.subscription_id,
        "period": {"number": period.number, "starts_at": period.starts_at, "ends_at": period.ends_at},
        "plan_id": period.plan_id,
        "invoice": invoice_number,
        "amount_minor": attempt.amount_minor,
        "currency": attempt.currency,
    }
    if not first:
        data["auto_renewed"] = attempt.purpose == AttemptPurpose.AUTO_RENEWAL
    return data


@dataclass(frozen=True, slots=True)
class PeriodFacts:
    number: int
    starts_at: datetime
    ends_at: datetime
    plan_id: int


def on_period_payment_failed(attempt: PaymentAttempt) -> None:
    """Step 3 on failure: nothing changes but the promotion is given back; an
    unpaid first period leaves no subscription behind."""
    release_redemption(attempt.pk)
    assert attempt.subscription_id is not None, "period payments always belong to a subscription"
    subscription = Subscription.objects.select_for_update().get(pk=attempt.subscription_id)
    if attempt.purpose == AttemptPurpose.FIRST_PERIOD and subscription.state == SubscriptionState.INCOMPLETE:
        attempt.subscription = None
        attempt.save(update_fields=["subscription"])
        subscription.delete()
        return
    subscription.sequence += 1
    subscription.save(update_fields=["sequence"])
    emit(
        "subscription.renewal_failed",
        customer=attempt.customer,
        subscription=subscription,
        data={
            "subscription_id": subscription.pk,
            "failure_code": attempt.failure_code,
            "failure_message": attempt.failure_message,
            "amount_minor": attempt.amount_minor,
            "currency": attempt.currency,
        },
    )


def register() -> None:
    for purpose in (AttemptPurpose.FIRST_PERIOD, AttemptPurpose.RENEWAL):
        register_purpose(purpose, on_success=on_period_paid, on_failure=on_period_payment_failed)
    # A failed automatic charge changes nothing by itself: the worker tries the
    # next method or the next slot of the schedule, and tells the customer once.
    register_purpose(AttemptPurpose.AUTO_RENEWAL, on_success=on_period_paid)
