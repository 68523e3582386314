"""Journey step 8: payment history, payment methods and the wallet."""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import get_currency_precision
from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods, require_POST

from simrenew.billing.wallet_top_ups import begin_wallet_top_up
from simrenew.customers.models import Customer
from simrenew.kit.errors import SimrenewError
from simrenew.payments.models import (
    AttemptPurpose,
    MethodType,
    PaymentAttempt,
    PaymentMethod,
    Wallet,
    WalletEntry,
)
from simrenew.payments.queries import attempt_for_key
from simrenew.payments.services import (
    make_default,
    remove_payment_method,
)
from simrenew.portal.forms_renewal import (
    AUTO_RENEW_OFF,
    WALLET_CHOICE,
    RemoveMethodForm,
    WalletTopUpForm,
    new_idempotency_key,
)
from simrenew.portal.pages import customer_page
from simrenew.portal.presenters import (
    attempt_summary,
    local_datetime,
    method_label,
    method_rows,
    money,
    service_message,
    wallet_balance,
)
from simrenew.portal.views_renewal.shared import (
    HISTORY_PAGE_SIZE,
    charge_then_confirm,
    chosen_method,
    default_choice,
    hosted_page_links,
    idempotency_key,
    payment_choices,
)
from simrenew.subscriptions.cancellation import update_renewal
from simrenew.subscriptions.models import Subscription, SubscriptionState

# --- Step 8: payment history, payment methods, wallet ---------------------------------------


@customer_page
@require_http_methods(["GET", "HEAD"])
def payments(request: HttpRequest, customer: Customer) -> HttpResponse:
    attempts = (
        PaymentAttempt.objects.filter(customer=customer).select_related("payment_method").order_by("-created_at", "-id")
    )
    page = Paginator(attempts, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "portal/payments.html",
        {"customer": customer, "page": page, "rows": [attempt_summary(attempt, customer) for attempt in page]},
    )


@customer_page
@require_http_methods(["GET", "HEAD"])
def payment_methods(request: HttpRequest, customer: Customer) -> HttpResponse:
    here = reverse("portal:payment_methods")
    return render(
        request,
        "portal/methods.html",
        {"customer": customer, "rows": method_rows(customer), "add_links": hosted_page_links(here)},
    )


def own_method(customer: Customer, method_id: int) -> PaymentMethod:
    return get_object_or_404(PaymentMethod, pk=method_id, customer=customer, removed_at__isnull=True)


def auto_renewing_with(method: PaymentMethod) -> list[Subscription]:
    """The customer's plans whose auto-renew pays with `method`."""
    return list(
        Subscription.objects.filter(
            payment_method=method, auto_renew=True, state__in=[SubscriptionState.LIVE, SubscriptionState.INCOMPLETE]
        ).select_related("esim", "plan")
    )


@customer_page
@require_POST
def payment_method_remove(request: HttpRequest, customer: Customer, method_id: int) -> HttpResponse:
    """Remove a saved card or PayPal account. The wallet is not a method one removes (its
    money stays in it). Removing the one auto-renew uses first asks what auto-renew should
    pay with instead, or to turn it off: a renewal must not fail for want of a method."""
    method = own_method(customer, method_id)
    label = method_label(method, customer)
    if method.type == MethodType.WALLET:
        messages.error(request, gettext("Your wallet cannot be removed; its balance stays yours to spend."))
        return redirect("portal:payment_methods")
    renewing = auto_renewing_with(method)
    if renewing:
        choices = [choice for choice in payment_choices(customer) if choice[0] != str(method.pk)]
        form = RemoveMethodForm(request.POST if "then" in request.POST else None, method_choices=choices)
        if not form.is_valid():
            return render(
                request,
                "portal/method_remove.html",
                {"customer": customer, "method": method, "label": label, "renewing": renewing, "form": form},
                status=400 if form.is_bound else 200,
            )
        try:
            with transaction.atomic():
                then = form.cleaned_data["then"]
                replacement = None if then == AUTO_RENEW_OFF else chosen_method(customer, then)
                for subscription in renewing:
                    if replacement is None:
                        update_renewal(subscription, auto_renew=False)
                    else:
                        update_renewal(subscription, payment_method=replacement)
                remove_payment_method(method)
        except SimrenewError as exc:
            messages.error(request, service_message(exc.detail))
            return redirect("portal:payment_methods")
        if replacement is None:
            messages.info(request, gettext("Auto-renew is off. Your plans run to the end of what you paid for."))
        else:
            messages.info(
                request,
                gettext("Auto-renew now pays with %(method)s.") % {"method": method_label(replacement, customer)},
            )
    else:
        with transaction.atomic():
            remove_payment_method(method)
    messages.success(request, gettext("%(method)s is removed.") % {"method": label})
    return redirect("portal:payment_methods")


@customer_page
@require_POST
def payment_method_default(request: HttpRequest, customer: Customer, method_id: int) -> HttpResponse:
    method = own_method(customer, method_id)
    try:
        with transaction.atomic():
            make_default(method)
    except SimrenewError as exc:
        messages.error(request, service_message(exc.detail))
    else:
        messages.success(
            request, gettext("%(method)s is now your default.") % {"method": method_label(method, customer)}
        )
    return redirect("portal:payment_methods")


def to_minor(amount: Decimal, currency: str) -> int | None:
    """Major units as typed → minor units; None when it has more decimals than the currency."""
    scaled = amount.scaleb(get_currency_precision(currency))
    return int(scaled) if scaled == scaled.to_integral_value() else None


def replay_or_begin_wallet_top_up(customer: Customer, choice: str, amount_minor: int, key: str) -> PaymentAttempt:
    """The top-up service leaves replays to its caller (charging.create_attempt): the same
    form posted twice finds the first attempt and shows its outcome instead of a conflict."""
    replay = attempt_for_key(key)
    if replay is not None and replay.customer_id == customer.pk and replay.purpose == AttemptPurpose.WALLET_TOP_UP:
        return replay
    return begin_wallet_top_up(
        customer=customer,
        payment_method=chosen_method(customer, choice),
        amount_minor=amount_minor,
        idempotency_key=key,
    )


@customer_page
@require_http_methods(["GET", "HEAD", "POST"])
def wallet(request: HttpRequest, customer: Customer) -> HttpResponse:
    balance, currency = wallet_balance(customer)
    choices = [choice for choice in payment_choices(customer) if choice[0] != WALLET_CHOICE]
    failure = ""
    if request.method == "POST":
        form = WalletTopUpForm(request.POST, method_choices=choices)
        if form.is_valid():
            amount_minor = to_minor(form.cleaned_data["amount"], currency)
            if amount_minor is None:
                form.add_error("amount", gettext("Enter an amount with at most two decimals."))
            else:
                key = idempotency_key(customer, form.cleaned_data["idempotency_key"])
                choice = form.cleaned_data["payment_method"]
                outcome = charge_then_confirm(
                    form, lambda: replay_or_begin_wallet_top_up(customer, choice, amount_minor, key)
                )
                if isinstance(outcome, HttpResponse):
                    return outcome
                failure = outcome
        selected = str(request.POST.get("payment_method", ""))
    else:
        form = WalletTopUpForm(method_choices=choices)
        wanted = request.GET.get("method", "")
        values = [value for value, _ in choices]
        selected = wanted if wanted in values else (default_choice(customer, None, choices) if choices else "")
    entries = WalletEntry.objects.filter(wallet__customer=customer).order_by("-id")[:20]
    return render(
        request,
        "portal/wallet.html",
        {
            "customer": customer,
            "balance": money(balance, currency, customer),
            "currency": currency,
            "has_wallet": Wallet.objects.filter(customer=customer).exists(),
            "entries": [
                {
                    "when": local_datetime(entry.created_at, customer),
                    "amount": money(abs(entry.amount_minor), currency, customer),
                    "credit": entry.amount_minor > 0,
                }
                for entry in entries
            ],
            "form": form,
            "choices": choices,
            "selected": selected,
            "next_key": new_idempotency_key(),
            "failure": failure,
            "add_links": hosted_page_links(reverse("portal:wallet")),
        },
    )
