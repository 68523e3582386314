from django.contrib import admin

from simrenew.subscriptions.models import Period, Subscription


class PeriodInline(admin.TabularInline):
    model = Period
    extra = 0
    can_delete = False
    fields = ("number", "plan", "starts_at", "ends_at", "data_mb", "top_up_mb", "used_bytes", "invoice")
    readonly_fields = fields


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ("id", "customer", "esim", "plan", "state", "auto_renew", "paid_through")
    list_filter = ("state", "auto_renew")
    search_fields = ("customer__email", "esim__iccid", "esim__msisdn")
    raw_id_fields = ("customer", "esim", "plan", "payment_method")
    inlines = [PeriodInline]
