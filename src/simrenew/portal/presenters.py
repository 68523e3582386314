"""What a page shows of the domain, formatted for the customer (locale, zone)."""

from __future__ import annotations

import calendar
import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from django.utils.translation import gettext, gettext_noop, ngettext
from django.utils.translation import gettext_lazy as _

from simrenew.billing.items import invoice_item_name
from simrenew.billing.models import Invoice, InvoiceStatus
from simrenew.catalog import labels
from simrenew.catalog.models import PeriodUnit, Plan
from simrenew.customers.models import Customer
from simrenew.esims.models import EsimProfile
from simrenew.kit import clock
from simrenew.kit.money import babel_locale as money_babel_locale
from simrenew.kit.money import format_gigabytes, format_money
from simrenew.kit.timezones import local_date_time
from simrenew.payments.labels import method_label as payment_method_label
from simrenew.payments.models import (
    OPEN_ATTEMPT_STATUSES,
    AttemptPurpose,
    AttemptStatus,
    MethodType,
    PaymentAttempt,
    PaymentMethod,
    Wallet,
)
from simrenew.subscriptions.models import Period, Subscription, SubscriptionState
from simrenew.subscriptions.queries import Status, SubscriptionView, views_of
from simrenew.subscriptions.status import data_level, renews_automatically, service_ends_at


def babel_locale(customer: Customer) -> str:
    return money_babel_locale(customer.locale)


def local_datetime(moment: datetime, customer: Customer) -> str:
    return local_date_time(moment, ZoneInfo(customer.time_zone), customer.locale)  # to the minute


def local_datetime_with_zone(moment: datetime, customer: Customer) -> str:
    """“Feb 12, 2026, 7:00 AM Eastern Standard Time”: for a moment that matters, say whose clock."""
    zone = ZoneInfo(customer.time_zone)
    locale = babel_locale(customer)
    return f"{local_datetime(moment, customer)} {format_datetime(moment, 'zzzz', tzinfo=zone, locale=locale)}"


def gigabytes(mb: int, customer: Customer) -> str:
    return format_gigabytes(mb, babel_locale(customer))


@dataclass(frozen=True)
class EsimCard:
    esim: EsimProfile
    subscription: Subscription | None
    status: str
    plan_name: str  # the plan running now (else the one that ran last), never just the last one paid for
    data_left: str
    data_total: str
    data_left_percent: int
    days_left: int
    expires_at: str
    needs_renewal: bool
    data_level: str = "ok"  # ok / low (80 % used) / critical (95 % used): the bar's colour
    offer_top_up: bool = False  # data runs low while a period runs
    period_days_left: int = 0  # of the running period, apart from prepaid time
    period_days_left_text: str = ""  # "12 days left in this month"
    paid_through: str = ""  # local date: the end of all paid time
    resets_on: str = ""  # local date the data allowance starts afresh (the running period's end)
    ends_on: str = ""  # local date service stops, when it will (cancelled, or auto-renew off)
    auto_renew_on: bool = False  # live with auto-renew: a cancelled plan never says it renews


def local_date(moment: datetime, customer: Customer) -> str:
    return format_date(moment.astimezone(ZoneInfo(customer.time_zone)).date(), "medium", locale=babel_locale(customer))


def period_days_left_text(days: int, period_unit: str) -> str:
    """ "12 days left in this month": the running period's days, apart from prepaid time."""
    if period_unit == PeriodUnit.MONTH:
        return ngettext("%(days)d day left in this month", "%(days)d days left in this month", days) % {"days": days}
    if period_unit == PeriodUnit.YEAR:
        return ngettext("%(days)d day left in this year", "%(days)d days left in this year", days) % {"days": days}
    return ngettext("%(days)d day left in this period", "%(days)d days left in this period", days) % {"days": days}


def esim_cards(customer: Customer) -> list[EsimCard]:
    """Every eSIM of the customer with its latest subscription as it stands now: three queries,
    whatever the number of eSIMs (the eSIMs, the subscriptions, the periods shown)."""
    cards = []
    esims = EsimProfile.objects.filter(customer=customer).select_related("carrier").order_by("id")
    latest: dict[int, Subscription] = {}
    for subscription in (
        Subscription.objects.filter(customer=customer)
        .exclude(state=SubscriptionState.INCOMPLETE)
        .select_related("plan__carrier")
        .order_by("id")
    ):
        latest[subscription.esim_id] = subscription
    now = clock.now()
    views = views_of(list(latest.values()), now=now)
    for esim in esims:
        held = latest.get(esim.pk)
        if held is None:
            cards.append(EsimCard(esim, None, "none", "", "0", "0", 0, 0, "", False))
            continue
        cards.append(_esim_card(esim, held, views[held.pk], customer, now))
    return cards


def _esim_card(
    esim: EsimProfile, subscription: Subscription, shown: SubscriptionView, customer: Customer, now: datetime
) -> EsimCard:
    service_ends = service_ends_at(subscription)
    period = shown.current_period
    plan = shown.plan
    level = data_level(used_bytes=period.used_bytes, allowance_mb=shown.data_total_mb) if period else "ok"
    renews = renews_automatically(subscription, now)
    period_left = math.ceil((period.ends_at - now).total_seconds() / 86400) if period else 0
    # The allowance starts afresh at the period's end only if service goes on after it.
    goes_on = period is not None and service_ends is not None and (service_ends > period.ends_at or renews)
    will_end = service_ends is not None and shown.status != Status.SUSPENDED and not renews
    return EsimCard(
        esim=esim,
        subscription=subscription,
        status=shown.status,
        plan_name=plan_title(plan, customer),
        data_left=gigabytes(shown.data_left_mb, customer),
        data_total=gigabytes(shown.data_total_mb, customer),
        data_left_percent=round(100 * shown.data_left_mb / shown.data_total_mb) if shown.data_total_mb else 0,
        days_left=shown.days_left,
        expires_at=local_datetime_with_zone(service_ends, customer) if service_ends else "",
        needs_renewal=shown.status in (Status.EXPIRING, Status.SUSPENDED),
        data_level=level,
        offer_top_up=period is not None and level != "ok",
        period_days_left=period_left,
        period_days_left_text=period_days_left_text(period_left, plan.period_unit) if period else "",
        paid_through=local_date(service_ends, customer) if service_ends else "",
        resets_on=local_date(period.ends_at, customer) if goes_on and period else "",
        ends_on=local_date(service_ends, customer) if will_end and service_ends else "",
        auto_renew_on=renews,
    )


# --- Renewal, payments and receipts (shared read helpers; views_renewal uses them) ---

EXPIRING_CARD_WINDOW = timedelta(days=60)

# Messages the services speak (English, fixed text), marked here so the catalogs carry
# them: the portal shows them through gettext, in the customer's language. (Payment
# failures are marked where they are defined, in payments.failures.)
SERVICE_MESSAGES = [
    gettext_noop("This promotion code is no longer active."),
    gettext_noop("This promotion code is not valid yet."),
    gettext_noop("This promotion code has expired."),
    gettext_noop("This promotion code does not apply to this plan."),
    gettext_noop("This promotion code does not apply to prices in this currency."),
    gettext_noop("This promotion code has been used up."),
    gettext_noop("You have already used this promotion code."),
    gettext_noop("Too many promotion codes that did not apply were tried. Try again in an hour."),
    gettext_noop("This plan is for another carrier than the eSIM's."),
    gettext_noop("This plan version is no longer sold; choose the current one."),
    gettext_noop("This payment method does not belong to the customer."),
    gettext_noop("Choose a payment method for this renewal."),
    gettext_noop("The first payment of this subscription has not completed yet."),
    gettext_noop("This subscription is cancelled; resume it before renewing."),
    gettext_noop("This plan is cancelled, so it cannot be renewed."),
    gettext_noop("This subscription is cancelled; resume it before changing the plan it renews with."),
    gettext_noop("This subscription has ended and its eSIM was released; start a new one."),
    gettext_noop("This idempotency key was already used for a different payment."),
    gettext_noop("The card number is not valid."),
    gettext_noop("The expiry month must be between 1 and 12."),
    gettext_noop("The card's expiry date has passed or is not valid."),
    gettext_noop("The security code must be 3 or 4 digits."),
    gettext_noop("Enter the email address of your PayPal account."),
    gettext_noop("This field is required for a card."),
    gettext_noop("Card details are incomplete."),
    gettext_noop("Top up the wallet with a card or PayPal, not the wallet."),
    gettext_noop("A wallet top-up is between 1.00 and 1,000.00."),
    gettext_noop("A removed payment method cannot be the default."),
]
_NO_SUCH_PROMOTION = re.compile(r"^There is no promotion with the code '(?P<code>.*)'\.$")


def service_message(message: str) -> str:
    """A service's message in the active language (as it was, when no catalog has it)."""
    no_such = _NO_SUCH_PROMOTION.match(message)
    if no_such:
        return gettext("There is no promotion with the code “%(code)s”.") % {"code": no_such["code"]}
    return gettext(message)


def money(amount_minor: int, currency: str, customer: Customer) -> str:
    return format_money(amount_minor, currency, customer.locale)


def period_length(unit: str, count: int, *, in_weeks: bool = True) -> str:
    """“1 month”, “7 days” is “1 week” (catalog.labels: the one formatter of plan names)."""
    return labels.period_length(unit, count, in_weeks=in_weeks)


def plan_kind(plan: Plan) -> str:
    """day / week / month / year: how plans are grouped on the renew page."""
    if plan.period_unit == PeriodUnit.DAY:
        return "week" if plan.period_count % 7 == 0 else "day"
    return str(plan.period_unit)


PLAN_KIND_ORDER = {"day": 0, "week": 1, "month": 2, "year": 3}


def plan_kind_label(kind: str) -> str:
    labels = {
        "day": gettext("Daily plans"),
        "week": gettext("Weekly plans"),
        "month": gettext("Monthly plans"),
        "year": gettext("Yearly plans"),
    }
    return str(labels[kind])


def plan_title(plan: Plan, customer: Customer) -> str:
    """“AT&T 1 month · 20 GB”, in the active language (the customer's, on their pages):
    Plan.display_name, from the catalog's one formatter (catalog.labels)."""
    return plan.display_name


def plan_summary(plan: Plan, customer: Customer) -> str:
    """“AT&T 1 month · 20 GB · $25.00”."""
    return f"{plan_title(plan, customer)} · {money(plan.price_minor, plan.currency, customer)}"


def card_end(method: PaymentMethod) -> date | None:
    """A card is good through the last day of its expiry month."""
    if not (method.exp_month and method.exp_year):
        return None
    return date(method.exp_year, method.exp_month, calendar.monthrange(method.exp_year, method.exp_month)[1])


def method_label(method: PaymentMethod, customer: Customer, *, with_balance: bool = False) -> str:
    """Brand and last 4 only; PayPal by its email; the wallet (with today's balance when asked)."""
    if method.type == MethodType.WALLET and with_balance:
        return wallet_label(customer)
    return payment_method_label(method)


def wallet_balance(customer: Customer) -> tuple[int, str]:
    """Balance and currency, without creating a wallet just to look at it."""
    wallet = Wallet.objects.filter(customer=customer).first()
    return (wallet.balance_minor, wallet.currency) if wallet else (0, "USD")


def wallet_label(customer: Customer) -> str:
    balance, currency = wallet_balance(customer)
    return gettext("Wallet balance (%(balance)s available)") % {"balance": money(balance, currency, customer)}


@dataclass(frozen=True)
class MethodRow:
    method: PaymentMethod
    label: str
    expiry: str
    expired: bool
    expiring_soon: bool


def method_rows(customer: Customer, *, now: datetime | None = None) -> list[MethodRow]:
    """The customer's saved methods (not removed), cards expiring within 60 days flagged."""
    today = (now or clock.now()).astimezone(ZoneInfo(customer.time_zone)).date()
    rows = []
    methods = PaymentMethod.objects.filter(customer=customer, removed_at__isnull=True)
    for method in methods.order_by("-is_default", "id"):
        ends = card_end(method)
        rows.append(
            MethodRow(
                method=method,
                label=method_label(method, customer, with_balance=True),
                expiry=f"{method.exp_month:02d}/{method.exp_year}" if ends else "",
                expired=ends is not None and ends < today,
                expiring_soon=ends is not None and today <= ends <= today + EXPIRING_CARD_WINDOW,
            )
        )
    return rows


ATTEMPT_STATUS_LABELS: dict[str, object] = {
    AttemptStatus.SUCCEEDED: _("Paid"),
    AttemptStatus.FAILED: _("Failed"),
    AttemptStatus.PENDING: _("Being confirmed"),
    AttemptStatus.UNKNOWN: _("Being confirmed"),
}
ATTEMPT_PURPOSE_LABELS: dict[str, object] = {
    AttemptPurpose.FIRST_PERIOD: _("New plan"),
    AttemptPurpose.RENEWAL: _("Renewal"),
    AttemptPurpose.TOP_UP: _("Data top-up"),
    AttemptPurpose.WALLET_TOP_UP: _("Wallet top-up"),
}


@dataclass(frozen=True)
class AttemptSummary:
    attempt: PaymentAttempt
    status: str
    status_label: str
    purpose_label: str
    amount: str
    method: str
    when: str
    failure: str
    invoice: Invoice | None
    period_starts: str
    period_ends: str


def attempt_summary(attempt: PaymentAttempt, customer: Customer) -> AttemptSummary:
    invoice = Invoice.objects.filter(payment_attempt=attempt).first()
    period = Period.objects.filter(invoice=invoice).first() if invoice else None
    status = "pending" if attempt.status in OPEN_ATTEMPT_STATUSES else str(attempt.status)
    return AttemptSummary(
        attempt=attempt,
        status=status,
        status_label=str(ATTEMPT_STATUS_LABELS.get(attempt.status, attempt.status)),
        purpose_label=str(ATTEMPT_PURPOSE_LABELS.get(attempt.purpose, attempt.purpose)),
        amount=money(attempt.amount_minor, attempt.currency, customer),
        method=method_label(attempt.payment_method, customer),
        when=local_datetime(attempt.created_at, customer),
        failure=service_message(attempt.failure_message) if attempt.status == AttemptStatus.FAILED else "",
        invoice=invoice,
        period_starts=local_datetime(period.starts_at, customer) if period else "",
        period_ends=local_datetime(period.ends_at, customer) if period else "",
    )


@dataclass(frozen=True)
class ReceiptLine:
    label: str
    amount: str


@dataclass(frozen=True)
class Receipt:
    invoice: Invoice
    number: str
    issued: str
    status_label: str
    lines: list[ReceiptLine]
    discount: str
    total: str
    refunded: str
    method: str
    customer_name: str
    customer_email: str
    phone_number: str
    period_starts: str
    period_ends: str


INVOICE_STATUS_LABELS: dict[str, object] = {
    InvoiceStatus.PAID: _("Paid"),
    InvoiceStatus.PARTIALLY_REFUNDED: _("Partly refunded"),
    InvoiceStatus.REFUNDED: _("Refunded"),
}


def receipt(invoice: Invoice, customer: Customer) -> Receipt:
    attempt = invoice.payment_attempt
    period = Period.objects.filter(invoice=invoice).first()
    subscription = invoice.subscription
    subtotal = money(invoice.subtotal_minor, invoice.currency, customer)
    return Receipt(
        invoice=invoice,
        number=invoice.number,
        issued=local_datetime(invoice.issued_at, customer),
        status_label=str(INVOICE_STATUS_LABELS.get(invoice.status, invoice.status)),
        # What that payment bought (the period's plan, the top-up's pack), named in the customer's
        # language from the invoice's own line; the stored description is the English record.
        lines=[ReceiptLine(invoice_item_name(invoice.pk) or invoice.description, subtotal)],
        discount=money(invoice.discount_minor, invoice.currency, customer) if invoice.discount_minor else "",
        total=money(invoice.total_minor, invoice.currency, customer),
        refunded=money(invoice.refunded_minor, invoice.currency, customer) if invoice.refunded_minor else "",
        method=method_label(attempt.payment_method, customer),
        customer_name=customer.name,
        customer_email=customer.email,
        phone_number=subscription.esim.msisdn if subscription else "",
        period_starts=local_datetime(period.starts_at, customer) if period else "",
        period_ends=local_datetime(period.ends_at, customer) if period else "",
    )
