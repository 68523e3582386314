from django.contrib import admin

from simrenew.catalog.models import Carrier, Plan, Promotion, TopUpPack


@admin.register(Carrier)
class CarrierAdmin(admin.ModelAdmin):
    list_display = ("code", "name")


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "version",
        "name",
        "carrier",
        "period_unit",
        "period_count",
        "data_mb",
        "price_minor",
        "currency",
        "is_current",
    )
    list_filter = ("carrier", "period_unit", "is_current")
    search_fields = ("code", "name")

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        # Versions are facts subscribers hold: change a plan by revising it (a new version).
        return False


@admin.register(TopUpPack)
class TopUpPackAdmin(admin.ModelAdmin):
    list_display = ("name", "carrier", "data_mb", "price_minor", "currency", "is_active")
    list_filter = ("carrier", "is_active")


@admin.register(Promotion)
class PromotionAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "discount_kind",
        "percent_off",
        "amount_off_minor",
        "bonus_data_mb",
        "redemptions_count",
        "max_redemptions",
        "valid_until",
        "is_active",
    )
    search_fields = ("code",)
    readonly_fields = ("redemptions_count",)
