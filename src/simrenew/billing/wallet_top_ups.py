"""Adding money to the wallet by card or PayPal, and its invoice. Services never commit.

In billing, not payments: a settled top-up issues an invoice, and payments never import billing
(billing depends on payments). Registered as a payment purpose when the app is ready."""

from __future__ import annotations

from simrenew.billing.services import issue_invoice
from simrenew.customers.models import Customer
from simrenew.kit.errors import ValidationFailed
from simrenew.kit.money import Money
from simrenew.payments.charging import create_attempt, register_purpose
from simrenew.payments.models import AttemptPurpose, MethodType, PaymentAttempt, PaymentMethod
from simrenew.payments.services import credit_wallet, ensure_wallet

MAX_WALLET_TOP_UP_MINOR = 100_000


def begin_wallet_top_up(
    *, customer: Customer, payment_method: PaymentMethod, amount_minor: int, idempotency_key: str
) -> PaymentAttempt:
    if payment_method.type == MethodType.WALLET:
        raise ValidationFailed.on("payment_method_id", "Top up the wallet with a card or PayPal, not the wallet.")
    if not 100 <= amount_minor <= MAX_WALLET_TOP_UP_MINOR:
        raise ValidationFailed.on("amount_minor", "A wallet top-up is between 1.00 and 1,000.00.")
    wallet = ensure_wallet(customer)
    return create_attempt(
        customer=customer,
        payment_method=payment_method,
        purpose=AttemptPurpose.WALLET_TOP_UP,
        amount=Money(amount_minor, wallet.currency),
        idempotency_key=idempotency_key,
        purpose_data={},
    )


def on_wallet_top_up_paid(attempt: PaymentAttempt) -> None:
    # Lock order everywhere: wallet, subscription, invoice counter (no deadlocks between settlers).
    credit_wallet(customer=attempt.customer, amount_minor=attempt.amount_minor, reason="top_up", attempt=attempt)
    issue_invoice(attempt=attempt, description="Wallet top-up", subtotal_minor=attempt.amount_minor)


def register() -> None:
    register_purpose(AttemptPurpose.WALLET_TOP_UP, on_success=on_wallet_top_up_paid)
