"""The catalog in the console. Every role reads it; only admins (superusers) change it.

Plans are versioned: saving a changed plan makes a new version for new buyers
(`catalog.services.revise_plan`) and leaves the version subscribers bought as it
was. Older versions are read-only. Promotions are edited in place, with the rules
checkout relies on checked in the form. Every change lands in the audit trail.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from simrenew.catalog.models import Carrier, DiscountKind, Plan, Promotion, TopUpPack
from simrenew.catalog.services import create_plan, revise_plan
from simrenew.console.audit import AuditedAdmin, record_change, snapshot
from simrenew.kit import clock
from simrenew.kit.errors import SimrenewError

# What a new version may change; the rest (carrier, code, length) makes it another plan.
REVISABLE_FIELDS = ("name", "price_minor", "data_mb")


def iso_currency(value: Any) -> str:
    """A currency as the catalog stores it: three upper-case letters (ISO 4217)."""
    currency = str(value).strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise forms.ValidationError("Use a three-letter ISO 4217 code such as USD.")
    return currency


class SuperuserChangesAdmin(AuditedAdmin):
    """Readable by every role; added to, changed and deleted by admins (superusers) only."""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return bool(request.user.is_superuser)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)


@admin.register(Carrier)
class CarrierAdmin(SuperuserChangesAdmin):
    list_display = ("code", "name")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # plans and eSIMs point at carriers


class PlanForm(forms.ModelForm):
    class Meta:
        model = Plan
        fields = ["carrier", "code", "name", "period_unit", "period_count", "data_mb", "price_minor", "currency"]
        help_texts = {
            "price_minor": "In minor units (cents): 2500 is 25.00.",
            "data_mb": "Data allowance per period, in MB (1 GB = 1024 MB).",
        }

    def clean_code(self) -> str:
        code = str(self.cleaned_data["code"]).strip()
        if self.instance.pk is None and Plan.objects.filter(code=code).exists():
            raise forms.ValidationError(f"A plan with the code {code} exists; open it to make a new version.")
        return code

    def clean_data_mb(self) -> int:
        data_mb = int(self.cleaned_data["data_mb"])
        if data_mb < 1:
            raise forms.ValidationError("A plan includes at least 1 MB of data.")
        return data_mb

    def clean_currency(self) -> str:
        return iso_currency(self.cleaned_data["currency"])


@admin.register(Plan)
class PlanAdmin(SuperuserChangesAdmin):
    form = PlanForm
    list_display = (
        "code",
        "version",
        "name",
        "carrier",
        "period_unit",
        "period_count",
        "data_mb",
        "price_minor",
        "currency",
        "is_current",
    )
    list_filter = ("carrier", "period_unit", "is_current")
    search_fields = ("code", "name")
    list_select_related = ("carrier",)

    def get_readonly_fields(self, request: HttpRequest, obj: Plan | None = None) -> Any:
        if obj is None:
            return ("version", "is_current", "created_at")
        return ("carrier", "code", "version", "period_unit", "period_count", "currency", "is_current", "created_at")

    def has_change_permission(self, request: HttpRequest, obj: Plan | None = None) -> bool:
        # A version that is no longer sold is a fact its subscribers hold: read-only.
        return super().has_change_permission(request, obj) and (obj is None or obj.is_current)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # periods and subscriptions point at versions; stop selling by revising instead

    def save_model(self, request: HttpRequest, obj: Plan, form: Any, change: bool) -> None:
        if not change:
            created = create_plan(
                carrier=obj.carrier,
                code=obj.code,
                name=obj.name,
                period_unit=obj.period_unit,
                period_count=obj.period_count,
                data_mb=obj.data_mb,
                price_minor=obj.price_minor,
                currency=obj.currency,
            )
            obj.pk, obj.version, obj.is_current, obj.created_at = created.pk, 1, True, created.created_at
            record_change(actor=request.user, action="add", target=created, after=snapshot(created))
            return
        bought = Plan.objects.get(pk=obj.pk)
        wanted = {name: getattr(obj, name) for name in REVISABLE_FIELDS}
        if all(getattr(bought, name) == value for name, value in wanted.items()):
            request._plan_revision = None  # type: ignore[attr-defined]
            return
        revised = revise_plan(bought, **wanted)
        record_change(
            actor=request.user,
            action="plan_revised",
            target=revised,
            before=snapshot(bought),
            after=snapshot(revised),
            reason=f"New version {revised.version} of {revised.code}; version {bought.version} kept for its buyers.",
        )
        request._plan_revision = (bought, revised)  # type: ignore[attr-defined]

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        # One transaction for the new version and its audit entry; a refused save writes neither.
        try:
            with transaction.atomic():
                return super().changeform_view(request, object_id, form_url, extra_context)
        except SimrenewError as exc:
            self.message_user(request, exc.detail, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def response_change(self, request: HttpRequest, obj: Plan) -> HttpResponse:
        revision = getattr(request, "_plan_revision", None)
        if revision is None:
            self.message_user(request, "Nothing changed.", messages.INFO)
            return HttpResponseRedirect(reverse("admin:catalog_plan_changelist"))
        bought, revised = revision
        self.message_user(
            request,
            f"Saved as version {revised.version} of {revised.code} for new buyers; "
            f"subscribers keep version {bought.version} until they switch plans.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:catalog_plan_change", args=[revised.pk]))

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        revision = getattr(request, "_plan_revision", None)
        if revision is None:
            return None  # nothing saved, nothing to log
        return super().log_change(request, revision[1], message)


@admin.register(TopUpPack)
class TopUpPackAdmin(SuperuserChangesAdmin):
    list_display = ("name", "carrier", "data_mb", "price_minor", "currency", "is_active")
    list_filter = ("carrier", "is_active")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # bought top-ups point at their pack; retire one by unticking "is active"


class PromotionForm(forms.ModelForm):
    eligible_plan_codes = forms.CharField(
        required=False,
        label="Eligible plan codes",
        help_text="Comma-separated plan codes (e.g. att-1m, tmobile-1y). Empty: every plan.",
    )

    class Meta:
        model = Promotion
        fields = [
            "code",
            "description",
            "discount_kind",
            "percent_off",
            "amount_off_minor",
            "currency",
            "bonus_data_mb",
            "valid_from",
            "valid_until",
            "max_redemptions",
            "max_per_customer",
            "eligible_plan_codes",
            "is_active",
            "is_public",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and isinstance(self.instance.eligible_plan_codes, list):
            self.initial["eligible_plan_codes"] = ", ".join(self.instance.eligible_plan_codes)

    def clean_code(self) -> str:
        code = str(self.cleaned_data["code"]).strip().upper()
        if not code or not code.replace("-", "").replace("_", "").isalnum():
            raise forms.ValidationError("A code is letters, digits, '-' or '_', e.g. WELCOME10.")
        taken = Promotion.objects.filter(code__iexact=code).exclude(pk=self.instance.pk)
        if taken.exists():
            raise forms.ValidationError(f"The code {code} is already used by another promotion.")
        return code

    def clean_eligible_plan_codes(self) -> list[str]:
        codes = [c.strip() for c in str(self.cleaned_data.get("eligible_plan_codes") or "").split(",") if c.strip()]
        known = set(Plan.objects.filter(code__in=codes).values_list("code", flat=True))
        unknown = [code for code in codes if code not in known]
        if unknown:
            raise forms.ValidationError(f"No plan has the code {', '.join(unknown)}.")
        return list(dict.fromkeys(codes))

    def clean_currency(self) -> str:
        return iso_currency(self.cleaned_data["currency"])

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind = data.get("discount_kind")
        percent, amount = data.get("percent_off") or 0, data.get("amount_off_minor") or 0
        if kind == DiscountKind.PERCENT:
            if not 0 <= percent <= 100:
                self.add_error("percent_off", "A percentage is between 0 and 100.")
            if amount:
                self.add_error("amount_off_minor", "A percentage promotion takes no fixed amount off.")
        elif kind == DiscountKind.FIXED:
            if amount < 1:
                self.add_error("amount_off_minor", "A fixed-amount promotion takes at least 1 (minor unit) off.")
            if percent:
                self.add_error("percent_off", "A fixed-amount promotion takes no percentage off.")
        if kind and not (percent or amount or data.get("bonus_data_mb")):
            self.add_error(None, "The promotion gives nothing: set a discount or bonus data.")
        starts, ends = data.get("valid_from"), data.get("valid_until")
        if starts and ends and ends <= starts:
            self.add_error("valid_until", "The end of validity must come after its start.")
        limit = data.get("max_redemptions")
        used = self.instance.redemptions_count if self.instance.pk else 0
        if limit is not None and limit < used:
            self.add_error("max_redemptions", f"Already redeemed {used} time(s); the limit cannot be lower.")
        return data


@admin.register(Promotion)
class PromotionAdmin(SuperuserChangesAdmin):
    form = PromotionForm
    list_display = (
        "code",
        "discount_kind",
        "percent_off",
        "amount_off_minor",
        "bonus_data_mb",
        "redemptions_count",
        "max_redemptions",
        "valid_until",
        "is_active",
        "is_public",
    )
    search_fields = ("code",)
    list_filter = ("is_active", "discount_kind")
    readonly_fields = ("redemptions_count", "created_at")

    def has_delete_permission(self, request: HttpRequest, obj: Promotion | None = None) -> bool:
        # A redeemed promotion is part of invoices' history: retire it by unticking "is active".
        used = obj is not None and obj.redemptions_count > 0
        return super().has_delete_permission(request, obj) and not used

    def save_model(self, request: HttpRequest, obj: Promotion, form: Any, change: bool) -> None:
        if not change:
            obj.created_at = clock.now()
        super().save_model(request, obj, form, change)  # in the admin's transaction, with its audit entry
