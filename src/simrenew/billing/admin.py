from django.contrib import admin

from simrenew.billing.models import Invoice, Refund


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
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

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False  # an issued invoice is never edited; refunds are recorded beside it


@admin.register(Refund)
class RefundAdmin(admin.ModelAdmin):
    list_display = ("invoice", "amount_minor", "currency", "reason", "to_wallet", "created_at")
