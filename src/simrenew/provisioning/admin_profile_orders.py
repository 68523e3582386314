"""The console's view of ordering profiles from SM-DP+s: every order with how it ended (a `lost`
one needs an operator: a profile may be reserved at the SM-DP+ that we cannot name), and every
download notification the SM-DP+s sent."""

from __future__ import annotations

from django.contrib import admin

from simrenew.console.actions import ReadOnlyAdmin
from simrenew.provisioning.models import DownloadProgress, ProfileOrder


@admin.register(ProfileOrder)
class ProfileOrderAdmin(ReadOnlyAdmin):
    list_display = ("id", "carrier", "customer", "status", "iccid", "subject_code", "reason_code", "created_at")
    list_filter = ("status", "carrier")
    search_fields = ("iccid", "matching_id", "customer__email")
    list_select_related = ("carrier", "customer")
    date_hierarchy = "created_at"
    ordering = ("-id",)


@admin.register(DownloadProgress)
class DownloadProgressAdmin(ReadOnlyAdmin):
    list_display = ("iccid", "point", "status", "subject_code", "reason_code", "reported_at", "received_at")
    list_filter = ("point", "status")
    search_fields = ("iccid", "eid")
    ordering = ("-id",)
