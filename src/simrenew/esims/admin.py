from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from simrenew.catalog.admin import SuperuserChangesAdmin
from simrenew.console.audit import record_change, snapshot
from simrenew.esims.identifiers import normalize_msisdn, parse_activation_code, validate_eid, validate_iccid
from simrenew.esims.models import EsimProfile
from simrenew.esims.services import (
    HEADER_SHAPE,
    ImportFileInvalid,
    ImportReport,
    import_profiles_csv,
)
from simrenew.kit import clock
from simrenew.kit.errors import SimrenewError, ValidationFailed
from simrenew.provisioning.profiles import cancel_esim_order, order_replacement


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
            "retired_at",
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


# Inventory files are thousands of rows, not millions; larger ones go through `simrenew profiles import`.
MAX_IMPORT_BYTES = 5 * 1024 * 1024
# The preview lists this many good rows (all bad rows are always listed).
PREVIEW_GOOD_ROWS = 500


class ImportUploadForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text=f"UTF-8, header {HEADER_SHAPE}.")

    def clean_file(self) -> str:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_IMPORT_BYTES:
            raise forms.ValidationError(
                f"The file is {upload.size // 1024} KB; at most {MAX_IMPORT_BYTES // (1024 * 1024)} MB can be "
                "uploaded here (use `simrenew profiles import` for larger files)."
            )
        try:
            return str(upload.read().decode("utf-8-sig"))
        except UnicodeDecodeError as exc:
            raise forms.ValidationError(
                f"The file is not UTF-8 text (byte {exc.start}); save the CSV as UTF-8 and upload it again."
            ) from None


class ImportConfirmForm(forms.Form):
    csv_text = forms.CharField(widget=forms.HiddenInput, strip=False, max_length=MAX_IMPORT_BYTES)
    file_name = forms.CharField(widget=forms.HiddenInput, required=False, max_length=255)


class _DryRun(Exception):
    def __init__(self, report: ImportReport) -> None:
        super().__init__("dry run")
        self.report = report


def preview_import(text: str) -> tuple[ImportReport, list[tuple[int, list[str]]]]:
    """What importing `text` would do, without keeping anything: the import service itself
    runs (the same checks, duplicates against inventory included) and is rolled back."""
    try:
        with transaction.atomic():
            raise _DryRun(import_profiles_csv(text))
    except _DryRun as dry:
        report = dry.report
    rejected = {error.line for error in report.errors}
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    next(reader, None)
    good: list[tuple[int, list[str]]] = []
    for cells in reader:
        if reader.line_num in rejected or not any(cell.strip() for cell in cells):
            continue
        good.append((reader.line_num, [cell.strip() for cell in cells]))
    return report, good


@admin.register(EsimProfile)
class EsimProfileAdmin(SuperuserChangesAdmin):
    form = EsimProfileForm
    list_display = (
        "iccid",
        "carrier",
        "msisdn",
        "status",
        "source",
        "network_state",
        "customer",
        "assigned_at",
        "installed_at",
        "created_at",
    )
    list_filter = ("carrier", "status", "source", "network_state")
    search_fields = ("iccid", "msisdn", "eid")
    list_select_related = ("carrier", "customer")
    raw_id_fields = ("customer",)
    readonly_fields = ("created_at",)
    date_hierarchy = "created_at"
    ordering = ("-id",)
    actions = ["release_selected", "order_replacement_selected"]
    change_list_template = "admin/esims/esimprofile/change_list.html"

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a profile is retired, never deleted (its ICCID must never be handed out again)

    def get_urls(self) -> list[URLPattern]:
        extra = [path("import/", self.admin_site.admin_view(self.import_view), name="esims_esimprofile_import")]
        return extra + super().get_urls()

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """Upload a CSV, see its good and bad rows, then import the good ones.

        The import service's rule applies: good rows are imported and bad rows are
        left out (not all-or-nothing); a file with a wrong header imports nothing."""
        if not self.has_add_permission(request):
            raise PermissionDenied("Only admins import inventory.")
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Import eSIM profiles from CSV",
            "header_shape": HEADER_SHAPE,
        }
        if request.method == "POST" and "csv_text" in request.POST:
            return self._import_confirmed(request)
        upload = ImportUploadForm(request.POST or None, request.FILES or None)
        status = 200
        if request.method == "POST":
            if upload.is_valid():
                text = upload.cleaned_data["file"]
                file_name = str(getattr(request.FILES.get("file"), "name", "") or "upload.csv")
                try:
                    report, good = preview_import(text)
                except ImportFileInvalid as exc:
                    upload.add_error("file", f"{exc.detail} Nothing would be imported.")
                    status = 400
                else:
                    context |= {
                        "report": report,
                        "good_rows": good[:PREVIEW_GOOD_ROWS],
                        "good_count": len(good),
                        "confirm": ImportConfirmForm(initial={"csv_text": text, "file_name": file_name}),
                        "file_name": file_name,
                    }
            else:
                status = 400
        context["upload"] = upload
        return TemplateResponse(request, "admin/esims/esimprofile/import.html", context, status=status)

    def _import_confirmed(self, request: HttpRequest) -> HttpResponse:
        confirm = ImportConfirmForm(request.POST)
        if not confirm.is_valid():
            self.message_user(request, "The file did not come back whole; upload it again.", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:esims_esimprofile_import"))
        name = confirm.cleaned_data["file_name"] or "upload.csv"
        try:
            with transaction.atomic():  # the import service writes its audit entry
                report = import_profiles_csv(confirm.cleaned_data["csv_text"], file_name=name)
        except ImportFileInvalid as exc:
            self.message_user(request, f"{exc.detail} Nothing was imported.", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:esims_esimprofile_import"))
        self.message_user(
            request,
            f"Imported {report.imported} profile(s) from {name}; {report.unchanged} already in inventory; "
            f"{report.rejected} row(s) left out.",
            messages.WARNING if report.rejected else messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:esims_esimprofile_changelist"))

    def save_model(self, request: HttpRequest, obj: EsimProfile, form: Any, change: bool) -> None:
        if not change:
            obj.created_at = clock.now()
        super().save_model(request, obj, form, change)

    # "change" is an admin's alone (SuperuserChangesAdmin): support and finance only read.
    @admin.action(
        description="Release selected profiles (inventory: retired, never handed out again; "
        "ordered from an SM-DP+ and not installed: cancelled there)",
        permissions=["change"],
    )
    def release_selected(self, request: HttpRequest, queryset: QuerySet[EsimProfile]) -> None:
        # One profile at a time and no transaction around them all: cancelling at an SM-DP+ is a
        # call out, made with no transaction open.
        released = 0
        refusals: list[str] = []
        for profile in queryset.select_related("carrier").order_by("id"):
            before = snapshot(profile)
            try:
                cancel_esim_order(profile)
            except SimrenewError as exc:
                refusals.append(exc.detail)
                continue
            released += 1
            with transaction.atomic():
                record_change(
                    actor=request.user,
                    action="release",
                    target=profile,
                    before=before,
                    after=snapshot(profile),
                    reason="Released from the inventory list.",
                )
        if released:
            self.message_user(request, f"Released {released} profile(s).", messages.SUCCESS)
        for refusal in refusals:
            self.message_user(request, f"Not released: {refusal}", messages.ERROR)

    @admin.action(
        description="Order a replacement from the SM-DP+ (a failed download; its plans move to the new eSIM)",
        permissions=["change"],
    )
    def order_replacement_selected(self, request: HttpRequest, queryset: QuerySet[EsimProfile]) -> None:
        for profile in queryset.select_related("carrier", "customer").order_by("id"):
            before = snapshot(profile)
            try:
                replacement = order_replacement(profile)
            except SimrenewError as exc:
                self.message_user(request, f"No replacement for {profile.iccid}: {exc.detail}", messages.ERROR)
                continue
            with transaction.atomic():
                record_change(
                    actor=request.user,
                    action="replace",
                    target=profile,
                    before=before,
                    after=snapshot(profile),
                    reason=f"Replaced by eSIM {replacement.pk} ({replacement.iccid}) after a failed download.",
                )
            self.message_user(
                request,
                f"Replaced eSIM {profile.iccid} by {replacement.iccid}; the customer's plans moved to it.",
                messages.SUCCESS,
            )
