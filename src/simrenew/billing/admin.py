"""Invoices and refunds in the console: read-only (an issued invoice is a fact);
money goes back only through the refund page, for staff allowed to refund."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from babel.numbers import get_currency_precision
from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path

from simrenew.billing.models import Invoice, Refund, RefundStatus
from simrenew.billing.refunds import execute_refund, refund_for_operator, refundable_minor
from simrenew.console.actions import (
    REFUND_PERMISSION,
    ReadOnlyAdmin,
    back_url,
    confirm_page,
    customer_url,
    money,
    perform,
    reason_field,
    require_permission,
)
from simrenew.payments.models import AttemptPurpose, Wallet


def minor_units(amount: Decimal, currency: str) -> int:
    """12.50 USD → 1250; refuses more decimals than the currency has."""
    digits = get_currency_precision(currency)
    scaled = amount.scaleb(digits)
    if scaled != scaled.to_integral_value():
        raise forms.ValidationError(f"{currency} amounts have at most {digits} decimal places.")
    return int(scaled)


class RefundForm(forms.Form):
    amount = forms.DecimalField(label="Amount", min_value=Decimal("0.01"), max_digits=12, decimal_places=4)
    to_wallet = forms.BooleanField(
        label="Refund to the customer's wallet",
        required=False,
        help_text="Otherwise the money goes back to the card or account that paid (wallet payments always "
        "go back to the wallet; a wallet top-up never does).",
    )
    reason = reason_field()

    def __init__(self, *args: Any, invoice: Invoice, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.invoice = invoice
        self.fields["amount"].help_text = f"In {invoice.currency}; partial refunds are allowed."

    def clean_amount(self) -> int:
        try:
            return minor_units(Decimal(self.cleaned_data["amount"]), self.invoice.currency)
        except InvalidOperation:
            raise forms.ValidationError("Enter an amount such as 12.50.") from None


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = (
        "number",
        "customer",
        "description",
        "total_minor",
        "refunded_minor",
        "currency",
        "status",
        "issued_at",
    )
    list_filter = ("status",)
    search_fields = ("number", "customer__email")
    list_select_related = ("customer",)
    ordering = ("-id",)

    def get_urls(self) -> list[URLPattern]:
        extra = [
            path(
                "<int:invoice_id>/refund/",
                self.admin_site.admin_view(self.refund_view),
                name="billing_invoice_refund",
            )
        ]
        return extra + super().get_urls()

    def refund_view(self, request: HttpRequest, invoice_id: int) -> HttpResponse:
        require_permission(request, REFUND_PERMISSION)
        invoice = get_object_or_404(
            Invoice.objects.select_related("customer", "payment_attempt__payment_method"), pk=invoice_id
        )
        back = back_url(request, customer_url(invoice.customer_id))
        left = refundable_minor(invoice)
        digits = get_currency_precision(invoice.currency)
        initial = {"amount": Decimal(max(left, 0)).scaleb(-digits)}
        form = RefundForm(request.POST or None, invoice=invoice, initial=initial)
        refund = perform(
            request,
            self,
            form,
            lambda: refund_for_operator(
                invoice=invoice,
                amount_minor=form.cleaned_data["amount"],
                reason=form.cleaned_data["reason"],
                to_wallet=form.cleaned_data["to_wallet"],
                actor=request.user,
            ),
        )
        if refund is not None:
            # The gateway is asked after the refund row has committed, like a charge.
            self._tell_outcome(request, execute_refund(refund))
            return HttpResponseRedirect(back)
        status = 400 if request.method == "POST" else 200
        summary = [
            ("Customer", str(invoice.customer)),
            ("Invoice", f"{invoice.number}: {invoice.description}"),
            ("Paid", money(invoice.total_minor, invoice.currency)),
            ("Already refunded", money(invoice.refunded_minor, invoice.currency)),
            ("Can still be refunded", money(max(left, 0), invoice.currency)),
            ("Paid with", str(invoice.payment_attempt.payment_method)),
        ]
        explanation = ""
        if invoice.payment_attempt.purpose == AttemptPurpose.WALLET_TOP_UP:
            wallet = Wallet.objects.filter(customer=invoice.customer).first()
            if wallet is not None:
                summary.append(("Wallet balance now", money(wallet.balance_minor, wallet.currency)))
            explanation = (
                "This invoice loaded the customer's wallet: the refund goes back to the card or account that "
                "paid and the same amount is taken out of the wallet, so it cannot exceed the wallet's balance."
            )
        return confirm_page(
            request,
            self,
            title=f"Refund invoice {invoice.number}",
            form=form,
            submit_label="Confirm refund",
            back=back,
            back_label=str(invoice.customer),
            summary=summary,
            explanation=explanation,
            status=status,
        )

    def _tell_outcome(self, request: HttpRequest, refund: Refund) -> None:
        amount = money(refund.amount_minor, refund.currency)
        if refund.status == RefundStatus.SUCCEEDED:
            where = "to the wallet" if refund.to_wallet else "to the payment method"
            self.message_user(request, f"Refunded {amount} {where}.", messages.SUCCESS)
        elif refund.status == RefundStatus.FAILED:
            self.message_user(
                request,
                f"The payment provider refused the refund of {amount}: {refund.failure_message}. Nothing was refunded.",
                messages.ERROR,
            )
        else:
            self.message_user(
                request,
                f"The refund of {amount} is recorded; the payment provider has not answered yet, "
                "and it is asked again until it does.",
                messages.WARNING,
            )


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    """Every refund, whoever made it: an operator, or a customer cancelling now (reason "cancelled
    now: period N …"); a pending one is still waiting for the payment provider's answer."""

    list_display = (
        "invoice",
        "customer",
        "subscription",
        "amount",
        "destination",
        "status",
        "reason",
        "created_at",
        "completed_at",
    )
    list_filter = ("status", "to_wallet")
    search_fields = ("invoice__number", "invoice__customer__email", "reason")
    list_select_related = ("invoice__customer",)
    ordering = ("-id",)

    @admin.display(description="Customer", ordering="invoice__customer__email")
    def customer(self, refund: Refund) -> str:
        return str(refund.invoice.customer)

    @admin.display(description="Subscription", ordering="invoice__subscription_id")
    def subscription(self, refund: Refund) -> str:
        return str(refund.invoice.subscription_id or "—")

    @admin.display(description="Amount", ordering="amount_minor")
    def amount(self, refund: Refund) -> str:
        return money(refund.amount_minor, refund.currency)

    @admin.display(description="Back to", ordering="to_wallet")
    def destination(self, refund: Refund) -> str:
        return "wallet" if refund.to_wallet else "card or PayPal (payment provider)"
