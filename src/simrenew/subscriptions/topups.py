"""Extra data within a period, valid until that period ends. Services never commit."""

from __future__ import annotations

from simrenew.billing.refunds import request_refund
from simrenew.billing.services import issue_invoice
from simrenew.catalog.models import TopUpPack
from simrenew.kit import clock
from simrenew.kit.errors import NotFound, ValidationFailed
from simrenew.kit.money import Money
from simrenew.notifications import payloads
from simrenew.notifications.events import EventType
from simrenew.notifications.services import emit
from simrenew.payments.charging import create_attempt, register_purpose
from simrenew.payments.models import AttemptPurpose, PaymentAttempt, PaymentMethod
from simrenew.subscriptions.errors import TopUpNotAllowed
from simrenew.subscriptions.models import Period, Subscription, SubscriptionState, TopUp
from simrenew.subscriptions.queries import current_period


def top_up_options(subscription: Subscription) -> list[TopUpPack]:
    return list(TopUpPack.objects.filter(carrier_id=subscription.esim.carrier_id, is_active=True))


def begin_top_up(
    *, subscription: Subscription, pack_id: int, payment_method: PaymentMethod | None, idempotency_key: str
) -> PaymentAttempt:
    pack = TopUpPack.objects.filter(pk=pack_id).first()
    if pack is None:
        raise NotFound(f"Top-up pack {pack_id} does not exist.", code="data_mb_pack_id")
    if pack.carrier_id != subscription.esim.carrier_id or not pack.is_active:
        raise ValidationFailed.on("data_mb_pack_id", "This top-up pack is not offered for this eSIM's carrier.")
    if subscription.state not in (SubscriptionState.LIVE, SubscriptionState.CANCELLED):
        raise TopUpNotAllowed("Data can only be added to a subscription with a running period.")
    period = current_period(subscription, clock.now())
    if period is None:
        raise TopUpNotAllowed("There is no running period to add data to; renew the plan first.")
    method = payment_method or subscription.payment_method
    if method is None:
        raise ValidationFailed.on("payment_method_id", "Choose a payment method for this top-up.")
    return create_attempt(
        customer=subscription.customer,
        payment_method=method,
        purpose=AttemptPurpose.TOP_UP,
        amount=Money(pack.price_minor, pack.currency),
        idempotency_key=idempotency_key,
        purpose_data={"pack_id": pack.pk, "period_id": period.pk, "name": pack.name, "data_mb": pack.data_mb},
        subscription=subscription,
    )


def on_top_up_paid(attempt: PaymentAttempt) -> None:
    # Lock order everywhere: wallet, subscription, invoice counter (no deadlocks between settlers).
    assert attempt.subscription_id is not None, "a top-up always belongs to a subscription"
    subscription = Subscription.objects.select_for_update().get(pk=attempt.subscription_id)
    bought = attempt.purpose_data  # what was sold at step 1, whatever the pack costs now
    invoice = issue_invoice(attempt=attempt, description=str(bought["name"]), subtotal_minor=attempt.amount_minor)
    # Data is added to the period running when the payment lands (normally the one
    # it was bought in); if none runs any more, the customer gets the money back.
    period = current_period(subscription, clock.now())
    if period is None:
        request_refund(
            invoice=invoice,
            amount_minor=invoice.total_minor,
            reason="top-up paid after the period ended",
            asked_after_commit=False,
        )
        return
    period = Period.objects.select_for_update().get(pk=period.pk)
    data_mb = int(bought["data_mb"])
    TopUp.objects.create(
        period=period, pack_id=int(bought["pack_id"]), data_mb=data_mb, invoice=invoice, created_at=clock.now()
    )
    period.top_up_mb += data_mb
    period.save(update_fields=["top_up_mb"])
    emit(
        EventType.TOPPED_UP,
        customer=attempt.customer,
        subscription=subscription,
        data=payloads.subscription_topped_up(subscription_id=subscription.pk, data_mb=data_mb, invoice=invoice.number),
    )


def register() -> None:
    register_purpose(AttemptPurpose.TOP_UP, on_success=on_top_up_paid)
