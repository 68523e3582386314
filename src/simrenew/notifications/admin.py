from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from simrenew.kit import clock
from simrenew.notifications.models import Delivery, DeliveryStatus, OutboxMessage, SandboxSms


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows the worker writes: the operator reads them (and acts through admin actions only)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The list keeps the change permission so that actions can require it; each row's page is read-only.
        return obj is None and super().has_change_permission(request, obj)


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    can_delete = False
    fields = ("channel", "recipient", "status", "attempts", "next_attempt_at", "last_error", "sent_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    list_display = ("id", "event_type", "customer", "subscription", "sequence", "status", "created_at")
    list_filter = ("status", "event_type")
    search_fields = ("=event_id", "customer__email")
    list_select_related = ("customer", "subscription")
    date_hierarchy = "created_at"
    ordering = ("-id",)
    inlines = [DeliveryInline]


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "event_type",
        "channel",
        "recipient",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
        "sent_at",
    )
    list_filter = ("status", "channel")
    search_fields = ("=message__event_id", "recipient", "provider_reference")
    list_select_related = ("message",)
    raw_id_fields = ("message", "endpoint")
    ordering = ("-id",)
    actions = ["retry_now"]

    @admin.display(description="event", ordering="message__event_type")
    def event_type(self, obj: Delivery) -> str:
        return obj.message.event_type

    @admin.action(description="Retry selected dead deliveries now", permissions=["change"])
    def retry_now(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        # One more attempt, due at once. If it fails again it is dead again at once: its
        # retry window (three days from when it was first due) has long passed.
        retried = queryset.filter(status=DeliveryStatus.DEAD).update(
            status=DeliveryStatus.PENDING, next_attempt_at=clock.now(), claimed_by="", claim_expires_at=None
        )
        skipped = queryset.count() - retried
        self.message_user(request, f"{retried} delivery(ies) will be retried now.", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"{skipped} delivery(ies) were not dead and were left alone.", messages.WARNING)


@admin.register(SandboxSms)
class SandboxSmsAdmin(ReadOnlyAdmin):
    """What the sandbox SMS provider was asked to send (sandbox mode only)."""

    list_display = ("message_id", "to", "text", "created_at")
    search_fields = ("=message_id", "to")
    ordering = ("-id",)
