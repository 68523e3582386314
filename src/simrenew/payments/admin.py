"""Payments in the console: read-only for every role. Methods, attempts and the wallet
change only through the charge flow and the wallet's ledger (a refund to the wallet
is made from the invoice's refund page), so nothing here can be edited; gateway
tokens are not shown at all."""

from __future__ import annotations

from django.contrib import admin

from simrenew.console.actions import ReadOnlyAdmin
from simrenew.payments.models import PaymentAttempt, PaymentMethod, Wallet, WalletEntry


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
