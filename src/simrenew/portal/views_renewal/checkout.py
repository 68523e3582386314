"""Journey step 4: pay for a renewal; and the sandbox gateway's hosted card page.

Charges go through `run_charge`, which owns its transactions, so it is never called inside
`transaction.atomic`."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods

from simrenew.catalog.promotion_attempts import TooManyPromotionAttempts
from simrenew.catalog.services import PromotionNotApplicable, quote
from simrenew.customers.models import Customer
from simrenew.kit.errors import SimrenewError
from simrenew.payments.gateway import get_gateway
from simrenew.payments.services import (
    NewMethod,
    save_payment_method,
    tokenize,
)
from simrenew.portal.forms_renewal import (
    HostedCardForm,
    PayForm,
    RenewChoiceForm,
    add_service_errors,
    new_idempotency_key,
)
from simrenew.portal.pages import customer_page, own_subscription
from simrenew.portal.presenters import (
    method_label,
    wallet_balance,
)
from simrenew.portal.views_renewal.choose import guarded_promo, renewal_plans, renewal_preview
from simrenew.portal.views_renewal.shared import (
    charge_then_confirm,
    chosen_method,
    default_choice,
    hosted_page_links,
    idempotency_key,
    payment_choices,
    with_query,
)
from simrenew.subscriptions.renewals import begin_renewal

# --- Step 4: pay ---------------------------------------------------------------------------


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
            outcome = charge_then_confirm(
                form,
                lambda: begin_renewal(
                    subscription=subscription,
                    idempotency_key=key,
                    plan=plan,
                    payment_method=chosen_method(customer, choice),
                    promo_code=promo_code or None,
                    also_renew_with_plan=request.POST.get("also_renew_with_plan") == "on",
                ),
                guard=guarded_promo(request, customer, promo_code),
            )
            if isinstance(outcome, HttpResponse):
                return outcome
            failure = outcome
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
