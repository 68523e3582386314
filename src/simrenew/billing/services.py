"""Invoices with gapless numbers, and refunds. Services never commit."""

from __future__ import annotations

import logging

from django.db import transaction

from simrenew.billing.models import Invoice, InvoiceStatus, Refund
from simrenew.billing.queries import bump_sequence
from simrenew.kit import clock, rows
from simrenew.kit.errors import Conflict, ValidationFailed
from simrenew.notifications.services import emit
from simrenew.payments.gateway import get_gateway
from simrenew.payments.models import MethodType, PaymentAttempt
from simrenew.payments.services import credit_wallet, ensure_wallet

log = logging.getLogger(__name__)
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


def _check_refund(invoice: Invoice, amount_minor: int) -> None:
    if amount_minor <= 0:
        raise ValidationFailed.on("amount_minor", "A refund must be a positive amount.")
    if amount_minor > invoice.total_minor - invoice.refunded_minor:
        raise ValidationFailed.on(
            "amount_minor",
            f"At most {invoice.total_minor - invoice.refunded_minor} can still be refunded on {invoice.number}.",
        )


def refund_invoice(*, invoice: Invoice, amount_minor: int, reason: str, to_wallet: bool = False) -> Refund:
    """An edge helper (it owns transactions): the gateway is called between two of them.

    Refunds of wallet payments, and any refund asked `to_wallet`, credit the
    wallet; others go back through the gateway that took the money."""
    _check_refund(invoice, amount_minor)
    if to_wallet and ensure_wallet(invoice.customer).currency != invoice.currency:
        raise ValidationFailed.on("to_wallet", f"The wallet does not hold {invoice.currency}; refund to the card.")
    attempt = invoice.payment_attempt
    through_gateway = not to_wallet and attempt.gateway not in ("internal", "")
    gateway_refund_id = ""
    if through_gateway:
        if attempt.payment_method.type == MethodType.WALLET:
            through_gateway = False
        else:
            key = f"refund:{invoice.pk}:{invoice.refunded_minor}:{amount_minor}"
            result = get_gateway().refund(
                charge_id=attempt.gateway_charge_id, amount_minor=amount_minor, idempotency_key=key
            )
            if not result.succeeded:
                raise Conflict(f"The payment provider refused the refund: {result.failure_message}")
            gateway_refund_id = result.refund_id
    with transaction.atomic():
        refund = record_refund(
            invoice=invoice, amount_minor=amount_minor, reason=reason, gateway_refund_id=gateway_refund_id
        )
    invoice.refresh_from_db()
    return refund


def record_refund(*, invoice: Invoice, amount_minor: int, reason: str, gateway_refund_id: str = "") -> Refund:
    """Record a refund inside the caller's transaction. Without a gateway refund
    id the money goes to the customer's wallet (no outside call is needed)."""
    locked = Invoice.objects.select_for_update().select_related("customer").get(pk=invoice.pk)
    _check_refund(locked, amount_minor)
    to_wallet = not gateway_refund_id
    if to_wallet:
        credit_wallet(
            customer=locked.customer, amount_minor=amount_minor, reason="refund", attempt=locked.payment_attempt
        )
    refund = Refund.objects.create(
        invoice=locked,
        amount_minor=amount_minor,
        currency=locked.currency,
        reason=reason[:200],
        to_wallet=to_wallet,
        gateway_refund_id=gateway_refund_id,
        created_at=clock.now(),
    )
    locked.refunded_minor += amount_minor
    fully = locked.refunded_minor == locked.total_minor
    locked.status = InvoiceStatus.REFUNDED if fully else InvoiceStatus.PARTIALLY_REFUNDED
    locked.save(update_fields=["refunded_minor", "status"])
    emit(
        "payment.refunded",
        customer=locked.customer,
        subscription_id=locked.subscription_id,
        data={"invoice": locked.number, "amount_minor": amount_minor, "currency": locked.currency},
    )
    return refund
