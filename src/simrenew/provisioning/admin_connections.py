"""A carrier's SM-DP+ and network connections in the console: changed by admins (superusers) only,
with the same checks as `simrenew smdp|network connect` (provisioning.connections), and audited
by the service that saves them. The network's bearer token can be typed in, replaced or removed,
never read back: the form shows only whether one is stored."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from simrenew.catalog.admin import SuperuserChangesAdmin
from simrenew.kit.errors import FieldError, ValidationFailed
from simrenew.provisioning.connections import (
    NetworkConfig,
    SmdpConfig,
    checked_network_config,
    checked_smdp_config,
    save_network,
    save_smdp,
)
from simrenew.provisioning.models import NetworkConnection, SmdpConnection

SMDP_FIELDS = (
    "base_url",
    "requester_id",
    "smdp_id",
    "profile_type",
    "ca_cert_path",
    "client_cert_path",
    "client_key_path",
    "client_subject",
    "timeout_seconds",
    "enabled",
)


def _show_errors(form: forms.BaseForm, errors: list[FieldError], *, renamed: dict[str, str] | None = None) -> None:
    """Each problem under its field (a field that already has an error keeps only that one)."""
    for error in errors:
        field = (renamed or {}).get(error.field, error.field)
        if field not in form.fields:
            form.add_error(None, error.message)
        elif field not in form.errors:
            form.add_error(field, error.message)


class SmdpConnectionForm(forms.ModelForm):
    class Meta:
        model = SmdpConnection
        fields = ["carrier", *SMDP_FIELDS]
        labels = {
            "base_url": "ES2+ base URL",
            "requester_id": "Our requester id",
            "smdp_id": "SM-DP+ id",
            "ca_cert_path": "CA file",
            "client_cert_path": "Client certificate file",
            "client_key_path": "Client key file",
            "client_subject": "SM-DP+ client certificate subject",
            "timeout_seconds": "Timeout (seconds)",
        }
        help_texts = {
            "base_url": "https://… ; the ES2+ function paths (/gsma/rsp2/es2plus/…) are appended to it.",
            "ca_cert_path": "Full path of a PEM file on the server. Blank: the system's CA bundle.",
            "client_cert_path": "Full path of a PEM file on the server; it may hold the key too.",
            "client_key_path": "Full path of a PEM file on the server; blank when the certificate file holds the key.",
        }

    checked: SmdpConfig | None = None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        config = SmdpConfig(
            base_url=data.get("base_url") or "",
            requester_id=data.get("requester_id") or "",
            smdp_id=data.get("smdp_id") or "",
            profile_type=data.get("profile_type") or "",
            ca_cert_path=data.get("ca_cert_path") or "",
            client_cert_path=data.get("client_cert_path") or "",
            client_key_path=data.get("client_key_path") or "",
            client_subject=data.get("client_subject") or "",
            timeout_seconds=data.get("timeout_seconds") or 0.0,
            enabled=bool(data.get("enabled")),
        )
        try:
            self.checked = checked_smdp_config(config)
        except ValidationFailed as exc:
            _show_errors(self, exc.errors)
        return data


@admin.register(SmdpConnection)
class SmdpConnectionAdmin(SuperuserChangesAdmin):
    form = SmdpConnectionForm
    list_display = ("carrier", "base_url", "requester_id", "profile_type", "enabled", "updated_at")
    list_filter = ("enabled",)
    list_select_related = ("carrier",)
    search_fields = ("carrier__code", "base_url", "requester_id", "smdp_id")
    ordering = ("carrier__code",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # A connection belongs to its carrier: another carrier gets a connection of its own.
        return ("carrier", "created_at", "updated_at") if obj is not None else ()

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["carrier", *SMDP_FIELDS, *(("created_at", "updated_at") if obj is not None else ())]

    def save_model(self, request: HttpRequest, obj: SmdpConnection, form: Any, change: bool) -> None:
        assert form.checked is not None  # a form that is not valid is never saved
        save_smdp(obj, form.checked)  # checks, saves and records the audit entry


class NetworkConnectionForm(forms.ModelForm):
    new_token = forms.CharField(
        label="Bearer token",
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    remove_token = forms.BooleanField(label="Remove the stored token", required=False)

    class Meta:
        model = NetworkConnection
        fields = ["carrier", "base_url", "enabled"]
        labels = {"base_url": "TMF641 base URL"}
        help_texts = {"base_url": "https://… ending in /tmf-api/serviceOrdering/v4."}

    checked: NetworkConfig | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.token:
            self.fields[
                "new_token"
            ].help_text = (
                "A token is stored; it is never shown. Type a new one to replace it, or leave this blank to keep it."
            )
        else:
            self.fields["new_token"].help_text = "No token is stored. Type one if the carrier's API wants one."
            del self.fields["remove_token"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        new_token = (data.get("new_token") or "").strip()
        if new_token and data.get("remove_token"):
            self.add_error("remove_token", "Either type a new token or remove the stored one, not both.")
            return data
        token = new_token or ("" if data.get("remove_token") else None)
        config = NetworkConfig(base_url=data.get("base_url") or "", token=token, enabled=bool(data.get("enabled")))
        try:
            self.checked = checked_network_config(config)
        except ValidationFailed as exc:
            _show_errors(self, exc.errors, renamed={"token": "new_token"})
        return data


@admin.register(NetworkConnection)
class NetworkConnectionAdmin(SuperuserChangesAdmin):
    form = NetworkConnectionForm
    list_display = ("carrier", "base_url", "token_state", "enabled", "updated_at")
    list_filter = ("enabled",)
    list_select_related = ("carrier",)
    search_fields = ("carrier__code", "base_url")
    ordering = ("carrier__code",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ("carrier", "hub_id", "created_at", "updated_at") if obj is not None else ()

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        token: list[str] = []  # read-only pages show none: the form's token fields are not the model's
        if self.has_change_permission(request, obj):
            token = ["new_token", "remove_token"] if obj is not None and obj.token else ["new_token"]
        after = ["hub_id", "created_at", "updated_at"] if obj is not None else []
        return ["carrier", "base_url", *token, "enabled", *after]

    @admin.display(description="token")
    def token_state(self, obj: NetworkConnection) -> str:
        return "set" if obj.token else "not set"

    def save_model(self, request: HttpRequest, obj: NetworkConnection, form: Any, change: bool) -> None:
        assert form.checked is not None  # a form that is not valid is never saved
        save_network(obj, form.checked)  # encrypts the token, saves and records the audit entry
