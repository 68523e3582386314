from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from simrenew.kit import clock
from simrenew.kit.errors import ValidationFailed
from simrenew.notifications.events import EVENT_KINDS
from simrenew.webhooks.models import WebhookEndpoint
from simrenew.webhooks.services import SECRET_PREFIX, new_secret, validate_event_types


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

    def clean_event_types(self) -> list[str]:
        try:
            return validate_event_types(self.cleaned_data.get("event_types") or [])
        except ValidationFailed as exc:
            raise forms.ValidationError(exc.detail) from None


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ("id", "url", "description", "enabled", "consecutive_failures", "disabled_at", "created_at")
    list_filter = ("enabled",)
    search_fields = ("url", "description")
    readonly_fields = ("signing_secret", "consecutive_failures", "disabled_at", "created_at")
    ordering = ("-id",)
    actions = ["enable", "disable"]

    @admin.display(description="signing secret")
    def signing_secret(self, obj: WebhookEndpoint) -> str:
        # Shown in full once, when the endpoint is created; afterwards only its end, to tell secrets apart.
        return f"{SECRET_PREFIX}…{obj.secret[-4:]}" if obj.secret else "—"

    def save_model(self, request: HttpRequest, obj: WebhookEndpoint, form: Any, change: bool) -> None:
        if not change:
            obj.secret = new_secret()
            obj.created_at = clock.now()
        if change and "enabled" in form.changed_data:
            obj.disabled_at = None if obj.enabled else clock.now()
            if obj.enabled:
                obj.consecutive_failures = 0
        super().save_model(request, obj, form, change)
        if not change:
            self.message_user(
                request,
                f"Signing secret for {obj.url} (shown only now; give it to the partner): {obj.secret}",
                messages.WARNING,
            )

    @admin.action(description="Enable selected endpoints", permissions=["change"])
    def enable(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        count = queryset.update(enabled=True, disabled_at=None, consecutive_failures=0)
        self.message_user(request, f"Enabled {count} endpoint(s).", messages.SUCCESS)

    @admin.action(description="Disable selected endpoints", permissions=["change"])
    def disable(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        count = queryset.filter(enabled=True).update(enabled=False, disabled_at=clock.now())
        self.message_user(request, f"Disabled {count} endpoint(s).", messages.SUCCESS)
