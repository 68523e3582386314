"""What a customer reads: an outbox event rendered as an email (subject, text, HTML)
or a short SMS, in the customer's language, money in their locale and times in
their own time zone (with the zone shown).

Python gathers the facts an event refers to (the plan via the subscription, the
invoice by its number, through the lookups those domains register in
`notifications.facts`) and formats them; the words live in one template per
event type, `notifications/events/<event type>.html`. Each event template fills
the blocks `subject`, `lead` (what happened), `next` (what to do next),
`action_label` and `sms`, and extends the layout it is given: the same template
renders the subject line, the text body, the HTML body and the SMS.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext

from simrenew.catalog.labels import WORD_JOINER
from simrenew.customers.models import Customer
from simrenew.kit.money import babel_locale, format_gigabytes, format_money
from simrenew.kit.timezones import local_date_time, zone_name
from simrenew.notifications.events import notice_kind
from simrenew.notifications.facts import (
    InvoiceFacts,
    SubscriptionFacts,
    invoice_facts,
    paid_period_facts,
    subscription_facts,
)
from simrenew.notifications.models import OutboxMessage
from simrenew.notifications.sms import SMS_MAX_LENGTH
from simrenew.payments.failures import OTHER_FAILURE
from simrenew.payments.labels import card_label, method_label
from simrenew.payments.models import PaymentMethod

LAYOUTS = {
    "subject": "notifications/layouts/subject.txt",
    "text": "notifications/layouts/email.txt",
    "html": "notifications/layouts/email.html",
    "sms": "notifications/layouts/sms.txt",
}


class RenderingError(Exception):
    """The event cannot be turned into a message (no template for its type)."""


@dataclass(frozen=True)
class EmailContent:
    subject: str
    text: str
    html: str


def template_name(event_type: str) -> str:
    return f"notifications/events/{event_type}.html"


def render_email(message: OutboxMessage, customer: Customer) -> EmailContent:
    with translation.override(customer.locale):
        context = _context(message, customer)
        name = template_name(message.event_type)
        subject = _one_line(render_to_string(name, {**context, "layout": LAYOUTS["subject"]}))
        context["subject"] = subject
        text = _tidy(render_to_string(name, {**context, "layout": LAYOUTS["text"]}))
        html = render_to_string(name, {**context, "layout": LAYOUTS["html"]})
    return EmailContent(subject=subject, text=text + "\n", html=html)


def render_sms(message: OutboxMessage, customer: Customer) -> str:
    """The event in at most SMS_MAX_LENGTH characters, ending with the portal's address (or the
    page the customer must act on, when only they can: `sms_link`)."""
    with translation.override(customer.locale):
        context = _context(message, customer)
        text = _one_line(render_to_string(template_name(message.event_type), {**context, "layout": LAYOUTS["sms"]}))
    text = _sms_alphabet(text)
    link = f" {context.get('sms_link') or context['portal_url']}"
    room = SMS_MAX_LENGTH - len(link)
    if len(text) > room:
        text = text[: room - 1].rstrip() + "…"
    return text + link


def portal_url() -> str:
    return f"{settings.SIMRENEW_PUBLIC_URL}/"


def _link(name: str, *args: object) -> str:
    return settings.SIMRENEW_PUBLIC_URL + reverse(name, args=args)


_BLANK_RUN = re.compile(r"\n{3,}")
# Sentences join with a space in English; after Chinese full-width punctuation (the ideographic
# full stop; full-width comma, colon, semicolon, exclamation and question marks, closing parenthesis)
# the space is wrong.
_SPACE_AFTER_CJK_PUNCTUATION = re.compile("(?<=[\u3002\uff0c\uff1a\uff1b\uff01\uff1f\uff09]) +")


def _one_line(text: str) -> str:
    # split() also takes the (narrow) no-break spaces CLDR puts in times ("7:00\u202fAM"):
    # plain spaces keep an SMS in the GSM-7 alphabet, where a segment holds 160 characters.
    # A subject or a text has no lines to break: the word joiners of plan names ("个\u2060月") go.
    return _SPACE_AFTER_CJK_PUNCTUATION.sub("", " ".join(text.replace(WORD_JOINER, "").split()))


def _tidy(text: str) -> str:
    """Template tags leave stray spaces and blank lines; keep one blank line between paragraphs."""
    lines = "\n".join(line.strip() for line in text.replace(WORD_JOINER, "").strip().splitlines())
    return _SPACE_AFTER_CJK_PUNCTUATION.sub("", _BLANK_RUN.sub("\n\n", lines))


def _sms_alphabet(text: str) -> str:
    """A plan name's middle dot ("AT&T 1 month · 20 GB") is not in the GSM-7 alphabet: alone it
    would send the whole text as UCS-2, 70 characters a segment instead of 160. Where it is the
    only such character, a comma takes its place; Chinese texts are UCS-2 anyway and keep it."""
    plain = text.replace(" · ", ", ")
    return plain if plain.isascii() else text


class Formatter:
    """Values as this customer reads them; anything missing or malformed becomes ""."""

    def __init__(self, customer: Customer):
        self.locale = babel_locale(customer.locale)
        self.language = customer.locale
        try:
            self.zone = ZoneInfo(customer.time_zone)
            self.zone_name = zone_name(customer.time_zone, customer.locale)  # Babel's, in their language
        except (ZoneInfoNotFoundError, ValueError):
            self.zone, self.zone_name = ZoneInfo("UTC"), "UTC"

    def money(self, amount_minor: object, currency: object) -> str:
        if not isinstance(amount_minor, int) or isinstance(amount_minor, bool) or not isinstance(currency, str):
            return ""
        try:
            return format_money(amount_minor, currency, self.language)
        except Exception:  # an unknown currency code must not cost the customer the message
            return ""

    def when(self, value: object) -> str:
        """“Jan 15, 2026, 7:00 AM Eastern Time (New York)”: local time, with the zone it is in."""
        moment = _moment(value)
        if moment is None:
            return ""
        return f"{local_date_time(moment, self.zone, self.language)} {self.zone_name}"

    def data(self, mb: object) -> str:
        if not isinstance(mb, int | float) or isinstance(mb, bool):
            return ""
        amount = format_gigabytes(mb, self.locale)
        return gettext("%(amount)s GB") % {"amount": amount}


def _moment(value: object) -> datetime | None:
    if isinstance(value, datetime):
        moment: datetime | None = value
    elif isinstance(value, str):
        try:
            moment = parse_datetime(value)
        except ValueError:
            return None
    else:
        return None
    if moment is None:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


# --- What each event says: facts gathered per event type ------------------------------------


class Context(dict[str, Any]):
    """The template context, with the facts table built up in order."""

    def fact(self, label: str, value: str) -> None:
        if value:
            self["facts"].append((label, value))


Builder = Callable[[Context, dict[str, Any], Formatter, SubscriptionFacts | None], None]


def _context(message: OutboxMessage, customer: Customer) -> Context:
    builder = BUILDERS.get(message.event_type)
    if builder is None or notice_kind(message.event_type) is None:
        raise RenderingError(f"no customer message for {message.event_type!r} events")
    payload: dict[str, Any] = message.payload if isinstance(message.payload, dict) else {}
    subscription = _subscription(message, payload)
    context = Context(
        name=customer.name,
        lang=customer.locale,
        portal_url=portal_url(),
        settings_url=_link("portal:settings"),
        action_url=portal_url(),
        plan_name=subscription.plan_name if subscription else gettext("your plan"),
        esim_number=subscription.esim_number if subscription else "",
        facts=[],
    )
    fmt = Formatter(customer)
    builder(context, payload, fmt, subscription)
    return context


def _subscription(message: OutboxMessage, payload: dict[str, Any]) -> SubscriptionFacts | None:
    subscription_id = message.subscription_id or _int(payload.get("subscription_id"))
    if subscription_id is None:
        return None
    return subscription_facts(subscription_id)


def _invoice(payload: dict[str, Any]) -> InvoiceFacts | None:
    number = payload.get("invoice")
    if not isinstance(number, str) or not number:
        return None
    return invoice_facts(number)


def _name_renewal_plan(context: Context, subscription: SubscriptionFacts | None) -> None:
    """A notice about the next purchase names what it buys: the renewal plan."""
    if subscription is not None and subscription.renewal_plan_name:
        context["plan_name"] = subscription.renewal_plan_name


def _plan_facts(context: Context) -> None:
    if context["esim_number"]:
        context.fact(gettext("Plan"), context["plan_name"])
        context.fact(gettext("eSIM number"), context["esim_number"])


def _period_paid(
    context: Context, payload: dict[str, Any], fmt: Formatter, subscription: SubscriptionFacts | None
) -> None:
    """subscription.created and subscription.renewed: a receipt for a period, naming what the
    payment bought from the invoice's own line (the plan of the period it paid for, in the
    customer's language), not the plan the subscription holds now (a day bought on top of a
    month is "1 day", even while the month runs)."""
    invoice = _invoice(payload)
    if invoice is not None and (invoice.item or invoice.description):
        context["plan_name"] = invoice.item or invoice.description
    period = payload.get("period")
    if not isinstance(period, dict):
        period = {}
    starts, ends = fmt.when(period.get("starts_at")), fmt.when(period.get("ends_at"))
    if invoice is not None and not (starts and ends):
        paid = paid_period_facts(invoice.id)
        if paid is not None:
            starts, ends = fmt.when(paid.starts_at), fmt.when(paid.ends_at)
    amount = fmt.money(payload.get("amount_minor"), payload.get("currency"))
    if not amount and invoice is not None:
        amount = fmt.money(invoice.total_minor, invoice.currency)
    context.update(
        invoice_number=str(payload.get("invoice") or ""),
        amount=amount,
        period_starts=starts,
        period_ends=ends,
        auto_renewed=bool(payload.get("auto_renewed")),
    )
    _plan_facts(context)
    context.fact(gettext("Invoice number"), context["invoice_number"])
    context.fact(gettext("Amount paid"), amount)
    if starts and ends:
        context.fact(gettext("Period"), gettext("%(start)s to %(end)s") % {"start": starts, "end": ends})
    if invoice is not None:
        context["action_url"] = _link("portal:receipt", invoice.id)


def _renewal_failed(
    context: Context, payload: dict[str, Any], fmt: Formatter, subscription: SubscriptionFacts | None
) -> None:
    # The message is the failure catalogue's English words (payments.failures), translated here.
    failure = payload.get("failure_message")
    next_retry = fmt.when(payload.get("next_retry_at"))
    _name_renewal_plan(context, subscription)
    action = payload.get("action")
    ends = fmt.when(subscription.paid_through) if subscription and subscription.paid_through else ""
    context.update(
        reason=gettext(failure) if isinstance(failure, str) and failure else gettext(OTHER_FAILURE),
        amount=fmt.money(payload.get("amount_minor"), payload.get("currency")),
        next_retry_at=next_retry,
        action=action,
        service_ends_at=ends,
    )
    _plan_facts(context)
    context.fact(gettext("Amount"), context["amount"])
    context.fact(gettext("Next try"), next_retry)
    context.fact(gettext("Service ends"), ends)
    if action in ("renew_by_hand", "confirm_payment") and subscription is not None:
        context["action_url"] = _link("portal:renew", subscription.id)
        if action == "confirm_payment":  # the text leads straight to where the bank's check runs
            context["sms_link"] = context["action_url"]
    else:
        context["action_url"] = _link("portal:payment_methods")


def _expiring(
    context: Context, payload: dict[str, Any], fmt: Formatter, subscription: SubscriptionFacts | None
) -> None:
    """subscription.expiring and .expiring_soon: the paid service ends and nothing will renew
    it. `auto_renew` here means it is on but cannot charge (no usable method, or it gave up)."""
    days_left = _int(payload.get("days_left"))
    expires = fmt.when(payload.get("expires_at"))
    context.update(
        expires_at=expires,
        days_left=days_left,
        hours_left=_int(payload.get("hours_left")),
        auto_renew=bool(subscription and subscription.renews_automatically),
    )
    _plan_facts(context)
    context.fact(gettext("Service ends"), expires)
    if subscription is not None:
        context["action_url"] = _link("portal:renew", subscription.id)


def _payment_method(payload: dict[str, Any], customer_id: int | None) -> tuple[str, PaymentMethod | None]:
    """The method an event names: by id (labelled in the customer's language), else as the payload words it."""
    named = payload.get("payment_method")
    method_id = _int(payload.get("payment_method_id")) or _int(named)
    if method_id is not None and customer_id is not None:
        method = PaymentMethod.every.filter(pk=method_id, customer_id=customer_id).first()  # Alipay too
        if method is not None:
            return method_label(method), method
    if isinstance(named, str) and not named.isdigit():
        return named, None
    if isinstance(named, dict) and named.get("last4"):
        return card_label(brand=str(named.get("brand") or ""), last4=str(named["last4"])), None
    return "", None


def _auto_renew_upcoming(
    context: Context, payload: dict[str, Any], fmt: Formatter, subscription: SubscriptionFacts | None
) -> None:
    method, _ = _payment_method(payload, subscription.customer_id if subscription else None)
    _name_renewal_plan(context, subscription)
    context.update(
        charge_at=fmt.when(payload.get("charge_at")),
        expires_at=fmt.when(payload.get("expires_at")),
        amount=fmt.money(payload.get("amount_minor"), payload.get("currency")),
        payment_method=method,
    )
    _plan_facts(context)
    context.fact(gettext("Amount"), context["amount"])
    context.fact(gettext("Charged on"), context["charge_at"])
    context.fact(gettext("Payment method"), method)
    context.fact(gettext("Current period ends"), context["expires_at"])
    if subscription is not None:
        context["action_url"] = _link("portal:manage", subscription.id)


def _payment_method_expiring(
    context: Context, payload: dict[str, Any], fmt: Formatter, subscription: SubscriptionFacts | None
) -> None:
    label, method = _payment_method(payload, subscription.customer_id if subscription else None)
    month = _int(payload.get("exp_month")) or (method.exp_month if method else None)
    year = _int(payload.get("exp_year")) or (method.exp_year if method else None)
    context.update(
        payment_method=label,
        card_expiry=f"{month:02d}/{year}" if month and year else "",
        renews_at=fmt.when(payload.get("renews_at")),
    )
    _plan_facts(context)
    context.fact(gettext("Payment method"), label)
    context.fact(gettext("Card expires"), context["card_expiry"])
    context.fact(gettext("Next renewal"), context["renews_at"])
    context["action_url"] = _link("portal:payment_methods")


def _suspended(
    context: Context, payload: dict[str, Any], fmt: Formatter, subscription: SubscriptionFacts | None
) -> None:
    context["suspended_at"] = fmt.when(payload.get("suspended_at"))
    _plan_facts(context)
    context.fact(gettext("Suspended since"), context["suspended_at"])
    if subscription is not None:
        context["action_url"] = _link("portal:renew", subscription.id)


def _termination_warning(
    context: Context, payload: dict[str, Any], fmt: Formatter, subscription: SubscriptionFacts | None
) -> None:
    context["terminates_at"] = fmt.when(payload.get("terminates_at"))
    _plan_facts(context)
    context.fact(gettext("Number released on"), context["terminates_at"])
    if subscription is not None:
        context["action_url"] = _link("portal:renew", subscription.id)


def _terminated(
    context: Context, payload: dict[str, Any], fmt: Formatter, subscription: SubscriptionFacts | None
) -> None:
    context["terminated_at"] = fmt.when(payload.get("terminated_at"))
    _plan_facts(context)
    context.fact(gettext("Ended on"), context["terminated_at"])
    context["action_url"] = _link("portal:dashboard")


def _usage_threshold(
    context: Context, payload: dict[str, Any], fmt: Formatter, subscription: SubscriptionFacts | None
) -> None:
    left, total = fmt.data(payload.get("data_left_mb")), fmt.data(payload.get("data_total_mb"))
    context.update(percent=_int(payload.get("percent")), data_left=left, data_total=total)
    _plan_facts(context)
    if left and total:
        context.fact(gettext("Data left"), gettext("%(left)s of %(total)s") % {"left": left, "total": total})
    if subscription is not None:
        context["action_url"] = _link("portal:top_up", subscription.id)


def _cancelled(
    context: Context, payload: dict[str, Any], fmt: Formatter, subscription: SubscriptionFacts | None
) -> None:
    # What cancelling now pays back, and where (older messages have no refund fields: nothing shown).
    refund_minor, to_wallet_minor = payload.get("refund_minor") or 0, payload.get("refund_to_wallet_minor") or 0
    currency = payload.get("refund_currency")
    context.update(
        cancelled_now=payload.get("when") == "now",
        service_ends_at=fmt.when(payload.get("service_ends_at")),
        refund_amount=fmt.money(refund_minor, currency) if refund_minor else "",
        refund_to_wallet=fmt.money(to_wallet_minor, currency) if to_wallet_minor else "",
        refund_to_method=fmt.money(refund_minor - to_wallet_minor, currency) if refund_minor > to_wallet_minor else "",
    )
    _plan_facts(context)
    context.fact(gettext("Service ends"), context["service_ends_at"])
    # Written when the cancellation commits, before the payment provider has answered.
    context.fact(gettext("Amount being refunded"), context["refund_amount"])
    if subscription is not None:
        context["action_url"] = _link("portal:manage", subscription.id)


def _topped_up(
    context: Context, payload: dict[str, Any], fmt: Formatter, subscription: SubscriptionFacts | None
) -> None:
    invoice = _invoice(payload)
    context.update(
        data_added=fmt.data(payload.get("data_mb")),
        invoice_number=str(payload.get("invoice") or ""),
        amount=fmt.money(invoice.total_minor, invoice.currency) if invoice else "",
    )
    _plan_facts(context)
    if invoice is not None:  # the pack that payment bought, in the customer's language
        context.fact(gettext("Item"), invoice.item or invoice.description)
    context.fact(gettext("Data added"), context["data_added"])
    context.fact(gettext("Invoice number"), context["invoice_number"])
    context.fact(gettext("Amount paid"), context["amount"])
    if invoice is not None:
        context["action_url"] = _link("portal:receipt", invoice.id)
    elif subscription is not None:
        context["action_url"] = _link("portal:usage", subscription.id)


def _refunded(
    context: Context, payload: dict[str, Any], fmt: Formatter, subscription: SubscriptionFacts | None
) -> None:
    invoice = _invoice(payload)
    to_wallet = bool(payload.get("to_wallet"))
    context.update(
        invoice_number=str(payload.get("invoice") or ""),
        amount=fmt.money(payload.get("amount_minor"), payload.get("currency")),
        to_wallet=to_wallet,
    )
    context.fact(gettext("Invoice number"), context["invoice_number"])
    if invoice is not None:
        context.fact(gettext("Item"), invoice.item or invoice.description)
    context.fact(gettext("Amount refunded"), context["amount"])
    context.fact(
        gettext("Refunded to"), gettext("Your simrenew wallet") if to_wallet else gettext("The payment method you used")
    )
    if invoice is not None:
        context["action_url"] = _link("portal:receipt", invoice.id)


def _download_failed(
    context: Context, payload: dict[str, Any], fmt: Formatter, subscription: SubscriptionFacts | None
) -> None:
    context.fact(gettext("eSIM (ICCID)"), str(payload.get("iccid") or ""))
    context["action_url"] = _link("portal:help")


def _port_completed(
    context: Context, payload: dict[str, Any], fmt: Formatter, subscription: SubscriptionFacts | None
) -> None:
    number = str(payload.get("msisdn") or "")
    context.update(ported_number=number, old_plan_ended=bool(payload.get("old_plan_ended")))
    context.fact(gettext("Phone number"), number)
    context.fact(gettext("Moved on"), fmt.when(payload.get("completed_at")))
    context["action_url"] = _link("portal:manage", subscription.id) if subscription else _link("portal:dashboard")


def _port_failed(
    context: Context, payload: dict[str, Any], fmt: Formatter, subscription: SubscriptionFacts | None
) -> None:
    # The reason is the carrier's own words, shown as given (it is not in our catalogue).
    number, kept = str(payload.get("msisdn") or ""), str(payload.get("esim_msisdn") or "")
    context.update(ported_number=number, esim_msisdn=kept, reason=str(payload.get("reason") or ""))
    context.fact(gettext("Number not moved"), number)
    context.fact(gettext("Your new eSIM's number"), kept)
    context.fact(gettext("Reason given by the carrier"), context["reason"])
    context["action_url"] = _link("portal:manage", subscription.id) if subscription else _link("portal:dashboard")


BUILDERS: dict[str, Builder] = {
    "esim.download_failed": _download_failed,
    "esim.port_completed": _port_completed,
    "esim.port_failed": _port_failed,
    "subscription.created": _period_paid,
    "subscription.renewed": _period_paid,
    "subscription.renewal_failed": _renewal_failed,
    "subscription.expiring": _expiring,
    "subscription.expiring_soon": _expiring,
    "subscription.auto_renew_upcoming": _auto_renew_upcoming,
    "payment_method.expiring": _payment_method_expiring,
    "subscription.suspended": _suspended,
    "subscription.termination_warning": _termination_warning,
    "subscription.terminated": _terminated,
    "usage.threshold_reached": _usage_threshold,
    "subscription.cancelled": _cancelled,
    "subscription.topped_up": _topped_up,
    "payment.refunded": _refunded,
}
