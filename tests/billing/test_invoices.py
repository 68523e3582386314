"""Invoices: gapless numbers, totals equal to what was charged, and refunds."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections, transaction

from simrenew.billing.models import Invoice, Refund
from simrenew.billing.refunds import refund_invoice
from simrenew.billing.services import next_invoice_number
from simrenew.billing.wallet_top_ups import begin_wallet_top_up
from simrenew.kit.errors import ValidationFailed
from simrenew.notifications.models import OutboxMessage
from simrenew.payments.charging import run_charge
from simrenew.payments.models import PaymentAttempt, SandboxCharge, Wallet, WalletEntry
from simrenew.subscriptions.renewals import begin_subscription
from tests.factories import (
    buy_top_up,
    make_card,
    make_customer,
    make_esim,
    make_plan,
    make_promotion,
    make_subscription,
    make_top_up_pack,
    make_wallet,
    renew,
)


def numbers() -> list[str]:
    return list(Invoice.objects.order_by("id").values_list("number", flat=True))


def test_invoice_numbers_have_no_gaps_even_when_a_payment_fails_in_between(clock):
    subscription = make_subscription()
    declined = make_card(customer=subscription.customer, number="4000000000000002")

    renew(subscription)
    renew(subscription, payment_method=declined)
    renew(subscription, payment_method=make_card(customer=subscription.customer, number="4000000000000408"))
    buy_top_up(subscription, pack=make_top_up_pack())
    run_charge(
        lambda: begin_wallet_top_up(
            customer=subscription.customer,
            payment_method=subscription.payment_method,
            amount_minor=1000,
            idempotency_key="wallet",
        )
    )

    assert numbers() == ["SR-00000001", "SR-00000002", "SR-00000003", "SR-00000004"]
    assert PaymentAttempt.objects.filter(status__in=["failed", "unknown"]).count() == 2


def test_a_rolled_back_invoice_gives_its_number_back(clock):
    make_subscription()

    with pytest.raises(RuntimeError), transaction.atomic():
        assert next_invoice_number() == "SR-00000002"
        raise RuntimeError("the transaction issuing the invoice failed")

    assert next_invoice_number() == "SR-00000002"


def test_every_succeeded_payment_has_one_invoice_for_exactly_what_was_charged(clock):
    make_promotion(code="TENOFF", percent_off=10)
    subscription = make_subscription(plan=make_plan(price_minor=2999), promo_code="TENOFF")
    renew(subscription)
    renew(subscription, promo_code="tenoff")
    renew(subscription, payment_method=make_card(customer=subscription.customer, number="4000000000009995"))
    renew(subscription, payment_method=make_wallet(customer=subscription.customer, balance_minor=5000))
    buy_top_up(subscription, pack=make_top_up_pack(price_minor=799))

    succeeded = PaymentAttempt.objects.filter(status="succeeded")
    assert succeeded.count() == 6  # 3 renewals incl. the first, a wallet top-up, a wallet payment, a data top-up
    for attempt in succeeded:
        invoice = attempt.invoice
        assert invoice.total_minor == attempt.amount_minor
        assert invoice.total_minor == invoice.subtotal_minor - invoice.discount_minor
        assert (invoice.currency, invoice.customer_id) == (attempt.currency, attempt.customer_id)
    assert sorted(Invoice.objects.values_list("total_minor", flat=True)) == sorted(
        succeeded.values_list("amount_minor", flat=True)
    )
    assert set(Invoice.objects.values_list("total_minor", flat=True)) >= {2699, 2999, 5000, 799}
    assert not Invoice.objects.filter(payment_attempt__status="failed").exists()


# Refunds -----------------------------------------------------------------------------------------------


def first_invoice(subscription) -> Invoice:
    return Invoice.objects.get(subscription=subscription, payment_attempt__purpose="first_period")


def test_a_partial_refund_goes_back_to_the_card(clock):
    subscription = make_subscription(plan=make_plan(price_minor=2500))
    invoice = first_invoice(subscription)

    refund = refund_invoice(invoice=invoice, amount_minor=1000, reason="outage")

    invoice.refresh_from_db()
    assert (invoice.refunded_minor, invoice.status) == (1000, "partially_refunded")
    assert (refund.amount_minor, refund.to_wallet, refund.currency) == (1000, False, "USD")
    assert refund.gateway_refund_id.startswith("re_sandbox_")
    assert SandboxCharge.objects.get(charge_id=invoice.payment_attempt.gateway_charge_id).refunded_minor == 1000
    assert not WalletEntry.objects.exists()
    [event] = OutboxMessage.objects.filter(event_type="payment.refunded")
    assert event.payload == {
        "invoice": invoice.number,
        "refund_id": refund.pk,
        "amount_minor": 1000,
        "currency": "USD",
        "to_wallet": False,
    }


def test_refunding_the_rest_makes_the_invoice_fully_refunded(clock):
    subscription = make_subscription(plan=make_plan(price_minor=2500))
    invoice = first_invoice(subscription)

    refund_invoice(invoice=invoice, amount_minor=1000, reason="outage")
    refund_invoice(invoice=invoice, amount_minor=1500, reason="cancelled")

    invoice.refresh_from_db()
    assert (invoice.refunded_minor, invoice.status) == (2500, "refunded")
    assert Refund.objects.filter(invoice=invoice).count() == 2


@pytest.mark.parametrize("amount_minor", [2501, 0, -100])
def test_refunding_more_than_is_left_or_nothing_is_refused_and_changes_nothing(clock, amount_minor):
    subscription = make_subscription(plan=make_plan(price_minor=2500))
    invoice = first_invoice(subscription)

    with pytest.raises(ValidationFailed) as refused:
        refund_invoice(invoice=invoice, amount_minor=amount_minor, reason="too much")

    assert refused.value.errors[0].field == "amount_minor"
    invoice.refresh_from_db()
    assert (invoice.refunded_minor, invoice.status) == (0, "paid")
    assert not Refund.objects.exists()
    assert SandboxCharge.objects.get().refunded_minor == 0


def test_after_a_partial_refund_only_the_rest_can_be_refunded(clock):
    subscription = make_subscription(plan=make_plan(price_minor=2500))
    invoice = first_invoice(subscription)
    refund_invoice(invoice=invoice, amount_minor=2000, reason="outage")

    with pytest.raises(ValidationFailed) as refused:
        refund_invoice(invoice=invoice, amount_minor=501, reason="again")

    assert "500" in refused.value.detail
    invoice.refresh_from_db()
    assert invoice.refunded_minor == 2000


def test_a_refund_can_go_to_the_wallet_instead_of_the_card(clock):
    subscription = make_subscription(plan=make_plan(price_minor=2500))
    invoice = first_invoice(subscription)

    refund = refund_invoice(invoice=invoice, amount_minor=2500, reason="goodwill", to_wallet=True)

    assert (refund.to_wallet, refund.gateway_refund_id) == (True, "")
    assert Wallet.objects.get(customer=subscription.customer).balance_minor == 2500
    entry = WalletEntry.objects.get()
    assert (entry.amount_minor, entry.reason) == (2500, "refund")
    assert SandboxCharge.objects.get().refunded_minor == 0  # the card is not refunded as well


def test_a_wallet_payment_is_refunded_to_the_wallet(clock):
    subscription = make_subscription(plan=make_plan(price_minor=2500))
    wallet = make_wallet(customer=subscription.customer, balance_minor=3000)
    attempt = renew(subscription, payment_method=wallet)
    assert Wallet.objects.get(customer=subscription.customer).balance_minor == 500

    refund = refund_invoice(invoice=attempt.invoice, amount_minor=2500, reason="duplicate")

    assert refund.to_wallet is True
    balance = Wallet.objects.get(customer=subscription.customer).balance_minor
    assert balance == 3000
    assert sum(WalletEntry.objects.values_list("amount_minor", flat=True)) == balance


# Concurrency (PostgreSQL) ------------------------------------------------------------------------------


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_first_payments_get_distinct_gapless_numbers(clock):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks")
    plan = make_plan()
    buyers = []
    for _ in range(12):
        customer = make_customer()
        buyers.append((make_esim(customer=customer), make_card(customer=customer)))
    gate = threading.Barrier(len(buyers))

    def buy(index: int) -> str:
        esim, card = buyers[index]
        try:
            gate.wait()
            attempt = run_charge(
                lambda: begin_subscription(
                    esim=esim,
                    plan=plan,
                    payment_method=card,
                    auto_renew=True,
                    promo_code=None,
                    idempotency_key=f"{index}",
                )
            )
            return attempt.status
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=len(buyers)) as pool:
        statuses = list(pool.map(buy, range(len(buyers))))

    assert statuses == ["succeeded"] * len(buyers)
    assert sorted(numbers()) == [f"SR-{n:08d}" for n in range(1, len(buyers) + 1)]


def test_a_refund_in_another_currency_than_the_wallets_cannot_go_to_the_wallet(clock):
    from simrenew.catalog.services import create_plan
    from tests.factories import make_carrier

    euro_plan = create_plan(
        carrier=make_carrier(code="att"),
        code="att-1m-eur",
        name="AT&T 1 month (EUR)",
        period_unit="month",
        period_count=1,
        data_mb=1024,
        price_minor=2500,
        currency="EUR",
    )
    invoice = first_invoice(make_subscription(plan=euro_plan))
    assert invoice.currency == "EUR"

    with pytest.raises(ValidationFailed) as refused:
        refund_invoice(invoice=invoice, amount_minor=2500, reason="goodwill", to_wallet=True)
    refund = refund_invoice(invoice=invoice, amount_minor=2500, reason="goodwill")

    assert refused.value.errors[0].field == "to_wallet"
    assert (refund.to_wallet, refund.currency) == (False, "EUR")
    assert not WalletEntry.objects.exists()
