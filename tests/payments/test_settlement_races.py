"""Two parties settling the same money, and settlement that outlives its inputs
(regressions from a review: each of these once lost or double-moved money)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from django.db import transaction

from simrenew.billing.models import Invoice
from simrenew.billing.refunds import AlreadyRefunded, refund_invoice
from simrenew.payments.charging import execute, reconcile
from simrenew.payments.models import PaymentAttempt, SandboxCharge, Wallet
from simrenew.subscriptions.models import TopUp
from simrenew.subscriptions.renewals import begin_renewal
from simrenew.subscriptions.topups import begin_top_up
from tests.api.helpers import ApiClient, make_api_key
from tests.factories import make_customer, make_subscription, make_top_up_pack, make_wallet


def test_a_wallet_payment_settled_by_the_request_and_the_reconciler_is_debited_once(clock):
    customer = make_customer()
    subscription = make_subscription(customer=customer)
    wallet = make_wallet(customer=customer, balance_minor=10_000)
    with transaction.atomic():
        attempt = begin_renewal(subscription=subscription, idempotency_key="wallet-twice", payment_method=wallet)
    the_requests_copy = PaymentAttempt.objects.get(pk=attempt.pk)
    the_reconcilers_copy = PaymentAttempt.objects.get(pk=attempt.pk)  # loaded while still pending

    execute(the_requests_copy)
    reconcile(the_reconcilers_copy)

    assert Wallet.objects.get(customer=customer).balance_minor == 10_000 - 2500
    assert subscription.periods.count() == 2


def test_a_top_up_repriced_while_its_payment_is_in_flight_settles_at_the_price_paid(clock):
    subscription = make_subscription()
    pack = make_top_up_pack(price_minor=500, data_mb=1024)
    with transaction.atomic():
        attempt = begin_top_up(subscription=subscription, pack_id=pack.pk, payment_method=None, idempotency_key="t")
    pack.price_minor, pack.data_mb = 700, 2048  # an operator edits the pack meanwhile
    pack.save()

    settled = execute(attempt)

    assert settled.status == "succeeded"
    assert Invoice.objects.get(payment_attempt=settled).total_minor == 500
    assert TopUp.objects.get().data_mb == 1024


def test_an_attempt_the_gateway_cannot_answer_for_days_is_asked_daily_not_every_second(clock, monkeypatch):
    subscription = make_subscription()
    with transaction.atomic():
        attempt = begin_renewal(subscription=subscription, idempotency_key="unanswered")

    class GatewayDown:
        def lookup(self, key: str) -> None:
            raise httpx.ConnectError("down")

    monkeypatch.setattr("simrenew.payments.charging.gateway_named", lambda name: GatewayDown())
    clock.advance(days=2)
    reconcile(PaymentAttempt.objects.get(pk=attempt.pk))
    reconcile(PaymentAttempt.objects.get(pk=attempt.pk))

    attempt.refresh_from_db()
    assert attempt.status == "unknown"
    assert attempt.reconcile_after - clock.now() >= timedelta(hours=23)


def test_two_refunds_of_the_whole_invoice_from_stale_copies_pay_back_once(clock):
    customer = make_customer()
    subscription = make_subscription(customer=customer)
    first_copy = Invoice.objects.get(subscription=subscription)
    second_copy = Invoice.objects.get(subscription=subscription)

    refund_invoice(invoice=first_copy, amount_minor=2500, reason="a", to_wallet=True)
    with pytest.raises(AlreadyRefunded):
        refund_invoice(invoice=second_copy, amount_minor=2500, reason="b")

    charge = SandboxCharge.objects.get(charge_id=second_copy.payment_attempt.gateway_charge_id)
    assert Wallet.objects.get(customer=customer).balance_minor == 2500
    assert charge.refunded_minor == 0


def test_a_very_long_idempotency_key_still_renews(clock):
    api = ApiClient(make_api_key(scopes=("write",)))
    subscription = make_subscription()

    response = api.post(f"subscriptions/{subscription.pk}/renewals", {}, headers={"Idempotency-Key": "k" * 250})

    assert response.status_code == 201
    assert subscription.periods.count() == 2
