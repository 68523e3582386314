"""Renew, pay, confirmation and receipts; payment history, payment methods and
the wallet (issue 3, journey steps 3, 4, 5 and 8).

Thin views over the services: rules live in subscriptions.renewals,
catalog.services and payments; charges go through `run_charge`, which owns its
transactions, so it is never called inside `transaction.atomic`. Every id in a
URL is looked up through the signed-in customer: another customer's id is a 404.
"""

from __future__ import annotations

import io
from contextlib import AbstractContextManager
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlencode, urlsplit, urlunsplit

from babel.numbers import get_currency_precision
from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from simrenew.billing.models import Invoice
from simrenew.catalog import promotion_attempts
from simrenew.catalog.models import Plan
from simrenew.catalog.promotion_attempts import TooManyPromotionAttempts
from simrenew.catalog.services import PriceQuote, PromotionNotApplicable, quote
from simrenew.customers.models import Customer
from simrenew.kit import clock
from simrenew.kit.errors import SimrenewError
from simrenew.payments.charging import run_charge
from simrenew.payments.gateway import get_gateway
from simrenew.payments.models import (
    AttemptPurpose,
    AttemptStatus,
    MethodType,
    PaymentAttempt,
    PaymentMethod,
    Wallet,
    WalletEntry,
)
from simrenew.payments.queries import attempt_for_key
from simrenew.payments.services import (
    NewMethod,
    get_method,
    make_default,
    remove_payment_method,
    save_payment_method,
    tokenize,
    wallet_method,
)
from simrenew.payments.wallet_top_ups import begin_wallet_top_up
from simrenew.portal.forms_renewal import (
    WALLET_CHOICE,
    HostedCardForm,
    PayForm,
    RenewChoiceForm,
    WalletTopUpForm,
    add_service_errors,
    new_idempotency_key,
)
from simrenew.portal.pages import customer_page, own_subscription
from simrenew.portal.presenters import (
    PLAN_KIND_ORDER,
    Receipt,
    attempt_summary,
    gigabytes,
    local_datetime,
    method_label,
    method_rows,
    money,
    plan_kind,
    plan_kind_label,
    plan_summary,
    plan_title,
    receipt,
    service_message,
    wallet_balance,
    wallet_label,
)
from simrenew.subscriptions.models import Subscription
from simrenew.subscriptions.renewals import begin_renewal, preview_next_period

HISTORY_PAGE_SIZE = 20


def idempotency_key(customer: Customer, key: object) -> str:
    return f"portal:{customer.pk}:{key}"


# --- Step 3: choose the renewal ---------------------------------------------------------


def renewal_plans(subscription: Subscription) -> list[Plan]:
    """The carrier's plans on sale, and the subscriber's own version (kept even when no longer sold)."""
    plans = list(Plan.objects.filter(carrier_id=subscription.plan.carrier_id, is_current=True))
    if all(plan.pk != subscription.plan_id for plan in plans):
        plans.append(subscription.plan)
    plans.sort(key=lambda p: (PLAN_KIND_ORDER[plan_kind(p)], p.period_count, p.price_minor, p.pk))
    return plans


@dataclass(frozen=True)
class PlanOption:
    plan: Plan
    summary: str
    is_current: bool


@dataclass(frozen=True)
class PlanGroup:
    label: str
    options: list[PlanOption]


def plan_groups(plans: list[Plan], subscription: Subscription, customer: Customer) -> list[PlanGroup]:
    groups: dict[str, list[PlanOption]] = {}
    for plan in plans:
        option = PlanOption(plan, plan_summary(plan, customer), plan.pk == subscription.plan_id)
        groups.setdefault(plan_kind(plan), []).append(option)
    return [PlanGroup(plan_kind_label(kind), options) for kind, options in groups.items()]


@dataclass(frozen=True)
class RenewalPreview:
    plan: Plan
    plan_name: str
    data: str
    bonus_data: str
    subtotal: str
    discount: str
    total: str
    total_minor: int
    currency: str
    promo_code: str
    starts_at: str
    ends_at: str
    changes_plan: bool
    starts_later: bool


def guarded_promo(request: HttpRequest, customer: Customer, promo_code: str | None) -> AbstractContextManager[None]:
    """Failed promotion codes are counted per customer and per IP; over the limit a code is
    refused (TooManyPromotionAttempts) before it is looked up."""
    return promotion_attempts.guard(
        customer_id=customer.pk, client=promotion_attempts.client_of(request), code=promo_code, request=request
    )


def renewal_preview(
    request: HttpRequest,
    subscription: Subscription,
    plan: Plan,
    customer: Customer,
    promo_code: str,
    form: RenewChoiceForm | None,
) -> RenewalPreview:
    """Price (with the promotion, if it applies) and the exact next period, before paying.
    A promotion that does not apply (or one too many tried) says why on the form and is
    left out of the price."""
    price: PriceQuote
    try:
        with guarded_promo(request, customer, promo_code):
            price = quote(plan=plan, customer=customer, promo_code=promo_code or None)
    except (PromotionNotApplicable, TooManyPromotionAttempts) as exc:
        if form is not None and form.is_bound:
            add_service_errors(form, exc)
        price = quote(plan=plan, customer=customer, promo_code=None)
        promo_code = ""
    span = preview_next_period(subscription, plan)
    return RenewalPreview(
        plan=plan,
        plan_name=plan_title(plan, customer),
        data=gigabytes(plan.data_mb, customer),
        bonus_data=gigabytes(price.bonus_data_mb, customer) if price.bonus_data_mb else "",
        subtotal=money(price.subtotal.amount_minor, price.subtotal.currency, customer),
        discount=money(price.discount.amount_minor, price.discount.currency, customer)
        if price.discount.amount_minor
        else "",
        total=money(price.total.amount_minor, price.total.currency, customer),
        total_minor=price.total.amount_minor,
        currency=price.total.currency,
        promo_code=promo_code if price.promotion else "",
        starts_at=local_datetime(span.starts_at, customer),
        ends_at=local_datetime(span.ends_at, customer),
        changes_plan=plan.pk != subscription.plan_id,
        starts_later=span.starts_at > clock.now(),
    )


@customer_page
@require_http_methods(["GET", "HEAD"])
def renew(request: HttpRequest, customer: Customer, subscription_id: int) -> HttpResponse:
    """Choose the plan and a promotion code; see the price and the next period. Sent by
    GET: choosing changes nothing, and "Continue to payment" carries the choice on."""
    subscription = own_subscription(customer, subscription_id)
    plans = renewal_plans(subscription)
    by_id = {plan.pk: plan for plan in plans}
    bound = "plan" in request.GET or "promo_code" in request.GET
    form = RenewChoiceForm(
        request.GET if bound else None,
        initial={"plan": subscription.plan_id},
        plan_choices=[(plan.pk, plan.name) for plan in plans],
    )
    plan, promo_code = subscription.plan, ""
    if bound and form.is_valid():
        plan = by_id[form.cleaned_data["plan"]]
        promo_code = form.cleaned_data["promo_code"]
    preview = renewal_preview(request, subscription, plan, customer, promo_code, form)
    return render(
        request,
        "portal/renew.html",
        {
            "customer": customer,
            "subscription": subscription,
            "form": form,
            "groups": plan_groups(plans, subscription, customer),
            "selected_plan": plan.pk,
            "preview": preview,
        },
    )


# --- Step 4: pay ---------------------------------------------------------------------------


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
    return choices


def chosen_method(customer: Customer, choice: str) -> PaymentMethod:
    """Inside the charge's first transaction: the wallet is made a method when first used."""
    if choice == WALLET_CHOICE:
        return wallet_method(customer)
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
    page = reverse("portal:sandbox_gateway_card")
    links = [
        (gettext("Add a credit card"), f"{page}?{urlencode({'type': 'card', 'next': next_url})}"),
        (gettext("Add a debit card"), f"{page}?{urlencode({'type': 'debit', 'next': next_url})}"),
    ]
    if paypal:
        links.append((gettext("Add a PayPal account"), f"{page}?{urlencode({'type': 'paypal', 'next': next_url})}"))
    return links


@customer_page
@require_http_methods(["GET", "HEAD", "POST"])
def pay(request: HttpRequest, customer: Customer, subscription_id: int) -> HttpResponse:
    subscription = own_subscription(customer, subscription_id)
    plans = renewal_plans(subscription)
    by_id = {plan.pk: plan for plan in plans}
    plan_choices = [(plan.pk, plan.name) for plan in plans]
    choices = payment_choices(customer)
    failure = ""
    if request.method == "POST":
        form = PayForm(request.POST, plan_choices=plan_choices, method_choices=choices)
        if form.is_valid():
            plan = by_id[form.cleaned_data["plan"]]
            promo_code = form.cleaned_data["promo_code"]
            choice = form.cleaned_data["payment_method"]
            key = idempotency_key(customer, form.cleaned_data["idempotency_key"])
            try:
                with guarded_promo(request, customer, promo_code):
                    attempt = run_charge(
                        lambda: begin_renewal(
                            subscription=subscription,
                            idempotency_key=key,
                            plan=plan,
                            payment_method=chosen_method(customer, choice),
                            promo_code=promo_code or None,
                        )
                    )
            except SimrenewError as exc:
                add_service_errors(form, exc)
            else:
                if attempt.status != AttemptStatus.FAILED:
                    return redirect("portal:confirmation", attempt_id=attempt.pk)
                failure = service_message(attempt.failure_message)
        else:
            plan = by_id.get(_int(request.POST.get("plan")), subscription.plan)
            promo_code = str(request.POST.get("promo_code", "")).strip()
        selected = str(request.POST.get("payment_method", ""))
    else:
        choice_form = RenewChoiceForm(request.GET, plan_choices=plan_choices)
        if not choice_form.is_valid():
            return redirect(with_query(reverse("portal:renew", args=[subscription.pk])))
        plan = by_id[choice_form.cleaned_data["plan"]]
        promo_code = choice_form.cleaned_data["promo_code"]
        if promo_code:
            try:
                with guarded_promo(request, customer, promo_code):
                    quote(plan=plan, customer=customer, promo_code=promo_code)
            except (PromotionNotApplicable, TooManyPromotionAttempts):
                # Back to the choice, which says why the code does not apply.
                renew_url = reverse("portal:renew", args=[subscription.pk])
                return redirect(with_query(renew_url, plan=plan.pk, promo_code=promo_code))
        form = PayForm(plan_choices=plan_choices, method_choices=choices)
        wanted = request.GET.get("method", "")
        values = [value for value, _ in choices]
        selected = wanted if wanted in values else default_choice(customer, subscription, choices)
    preview = renewal_preview(request, subscription, plan, customer, promo_code, None)
    here = with_query(reverse("portal:pay", args=[subscription.pk]), plan=plan.pk, promo_code=preview.promo_code)
    balance, currency = wallet_balance(customer)
    return render(
        request,
        "portal/pay.html",
        {
            "customer": customer,
            "subscription": subscription,
            "form": form,
            "preview": preview,
            "choices": choices,
            "selected": selected,
            # A fresh key for every form shown: a retry after a decline is a new payment,
            # while a reload or double click of the same form re-sends the old key.
            "next_key": new_idempotency_key(),
            "failure": failure,
            "add_links": hosted_page_links(here),
            "wallet_short": currency == preview.currency and balance < preview.total_minor,
            "change_url": with_query(
                reverse("portal:renew", args=[subscription.pk]), plan=plan.pk, promo_code=preview.promo_code
            ),
        },
    )


def _int(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


# --- The gateway's hosted card page (sandbox) -------------------------------------------------


def safe_next(request: HttpRequest, url: str) -> str:
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}, require_https=False):
        return url
    return reverse("portal:payment_methods")


@sensitive_post_parameters("number", "cvc", "exp_month", "exp_year")
@customer_page
@require_http_methods(["GET", "HEAD", "POST"])
@sensitive_variables("new", "data")
def sandbox_gateway_card(request: HttpRequest, customer: Customer) -> HttpResponse:
    """The payment gateway's hosted card page, as the sandbox gateway serves it.

    With a real gateway this page is the provider's own (hosted fields or
    checkout): the card details are posted to it, never to us, and we get back
    only a token with brand, last 4 and expiry. Here the sandbox plays that part:
    the details go straight to `tokenize`, only the token is saved, and the
    number and security code are never written to the database or a log, nor
    rendered into any page (not even when the form is shown again with errors).
    Then the payment continues where it came from, with the new method chosen.
    Only the sandbox gateway has this page: with a real one, card details must never reach us."""
    if get_gateway().name != "sandbox":
        raise Http404("The payment provider hosts its own card page.")
    if request.method == "POST":
        form = HostedCardForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            new = NewMethod(
                type=data["type"],
                number=data["number"] or None,
                exp_month=data["exp_month"],
                exp_year=data["exp_year"],
                cvc=data["cvc"] or None,
                paypal_email=data["paypal_email"] or None,
            )
            try:
                tokenized = tokenize(new)  # the gateway call: outside any transaction
                with transaction.atomic():
                    method = save_payment_method(
                        customer=customer, tokenized=tokenized, make_default=data["make_default"]
                    )
            except SimrenewError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, gettext("%(method)s is saved.") % {"method": method_label(method, customer)})
                return redirect(with_query(safe_next(request, data["next"]), method=method.pk))
        kind = str(request.POST.get("type", "card"))
    else:
        kind = request.GET.get("type", "card")
        if kind not in {"card", "debit", "paypal"}:
            kind = "card"
        form = HostedCardForm(initial={"type": kind, "next": safe_next(request, request.GET.get("next", ""))})
    return render(
        request,
        "portal/sandbox_gateway_card.html",
        {"customer": customer, "form": form, "kind": kind, "back_url": safe_next(request, form["next"].value() or "")},
    )


# --- Step 5: confirmation and receipts -----------------------------------------------------


@customer_page
@require_http_methods(["GET", "HEAD"])
def confirmation(request: HttpRequest, customer: Customer, attempt_id: int) -> HttpResponse:
    """What became of a payment. Reloading is the way to see a pending one settle."""
    attempt = get_object_or_404(
        PaymentAttempt.objects.select_related("payment_method", "subscription__esim__carrier", "subscription__plan"),
        pk=attempt_id,
        customer=customer,
    )
    summary = attempt_summary(attempt, customer)
    subscription = attempt.subscription
    return render(
        request,
        "portal/confirmation.html",
        {
            "customer": customer,
            "summary": summary,
            "attempt": attempt,
            "subscription": subscription,
            "retry_url": retry_url(attempt),
        },
    )


def retry_url(attempt: PaymentAttempt) -> str:
    if attempt.purpose == AttemptPurpose.WALLET_TOP_UP:
        return reverse("portal:wallet")
    if attempt.subscription_id is not None:
        return reverse("portal:renew", args=[attempt.subscription_id])
    return reverse("portal:dashboard")


def own_invoice(customer: Customer, invoice_id: int) -> Invoice:
    return get_object_or_404(
        Invoice.objects.select_related("payment_attempt__payment_method", "subscription__esim"),
        pk=invoice_id,
        customer=customer,
    )


@customer_page
@require_http_methods(["GET", "HEAD"])
def receipt_page(request: HttpRequest, customer: Customer, invoice_id: int) -> HttpResponse:
    shown = receipt(own_invoice(customer, invoice_id), customer)
    return render(request, "portal/receipt.html", {"customer": customer, "receipt": shown})


@customer_page
@require_http_methods(["GET", "HEAD"])
def receipt_pdf(request: HttpRequest, customer: Customer, invoice_id: int) -> HttpResponse:
    shown = receipt(own_invoice(customer, invoice_id), customer)
    response = HttpResponse(render_receipt_pdf(shown, customer), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="receipt-{shown.number}.pdf"'
    return response


def render_receipt_pdf(shown: Receipt, customer: Customer) -> bytes:
    """The receipt as a one-page PDF (ReportLab, pure Python). Chinese text uses
    the built-in STSong-Light CID font, so no font file has to be shipped."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    font = "Helvetica"
    if customer.locale.startswith("zh"):
        font = "STSong-Light"
        pdfmetrics.registerFont(UnicodeCIDFont(font))
    output = io.BytesIO()
    page = canvas.Canvas(output, pagesize=A4, pageCompression=1)
    page.setTitle(gettext("Receipt %(number)s") % {"number": shown.number})
    width, height = A4
    left, right = 56, width - 56
    y = height - 72

    def plain(text: str) -> str:
        # Babel separates "7:00 AM" with a narrow no-break space, which the base fonts lack.
        return text.replace("\u202f", " ").replace("\u00a0", " ")

    def line(text: str, value: str = "", *, size: int = 11, gap: int = 18) -> None:
        nonlocal y
        page.setFont(font, size)
        page.drawString(left, y, plain(text))
        if value:
            page.drawRightString(right, y, plain(value))
        y -= gap

    line("simrenew", size=10)
    line(gettext("Receipt %(number)s") % {"number": shown.number}, size=18, gap=26)
    line(gettext("Issued"), shown.issued)
    line(gettext("Status"), shown.status_label)
    line(gettext("Customer"), shown.customer_name)
    line(gettext("Email"), shown.customer_email)
    if shown.phone_number:
        line(gettext("Phone number"), shown.phone_number)
    if shown.period_starts:
        line(gettext("Period"), f"{shown.period_starts} \u2013 {shown.period_ends}")
    y -= 8
    page.line(left, y + 12, right, y + 12)
    for item in shown.lines:
        line(item.label, item.amount)
    if shown.discount:
        line(gettext("Discount"), f"-{shown.discount}")
    line(gettext("Total"), shown.total, size=13, gap=22)
    if shown.refunded:
        line(gettext("Refunded"), shown.refunded)
    line(gettext("Paid with"), shown.method)
    page.showPage()
    page.save()
    return output.getvalue()


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


@customer_page
@require_POST
def payment_method_remove(request: HttpRequest, customer: Customer, method_id: int) -> HttpResponse:
    method = own_method(customer, method_id)
    label = method_label(method, customer)
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
                try:
                    attempt = run_charge(lambda: replay_or_begin_wallet_top_up(customer, choice, amount_minor, key))
                except SimrenewError as exc:
                    add_service_errors(form, exc)
                else:
                    if attempt.status != AttemptStatus.FAILED:
                        return redirect("portal:confirmation", attempt_id=attempt.pk)
                    failure = service_message(attempt.failure_message)
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
