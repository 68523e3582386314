"""The network outbox in the console: every TMF641 order of every line, what the carrier answered,
and the two things an operator does with a failed or rejected one (it holds its line's later
changes back): send it again as a new round (Retry), or say it was settled by hand (Mark resolved,
with a note). Both go through `line_orders` and are audited there; nothing is edited by hand."""

from __future__ import annotations

import json

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
from django.utils.http import urlencode

from simrenew.console.actions import ReadOnlyAdmin, back_url
from simrenew.kit.errors import SimrenewError
from simrenew.provisioning import line_orders
from simrenew.provisioning.models import LineOrder, LineOrderStatus

# Django's own model permission: superusers hold it; a role may be given it.
ACT_PERMISSION = "provisioning.change_lineorder"
NEEDS_OPERATOR = (LineOrderStatus.FAILED, LineOrderStatus.REJECTED)


class NeedsOperatorFilter(admin.SimpleListFilter):
    title = "needs an operator"
    parameter_name = "needs_operator"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "Failed or rejected")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[LineOrder]) -> QuerySet[LineOrder]:
        if self.value() == "yes":
            return queryset.filter(status__in=NEEDS_OPERATOR)
        return queryset


class ResolveForm(forms.Form):
    note = forms.CharField(
        label="Note",
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=500,
        help_text="What was done at the carrier; kept in the audit trail with your name.",
    )


@admin.register(LineOrder)
class LineOrderAdmin(ReadOnlyAdmin):
    list_display = (
        "external_id",
        "change",
        "action",
        "target_state",
        "plan_code",
        "status",
        "carrier_state",
        "attempts",
        "iccid",
        "last_error",
        "created_at",
    )
    list_filter = (NeedsOperatorFilter, "status", "change", "line__carrier")
    search_fields = ("=external_id", "=carrier_order_id", "=line__esim__iccid", "=line__esim__msisdn")
    list_select_related = ("line__esim",)
    ordering = ("-id",)
    date_hierarchy = "created_at"
    actions = ["retry_selected", "resolve_selected"]
    fields = (
        "line",
        "sequence",
        "change",
        "action",
        "target_state",
        "plan_code",
        "external_id",
        "status",
        "carrier_order_id",
        "carrier_state",
        "attempts",
        "retry_round",
        "not_before",
        "next_attempt_at",
        "claimed_by",
        "claim_expires_at",
        "last_error",
        "error_detail",
        "sent_body",
        "created_at",
        "sent_at",
        "completed_at",
        "resolved_by",
        "resolution_note",
    )
    readonly_fields = fields

    @admin.display(description="ICCID", ordering="line__esim__iccid")
    def iccid(self, obj: LineOrder) -> str:
        return obj.line.esim.iccid

    @admin.display(description="ServiceOrder_Create")
    def sent_body(self, obj: LineOrder) -> str:
        # Stored without the port-out PIN and account (redacted when the order was written).
        return format_html("<pre>{}</pre>", json.dumps(obj.body, indent=2, ensure_ascii=False))

    def has_act_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(ACT_PERMISSION))

    @admin.action(description="Retry selected failed orders (new round)", permissions=["act"])
    def retry_selected(self, request: HttpRequest, queryset: QuerySet[LineOrder]) -> None:
        retried = 0
        with transaction.atomic():
            for order in queryset.filter(status__in=NEEDS_OPERATOR).order_by("line_id", "sequence"):
                line_orders.retry(order, by=request.user)
                retried += 1
        self.message_user(request, f"{retried} order(s) will be sent again as a new round.", messages.SUCCESS)
        skipped = queryset.count() - retried
        if skipped:
            self.message_user(request, f"{skipped} order(s) had not failed and were left alone.", messages.WARNING)

    @admin.action(description="Mark the selected failed order resolved", permissions=["act"])
    def resolve_selected(self, request: HttpRequest, queryset: QuerySet[LineOrder]) -> HttpResponse | None:
        # The note is asked on the order's own page; one order at a time keeps it honest.
        if queryset.count() != 1:
            self.message_user(request, "Select one order at a time to mark it resolved.", messages.WARNING)
            return None
        order = queryset.get()
        url = reverse("admin:provisioning_lineorder_resolve", args=[order.pk])
        return HttpResponseRedirect(url + "?" + urlencode({"next": request.get_full_path()}))

    def get_urls(self) -> list[URLPattern]:
        extra = [
            path(
                "<int:order_id>/resolve/",
                self.admin_site.admin_view(self.resolve_view),
                name="provisioning_lineorder_resolve",
            )
        ]
        return extra + super().get_urls()

    def resolve_view(self, request: HttpRequest, order_id: int) -> HttpResponse:
        if not self.has_act_permission(request):
            raise PermissionDenied(f"Your role does not allow this ({ACT_PERMISSION}).")
        order = get_object_or_404(LineOrder.objects.select_related("line__esim"), pk=order_id)
        back = back_url(request, reverse("admin:provisioning_lineorder_changelist"))
        form = ResolveForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                with transaction.atomic():
                    line_orders.resolve(order, by=request.user, note=form.cleaned_data["note"])
            except SimrenewError as exc:
                form.add_error(None, exc.detail)
                self.message_user(request, exc.detail, messages.ERROR)
            else:
                message = f"{order.external_id} is resolved; the line's next order may go."
                self.message_user(request, message, messages.SUCCESS)
                return HttpResponseRedirect(back)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Mark {order.external_id} resolved",
            "form": form,
            "submit_label": "Mark resolved",
            "back_url": back,
            "back_label": "Line orders",
            "summary": [
                ("Change", f"{order.change}: {order.action} {order.target_state}".strip()),
                ("eSIM", order.line.esim.iccid),
                ("Status", order.status),
                ("Carrier said", order.last_error or "—"),
            ],
            "explanation": (
                "Use this once the change was made at the carrier some other way (or is no longer wanted). "
                "The line's later orders are sent after it."
            ),
        }
        status = 400 if request.method == "POST" else 200
        return TemplateResponse(request, "console/confirm_action.html", context, status=status)
