"""Invoices keep their billing details for the legal retention period after the customer's
erasure (`SIMRENEW_INVOICE_RETENTION_YEARS`, default 7, counted from each invoice's issue);
the worker then pseudonymizes them (`pseudonymize_expired_invoices`)."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings

from simrenew.billing.models import Invoice
from simrenew.kit import clock


def _years_after(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February in a year without one
        return moment.replace(year=moment.year + years, day=28)


def retention_ends(invoice: Invoice) -> datetime:
    return _years_after(invoice.issued_at, settings.SIMRENEW_INVOICE_RETENTION_YEARS)


def retention_cutoff(now: datetime) -> datetime:
    """Invoices issued before this have passed their retention."""
    return _years_after(now, -settings.SIMRENEW_INVOICE_RETENTION_YEARS)


def pseudonymize_invoice(invoice: Invoice, *, reference: str, at: datetime, save: bool = True) -> None:
    invoice.billed_name = ""
    invoice.billed_email = reference
    invoice.billed_phone = ""
    invoice.billing_pseudonymized_at = at
    if save:
        invoice.save(update_fields=["billed_name", "billed_email", "billed_phone", "billing_pseudonymized_at"])


def pseudonymize_expired_invoices(*, limit: int = 500) -> int:
    """One batch (the caller's transaction): invoices of erased customers past their retention."""
    now = clock.now()
    due = (
        Invoice.objects.select_for_update()
        .filter(
            customer__erased_at__isnull=False,
            billing_pseudonymized_at__isnull=True,
            issued_at__lt=retention_cutoff(now),
        )
        .select_related("customer")
        .order_by("id")[:limit]
    )
    done = 0
    for invoice in due:
        pseudonymize_invoice(invoice, reference=invoice.customer.erasure_reference, at=now)
        done += 1
    return done
