from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from simrenew.esims.identifiers import normalize_msisdn, parse_activation_code, validate_eid, validate_iccid
from simrenew.esims.models import EsimProfile
from simrenew.esims.services import ProfileStateConflict, release_profile
from simrenew.kit import clock
from simrenew.kit.errors import ValidationFailed


def _checked(value: str, check: Callable[[str], str]) -> str:
    """Run an identifier check and show its message under the field."""
    try:
        return check(value)
    except ValidationFailed as exc:
        raise forms.ValidationError(exc.detail) from None


class EsimProfileForm(forms.ModelForm):
    """The same identifier rules as the CSV import and the API."""

    # Wider than the columns so "8965 8808 1210 ..." as printed on a card can be pasted;
    # the clean_* methods store the compact form.
    iccid = forms.CharField(label="ICCID", max_length=40)
    eid = forms.CharField(label="EID", max_length=64, required=False)
    msisdn = forms.CharField(label="MSISDN", max_length=40, help_text="International format, e.g. +1 212 555 0100")

    class Meta:
        model = EsimProfile
        fields = [
            "carrier",
            "iccid",
            "eid",
            "msisdn",
            "activation_code",
            "status",
            "customer",
            "label",
            "assigned_at",
            "installed_at",
            "released_at",
        ]

    def clean_iccid(self) -> str:
        return _checked(self.cleaned_data["iccid"], validate_iccid)

    def clean_eid(self) -> str:
        eid: str = self.cleaned_data.get("eid") or ""
        return _checked(eid, validate_eid) if eid.strip() else ""

    def clean_msisdn(self) -> str:
        return _checked(self.cleaned_data["msisdn"], normalize_msisdn)

    def clean_activation_code(self) -> str:
        return _checked(self.cleaned_data["activation_code"], lambda v: parse_activation_code(v).as_string())


@admin.register(EsimProfile)
class EsimProfileAdmin(admin.ModelAdmin):
    form = EsimProfileForm
    list_display = (
        "iccid",
        "carrier",
        "msisdn",
        "status",
        "customer",
        "assigned_at",
        "installed_at",
        "created_at",
    )
    list_filter = ("carrier", "status")
    search_fields = ("iccid", "msisdn", "eid")
    list_select_related = ("carrier", "customer")
    raw_id_fields = ("customer",)
    readonly_fields = ("created_at",)
    date_hierarchy = "created_at"
    ordering = ("-id",)
    actions = ["release_selected"]

    def save_model(self, request: HttpRequest, obj: EsimProfile, form: Any, change: bool) -> None:
        if not change:
            obj.created_at = clock.now()
        super().save_model(request, obj, form, change)

    @admin.action(description="Release selected profiles (never handed out again)")
    def release_selected(self, request: HttpRequest, queryset: QuerySet[EsimProfile]) -> None:
        released, refused = 0, 0
        with transaction.atomic():
            for profile in queryset:
                try:
                    release_profile(profile)
                    released += 1
                except ProfileStateConflict:
                    refused += 1
        self.message_user(request, f"Released {released} profile(s).", messages.SUCCESS)
        if refused:
            self.message_user(request, f"{refused} profile(s) could not be released.", messages.WARNING)
