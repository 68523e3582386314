"""Buying periods: the first one, renewals (same or another plan), and what a
successful or failed payment does to the subscription. Services never commit.

The renewal plan (`Subscription.plan`) is what auto-renew and "Renew" buy. It is the
customer's standing choice and changes only when they say so: `choose_renewal_plan`
(the manage page, the API's PATCH), or a renewal paid with `also_renew_with_plan`
(the pay page's "also renew with this plan from now on" box). Paying once for another
plan (a day on top of a month, say) is a one-off purchase: it appends a period of that
plan and leaves the renewal plan alone. Stripe Billing works the same way: a one-time
invoice or price does not change the subscription's recurring price, which only an
explicit subscription update does; Airalo's top-up packages leave the package that
renews as it was. The change asked with a renewal is made when its payment succeeds,
so a declined payment changes nothing (as for every failed payment here)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from simrenew.billing.refunds import request_refund
from simrenew.billing.services import PaidAttempt, issue_invoice
from simrenew.catalog.models import Plan
from simrenew.catalog.services import PriceQuote, quote, redeem, release_redemption
from simrenew.customers.models import Customer
from simrenew.esims.models import USABLE_STATUSES, EsimProfile
from simrenew.kit import clock, writes
from simrenew.kit.audit import record_change
from simrenew.kit.errors import ValidationFailed
from simrenew.notifications import payloads
from simrenew.notifications.events import EventType
from simrenew.notifications.services import emit
from simrenew.payments.charging import create_attempt, register_purpose
from simrenew.payments.models import AttemptPurpose, PaymentAttempt, PaymentMethod
from simrenew.payments.queries import attempt_for_key
from simrenew.subscriptions.errors import RenewalNotAllowed
from simrenew.subscriptions.models import Period, Subscription, SubscriptionState
from simrenew.subscriptions.paid_periods import PaidPeriod, PeriodPurchase, append_paid_period, previous_period
from simrenew.subscriptions.periods import PeriodSpan, next_period
from simrenew.subscriptions.queries import LastPeriod, future_periods, last_period, lock_for_change
from simrenew.subscriptions.service_changes import ServiceChange, ServiceChangeKind, announce
from simrenew.subscriptions.status import holds_esim_q, renews_automatically, running_to_period_end

MAX_PREPAID_PERIODS = 12


def _check_plan_fits(plan: Plan, esim: EsimProfile, *, field: str = "plan_id") -> None:
    if plan.carrier_id != esim.carrier_id:
        raise ValidationFailed.on(field, "This plan is for another carrier than the eSIM's.")
    if not plan.is_current:
        raise ValidationFailed.on(field, "This plan version is no longer sold; choose the current one.")


def _check_method(method: PaymentMethod, customer: Customer) -> None:
    if method.customer_id != customer.pk or method.removed_at is not None:
        raise ValidationFailed.on("payment_method_id", "This payment method does not belong to the customer.")


def _same_esim(attempt: PaymentAttempt, esim: EsimProfile) -> bool:
    """Whether a first payment was for this eSIM (a failed one has lost its subscription:
    then it is enough that it was this customer's). Another eSIM's key is a conflict, not a replay."""
    if attempt.customer_id != esim.customer_id:
        return False
    subscription = attempt.subscription
    return subscription is None or subscription.esim_id == esim.pk


def _pay_for_period(
    purpose: str,
    subscription: Subscription,
    *,
    plan: Plan,
    price: PriceQuote,
    method: PaymentMethod,
    key: str,
    also_renew_with_plan: bool = False,
) -> PaymentAttempt:
    """The attempt that buys one period of `plan`, with its promotion counted; with
    `also_renew_with_plan`, it records the renewal plan it is asked to replace."""
    instead_of = subscription.plan_id if also_renew_with_plan else None
    purpose_data = PeriodPurchase.of(plan.pk, price, renew_with_plan_instead_of=instead_of).purpose_data()
    attempt = create_attempt(
        customer=subscription.customer,
        payment_method=method,
        purpose=purpose,
        amount=price.total,
        idempotency_key=key,
        purpose_data=purpose_data,
        subscription=subscription,
    )
    redeem(price, customer=subscription.customer, attempt_id=attempt.pk)
    return attempt


def _has_running_subscription(esim: EsimProfile) -> bool:
    """Open, or cancelled at period end but still giving service: either way the
    eSIM has a plan, which is renewed (or resumed) rather than bought again."""
    return Subscription.objects.filter(holds_esim_q(clock.now()), esim=esim).exists()


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
    if customer is None or esim.status not in USABLE_STATUSES:
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


def check_renewable(subscription: Subscription) -> None:
    """Raise `RenewalNotAllowed` when the subscription's state rules out buying another period: a
    cancelled plan is never sold again (cancelling now may have refunded it), and the portal's
    renew page asks this before showing anything for sale."""
    if subscription.state == SubscriptionState.INCOMPLETE:
        raise RenewalNotAllowed("The first payment of this subscription has not completed yet.")
    if subscription.state == SubscriptionState.CANCELLED:
        if running_to_period_end(subscription, clock.now()):
            raise RenewalNotAllowed("This subscription is cancelled; resume it before renewing.")
        raise RenewalNotAllowed("This plan is cancelled, so it cannot be renewed.")  # nothing left to resume
    if subscription.state == SubscriptionState.TERMINATED:
        raise RenewalNotAllowed("This subscription has ended and its eSIM was released; start a new one.")


def begin_renewal(
    *,
    subscription: Subscription,
    idempotency_key: str,
    plan: Plan | None = None,
    payment_method: PaymentMethod | None = None,
    promo_code: str | None = None,
    also_renew_with_plan: bool = False,
) -> PaymentAttempt:
    """Step 1 of a renewal (by default of the renewal plan). Another plan takes effect at the next
    period boundary and is bought once: the renewal plan changes to it only with
    `also_renew_with_plan`, once paid (see the module's docstring)."""
    replay = attempt_for_key(idempotency_key)
    if replay is not None and replay.purpose == AttemptPurpose.RENEWAL and replay.subscription_id == subscription.pk:
        return replay
    check_renewable(subscription)
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
        AttemptPurpose.RENEWAL,
        subscription,
        plan=plan,
        price=price,
        method=method,
        key=idempotency_key,
        also_renew_with_plan=also_renew_with_plan and plan.pk != subscription.plan_id,
    )


# Why a subscription that is not live has no renewal plan to choose (portal.presenters.SERVICE_MESSAGES).
_NOT_LIVE: dict[str, str] = {
    SubscriptionState.INCOMPLETE: "The first payment of this subscription has not completed yet.",
    SubscriptionState.CANCELLED: "This subscription is cancelled; resume it before changing the plan it renews with.",
    SubscriptionState.TERMINATED: "This subscription has ended and its eSIM was released; start a new one.",
}


def choose_renewal_plan(subscription: Subscription, plan: Plan, *, field: str = "plan_id") -> Subscription:
    """The customer's explicit choice of what auto-renew and "Renew" buy from now on: another plan of
    the eSIM's carrier on sale now (or the version they hold). The running and prepaid periods keep
    theirs; the next auto-renew charge is the new plan's price. Only a live subscription (suspended
    after its end included: it is renewed, not bought again) has a renewal plan to choose."""
    locked = Subscription.objects.select_for_update().select_related("esim").get(pk=subscription.pk)
    if locked.state != SubscriptionState.LIVE:
        raise ValidationFailed.on(field, _NOT_LIVE[locked.state])
    if plan.pk == locked.plan_id:
        return locked
    _check_plan_fits(plan, locked.esim, field=field)
    before = {"plan_id": locked.plan_id}
    locked.plan = plan
    locked.save(update_fields=["plan"])
    record_change(action="choose_renewal_plan", target=locked, before=before, after={"plan_id": plan.pk})
    return locked


def preview_next_period(subscription: Subscription, plan: Plan, *, now: datetime | None = None) -> PeriodSpan:
    """What the next period would be if paid now (for "see the period before paying")."""
    last = last_period(subscription.pk)
    return next_period(
        previous=previous_period(last, subscription.ended_at),
        period_unit=plan.period_unit,
        period_count=plan.period_count,
        time_zone=subscription.customer.time_zone,
        now=now or clock.now(),
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
    purchase = PeriodPurchase.from_purpose_data(attempt.purpose_data, currency=attempt.currency)
    plan = _plan_bought(attempt)
    invoice = issue_invoice(
        attempt=attempt,
        description=plan.name,
        subtotal_minor=purchase.subtotal_minor,
        discount_minor=purchase.discount_minor,
    )
    if locked.state in (SubscriptionState.CANCELLED, SubscriptionState.TERMINATED):
        # The subscription ended while this payment was in flight: the money was
        # taken, so it is invoiced and given back the way it came, with the promotion.
        if invoice.total_minor:
            request_refund(
                invoice=invoice,
                amount_minor=invoice.total_minor,
                reason="paid after cancellation",
                asked_after_commit=False,
            )
        release_redemption(attempt.pk)
        return
    now = clock.now()
    last = last_period(attempt.subscription_id)
    paid = append_paid_period(
        last=last,
        ended_at=locked.ended_at,
        renewal_plan_id=locked.plan_id,
        purchase=purchase,
        plan_data_mb=plan.data_mb,
        period_unit=plan.period_unit,
        period_count=plan.period_count,
        time_zone=customer.time_zone,
        now=now,
    )
    period = Period(subscription_id=attempt.subscription_id, invoice=invoice, created_at=now, **paid.period_fields())
    writes.insert(period)
    first = locked.state == SubscriptionState.INCOMPLETE
    writes.update(Subscription, attempt.subscription_id, paid.subscription_fields())
    change = line_change_of_period(first=first, last=last, plan_code=plan.code, now=now)
    if change is not None:
        # One query, and only when the line changes (never on a plain renewal of the same plan).
        esim_id = Subscription.objects.filter(pk=attempt.subscription_id).values_list("esim_id", flat=True).get()
        effective_at = paid.span.starts_at if change == ServiceChangeKind.CHANGE_PLAN else now
        announce([ServiceChange(change, attempt.subscription_id, esim_id, plan.code, effective_at)])
    emit(
        EventType.SUBSCRIPTION_CREATED if first else EventType.SUBSCRIPTION_RENEWED,
        customer=customer,
        subscription_id=attempt.subscription_id,
        data=period_paid_event_data(attempt, paid=paid, invoice_number=invoice.number, first=first),
    )


def line_change_of_period(
    *, first: bool, last: LastPeriod | None, plan_code: str, now: datetime
) -> ServiceChangeKind | None:
    """What a newly paid period means for the line at the network (either renewal path): the first
    period starts it; a payment after the paid time ran out restores it (with the plan bought);
    a period of another plan changes the plan when that period begins; else nothing."""
    if first or last is None:
        return ServiceChangeKind.START
    if last.ends_at <= now:
        return ServiceChangeKind.RESTORE
    if last.plan_code != plan_code:
        return ServiceChangeKind.CHANGE_PLAN
    return None


class PaidEventAttempt(PaidAttempt, Protocol):
    @property
    def purpose(self) -> str: ...


def period_paid_event_data(
    attempt: PaidEventAttempt, *, paid: PaidPeriod, invoice_number: str, first: bool
) -> payloads.SubscriptionCreated | payloads.SubscriptionRenewed:
    """What "subscription.created" / "subscription.renewed" tell, whichever path paid the period."""
    assert attempt.subscription_id is not None, "period payments always belong to a subscription"
    args = payloads.PeriodPaidArgs(
        subscription_id=attempt.subscription_id,
        period_number=paid.number,
        starts_at=paid.span.starts_at,
        ends_at=paid.span.ends_at,
        plan_id=paid.plan_id,
        invoice=invoice_number,
        amount_minor=attempt.amount_minor,
        currency=attempt.currency,
    )
    if first:
        return payloads.subscription_created(**args)
    return payloads.subscription_renewed(**args, auto_renewed=attempt.purpose == AttemptPurpose.AUTO_RENEWAL)


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
    emit(
        EventType.RENEWAL_FAILED,
        customer=attempt.customer,
        subscription=subscription,
        data=payloads.renewal_failed(
            subscription_id=subscription.pk,
            failure_code=attempt.failure_code,
            failure_message=attempt.failure_message,
            amount_minor=attempt.amount_minor,
            currency=attempt.currency,
            expires_at=subscription.paid_through,
            # A payment by hand leaves auto-renew's schedule as it was: its next try still comes.
            next_retry_at=subscription.renewal_due_at if renews_automatically(subscription, clock.now()) else None,
        ),
    )


def register() -> None:
    for purpose in (AttemptPurpose.FIRST_PERIOD, AttemptPurpose.RENEWAL):
        register_purpose(purpose, on_success=on_period_paid, on_failure=on_period_payment_failed)
    # A failed automatic charge changes nothing by itself: the worker tries the
    # next method or the next slot of the schedule, and tells the customer once.
    register_purpose(AttemptPurpose.AUTO_RENEWAL, on_success=on_period_paid)
