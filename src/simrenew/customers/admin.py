from django.contrib import admin

from simrenew.customers.models import Customer, NotificationPreference


class NotificationPreferenceInline(admin.TabularInline):
    model = NotificationPreference
    extra = 0
    fields = ("kind", "email", "sms", "updated_at")
    readonly_fields = ("updated_at",)


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("email", "name", "locale", "time_zone", "created_at")
    search_fields = ("email", "name", "phone")
    raw_id_fields = ("user",)
    inlines = [NotificationPreferenceInline]
