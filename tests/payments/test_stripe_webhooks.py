"""Stripe's webhooks at /webhooks/stripe, sent by the local Stripe over real HTTP to the live server:
an answer lost on the way is settled by the event, each event acts once, a forged or stale one is
refused, a success that comes after we gave up is given back, a card's new expiry is kept."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from simrenew.payments.models import AttemptStatus, PaymentAttempt, PaymentMethod, ProviderEvent
from simrenew.subscriptions.models import Subscription
from tests.factories import make_customer, make_subscription, renew
from tests.payments.local_stripe import local_stripe, save_stripe_card
from tests.payments.stripe_server import Event, StripeServer, sign

__all__ = ["local_stripe"]

pytestmark = pytest.mark.django_db(transaction=True)  # the live server answers Stripe from its own thread


@pytest.fixture
def stripe_sends_to_us(local_stripe: StripeServer, live_server: Any) -> StripeServer:
    local_stripe.webhook_url = live_server.url + "/webhooks/stripe"
    return local_stripe


def subscribed_with_stripe(server: StripeServer, card: str = "pm_card_visa") -> Subscription:
    customer = make_customer()
    return make_subscription(customer=customer, payment_method=save_stripe_card(customer, server, card))


def test_a_renewal_whose_answer_was_lost_is_settled_by_stripes_event(clock, stripe_sends_to_us: StripeServer):
    subscription = subscribed_with_stripe(stripe_sends_to_us)
    periods = subscription.periods.count()
    stripe_sends_to_us.lose_answer()

    attempt = renew(subscription)
    stripe_sends_to_us.send_events()

    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.SUCCEEDED  # before any reconciliation ran
    assert attempt.gateway_charge_id in stripe_sends_to_us.payment_intents
    assert subscription.periods.count() == periods + 1
    event = ProviderEvent.objects.get(type="payment_intent.succeeded", event_id=stripe_sends_to_us.events[-1].id)
    assert event.outcome == f"settled attempt {attempt.pk}: succeeded"


def test_each_event_acts_once_however_often_stripe_sends_it(clock, stripe_sends_to_us: StripeServer):
    subscription = subscribed_with_stripe(stripe_sends_to_us)
    stripe_sends_to_us.lose_answer()
    attempt = renew(subscription)
    stripe_sends_to_us.send_events()
    succeeded = stripe_sends_to_us.events_of("payment_intent.succeeded")[-1]
    periods = subscription.periods.count()

    status = stripe_sends_to_us.deliver(succeeded)  # Stripe retries: delivered at least once

    assert status == 200
    assert subscription.periods.count() == periods
    assert ProviderEvent.objects.filter(event_id=succeeded.id).count() == 1
    assert PaymentAttempt.objects.get(pk=attempt.pk).status == AttemptStatus.SUCCEEDED


def test_a_failed_payment_event_settles_an_open_attempt_as_failed_with_stripes_reason(
    clock, stripe_sends_to_us: StripeServer
):
    subscription = subscribed_with_stripe(stripe_sends_to_us)
    stripe_sends_to_us.lose_answer()
    method = subscription.payment_method
    # The card is declined now: Stripe answered, the answer was lost, the event tells.
    stripe_sends_to_us.behave_as(method.token, "pm_card_chargeDeclinedInsufficientFunds")

    attempt = renew(subscription)
    stripe_sends_to_us.send_events()

    attempt.refresh_from_db()
    assert (attempt.status, attempt.failure_code) == (AttemptStatus.FAILED, "insufficient_funds")


@pytest.mark.parametrize(
    "forgery",
    ["another secret", "no signature", "stale", "body changed"],
)
def test_a_forged_or_stale_event_is_refused_and_changes_nothing(
    clock, stripe_sends_to_us: StripeServer, live_server: Any, forgery: str
):
    subscription = subscribed_with_stripe(stripe_sends_to_us)
    stripe_sends_to_us.webhook_url = None  # we deliver by hand below
    stripe_sends_to_us.lose_answer()
    attempt = renew(subscription)
    assert attempt.status == AttemptStatus.UNKNOWN
    event = stripe_sends_to_us.events_of("payment_intent.succeeded")[-1]
    payload = json.dumps(event.payload()).encode()
    headers = {"Content-Type": "application/json", "Stripe-Signature": sign(payload)}
    if forgery == "another secret":
        headers["Stripe-Signature"] = sign(payload, secret="whsec_someone_else")
    elif forgery == "no signature":
        del headers["Stripe-Signature"]
    elif forgery == "stale":  # a recorded delivery replayed ten minutes later
        headers["Stripe-Signature"] = sign(payload, timestamp=int(time.time()) - 600)
    else:
        payload = payload.replace(b'"succeeded"', b'"canceled"', 1)

    answer = httpx.post(live_server.url + "/webhooks/stripe", content=payload, headers=headers)

    assert answer.status_code == 400
    assert answer.headers["Content-Type"] == "application/json"
    assert "signature" in answer.json()["error"]
    assert PaymentAttempt.objects.get(pk=attempt.pk).status == AttemptStatus.UNKNOWN
    assert not ProviderEvent.objects.filter(event_id=event.id).exists()


def test_anything_but_a_signed_post_gets_a_json_answer(clock, stripe_sends_to_us: StripeServer, live_server: Any):
    url = live_server.url + "/webhooks/stripe"
    assert httpx.get(url).status_code == 405
    not_json = b"not json at all"
    answer = httpx.post(url, content=not_json, headers={"Stripe-Signature": sign(not_json)})
    assert (answer.status_code, answer.headers["Content-Type"]) == (400, "application/json")
    huge = b"x" * (600 * 1024)  # far beyond any event: refused before it is read
    assert httpx.post(url, content=huge, headers={"Stripe-Signature": sign(huge)}).status_code == 413


def test_an_event_we_do_not_act_on_is_taken_and_ignored(clock, stripe_sends_to_us: StripeServer):
    event = stripe_sends_to_us.emit("customer.created", {"id": "cus_x", "object": "customer"}, deliver=False)

    assert stripe_sends_to_us.deliver(event) == 200
    assert ProviderEvent.objects.get(event_id=event.id).outcome == "ignored: customer.created"


def test_a_success_after_we_gave_up_is_given_back(clock, stripe_sends_to_us: StripeServer):
    """The look-up found nothing (Stripe's search lags), so the attempt failed and the customer was
    told; then Stripe says it succeeded. Keeping that money would be wrong: it goes back."""
    subscription = subscribed_with_stripe(stripe_sends_to_us)
    endpoint, stripe_sends_to_us.webhook_url = stripe_sends_to_us.webhook_url, None
    stripe_sends_to_us.lose_answer()
    attempt = renew(subscription)
    PaymentAttempt.objects.filter(pk=attempt.pk).update(status=AttemptStatus.FAILED, failure_code="gateway_unreachable")
    succeeded: Event = stripe_sends_to_us.events_of("payment_intent.succeeded")[-1]
    periods = subscription.periods.count()

    assert stripe_sends_to_us.deliver(succeeded, url=endpoint) == 200

    intent = stripe_sends_to_us.payment_intents[succeeded.object["id"]]
    assert intent["amount_refunded"] == intent["amount"]
    assert subscription.periods.count() == periods
    assert PaymentAttempt.objects.get(pk=attempt.pk).status == AttemptStatus.FAILED


def test_a_new_expiry_from_the_card_network_is_kept(clock, stripe_sends_to_us: StripeServer):
    method = save_stripe_card(make_customer(), stripe_sends_to_us)

    stripe_sends_to_us.update_card(method.token, exp_month=3, exp_year=2031)
    stripe_sends_to_us.send_events()

    method = PaymentMethod.objects.get(pk=method.pk)
    assert (method.exp_month, method.exp_year) == (3, 2031)


def test_without_a_signing_secret_the_endpoint_is_not_there(clock, settings, live_server: Any):
    settings.SIMRENEW_STRIPE_WEBHOOK_SECRET = ""
    payload = b"{}"
    answer = httpx.post(
        live_server.url + "/webhooks/stripe", content=payload, headers={"Stripe-Signature": sign(payload)}
    )
    assert answer.status_code == 404


def test_a_refund_whose_answer_was_lost_is_settled_by_stripes_report(
    clock, stripe_sends_to_us: StripeServer, settings: Any
):
    from simrenew.billing.models import Invoice, RefundStatus
    from simrenew.billing.refunds import refund_invoice

    subscription = subscribed_with_stripe(stripe_sends_to_us)
    stripe_sends_to_us.send_events()
    invoice = Invoice.objects.get(subscription=subscription)
    stripe_sends_to_us.lose_answer()

    refund = refund_invoice(invoice=invoice, amount_minor=500, reason="goodwill")
    assert refund.status == RefundStatus.PENDING  # Stripe refunded; its answer never came
    stripe_sends_to_us.send_events()

    refund.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED and refund.gateway_refund_id.startswith("re_")
    invoice.refresh_from_db()
    assert invoice.refunded_minor == 500


def test_a_refund_made_in_stripes_dashboard_is_told_to_the_operator(
    clock, stripe_sends_to_us: StripeServer, settings: Any
):
    from django.core import mail

    from simrenew.billing.models import Invoice, Refund

    settings.SIMRENEW_OPERATOR_EMAIL = ["ops@example.com"]
    subscription = subscribed_with_stripe(stripe_sends_to_us)
    stripe_sends_to_us.send_events()
    paid = PaymentAttempt.objects.get(subscription=subscription)
    mail.outbox.clear()

    stripe_sends_to_us.refund_outside(paid.gateway_charge_id, 700)
    assert stripe_sends_to_us.send_events() == [200]

    [told] = mail.outbox
    assert told.to == ["ops@example.com"] and "not through simrenew" in told.subject
    assert paid.gateway_charge_id in told.body
    assert not Refund.objects.exists()
    assert Invoice.objects.get(subscription=subscription).refunded_minor == 0
