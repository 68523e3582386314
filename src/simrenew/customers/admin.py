from django.contrib import admin

from simrenew.customers.models import Customer


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("email", "name", "locale", "time_zone", "created_at")
    search_fields = ("email", "name", "phone")
    raw_id_fields = ("user",)
