"""The console's customer page: one search box (email, phone number or ICCID), and a
page per customer with their eSIMs, subscriptions and periods, payments, messages
and audit trail, with the operator actions (refund, goodwill, resend) as buttons.

The actions themselves live beside their models' admins (billing, subscriptions,
notifications), each behind a confirmation page with a required reason; the helpers
they share (the permission check, the confirmation page) are here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

from simrenew.billing.models import Invoice, Refund
from simrenew.billing.refunds import refundable_minor
from simrenew.console.audit import AuditedAdmin
from simrenew.console.models import AuditEntry
from simrenew.customers.models import Customer, NotificationPreference
from simrenew.esims.models import EsimProfile
from simrenew.kit import clock
from simrenew.kit.errors import SimrenewError
from simrenew.kit.money import format_money
from simrenew.notifications.models import Delivery, OutboxMessage
from simrenew.notifications.resend import RESENDABLE
from simrenew.payments.models import PaymentAttempt
from simrenew.subscriptions import queries as subscription_queries
from simrenew.subscriptions.models import Period, PeriodExtension, Subscription

REFUND_PERMISSION = "console.refund_payment"
EXTEND_PERMISSION = "console.extend_period"
RESEND_PERMISSION = "console.resend_message"
# How much history the page shows at once (the full lists are in each model's admin).
SHOWN_MESSAGES = 50
SHOWN_AUDIT_ENTRIES = 100
SHOWN_ATTEMPTS = 50
_PHONE_LIKE = re.compile(r"^\+?[\d\s().\-]{7,}$")
_DIGITS_LIKE = re.compile(r"^[\d\s\-]{8,}$")


# --- helpers shared by the console's action pages ----------------------------------------------


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
    return TemplateResponse(request, "admin/customers/confirm_action.html", context, status=status)


def moment(value: datetime | None, zone: str) -> str:
    """A time in the customer's zone with its offset, e.g. 2026-01-15 07:00-05:00."""
    if value is None:
        return "—"
    return value.astimezone(ZoneInfo(zone)).isoformat(sep=" ", timespec="minutes")


def money(amount_minor: int, currency: str) -> str:
    return format_money(amount_minor, currency, "en")


# --- search ------------------------------------------------------------------------------------


def phone_as_e164(term: str) -> str | None:
    """ "+1 (415) 555-0100" → "+14155550100"; None when the term does not read as a phone number.

    Searching is lenient (possible, not necessarily valid, numbers; US when no country
    code), since an operator types what the customer tells them."""
    if not _PHONE_LIKE.match(term):
        return None
    try:
        number = phonenumbers.parse(term, None if term.startswith("+") else "US")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def iccid_digits(term: str) -> str | None:
    """An ICCID (or a long enough part of one), as printed with spaces or dashes."""
    if not _DIGITS_LIKE.match(term):
        return None
    return re.sub(r"[\s\-]", "", term)


# --- the page's contents -----------------------------------------------------------------------


@dataclass
class Row:
    """One line of a table on the customer page, already formatted."""

    cells: list[str]
    action_url: str = ""
    children: list[list[str]] = field(default_factory=list)


@dataclass
class SubscriptionBlock:
    title: str
    facts: list[tuple[str, str]]
    periods: list[Row]
    extend_url: str


@dataclass
class CustomerPage:
    time_zone: str
    esims: list[Row]
    subscriptions: list[SubscriptionBlock]
    invoices: list[Row]
    attempts: list[Row]
    messages: list[Row]
    audit: list[Row]


def _esims(customer: Customer) -> list[Row]:
    profiles = EsimProfile.objects.filter(customer=customer).select_related("carrier").order_by("id")
    return [
        Row([profile.iccid, profile.carrier.name, profile.msisdn, profile.status, profile.label or ""])
        for profile in profiles
    ]


def _period_row(period: Period, zone: str, extensions: list[PeriodExtension]) -> Row:
    plan = period.plan
    invoice = period.invoice
    note = "; ".join(
        f"+{ext.days} d goodwill by {ext.granted_by} on {moment(ext.created_at, zone)} "
        f"(was to end {moment(ext.previous_ends_at, zone)}): {ext.reason}"
        for ext in extensions
    )
    return Row(
        [
            str(period.number),
            moment(period.starts_at, zone),
            moment(period.ends_at, zone),
            f"{plan.name} (v{plan.version})",
            f"{period.data_mb + period.top_up_mb} MB (used {period.used_bytes // (1024 * 1024)} MB)",
            f"{invoice.number} · {money(invoice.total_minor, invoice.currency)}",
            note,
        ]
    )


def _subscriptions(customer: Customer, request: HttpRequest, here: str) -> list[SubscriptionBlock]:
    zone = customer.time_zone
    can_extend = request.user.has_perm(EXTEND_PERMISSION)
    subscriptions = (
        Subscription.objects.filter(customer=customer)
        .select_related("plan", "esim", "payment_method", "customer")
        .prefetch_related(
            Prefetch("periods", queryset=Period.objects.select_related("plan", "invoice").order_by("number")),
            "extensions",
        )
        .order_by("-id")
    )
    blocks = []
    now = clock.now()
    for subscription in subscriptions:
        seen = subscription_queries.view(subscription, now=now)
        by_period: dict[int, list[PeriodExtension]] = {}
        for extension in subscription.extensions.all():
            by_period.setdefault(extension.period_id, []).append(extension)
        extend_url = ""
        if can_extend and seen.current_period is not None:
            extend_url = reverse("admin:subscriptions_subscription_extend", args=[subscription.pk]) + next_query(here)
        blocks.append(
            SubscriptionBlock(
                title=f"Subscription {subscription.pk} · eSIM {subscription.esim.iccid}",
                facts=[
                    ("Status", seen.status),
                    ("Plan", f"{subscription.plan.name} (v{subscription.plan.version})"),
                    ("Paid through", moment(subscription.paid_through, zone)),
                    ("Auto-renew", "on" if subscription.auto_renew else "off"),
                    ("Next auto-renew charge", moment(subscription.renewal_due_at, zone)),
                    ("Payment method", str(subscription.payment_method or "—")),
                    ("Data left", f"{seen.data_left_mb} of {seen.data_total_mb} MB, {seen.days_left} day(s)"),
                ],
                periods=[_period_row(p, zone, by_period.get(p.pk, [])) for p in subscription.periods.all()],
                extend_url=extend_url,
            )
        )
    return blocks


def _invoices(customer: Customer, request: HttpRequest, here: str) -> list[Row]:
    zone = customer.time_zone
    can_refund = request.user.has_perm(REFUND_PERMISSION)
    invoices = (
        Invoice.objects.filter(customer=customer)
        .select_related("payment_attempt__payment_method")
        .prefetch_related(Prefetch("refunds", queryset=Refund.objects.order_by("id")))
        .order_by("-id")
    )
    rows = []
    for invoice in invoices:
        refundable = can_refund and refundable_minor(invoice) > 0
        rows.append(
            Row(
                [
                    invoice.number,
                    moment(invoice.issued_at, zone),
                    invoice.description,
                    money(invoice.total_minor, invoice.currency),
                    money(invoice.refunded_minor, invoice.currency),
                    invoice.status,
                    str(invoice.payment_attempt.payment_method),
                ],
                action_url=(reverse("admin:billing_invoice_refund", args=[invoice.pk]) + next_query(here))
                if refundable
                else "",
                children=[
                    [
                        f"Refund {money(refund.amount_minor, refund.currency)}",
                        "to wallet" if refund.to_wallet else "to the payment method",
                        refund.status,
                        moment(refund.created_at, zone),
                        refund.reason,
                        refund.failure_message,
                    ]
                    for refund in invoice.refunds.all()
                ],
            )
        )
    return rows


def _attempts(customer: Customer) -> list[Row]:
    zone = customer.time_zone
    attempts = (PaymentAttempt.objects.filter(customer=customer).select_related("payment_method").order_by("-id"))[
        :SHOWN_ATTEMPTS
    ]
    return [
        Row(
            [
                str(attempt.pk),
                moment(attempt.created_at, zone),
                attempt.get_purpose_display(),
                money(attempt.amount_minor, attempt.currency),
                str(attempt.payment_method),
                attempt.status,
                attempt.failure_message or attempt.failure_code,
            ]
        )
        for attempt in attempts
    ]


def _messages(customer: Customer, request: HttpRequest, here: str) -> list[Row]:
    zone = customer.time_zone
    can_resend = request.user.has_perm(RESEND_PERMISSION)
    messages = (
        OutboxMessage.objects.filter(customer=customer)
        .prefetch_related(Prefetch("deliveries", queryset=Delivery.objects.order_by("id")))
        .order_by("-id")
    )[:SHOWN_MESSAGES]
    rows = []
    for message in messages:
        deliveries = list(message.deliveries.all())
        resendable = can_resend and any(d.status in RESENDABLE for d in deliveries)
        rows.append(
            Row(
                [moment(message.created_at, zone), message.event_type, str(message.event_id), message.status],
                action_url=(reverse("admin:notifications_outboxmessage_resend", args=[message.pk]) + next_query(here))
                if resendable
                else "",
                children=[
                    [
                        delivery.channel,
                        delivery.recipient,
                        delivery.status,
                        f"{delivery.attempts} attempt(s)",
                        moment(delivery.sent_at, zone) if delivery.sent_at else "",
                        delivery.last_error,
                    ]
                    for delivery in deliveries
                ],
            )
        )
    return rows


def _audit(customer: Customer) -> list[Row]:
    entries = AuditEntry.objects.filter(customer=customer).order_by("-id")[:SHOWN_AUDIT_ENTRIES]
    return [
        Row(
            [
                moment(entry.at, customer.time_zone),
                entry.actor_label,
                entry.action,
                f"{entry.target_type} {entry.target_id}",
                _changes(entry.before, entry.after),
                entry.reason,
            ]
        )
        for entry in entries
    ]


def _changes(before: dict[str, Any], after: dict[str, Any]) -> str:
    keys = list(dict.fromkeys([*before, *after]))
    return "; ".join(f"{key}: {before.get(key, '—')} → {after.get(key, '—')}" for key in keys)


def customer_page(customer: Customer, request: HttpRequest) -> CustomerPage:
    here = request.path
    return CustomerPage(
        time_zone=customer.time_zone,
        esims=_esims(customer),
        subscriptions=_subscriptions(customer, request, here),
        invoices=_invoices(customer, request, here),
        attempts=_attempts(customer),
        messages=_messages(customer, request, here),
        audit=_audit(customer),
    )


# --- the admin ---------------------------------------------------------------------------------


class NotificationPreferenceInline(admin.TabularInline):
    model = NotificationPreference
    extra = 0
    fields = ("kind", "email", "sms", "updated_at")
    readonly_fields = ("updated_at",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the customer chooses their channels in the portal


@admin.register(Customer)
class CustomerAdmin(AuditedAdmin):
    list_display = ("email", "name", "phone", "locale", "time_zone", "created_at")
    search_fields = ("email", "name", "phone")
    search_help_text = "Email, name, phone number (any format) or ICCID."
    raw_id_fields = ("user",)
    readonly_fields = ("user", "created_at")
    inlines = [NotificationPreferenceInline]
    change_form_template = "admin/customers/customer/change_form.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # customers sign up (portal) or are created through the API

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a customer's history (invoices, audit) is kept

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Customer], search_term: str
    ) -> tuple[QuerySet[Customer], bool]:
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if not term:
            return found, may_have_duplicates
        extra = Q()
        phone = phone_as_e164(term)
        if phone:
            extra |= Q(phone=phone) | Q(esims__msisdn=phone)
        digits = iccid_digits(term)
        if digits:
            extra |= Q(esims__iccid__contains=digits)
        if not extra:
            return found, may_have_duplicates
        matching = Customer.objects.filter(extra).values("pk")
        return queryset.filter(Q(pk__in=found.values("pk")) | Q(pk__in=matching)), False

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        customer = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if customer is not None:
            context["console"] = customer_page(customer, request)
        return super().change_view(request, object_id, form_url, extra_context=context)
