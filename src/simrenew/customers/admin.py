"""The console's customer page: a page per customer with their eSIMs, subscriptions
and periods, payments, messages and audit trail, with the operator actions (refund,
goodwill, resend) as buttons, and the customer list searched by email, phone number,
eSIM number or ICCID.

The actions themselves live beside their models' admins (billing, subscriptions,
notifications), each behind a confirmation page with a required reason; the helpers
they share are in `simrenew.console.actions`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import F, Prefetch, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from simrenew.audit.models import AuditEntry
from simrenew.billing.models import Invoice, Refund
from simrenew.billing.refunds import refundable_minor
from simrenew.console.actions import EXTEND_PERMISSION, REFUND_PERMISSION, RESEND_PERMISSION, moment, money, next_query
from simrenew.console.audit import AuditedAdmin
from simrenew.console.queries import iccid_digits, phone_as_e164
from simrenew.customers.models import Customer, NotificationPreference
from simrenew.customers.services import normalize_phone, validate_time_zone
from simrenew.esims.models import EsimProfile
from simrenew.kit import clock
from simrenew.kit.errors import ValidationFailed
from simrenew.notifications.models import Delivery, OutboxMessage
from simrenew.notifications.resend import RESENDABLE
from simrenew.payments.models import OPEN_DISPUTE_STATUSES, Dispute, MethodType, PaymentAttempt, PaymentMethod, Wallet
from simrenew.privacy.admin import DataRightsAdminMixin
from simrenew.subscriptions import queries as subscription_queries
from simrenew.subscriptions.models import Period, PeriodExtension, Subscription

# How much history the page shows at once (the full lists are in each model's admin).
SHOWN_MESSAGES = 50
SHOWN_AUDIT_ENTRIES = 100
SHOWN_ATTEMPTS = 50


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
    wallet_balance: str
    payment_methods: list[Row]
    esims: list[Row]
    subscriptions: list[SubscriptionBlock]
    invoices: list[Row]
    attempts: list[Row]
    disputes: list[Row]
    messages: list[Row]
    audit: list[Row]


def _wallet_balance(customer: Customer) -> str:
    wallet = Wallet.objects.filter(customer=customer).first()
    return money(wallet.balance_minor, wallet.currency) if wallet is not None else "no wallet"


def _payment_methods(customer: Customer) -> list[Row]:
    """Every method the customer saved, those still usable first (the default leading), then
    the removed ones: support is asked "which card did I pay with?" after a card is gone."""
    zone = customer.time_zone
    methods = PaymentMethod.objects.filter(customer=customer).order_by(
        F("removed_at").asc(nulls_first=True), "-is_default", "id"
    )
    rows = []
    for method in methods:
        expires = f"{method.exp_month:02d}/{method.exp_year}" if method.exp_month and method.exp_year else ""
        state = f"removed {moment(method.removed_at, zone)}" if method.removed_at else "usable"
        rows.append(
            Row(
                [
                    str(method),
                    method.get_type_display(),
                    method.gateway or ("—" if method.type == MethodType.WALLET else ""),
                    expires,
                    "default" if method.is_default and not method.removed_at else "",
                    moment(method.created_at, zone),
                    state,
                ]
            )
        )
    return rows


def _esims(customer: Customer) -> list[Row]:
    profiles = EsimProfile.objects.filter(customer=customer).select_related("carrier").order_by("id")
    return [
        Row([profile.iccid, profile.carrier.name, profile.msisdn, profile.status, profile.label or ""])
        for profile in profiles
    ]


def _period_row(period: Period, zone: str, extensions: list[PeriodExtension]) -> Row:
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
            str(period.plan),  # the plan's name and version (catalog.Plan.__str__), as in every console column
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
        next_charge = subscription_queries.next_auto_renew_charge(subscription, now)  # none once cancelled
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
                    ("Plan running", str(seen.plan)),
                    ("Renews with", str(subscription.plan)),
                    ("Paid through", moment(subscription.paid_through, zone)),
                    ("Auto-renew", "on" if subscription.auto_renew else "off"),
                    ("Next auto-renew charge", moment(next_charge, zone)),
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


def _disputes(customer: Customer, request: HttpRequest, here: str) -> list[Row]:
    """Disputed payments, with the provider's reason and deadline; finance answers open ones."""
    zone = customer.time_zone
    can_answer = request.user.has_perm(REFUND_PERMISSION)
    rows = []
    for dispute in Dispute.objects.filter(attempt__customer=customer).order_by("-id"):
        action = ""
        if can_answer and dispute.status in OPEN_DISPUTE_STATUSES:
            action = reverse("admin:payments_dispute_evidence", args=[dispute.pk]) + next_query(here)
        rows.append(
            Row(
                [
                    f"{dispute.gateway} {dispute.external_id}",
                    moment(dispute.opened_at, zone),
                    str(dispute.attempt_id),
                    money(dispute.amount_minor, dispute.currency),
                    dispute.reason,
                    moment(dispute.due_by, zone),
                    dispute.get_status_display(),
                    dispute.evidence_note[:80] or "—",
                ],
                action_url=action,
            )
        )
    return rows


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
        wallet_balance=_wallet_balance(customer),
        payment_methods=_payment_methods(customer),
        esims=_esims(customer),
        subscriptions=_subscriptions(customer, request, here),
        invoices=_invoices(customer, request, here),
        attempts=_attempts(customer),
        disputes=_disputes(customer, request, here),
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


def _checked(value: str, check: Callable[[str], str]) -> str:
    """Run one of the customer service's checks and show its message under the field."""
    try:
        return check(value)
    except ValidationFailed as exc:
        raise forms.ValidationError(exc.errors[0].message if exc.errors else exc.detail) from None


class CustomerForm(forms.ModelForm):
    """The same rules as sign-up, the portal and the API (customers.services): an IANA
    time zone, and a phone number stored in E.164."""

    class Meta:
        model = Customer
        fields = ["name", "locale", "time_zone", "phone", "renew_with_other_methods"]

    def clean_time_zone(self) -> str:
        return _checked(str(self.cleaned_data["time_zone"]).strip(), validate_time_zone)

    def clean_phone(self) -> str:
        return _checked(str(self.cleaned_data.get("phone") or "").strip(), normalize_phone)


@admin.register(Customer)
class CustomerAdmin(DataRightsAdminMixin, AuditedAdmin):
    form = CustomerForm
    list_display = ("email", "name", "phone", "locale", "time_zone", "created_at")
    search_fields = ("email", "name", "phone")
    search_help_text = "Email, name, phone number (any format), eSIM number or ICCID."
    # The login email is the account's username too: changing it goes through the
    # service that keeps the two in step, never a plain edit here.
    readonly_fields = ("email", "user", "created_at")
    inlines = [NotificationPreferenceInline]
    change_form_template = "admin/customers/customer/change_form.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # customers sign up (portal) or are created through the API

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a customer's history (invoices, audit) is kept

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # An erased customer's row is pseudonymous for good: no one types personal details back in.
        if obj is not None and obj.erased_at is not None:
            return False
        return super().has_change_permission(request, obj)

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
        # Whether this role may see the customer is asked before anything of theirs is read.
        if customer is not None:
            if not self.has_view_or_change_permission(request, customer):
                raise PermissionDenied
            context["console"] = customer_page(customer, request)
            context["data_rights"] = self.data_rights_links(request, customer)
        return super().change_view(request, object_id, form_url, extra_context=context)
