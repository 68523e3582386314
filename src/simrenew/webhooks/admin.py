"""Partners' webhook endpoints in the console: add, change, enable/disable, delete, rotate
the signing secret and replay events. Every change lands in the audit trail."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from simrenew.console.audit import AuditedAdmin
from simrenew.kit import clock
from simrenew.kit.crypto import SecretUnreadable
from simrenew.kit.errors import SimrenewError, ValidationFailed
from simrenew.notifications import webhook_events
from simrenew.notifications.events import EVENT_KINDS
from simrenew.webhooks import services
from simrenew.webhooks.models import WebhookEndpoint
from simrenew.webhooks.services import SECRET_PREFIX, validate_event_types, validate_url


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https", help_text="The partner's HTTPS address for events.")
    event_types = forms.MultipleChoiceField(
        choices=[(name, name) for name in EVENT_KINDS],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every event.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "event_types", "enabled"]

    def clean_url(self) -> str:
        try:
            return validate_url(self.cleaned_data["url"])
        except ValidationFailed as exc:
            raise forms.ValidationError(exc.detail) from None

    def clean_event_types(self) -> list[str]:
        try:
            return validate_event_types(self.cleaned_data.get("event_types") or [])
        except ValidationFailed as exc:
            raise forms.ValidationError(exc.detail) from None


class ReplayForm(forms.Form):
    event_id = forms.UUIDField(required=False, label="Event id", help_text="One event (its webhook-id)…")
    since = forms.DateTimeField(
        required=False, help_text="…or every event it wants from (UTC unless an offset is given)"
    )
    until = forms.DateTimeField(required=False, help_text="to (default: now). Within the last 30 days.")
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}), max_length=1000, help_text="Kept in the audit trail."
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (data.get("event_id") is None) == (data.get("since") is None):
            raise forms.ValidationError("Give either an event id or a start time (not both).")
        return data


class RotateForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}), max_length=1000, help_text="Kept in the audit trail."
    )


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(AuditedAdmin):
    form = WebhookEndpointForm
    list_display = (
        "id",
        "url",
        "description",
        "owner",
        "enabled",
        "consecutive_failures",
        "failing_since",
        "disabled_at",
        "created_at",
    )
    list_filter = ("enabled",)
    search_fields = ("url", "description")
    list_select_related = ("owner",)
    readonly_fields = (
        "signing_secret",
        "owner",
        "consecutive_failures",
        "failing_since",
        "disabled_at",
        "disabled_reason",
        "created_at",
        "tools",
    )
    ordering = ("-id",)
    actions = ["enable", "disable"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookEndpoint]:
        return super().get_queryset(request).filter(deleted_at__isnull=True)

    @admin.display(description="signing secret")
    def signing_secret(self, obj: WebhookEndpoint) -> str:
        # Shown in full once, when the endpoint is created; afterwards only its end, to tell secrets apart.
        if not obj.encrypted_secret:
            return "—"
        try:
            return f"{SECRET_PREFIX}…{obj.secret[-4:]}"
        except SecretUnreadable:
            return "(cannot be decrypted: check SIMRENEW_ENCRYPTION_KEYS)"

    @admin.display(description="actions")
    def tools(self, obj: WebhookEndpoint) -> str:
        if obj.pk is None:
            return "—"
        return format_html(
            '<a class="button" href="{}">Replay events</a> <a class="button" href="{}">Rotate secret</a>',
            reverse("admin:webhooks_webhookendpoint_replay", args=[obj.pk]),
            reverse("admin:webhooks_webhookendpoint_rotate", args=[obj.pk]),
        )

    def save_model(self, request: HttpRequest, obj: WebhookEndpoint, form: Any, change: bool) -> None:
        now = clock.now()
        if not change:
            obj.secret = services.new_secret()
            obj.created_at = now
        if change and "enabled" in form.changed_data:
            services.set_enabled(obj, obj.enabled, reason="disabled by an operator", save=False)
        obj.updated_at = now
        super().save_model(request, obj, form, change)

    def response_add(
        self, request: HttpRequest, obj: WebhookEndpoint, post_url_continue: str | None = None
    ) -> HttpResponse:
        # The secret is shown in this page only: Django's messages live in a signed but
        # readable cookie (or the session), and the audit trail never holds it.
        return self._secret_page(request, obj, title=f"Webhook endpoint {obj.url} added", rotated=False)

    def _secret_page(
        self, request: HttpRequest, endpoint: WebhookEndpoint, *, title: str, rotated: bool
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "endpoint": endpoint,
            "secret": endpoint.secret,
            "rotated": rotated,
            "back_url": reverse("admin:webhooks_webhookendpoint_change", args=[endpoint.pk]),
        }
        response = TemplateResponse(request, "admin/webhooks/webhookendpoint/secret.html", context)
        response["Cache-Control"] = "no-store"
        return response

    def delete_model(self, request: HttpRequest, obj: WebhookEndpoint) -> None:
        # Soft: past deliveries point at the row. What was waiting to go out is given up.
        with transaction.atomic():
            services.delete_endpoint(obj)  # audited by the service

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            self.delete_model(request, endpoint)

    @admin.action(description="Enable selected endpoints (failure count reset)", permissions=["change"])
    def enable(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        count = self._switch(request, queryset.filter(enabled=False), enabled=True)
        self.message_user(request, f"Enabled {count} endpoint(s).", messages.SUCCESS)

    @admin.action(description="Disable selected endpoints", permissions=["change"])
    def disable(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        count = self._switch(request, queryset.filter(enabled=True), enabled=False)
        self.message_user(request, f"Disabled {count} endpoint(s).", messages.SUCCESS)

    def _switch(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint], *, enabled: bool) -> int:
        count = 0
        with transaction.atomic():
            for endpoint in queryset.select_related(None).select_for_update(of=("self",)):
                services.set_enabled(endpoint, enabled, reason="disabled by an operator")  # audited there
                count += 1
        return count

    # --- rotate and replay pages ---

    def get_urls(self) -> list[URLPattern]:
        extra = [
            path(
                "<int:endpoint_id>/replay/",
                self.admin_site.admin_view(self.replay_view),
                name="webhooks_webhookendpoint_replay",
            ),
            path(
                "<int:endpoint_id>/rotate-secret/",
                self.admin_site.admin_view(self.rotate_view),
                name="webhooks_webhookendpoint_rotate",
            ),
        ]
        return extra + super().get_urls()

    def _editable(self, request: HttpRequest, endpoint_id: int) -> WebhookEndpoint:
        endpoint = get_object_or_404(self.get_queryset(request), pk=endpoint_id)
        if not self.has_change_permission(request, endpoint):
            raise PermissionDenied("Your role does not allow changing webhook endpoints.")
        return endpoint

    def _page(
        self, request: HttpRequest, endpoint: WebhookEndpoint, *, title: str, form: forms.Form, submit: str, status: int
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": endpoint,
            "title": title,
            "form": form,
            "submit_label": submit,
            "back_url": reverse("admin:webhooks_webhookendpoint_change", args=[endpoint.pk]),
        }
        return TemplateResponse(request, "admin/webhooks/webhookendpoint/action.html", context, status=status)

    def replay_view(self, request: HttpRequest, endpoint_id: int) -> HttpResponse:
        endpoint = self._editable(request, endpoint_id)
        form = ReplayForm(request.POST or None)
        status = 200
        if request.method == "POST":
            if form.is_valid():
                data = form.cleaned_data
                try:
                    with transaction.atomic():
                        deliveries = webhook_events.replay(  # audited by the service, with the reason
                            endpoint,
                            event_id=data["event_id"],
                            since=data["since"],
                            until=data["until"],
                            reason=data["reason"],
                        )
                except SimrenewError as exc:
                    form.add_error(None, exc.detail)
                else:
                    self.message_user(
                        request, f"{len(deliveries)} event(s) will be sent again to {endpoint.url}.", messages.SUCCESS
                    )
                    return HttpResponseRedirect(reverse("admin:webhooks_webhookendpoint_change", args=[endpoint.pk]))
            status = 400
        return self._page(
            request, endpoint, title=f"Replay events to {endpoint.url}", form=form, submit="Replay", status=status
        )

    def rotate_view(self, request: HttpRequest, endpoint_id: int) -> HttpResponse:
        endpoint = self._editable(request, endpoint_id)
        form = RotateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            with transaction.atomic():
                endpoint = services.rotate_secret(  # audited by the service, with the reason
                    WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk), reason=form.cleaned_data["reason"]
                )
            return self._secret_page(request, endpoint, title=f"New signing secret for {endpoint.url}", rotated=True)
        return self._page(
            request,
            endpoint,
            title=f"Rotate the signing secret of {endpoint.url}",
            form=form,
            submit="Rotate secret",
            status=400 if request.method == "POST" else 200,
        )
