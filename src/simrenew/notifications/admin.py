"""Messages in the console: the outbox and its deliveries, read-only; an operator
with the resend permission has a message delivered again (same event id) from its
page or the customer page, with a reason."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from simrenew.console.actions import (
    RESEND_PERMISSION,
    ReadOnlyAdmin,
    back_url,
    confirm_page,
    customer_url,
    next_query,
    perform,
    reason_field,
    require_permission,
)
from simrenew.notifications.models import Delivery, DeliveryStatus, OutboxMessage, SandboxSms
from simrenew.notifications.resend import resend_message, resendable


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    can_delete = False
    fields = ("channel", "recipient", "status", "attempts", "next_attempt_at", "last_error", "sent_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ResendForm(forms.Form):
    deliveries = forms.TypedMultipleChoiceField(
        label="Channels",
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        help_text="Each ticked channel gets the message again, with the same event id.",
    )
    reason = reason_field()

    def __init__(self, *args: Any, choices: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["deliveries"].choices = choices  # type: ignore[attr-defined]


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    list_display = ("id", "event_type", "customer", "subscription", "sequence", "status", "created_at", "resend_link")
    list_filter = ("status", "event_type")
    search_fields = ("=event_id", "customer__email")
    list_select_related = ("customer", "subscription")
    date_hierarchy = "created_at"
    ordering = ("-id",)
    inlines = [DeliveryInline]

    @admin.display(description="Resend")  # a column header needs words (axe: empty-table-header)
    def resend_link(self, obj: OutboxMessage) -> str:
        url = reverse("admin:notifications_outboxmessage_resend", args=[obj.pk])
        return format_html('<a class="button" role="button" href="{}">Resend</a>', url)

    def get_list_display(self, request: HttpRequest) -> Any:
        shown = list(super().get_list_display(request))
        if not request.user.has_perm(RESEND_PERMISSION):
            shown.remove("resend_link")
        return shown

    def get_urls(self) -> list[URLPattern]:
        extra = [
            path(
                "<int:message_id>/resend/",
                self.admin_site.admin_view(self.resend_view),
                name="notifications_outboxmessage_resend",
            )
        ]
        return extra + super().get_urls()

    def resend_view(self, request: HttpRequest, message_id: int) -> HttpResponse:
        require_permission(request, RESEND_PERMISSION)
        message = get_object_or_404(OutboxMessage.objects.select_related("customer"), pk=message_id)
        default_back = (
            customer_url(message.customer_id)
            if message.customer_id
            else reverse("admin:notifications_outboxmessage_change", args=[message.pk])
        )
        back = back_url(request, default_back)
        candidates = resendable(message)
        choices = [(d.pk, f"{d.channel} to {d.recipient} ({d.status})") for d in candidates]
        form = ResendForm(request.POST or None, choices=choices, initial={"deliveries": [pk for pk, _ in choices]})
        sent_again = perform(
            request,
            self,
            form,
            lambda: resend_message(
                message=message,
                delivery_ids=form.cleaned_data["deliveries"],
                reason=form.cleaned_data["reason"],
                actor=request.user,
            ),
        )
        if sent_again is not None:
            channels = ", ".join(f"{d.channel} to {d.recipient}" for d in sent_again)
            self.message_user(request, f"{message.event_type} will be sent again now ({channels}).", messages.SUCCESS)
            return HttpResponseRedirect(back)
        status = 400 if request.method == "POST" else 200
        summary = [
            ("Event", f"{message.event_type} ({message.event_id})"),
            ("Customer", str(message.customer or "—")),
            ("Written", message.created_at.isoformat(sep=" ", timespec="minutes")),
        ]
        summary += [
            (f"{d.channel} to {d.recipient}", f"{d.status}, {d.attempts} attempt(s) {d.last_error}".strip())
            for d in message.deliveries.order_by("id")
        ]
        return confirm_page(
            request,
            self,
            title=f"Resend {message.event_type}",
            form=form,
            submit_label="Confirm resend",
            back=back,
            back_label=str(message.customer or message),
            summary=summary,
            explanation="" if choices else "Nothing can be sent again yet: every delivery is still pending.",
            status=status,
        )


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
    actions = ["retry_now", "resend_selected"]

    @admin.display(description="event", ordering="message__event_type")
    def event_type(self, obj: Delivery) -> str:
        return obj.message.event_type

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(RESEND_PERMISSION))

    @admin.action(description="Retry selected dead deliveries now", permissions=["resend"])
    def retry_now(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        # One more attempt, due at once. If it fails again it is dead again at once: its
        # retry window (three days from when it was first due) has long passed.
        retried = 0
        with transaction.atomic():
            for delivery in queryset.filter(status=DeliveryStatus.DEAD).select_related("message"):
                resend_message(
                    message=delivery.message,
                    delivery_ids=[delivery.pk],
                    reason="Dead delivery retried from the deliveries list.",
                    actor=request.user,
                )
                retried += 1
        skipped = queryset.count() - retried
        self.message_user(request, f"{retried} delivery(ies) will be retried now.", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"{skipped} delivery(ies) were not dead and were left alone.", messages.WARNING)

    @admin.action(description="Resend the selected delivery's message", permissions=["resend"])
    def resend_selected(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> HttpResponse | None:
        # The reason is asked on the message's resend page; one message at a time keeps it honest.
        message_ids = set(queryset.values_list("message_id", flat=True))
        if len(message_ids) != 1:
            self.message_user(request, "Select deliveries of one message at a time to resend it.", messages.WARNING)
            return None
        url = reverse("admin:notifications_outboxmessage_resend", args=[message_ids.pop()])
        return HttpResponseRedirect(url + next_query(request.get_full_path()))


@admin.register(SandboxSms)
class SandboxSmsAdmin(ReadOnlyAdmin):
    """What the sandbox SMS provider was asked to send (sandbox mode only)."""

    list_display = ("message_id", "to", "text", "created_at")
    search_fields = ("=message_id", "to")
    ordering = ("-id",)
