from django.contrib import admin

from simrenew.payments.models import PaymentAttempt, PaymentMethod, Wallet


@admin.register(PaymentMethod)
class PaymentMethodAdmin(admin.ModelAdmin):
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
    readonly_fields = ("token",)


@admin.register(PaymentAttempt)
class PaymentAttemptAdmin(admin.ModelAdmin):
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

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False  # attempts change only through the charge flow


@admin.register(Wallet)
class WalletAdmin(admin.ModelAdmin):
    list_display = ("customer", "balance_minor", "currency")
    readonly_fields = ("balance_minor",)
