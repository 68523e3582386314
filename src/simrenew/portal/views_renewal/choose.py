"""Journey step 3: choose the renewal (plan, promotion code) and see the next period before paying."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods

from simrenew.catalog import promotion_attempts
from simrenew.catalog.models import Plan
from simrenew.catalog.promotion_attempts import TooManyPromotionAttempts
from simrenew.catalog.services import PriceQuote, PromotionNotApplicable, quote
from simrenew.customers.models import Customer
from simrenew.kit import clock
from simrenew.kit.client_address import client_of
from simrenew.portal.forms_renewal import (
    RenewChoiceForm,
    add_service_errors,
)
from simrenew.portal.pages import customer_page, own_subscription
from simrenew.portal.presenters import (
    PLAN_KIND_ORDER,
    gigabytes,
    local_datetime,
    money,
    plan_kind,
    plan_kind_label,
    plan_summary,
    plan_title,
    service_message,
)
from simrenew.subscriptions.errors import RenewalNotAllowed
from simrenew.subscriptions.models import Subscription
from simrenew.subscriptions.renewals import check_renewable, preview_next_period

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
    # What the summary says when this plan is picked: a small script copies it from the
    # option's data attributes, so the summary follows the pick without "Update price".
    preview: RenewalPreview


@dataclass(frozen=True)
class PlanGroup:
    label: str
    options: list[PlanOption]


def plan_groups(
    plans: list[Plan], subscription: Subscription, customer: Customer, chosen: RenewalPreview
) -> list[PlanGroup]:
    """The plans by kind, each with the summary it would show. The promotion code accepted for
    the chosen plan is tried on the others too (it may not apply to them: then no discount)."""
    groups: dict[str, list[PlanOption]] = {}
    for plan in plans:
        preview = chosen if plan.pk == chosen.plan.pk else other_plan_preview(subscription, plan, customer, chosen)
        option = PlanOption(plan, plan_summary(plan, customer), plan.pk == subscription.plan_id, preview)
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

    @property
    def timing_note(self) -> str:
        """When the new period starts, in words (the same sentences the page had)."""
        if self.changes_plan and self.starts_later:
            return gettext("Your current plan continues until %(when)s; the new plan takes effect then.") % {
                "when": self.starts_at
            }
        if self.starts_later:
            return gettext("The new period starts when your current one ends, so you lose no days.")
        return gettext("The new period starts as soon as you pay.")


def guarded_promo(request: HttpRequest, customer: Customer, promo_code: str | None) -> AbstractContextManager[None]:
    """Failed promotion codes are counted per customer and per IP; over the limit a code is
    refused (TooManyPromotionAttempts) before it is looked up."""
    return promotion_attempts.guard(
        customer_id=customer.pk, client=client_of(request), code=promo_code, request=request
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
    return preview_of(subscription, plan, customer, price, promo_code)


def other_plan_preview(
    subscription: Subscription, plan: Plan, customer: Customer, chosen: RenewalPreview
) -> RenewalPreview:
    """The summary of a plan not (yet) picked. Its promotion check is not a guessed code (the
    code was accepted for the chosen plan), so it is not counted against the customer."""
    try:
        price = quote(plan=plan, customer=customer, promo_code=chosen.promo_code or None)
    except PromotionNotApplicable:
        price = quote(plan=plan, customer=customer, promo_code=None)
    return preview_of(subscription, plan, customer, price, chosen.promo_code)


def preview_of(
    subscription: Subscription, plan: Plan, customer: Customer, price: PriceQuote, promo_code: str
) -> RenewalPreview:
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
    try:
        check_renewable(subscription)  # the service's own rule, asked before anything is offered for sale
    except RenewalNotAllowed as refused:
        messages.info(request, service_message(refused.detail))
        return redirect("portal:manage", subscription_id=subscription.pk)
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
            "groups": plan_groups(plans, subscription, customer, preview),
            "selected_plan": plan.pk,
            "preview": preview,
        },
    )
