"""Strong customer authentication with Stripe: a bank that wants its cardholder to confirm a payment
(3-D Secure). Off-session (auto-renew) nobody can: the renewal fails as `authentication_required`,
the card is not tried again, and the customer is told by email and SMS with a link to pay on their
plan's page. On-session the charge waits for the customer, whose answer settles it exactly once."""

from __future__ import annotations

from datetime import timedelta

from simrenew.notifications.delivery import dispatch_pending
from simrenew.notifications.models import Delivery, OutboxMessage
from simrenew.notifications.rendering import render_sms
from simrenew.payments.charging import reconcile, run_charge
from simrenew.payments.failures import FailureCode
from simrenew.payments.gateway import ChargeRequest, ChargeStatus, gateway_named
from simrenew.payments.models import AUTHENTICATE, AttemptStatus, PaymentAttempt
from simrenew.subscriptions.cancellation import update_renewal
from simrenew.subscriptions.renewals import begin_renewal
from tests.factories import make_customer, make_plan, make_subscription, renew_due
from tests.payments.local_stripe import local_stripe, save_stripe_card
from tests.payments.stripe_server import StripeServer

__all__ = ["local_stripe"]

BACK = "https://esim.example.test/payments/{}/"


def test_on_session_a_charge_the_bank_wants_confirmed_waits_for_the_customer(clock, local_stripe: StripeServer):
    method = save_stripe_card(make_customer(), local_stripe, "pm_card_authenticationRequired")
    request = ChargeRequest(
        token=method.token,
        amount_minor=1500,
        currency="USD",
        idempotency_key="on-session-1",
        provider_customer=method.provider_customer,
        return_url=BACK.format(1),
    )

    waiting = gateway_named("stripe").charge(request)

    assert waiting.status == ChargeStatus.ACTION_REQUIRED
    assert local_stripe.payment_intents[waiting.charge_id]["status"] == "requires_action"
    local_stripe.authenticate(waiting.charge_id)
    found = gateway_named("stripe").lookup("on-session-1", waiting.charge_id)
    assert found is not None and found.status == ChargeStatus.SUCCEEDED


def test_auto_renew_asks_the_customer_by_email_and_sms_and_never_hammers_the_card(clock, local_stripe: StripeServer):
    customer = make_customer()
    customer.phone = "+12015550123"  # SMS is off by default: this notice goes anyway
    customer.save(update_fields=["phone"])
    subscription = make_subscription(
        customer=customer, plan=make_plan(period_unit="month"), payment_method=save_stripe_card(customer, local_stripe)
    )
    update_renewal(
        subscription, payment_method=save_stripe_card(customer, local_stripe, "pm_card_authenticationRequired")
    )
    clock.set(subscription.paid_through - timedelta(hours=72))

    renew_due()

    attempt = PaymentAttempt.objects.get(purpose="auto_renewal")
    assert (attempt.status, attempt.failure_code) == (AttemptStatus.FAILED, FailureCode.AUTHENTICATION_REQUIRED)
    [failed] = OutboxMessage.objects.filter(event_type="subscription.renewal_failed")
    assert (failed.payload["action"], failed.payload["next_retry_at"]) == ("confirm_payment", None)
    subscription.refresh_from_db()
    assert subscription.renewal_due_at is None
    for hours_left in (24, 6, 1):  # the retry slots pass: the card is not tried again
        clock.set(subscription.paid_through - timedelta(hours=hours_left))
        assert renew_due().claimed == 0
    assert PaymentAttempt.objects.filter(purpose="auto_renewal").count() == 1

    dispatch_pending()
    channels = set(Delivery.objects.filter(message=failed).values_list("channel", flat=True))
    assert channels == {"email", "sms"}
    text = render_sms(failed, customer)
    assert text.endswith(f"/subscriptions/{subscription.pk}/renew/"), text
    assert "confirm" in text


def test_paying_by_hand_the_customer_confirms_and_is_charged_once(clock, local_stripe: StripeServer):
    customer = make_customer()
    card = save_stripe_card(customer, local_stripe, "pm_card_authenticationRequired")
    subscription = make_subscription(customer=customer, payment_method=save_stripe_card(customer, local_stripe))

    attempt = run_charge(
        lambda: begin_renewal(subscription=subscription, idempotency_key="by-hand-1", payment_method=card),
        return_to=BACK.format,
    )

    assert (attempt.status, attempt.next_action) == (AttemptStatus.PENDING, AUTHENTICATE)
    intent = local_stripe.payment_intents[attempt.gateway_charge_id]
    assert intent["status"] == "requires_action" and "off_session" not in str(intent)
    local_stripe.authenticate(attempt.gateway_charge_id)  # the customer answers their bank

    settled = reconcile(PaymentAttempt.objects.get(pk=attempt.pk))

    assert (settled.status, settled.next_action) == (AttemptStatus.SUCCEEDED, "")
    assert subscription.periods.count() == 2
    assert len(local_stripe.charges_of(card.provider_customer)) == 2  # the first period, this renewal


def test_a_customer_who_fails_the_check_is_told_and_nothing_is_charged(clock, local_stripe: StripeServer):
    customer = make_customer()
    card = save_stripe_card(customer, local_stripe, "pm_card_authenticationRequired")
    subscription = make_subscription(customer=customer, payment_method=save_stripe_card(customer, local_stripe))
    attempt = run_charge(
        lambda: begin_renewal(subscription=subscription, idempotency_key="by-hand-2", payment_method=card),
        return_to=BACK.format,
    )

    local_stripe.authenticate(attempt.gateway_charge_id, approve=False)
    settled = reconcile(attempt)

    assert (settled.status, settled.failure_code) == (AttemptStatus.FAILED, FailureCode.AUTHENTICATION_FAILED)
    assert subscription.periods.count() == 1


def test_a_check_nobody_answered_fails_once_its_wait_is_over(clock, local_stripe: StripeServer):
    customer = make_customer()
    card = save_stripe_card(customer, local_stripe, "pm_card_authenticationRequired")
    subscription = make_subscription(customer=customer, payment_method=save_stripe_card(customer, local_stripe))
    attempt = run_charge(
        lambda: begin_renewal(subscription=subscription, idempotency_key="by-hand-3", payment_method=card),
        return_to=BACK.format,
    )
    assert attempt.reconcile_after == clock.now() + timedelta(minutes=30)

    clock.advance(minutes=31)
    settled = reconcile(attempt)

    assert (settled.status, settled.failure_code) == (AttemptStatus.FAILED, FailureCode.AUTHENTICATION_REQUIRED)


def test_auto_renew_charges_a_saved_stripe_card_off_session_through_the_worker(clock, local_stripe: StripeServer):
    customer = make_customer()
    card = save_stripe_card(customer, local_stripe, "pm_card_visa_debit")
    subscription = make_subscription(customer=customer, plan=make_plan(period_unit="month"), payment_method=card)
    clock.set(subscription.paid_through - timedelta(hours=72))

    counts = renew_due()

    assert counts.succeeded == 1 and subscription.periods.count() == 2
    renewal = PaymentAttempt.objects.get(purpose="auto_renewal")
    intent = local_stripe.payment_intents[renewal.gateway_charge_id]
    assert (intent["customer"], intent["payment_method"], intent["status"]) == (
        card.provider_customer,
        card.token,
        "succeeded",
    )
    assert intent["metadata"]["idempotency_key"] == renewal.idempotency_key
