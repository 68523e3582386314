"""Invoices with gapless numbers (refunds are in billing.refunds). Services never commit."""

from __future__ import annotations

from simrenew.billing.models import Invoice
from simrenew.billing.queries import bump_sequence
from simrenew.kit import clock, rows
from simrenew.payments.models import PaymentAttempt

INVOICE_SEQUENCE = "invoice"


def next_invoice_number() -> str:
    """Bump the counter row inside the caller's transaction. The row stays
    locked until commit, and a rollback returns the number: no gaps."""
    return f"SR-{bump_sequence(INVOICE_SEQUENCE):08d}"


def issue_invoice(
    *, attempt: PaymentAttempt, description: str, subtotal_minor: int, discount_minor: int = 0
) -> Invoice:
    if attempt.amount_minor != subtotal_minor - discount_minor:
        raise ValueError("invoice total must equal the amount charged")
    return rows.create(
        Invoice,
        number=next_invoice_number(),
        customer_id=attempt.customer_id,
        subscription_id=attempt.subscription_id,
        payment_attempt=attempt,
        description=description,
        subtotal_minor=subtotal_minor,
        discount_minor=discount_minor,
        total_minor=attempt.amount_minor,
        currency=attempt.currency,
        issued_at=clock.now(),
    )
