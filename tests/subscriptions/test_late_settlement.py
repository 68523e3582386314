"""Payments that land after the world moved on: the money is never lost, it goes back the way it came."""

from __future__ import annotations

import io

from django.core.management import call_command

from simrenew.billing.models import Invoice, Refund
from simrenew.catalog.models import Promotion
from simrenew.payments.charging import reconcile
from simrenew.payments.models import SandboxRefund
from simrenew.subscriptions.cancellation import cancel
from simrenew.subscriptions.models import TopUp
from tests.factories import buy_top_up, make_card, make_promotion, make_subscription, make_top_up_pack, renew


def test_a_renewal_settled_after_the_customer_cancelled_is_invoiced_and_paid_back_to_the_card(clock):
    subscription = make_subscription()
    make_promotion(code="LATE20", percent_off=20, max_redemptions=1)
    lost_answer = make_card(customer=subscription.customer, number="4000000000000408")
    attempt = renew(subscription, payment_method=lost_answer, promo_code="LATE20")
    assert attempt.status == "unknown"

    cancel(subscription, when="now")
    clock.advance(minutes=10)
    attempt = reconcile(attempt)

    assert attempt.status == "succeeded"
    assert subscription.periods.count() == 1  # no period for a cancelled subscription
    assert Promotion.objects.get(code="LATE20").redemptions_count == 0
    invoice = Invoice.objects.get(payment_attempt=attempt)
    assert (invoice.total_minor, invoice.status) == (2000, "paid")
    assert Refund.objects.get(invoice=invoice).status == "pending"

    clock.advance(minutes=2)
    call_command("reconcile", stdout=io.StringIO())

    invoice.refresh_from_db()
    assert invoice.status == "refunded"
    refund = Refund.objects.get(invoice=invoice)
    assert (refund.status, refund.to_wallet) == ("succeeded", False)
    assert SandboxRefund.objects.get(idempotency_key=refund.idempotency_key).amount_minor == 2000


def test_a_top_up_settled_after_its_period_ended_is_paid_back(clock):
    subscription = make_subscription()
    pack = make_top_up_pack(data_mb=1024, price_minor=500)
    lost_answer = make_card(customer=subscription.customer, number="4000000000000408")
    attempt = buy_top_up(subscription, pack=pack, payment_method=lost_answer)
    assert attempt.status == "unknown"

    clock.advance(days=40)  # the month ran out before anyone looked the charge up
    attempt = reconcile(attempt)

    assert attempt.status == "succeeded"
    assert TopUp.objects.count() == 0
    clock.advance(minutes=2)
    call_command("reconcile", stdout=io.StringIO())
    assert Invoice.objects.get(payment_attempt=attempt).status == "refunded"
    assert SandboxRefund.objects.get().amount_minor == 500


def test_a_top_up_settled_late_but_within_a_running_period_adds_the_data(clock):
    subscription = make_subscription()
    pack = make_top_up_pack(data_mb=1024, price_minor=500)
    lost_answer = make_card(customer=subscription.customer, number="4000000000000408")
    attempt = buy_top_up(subscription, pack=pack, payment_method=lost_answer)

    clock.advance(minutes=10)
    reconcile(attempt)

    assert TopUp.objects.get().data_mb == 1024
    assert subscription.periods.get().top_up_mb == 1024
