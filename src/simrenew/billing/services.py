"""Invoices with gapless numbers (refunds are in billing.refunds). Services never commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from simrenew.billing.models import Invoice, InvoiceStatus
from simrenew.billing.queries import take_invoice_numbers
from simrenew.kit import clock, rows, writes
from simrenew.payments.models import PaymentAttempt


def next_invoice_number() -> str:
    """Advance the invoice number counter inside the caller's transaction. Its row
    stays locked until commit, and a rollback returns the number: no gaps."""
    return f"SR-{take_invoice_numbers():08d}"


def issue_invoice(
    *, attempt: PaymentAttempt, description: str, subtotal_minor: int, discount_minor: int = 0
) -> Invoice:
    if attempt.amount_minor != subtotal_minor - discount_minor:
        raise ValueError("invoice total must equal the amount charged")
    invoice = Invoice(
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
    return writes.insert(invoice)


class PaidAttempt(Protocol):
    """What invoicing reads of a paid attempt: a PaymentAttempt, or the worker's lighter
    picture of one (a model instance per renewal costs more than writing the invoice)."""

    @property
    def pk(self) -> Any: ...
    @property
    def customer_id(self) -> int: ...
    @property
    def subscription_id(self) -> int | None: ...
    @property
    def amount_minor(self) -> int: ...
    @property
    def currency(self) -> str: ...


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    attempt: PaidAttempt
    description: str
    subtotal_minor: int
    discount_minor: int = 0


@dataclass(frozen=True, slots=True)
class IssuedInvoice:
    id: int
    number: str


def issue_invoices(lines: Sequence[InvoiceLine]) -> list[IssuedInvoice]:
    """`issue_invoice` for many payments at once (the worker's bulk renewals): one
    counter advance for the whole run of numbers, one INSERT; numbered in the order given."""
    if not lines:
        return []
    last = take_invoice_numbers(len(lines))
    first = last - len(lines) + 1
    now = clock.now()
    numbers = [f"SR-{first + offset:08d}" for offset in range(len(lines))]
    values = []
    for number, line in zip(numbers, lines, strict=True):
        attempt = line.attempt
        if attempt.amount_minor != line.subtotal_minor - line.discount_minor:
            raise ValueError("invoice total must equal the amount charged")
        values.append(
            (
                number,
                attempt.customer_id,
                attempt.subscription_id,
                attempt.pk,
                line.description,
                line.subtotal_minor,
                line.discount_minor,
                attempt.amount_minor,
                0,
                attempt.currency,
                InvoiceStatus.PAID.value,
                now,
            )
        )
    ids = rows.insert_many(Invoice, _INVOICE_COLUMNS, values)
    return [IssuedInvoice(pk, number) for pk, number in zip(ids, numbers, strict=True)]


_INVOICE_COLUMNS = (
    "number",
    "customer_id",
    "subscription_id",
    "payment_attempt_id",
    "description",
    "subtotal_minor",
    "discount_minor",
    "total_minor",
    "refunded_minor",
    "currency",
    "status",
    "issued_at",
)
