"""PayPal's webhooks at /webhooks/paypal, sent by the local PayPal over real HTTP to the live server and
verified by asking PayPal (verify-webhook-signature): a capture whose answer was lost is settled by
its event, each event acts once, a forged one is refused, an account unlinked at PayPal is removed,
a dispute is recorded and resolved."""

from __future__ import annotations

from typing import Any

import pytest

from simrenew.payments.models import AttemptStatus, Dispute, DisputeStatus, PaymentAttempt, PaymentMethod
from simrenew.subscriptions.models import Subscription
from tests.factories import make_customer, make_subscription, renew
from tests.payments.local_paypal import link_paypal, local_paypal
from tests.payments.paypal_server import PayPalServer

__all__ = ["local_paypal"]

pytestmark = pytest.mark.django_db(transaction=True)  # the live server takes PayPal's events in its thread


@pytest.fixture
def paypal_sends_to_us(local_paypal: PayPalServer, live_server: Any) -> PayPalServer:
    local_paypal.webhook_url = live_server.url + "/webhooks/paypal"
    return local_paypal


def subscribed_with_paypal(server: PayPalServer, email: str = "buyer@example.com") -> Subscription:
    customer = make_customer()
    return make_subscription(customer=customer, payment_method=link_paypal(customer, server, email=email))


def test_a_capture_whose_answer_was_lost_is_settled_by_paypals_event(clock, paypal_sends_to_us: PayPalServer):
    subscription = subscribed_with_paypal(paypal_sends_to_us)
    paypal_sends_to_us.send_events()
    periods = subscription.periods.count()
    paypal_sends_to_us.lose_answer()

    attempt = renew(subscription)
    assert attempt.status == AttemptStatus.UNKNOWN
    assert set(paypal_sends_to_us.send_events()) == {200}

    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.SUCCEEDED
    assert subscription.periods.count() == periods + 1


def test_each_event_acts_once_and_a_forged_one_is_refused(clock, paypal_sends_to_us: PayPalServer):
    subscription = subscribed_with_paypal(paypal_sends_to_us)
    paypal_sends_to_us.send_events()
    paypal_sends_to_us.lose_answer()
    attempt = renew(subscription)
    completed = paypal_sends_to_us.events_of("PAYMENT.CAPTURE.COMPLETED")[-1]

    def cheaper(body: dict) -> dict:
        body["resource"]["amount"]["value"] = "0.01"
        return body

    forged = paypal_sends_to_us.deliver(completed, tamper=cheaper)
    made_up = paypal_sends_to_us.deliver(completed, headers={"PAYPAL-TRANSMISSION-SIG": "made-up"})
    elsewhere = paypal_sends_to_us.deliver(completed, webhook_id="WH-SOMEONE-ELSES")

    assert (forged, made_up, elsewhere) == (400, 400, 400)
    assert PaymentAttempt.objects.get(pk=attempt.pk).status == AttemptStatus.UNKNOWN
    assert paypal_sends_to_us.deliver(completed) == 200
    assert paypal_sends_to_us.deliver(completed) == 200  # PayPal retries: delivered at least once
    assert PaymentAttempt.objects.get(pk=attempt.pk).status == AttemptStatus.SUCCEEDED
    assert subscription.periods.count() == 2


def test_an_account_unlinked_at_paypal_is_removed_and_auto_renew_knows(clock, paypal_sends_to_us: PayPalServer):
    subscription = subscribed_with_paypal(paypal_sends_to_us)
    method = subscription.payment_method

    paypal_sends_to_us.delete_token_at_paypal(method.token)
    assert set(paypal_sends_to_us.send_events()) == {200}

    assert PaymentMethod.objects.get(pk=method.pk).removed_at is not None


def test_a_paypal_dispute_is_recorded_and_resolved(clock, paypal_sends_to_us: PayPalServer):
    subscription = subscribed_with_paypal(paypal_sends_to_us)
    paid = PaymentAttempt.objects.get(subscription=subscription, purpose="first_period")
    paypal_sends_to_us.send_events()

    opened = paypal_sends_to_us.open_dispute(paid.gateway_charge_id)
    paypal_sends_to_us.send_events()
    dispute = Dispute.objects.get(gateway="paypal")
    assert (dispute.attempt_id, dispute.status, dispute.reason) == (
        paid.pk,
        DisputeStatus.OPEN,
        "MERCHANDISE_OR_SERVICE_NOT_RECEIVED",
    )
    assert dispute.due_by is not None

    paypal_sends_to_us.resolve_dispute(opened["dispute_id"])
    paypal_sends_to_us.send_events()

    dispute.refresh_from_db()
    assert dispute.status == DisputeStatus.WON
    assert subscription.periods.count() == 1


def test_our_own_refunds_report_is_recognised_and_changes_nothing(clock, paypal_sends_to_us: PayPalServer, settings):
    from django.core import mail

    from simrenew.billing.models import Invoice
    from simrenew.billing.refunds import refund_invoice

    settings.SIMRENEW_OPERATOR_EMAIL = ["ops@example.com"]
    subscription = subscribed_with_paypal(paypal_sends_to_us)
    paypal_sends_to_us.send_events()
    invoice = Invoice.objects.get(subscription=subscription)
    refund_invoice(invoice=invoice, amount_minor=500, reason="goodwill")
    mail.outbox.clear()

    assert set(paypal_sends_to_us.send_events()) == {200}  # PAYMENT.CAPTURE.REFUNDED

    assert mail.outbox == []
    assert Invoice.objects.get(pk=invoice.pk).refunded_minor == 500
