"""Refunds that would pay the customer twice, or pay back what was never paid, are refused.

A wallet top-up is money the customer still holds in the wallet: refunding it goes back
to the card that paid, and the same amount leaves the wallet in the same transaction,
refused (nothing changed) when the customer has spent it. A free invoice has nothing to refund."""

from __future__ import annotations

import pytest
from django.db import transaction

from simrenew.audit.models import AuditEntry
from simrenew.billing.models import Invoice, Refund
from simrenew.billing.refunds import (
    NothingPaid,
    TopUpAlreadySpent,
    refund_invoice,
    request_refund,
    settle_refund,
)
from simrenew.customers.models import Customer
from simrenew.kit.errors import ValidationFailed
from simrenew.payments.gateway import RefundResult
from simrenew.payments.models import AttemptPurpose, Wallet, WalletEntry
from simrenew.payments.services import debit_wallet
from tests.customers.console_helpers import staff_client
from tests.factories import make_customer, make_promotion, make_subscription, make_wallet

pytestmark = pytest.mark.django_db


def topped_up(amount_minor: int = 5000) -> tuple[Customer, Invoice]:
    customer = make_customer()
    make_wallet(customer=customer, balance_minor=amount_minor)
    invoice = Invoice.objects.get(customer=customer, payment_attempt__purpose=AttemptPurpose.WALLET_TOP_UP)
    return customer, invoice


def balance(customer: Customer) -> int:
    return Wallet.objects.get(customer=customer).balance_minor


def test_a_top_up_goes_back_to_the_card_and_leaves_the_wallet(clock):
    customer, invoice = topped_up(5000)

    refund = refund_invoice(invoice=invoice, amount_minor=5000, reason="Changed their mind")

    assert (refund.status, refund.to_wallet) == ("succeeded", False)
    assert balance(customer) == 0  # not 5000 kept beside $50 back on the card
    assert invoice.status == "refunded"
    taken = WalletEntry.objects.filter(wallet__customer=customer).latest("id")
    assert (taken.amount_minor, taken.reason) == (-5000, "top_up_refund")


def test_a_top_up_is_never_refunded_to_the_wallet(clock):
    customer, invoice = topped_up(5000)

    with pytest.raises(ValidationFailed, match="wallet top-up") as refused, transaction.atomic():
        request_refund(invoice=invoice, amount_minor=5000, reason="Goodwill", to_wallet=True)

    assert refused.value.errors[0].field == "to_wallet"
    assert balance(customer) == 5000  # not 10000 with no money received
    assert not Refund.objects.exists()


def test_a_spent_top_up_is_refused_and_nothing_changes(clock):
    customer, invoice = topped_up(5000)
    assert debit_wallet(customer=customer, amount_minor=3000, reason="purchase", attempt=None)

    with pytest.raises(TopUpAlreadySpent, match=r"holds \$20.00, less than the \$50.00"), transaction.atomic():
        request_refund(invoice=invoice, amount_minor=5000, reason="Refund it all")

    invoice.refresh_from_db()
    assert (balance(customer), invoice.refunded_minor, Refund.objects.count()) == (2000, 0, 0)

    refund = refund_invoice(invoice=invoice, amount_minor=2000, reason="What is left")

    assert refund.status == "succeeded" and balance(customer) == 0
    assert invoice.status == "partially_refunded"


def test_a_top_up_refund_the_gateway_refuses_puts_the_money_back_in_the_wallet(clock):
    customer, invoice = topped_up(5000)
    with transaction.atomic():
        refund = request_refund(invoice=invoice, amount_minor=5000, reason="Refund")
    assert balance(customer) == 0  # taken out while the gateway is asked

    with transaction.atomic():
        settle_refund(refund, RefundResult(False, failure_message="Card closed"))

    assert balance(customer) == 5000
    refund.refresh_from_db()
    invoice.refresh_from_db()
    assert (refund.status, invoice.refunded_minor) == ("failed", 0)


def test_a_free_invoice_is_refused_as_nothing_paid_not_already_refunded(clock):
    make_promotion(code="FREE", percent_off=100)
    subscription = make_subscription(promo_code="FREE")
    invoice = Invoice.objects.get(subscription=subscription)
    assert invoice.total_minor == 0

    with pytest.raises(NothingPaid, match="nothing was paid"), transaction.atomic():
        request_refund(invoice=invoice, amount_minor=100, reason="Oops")

    assert not Refund.objects.exists()


def test_the_console_refund_of_a_top_up(clock):
    customer, invoice = topped_up(5000)
    url = f"/admin/billing/invoice/{invoice.pk}/refund/"
    finance = staff_client("finance")
    assert "Wallet balance now" in finance.get(url).content.decode()

    response = finance.post(url, {"amount": "50.00", "to_wallet": "on", "reason": "Goodwill"})

    assert response.status_code == 400 and "not to the wallet" in response.content.decode()
    assert balance(customer) == 5000 and not Refund.objects.exists() and not AuditEntry.objects.exists()

    debit_wallet(customer=customer, amount_minor=1000, reason="purchase", attempt=None)
    response = finance.post(url, {"amount": "50.00", "reason": "Refund"})
    assert response.status_code == 400 and "spent part of this top-up" in response.content.decode()
    assert balance(customer) == 4000 and not Refund.objects.exists()

    response = finance.post(url, {"amount": "40.00", "reason": "Refund what is left"}, follow=True)

    assert "Refunded $40.00 to the payment method" in response.content.decode()
    assert balance(customer) == 0
    entry = AuditEntry.objects.get(action="refund")
    assert (entry.after["refund_amount_minor"], entry.after["to_wallet"]) == (4000, False)
