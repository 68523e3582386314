"""Partner API keys in the console, for admins only: list, create (the raw key is shown
once, on the page after creating, and stored nowhere: only its SHA-256 is kept, and the
audit trail gets the key's name, prefix and scopes, from the service), and revoke."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from simrenew.api.keys import SCOPES, create_api_key, revoke_api_key
from simrenew.api.models import ApiKey
from simrenew.catalog.admin import SuperuserChangesAdmin
from simrenew.kit.errors import ValidationFailed


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=[(scope, scope) for scope in SCOPES],
        widget=forms.CheckboxSelectMultiple,
        help_text="read: GET only; write: also changes; admin: everything. A broader scope includes the narrower.",
    )

    class Meta:
        model = ApiKey
        fields = ["name", "scopes"]


@admin.register(ApiKey)
class ApiKeyAdmin(SuperuserChangesAdmin):
    form = ApiKeyForm
    list_display = ("name", "prefix", "scope_list", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "prefix")
    ordering = ("-id",)
    actions = ["revoke_selected"]

    @admin.display(description="scopes")
    def scope_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.scopes or []) or "—"

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)  # keys are the admins' business only

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_superuser)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a key is never edited: revoke it and create another

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoked keys stay listed, so their prefix can still be traced

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_superuser)

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> Any:
        if obj is None:
            return ()
        return ("name", "prefix", "scopes", "created_at", "last_used_at", "revoked_at")

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> Any:
        if obj is None:
            return ["name", "scopes"]
        return ["name", "prefix", "scopes", "created_at", "last_used_at", "revoked_at"]

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        try:
            key, raw = create_api_key(name=form.cleaned_data["name"], scopes=list(form.cleaned_data["scopes"]))
        except ValidationFailed as exc:  # the form checks the same; a race is the only way here
            raise forms.ValidationError(exc.detail) from None
        obj.pk, obj.prefix, obj.created_at, obj.scopes = key.pk, key.prefix, key.created_at, key.scopes
        request._raw_api_key = raw  # type: ignore[attr-defined]

    def response_add(self, request: HttpRequest, obj: ApiKey, post_url_continue: str | None = None) -> HttpResponse:
        raw = getattr(request, "_raw_api_key", "")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"API key {obj.name} created",
            "key": obj,
            "raw_key": raw,
        }
        return TemplateResponse(request, "admin/api/apikey/created.html", context)

    @admin.action(description="Revoke selected API keys", permissions=["revoke"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoked = 0
        with transaction.atomic():
            for key in queryset.select_for_update().filter(revoked_at__isnull=True):
                revoke_api_key(key, reason="Revoked from the API keys list.")  # audited by the service
                revoked += 1
        self.message_user(
            request, f"Revoked {revoked} key(s); requests with them are refused from now on.", messages.SUCCESS
        )
