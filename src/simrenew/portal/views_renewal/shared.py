"""What the renewal and payment pages share."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from urllib.parse import urlencode, urlsplit, urlunsplit

from django import forms
from django.conf import settings
from django.http import HttpResponse, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext

from simrenew.customers.models import Customer
from simrenew.kit.errors import SimrenewError
from simrenew.payments.charging import run_charge
from simrenew.payments.gateway import get_gateway, paypal_gateway_name
from simrenew.payments.models import (
    ONE_OFF_TYPES,
    AttemptStatus,
    MethodType,
    PaymentAttempt,
    PaymentMethod,
)
from simrenew.payments.services import (
    get_method,
    one_off_method,
    wallet_method,
)
from simrenew.portal.forms_renewal import (
    WALLET_CHOICE,
    add_service_errors,
)
from simrenew.portal.presenters import (
    method_label,
    service_message,
    wallet_label,
)
from simrenew.subscriptions.models import Subscription

HISTORY_PAGE_SIZE = 20


def idempotency_key(customer: Customer, key: object) -> str:
    return f"portal:{customer.pk}:{key}"


def confirmation_url(attempt_id: int) -> str:
    """Where a customer paying on our pages comes back to after their bank's check (3-D Secure):
    the payment's confirmation page, which runs the check and shows its outcome."""
    return settings.SIMRENEW_PUBLIC_URL + reverse("portal:confirmation", args=[attempt_id])


def charge_then_confirm(
    form: forms.Form,
    begin: Callable[[], PaymentAttempt],
    *,
    guard: AbstractContextManager[object] | None = None,
) -> HttpResponse | str:
    """Charge (`run_charge(begin)`, inside `guard` when given): a payment that went through or is
    still under way goes to its confirmation page; a declined one gives the message to show
    above the form (returned); one refused before charging puts its errors on `form` ("")."""
    try:
        with guard or nullcontext():
            attempt = run_charge(begin, return_to=confirmation_url)
    except SimrenewError as exc:
        add_service_errors(form, exc)
        return ""
    if attempt.status != AttemptStatus.FAILED:
        return redirect("portal:confirmation", attempt_id=attempt.pk)
    return service_message(attempt.failure_message)


# --- how a page offers payment methods (renewal, wallet top-up, the manage page) ---------------


def choice_label(method: PaymentMethod, customer: Customer) -> str:
    """Two cards can share brand and last 4: the expiry tells them apart."""
    label = method_label(method, customer)
    if method.exp_month and method.exp_year:
        expiry = f"{method.exp_month:02d}/{method.exp_year}"
        return gettext("%(method)s · expires %(expiry)s") % {"method": label, "expiry": expiry}
    return label


def payment_choices(customer: Customer) -> list[tuple[str, str]]:
    """Saved cards and PayPal (brand and last 4 only), then the wallet with its balance."""
    choices = [
        (str(method.pk), choice_label(method, customer))
        for method in PaymentMethod.objects.filter(customer=customer, removed_at__isnull=True)
        .exclude(type=MethodType.WALLET)
        .order_by("-is_default", "id")
    ]
    choices.append((WALLET_CHOICE, wallet_label(customer)))
    if paid_elsewhere_offered(customer):
        choices += [(MethodType.ALIPAY.value, gettext("Alipay")), (MethodType.WECHAT_PAY.value, gettext("WeChat Pay"))]
    return choices


def paid_elsewhere_offered(customer: Customer) -> bool:
    """Alipay and WeChat Pay, through Stripe, for a payment made by hand: offered to customers who
    read the portal in Chinese (never for auto-renew: each is paid on the provider's page)."""
    return customer.locale.startswith("zh") and get_gateway().name == "stripe"


def chosen_method(customer: Customer, choice: str) -> PaymentMethod:
    """Inside the charge's first transaction: the wallet, Alipay and WeChat Pay are made methods when
    first used."""
    if choice == WALLET_CHOICE:
        return wallet_method(customer)
    if choice in ONE_OFF_TYPES:
        return one_off_method(customer, choice)
    return get_method(customer=customer, method_id=int(choice))


def default_choice(customer: Customer, subscription: Subscription | None, choices: list[tuple[str, str]]) -> str:
    values = [value for value, _ in choices]
    preferred = subscription.payment_method if subscription else None
    if preferred is not None and preferred.removed_at is None:
        value = WALLET_CHOICE if preferred.type == MethodType.WALLET else str(preferred.pk)
        if value in values:
            return value
    default = PaymentMethod.objects.filter(customer=customer, is_default=True, removed_at__isnull=True).first()
    if default is not None:
        value = WALLET_CHOICE if default.type == MethodType.WALLET else str(default.pk)
        if value in values:
            return value
    return values[0]


def with_query(url: str, **params: object) -> str:
    parts = urlsplit(url)
    query = QueryDict(parts.query, mutable=True)
    for name, value in params.items():
        query[name] = str(value)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query.urlencode(), parts.fragment))


def hosted_page_links(next_url: str, *, paypal: bool = True) -> list[tuple[str, str]]:
    """Where a new card, debit card or PayPal account is entered: the gateway's page."""
    links = [
        (gettext("Add a credit card"), method_page_url("card", next_url)),
        (gettext("Add a debit card"), method_page_url("debit", next_url)),
    ]
    if paypal and paypal_offered():
        links.append((gettext("Add a PayPal account"), method_page_url("paypal", next_url)))
    return links


def paypal_offered() -> bool:
    """PayPal accounts can be linked: through PayPal once configured, or the sandbox's page."""
    return paypal_gateway_name() is not None


def method_page_url(kind: str, next_url: str) -> str:
    """The page a new method of this kind is entered on: the card page (Stripe's Payment Element,
    or the sandbox's form), or PayPal's (through `paypal_link`, which knows whose page it is)."""
    page = reverse("portal:paypal_link" if kind == "paypal" else "portal:card_page")
    return f"{page}?{urlencode({'type': kind, 'next': next_url})}"
