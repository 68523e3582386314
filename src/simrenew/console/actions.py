"""What the console's operator actions share, whichever domain's admin they sit in
(refund in billing, goodwill in subscriptions, resend in notifications): the permission
check, the confirmation page with its required reason, where to go back to, how
times and money read on those pages, and the admin for rows nobody edits by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

from simrenew.console.templatetags.console_tags import money
from simrenew.kit.errors import SimrenewError

__all__ = [
    "ERASE_PERMISSION",
    "EXPORT_PERMISSION",
    "EXTEND_PERMISSION",
    "REFUND_PERMISSION",
    "RESEND_PERMISSION",
    "ReadOnlyAdmin",
    "back_url",
    "confirm_page",
    "customer_url",
    "moment",
    "money",
    "next_query",
    "perform",
    "reason_field",
    "require_permission",
    "show_service_error",
]

REFUND_PERMISSION = "console.refund_payment"
EXTEND_PERMISSION = "console.extend_period"
RESEND_PERMISSION = "console.resend_message"
EXPORT_PERMISSION = "console.export_customer_data"
ERASE_PERMISSION = "console.erase_customer"


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the domains' services only: every role reads them, nobody adds,
    edits or deletes them here (operators act through the action pages instead)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def require_permission(request: HttpRequest, permission: str) -> None:
    """403 for staff whose role does not include `permission` (superusers have them all)."""
    if not request.user.has_perm(permission):
        raise PermissionDenied(f"Your role does not allow this ({permission}).")


def back_url(request: HttpRequest, default: str) -> str:
    """Where to go after an action: the page it was started from, if it is one of ours."""
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if wanted and url_has_allowed_host_and_scheme(wanted, allowed_hosts={request.get_host()}):
        return wanted
    return default


def next_query(here: str) -> str:
    return "?" + urlencode({"next": here})


def customer_url(customer_id: int | None) -> str:
    if customer_id is None:
        return reverse("admin:index")
    return reverse("admin:customers_customer_change", args=[customer_id])


def reason_field(help_text: str = "Kept in the audit trail with your name.") -> forms.CharField:
    return forms.CharField(
        label="Reason", widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), max_length=1000, help_text=help_text
    )


def show_service_error(form: forms.Form, exc: SimrenewError) -> None:
    """Put a service's refusal on the form: under its field when it names one of ours, else on top."""
    placed = False
    for error in exc.errors:
        if error.field in form.fields:
            form.add_error(error.field, error.message)
            placed = True
    if not placed:
        form.add_error(None, exc.detail)


Done = TypeVar("Done")


def perform(
    request: HttpRequest, model_admin: admin.ModelAdmin, form: forms.Form, action: Callable[[], Done]
) -> Done | None:
    """On a valid POST of the confirmation form, run `action` (a service call) in one
    transaction and return what it did. None when nothing was done: not a POST, an invalid
    form, or a service refusal, which goes on the form and in a message."""
    if request.method != "POST" or not form.is_valid():
        return None
    try:
        with transaction.atomic():
            return action()
    except SimrenewError as exc:
        show_service_error(form, exc)
        model_admin.message_user(request, exc.detail, messages.ERROR)
        return None


def confirm_page(
    request: HttpRequest,
    model_admin: admin.ModelAdmin,
    *,
    title: str,
    form: forms.Form,
    submit_label: str,
    back: str,
    back_label: str,
    summary: list[tuple[str, str]],
    explanation: str = "",
    status: int = 200,
) -> HttpResponse:
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": title,
        "form": form,
        "submit_label": submit_label,
        "back_url": back,
        "back_label": back_label,
        "summary": summary,
        "explanation": explanation,
    }
    return TemplateResponse(request, "console/confirm_action.html", context, status=status)


def moment(value: datetime | None, zone: str) -> str:
    """A time in the customer's zone with its offset, e.g. 2026-01-15 07:00-05:00."""
    if value is None:
        return "—"
    return value.astimezone(ZoneInfo(zone)).isoformat(sep=" ", timespec="minutes")
