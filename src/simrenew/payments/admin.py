"""Payments in the console: read-only for every role. Methods, attempts and the wallet
change only through the charge flow and the wallet's ledger (a refund to the wallet
is made from the invoice's refund page), so nothing here can be edited; gateway
tokens are not shown at all."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path

from simrenew.console.actions import (
    REFUND_PERMISSION,
    ReadOnlyAdmin,
    back_url,
    confirm_page,
    customer_url,
    moment,
    money,
    perform,
    require_permission,
)
from simrenew.kit.errors import ServiceUnavailable
from simrenew.payments.disputes import record_evidence, send_evidence
from simrenew.payments.models import Dispute, PaymentAttempt, PaymentMethod, Wallet, WalletEntry


@admin.register(PaymentMethod)
class PaymentMethodAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "customer",
        "type",
        "brand",
        "last4",
        "exp_month",
        "exp_year",
        "is_default",
        "removed_at",
    )
    list_filter = ("type", "brand")
    search_fields = ("customer__email", "last4")
    list_select_related = ("customer",)
    exclude = ("token",)


@admin.register(PaymentAttempt)
class PaymentAttemptAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "customer",
        "purpose",
        "amount_minor",
        "currency",
        "status",
        "failure_code",
        "created_at",
    )
    list_filter = ("status", "purpose")
    search_fields = ("customer__email", "idempotency_key", "gateway_charge_id")
    list_select_related = ("customer",)
    ordering = ("-id",)


class WalletEntryInline(admin.TabularInline):
    model = WalletEntry
    extra = 0
    can_delete = False
    fields = ("created_at", "amount_minor", "reason", "payment_attempt")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(Wallet)
class WalletAdmin(ReadOnlyAdmin):
    list_display = ("customer", "balance_minor", "currency")
    search_fields = ("customer__email",)
    list_select_related = ("customer",)
    inlines = [WalletEntryInline]


class EvidenceForm(forms.Form):
    evidence_note = forms.CharField(
        label="Evidence",
        widget=forms.Textarea(attrs={"rows": 8, "cols": 70}),
        max_length=20_000,
        help_text="What was sold and delivered (the plan, its dates, the eSIM's use), and why the payment is "
        "right. Sent to the provider as it is; kept in the audit trail with your name.",
    )


@admin.register(Dispute)
class DisputeAdmin(ReadOnlyAdmin):
    """Disputes as the providers reported them; finance answers one with evidence (its own page)."""

    list_display = ("id", "attempt", "gateway", "reason", "amount_minor", "currency", "status", "due_by", "opened_at")
    list_filter = ("status", "gateway")
    search_fields = ("external_id", "attempt__customer__email")
    list_select_related = ("attempt",)

    def get_urls(self) -> list[URLPattern]:
        extra = [
            path(
                "<int:dispute_id>/evidence/",
                self.admin_site.admin_view(self.evidence_view),
                name="payments_dispute_evidence",
            )
        ]
        return extra + super().get_urls()

    def evidence_view(self, request: HttpRequest, dispute_id: int) -> HttpResponse:
        require_permission(request, REFUND_PERMISSION)  # money matters: finance and admin
        dispute = get_object_or_404(Dispute.objects.select_related("attempt__customer"), pk=dispute_id)
        customer = dispute.attempt.customer
        back = back_url(request, customer_url(customer.pk))
        form = EvidenceForm(request.POST or None, initial={"evidence_note": dispute.evidence_note})
        kept = perform(
            request,
            self,
            form,
            lambda: record_evidence(dispute, note=form.cleaned_data["evidence_note"], actor=request.user),
        )
        if kept is not None:
            self._send(request, kept)
            return HttpResponseRedirect(back)
        return confirm_page(
            request,
            self,
            title=f"Answer dispute {dispute.external_id}",
            form=form,
            submit_label="Send the evidence",
            back=back,
            back_label=str(customer),
            summary=[
                ("Customer", str(customer)),
                ("Payment", f"attempt {dispute.attempt_id}, {money(dispute.attempt.amount_minor, dispute.currency)}"),
                ("Disputed", money(dispute.amount_minor, dispute.currency)),
                ("Provider", dispute.gateway),
                ("Reason (the provider's)", dispute.reason),
                ("Evidence due by", moment(dispute.due_by, customer.time_zone)),
                ("Status", dispute.get_status_display()),
            ],
            explanation="The period this payment bought stays paid whatever you send: ending it is a separate "
            "decision, made from the customer's page.",
            status=400 if request.method == "POST" else 200,
        )

    def _send(self, request: HttpRequest, dispute: Dispute) -> None:
        try:
            sent = send_evidence(dispute)  # the provider, after the note has committed
        except ServiceUnavailable as exc:
            self.message_user(request, f"Evidence kept, not sent: {exc.detail}", messages.WARNING)
            return
        except Exception as exc:  # the provider refused it: say so, the note stays
            self.message_user(request, f"Evidence kept, but the provider refused it: {exc}", messages.ERROR)
            return
        if sent:
            self.message_user(request, "Evidence sent to Stripe; the dispute is under review.", messages.SUCCESS)
        else:
            self.message_user(
                request,
                "Evidence kept. PayPal takes evidence in its Resolution Center: send it there before the deadline.",
                messages.WARNING,
            )
