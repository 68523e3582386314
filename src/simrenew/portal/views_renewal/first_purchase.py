"""A first purchase in a few taps (issue 15): what the add-an-eSIM page needs beyond its form.

A customer with no saved payment method picks a plan and goes to the gateway's hosted card
page straight from the purchase; the card page comes back to the purchase with the plan, the
promotion code and the other choices kept and the new card chosen. Before paying the page
shows the total and takes a promotion code. The add-an-eSIM view (views_manage) calls these."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext

from simrenew.catalog.models import Plan
from simrenew.catalog.promotion_attempts import TooManyPromotionAttempts
from simrenew.catalog.services import PriceQuote, PromotionNotApplicable, quote
from simrenew.customers.models import Customer
from simrenew.payments.models import PaymentMethod
from simrenew.portal.presenters import money, plan_summary, plan_title, service_message
from simrenew.portal.views_renewal.choose import guarded_promo
from simrenew.portal.views_renewal.shared import method_page_url

# The buttons of the add-an-eSIM form that do not pay: they carry the choices elsewhere.
ADD_METHOD = "add_method"  # value: card, debit or paypal (the hosted page's kinds)
APPLY_PROMO = "apply_promo"
METHOD_KINDS = ("card", "debit", "paypal")
# The choices the page keeps across the detours, as the query of the add-an-eSIM page.
# (Never the old carrier's account number or PIN: they would travel in a URL.)
KEPT = ("plan", "promo_code", "payment_method", "auto_renew", "end_subscription", "number")


def kept_choices(posted: QueryDict) -> dict[str, str]:
    """What the customer chose so far (shapes only: the form checks them on the way back)."""
    kept = {name: str(posted.get(name, "")).strip()[:60] for name in KEPT if posted.get(name)}
    # An unticked checkbox is not posted: say "off" so coming back does not tick it again.
    kept["auto_renew"] = "on" if posted.get("auto_renew") else "off"
    return kept


def detour(request: HttpRequest) -> HttpResponse | None:
    """A POST of the add-an-eSIM form by "Add a card" (to the hosted card page, which comes
    back here) or by "Apply" (the promotion code, back to this page): nothing is charged.
    None: the form was sent to pay."""
    if request.method != "POST":
        return None
    here = f"{reverse('portal:add_esim')}?{urlencode(kept_choices(request.POST))}"
    kind = request.POST.get(ADD_METHOD)
    if kind in METHOD_KINDS:
        return redirect(method_page_url(kind, here))
    if APPLY_PROMO in request.POST:
        return redirect(here)
    return None


def initial_choices(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    """The add-an-eSIM form's starting values, from the query a detour came back with (the
    hosted card page adds `method`, the card just saved)."""
    query = request.GET
    initial: dict[str, Any] = {}
    for name in ("plan", "end_subscription"):
        if query.get(name, "").isdigit():
            initial[name] = int(query[name])
    method = query.get("method") or query.get("payment_method") or ""
    if (
        method.isdigit()
        and PaymentMethod.objects.filter(pk=int(method), customer=customer, removed_at__isnull=True).exists()
    ):
        initial["payment_method"] = int(method)
    if query.get("number", "") == "new" or query.get("number", "").isdigit():
        initial["number"] = query["number"]
    if query.get("promo_code"):
        initial["promo_code"] = query["promo_code"].strip()[:40]
    if query.get("auto_renew") in ("on", "off"):
        initial["auto_renew"] = query["auto_renew"] == "on"
    return initial


@dataclass(frozen=True)
class PlanPick:
    """One plan radio, with what the order summary says when it is picked (a small script
    copies these from the radio's data attributes; without it, the page says it after a post)."""

    plan: Plan
    label: str
    checked: bool
    plan_name: str
    subtotal: str
    discount: str
    total: str
    pay_label: str


@dataclass(frozen=True)
class NumberPick:
    """One "phone number" radio (keep one of the customer's numbers, or take a new one), with the
    sentence the order summary says when it is picked (keep_number.js copies it)."""

    value: str
    label: str
    note: str
    checked: bool


@dataclass(frozen=True)
class Order:
    groups: list[tuple[str, list[PlanPick]]]
    chosen: PlanPick | None
    promo_code: str  # the code that applies to the chosen plan ("" when none does)
    promo_error: str  # why the code typed does not apply
    has_methods: bool
    # The phone number the new eSIM gets, said before payment: a new one unless one is kept.
    numbers: list[NumberPick] = field(default_factory=list)
    number_note: str = ""


def new_number_note() -> str:
    return gettext("Your new eSIM gets a new phone number.")


def kept_number_note(msisdn: str) -> str:
    return gettext("%(number)s moves to your new eSIM after payment.") % {"number": msisdn}


def number_picks(form: forms.Form) -> tuple[list[NumberPick], str]:
    """The number radios (none when there is no plan to move from) and the note of the one chosen."""
    field = form.fields.get("number")
    if field is None:
        return [], new_number_note()
    portable = getattr(form, "portable", {})
    chosen = str(form["number"].value() or "new")
    picks = [
        NumberPick(
            value=str(value),
            label=str(label),
            note=kept_number_note(portable[str(value)].esim.msisdn) if str(value) in portable else new_number_note(),
            checked=str(value) == chosen,
        )
        for value, label in field.choices  # type: ignore[attr-defined]
    ]
    if not any(pick.checked for pick in picks):
        picks = [NumberPick(p.value, p.label, p.note, p.value == "new") for p in picks]
    return picks, next(pick.note for pick in picks if pick.checked)


def pick_of(plan: Plan, customer: Customer, price: PriceQuote, *, checked: bool) -> PlanPick:
    total = money(price.total.amount_minor, price.total.currency, customer)
    return PlanPick(
        plan=plan,
        label=plan_summary(plan, customer),
        checked=checked,
        plan_name=plan_title(plan, customer),
        subtotal=money(price.subtotal.amount_minor, price.subtotal.currency, customer),
        discount=f"\N{MINUS SIGN}{money(price.discount.amount_minor, price.discount.currency, customer)}"
        if price.discount.amount_minor
        else "",
        total=total,
        pay_label=gettext("Pay %(total)s and get my eSIM") % {"total": total},
    )


def order(request: HttpRequest, customer: Customer, form: forms.Form) -> Order:
    """The plans by carrier with their prices, and the chosen one's total with the promotion
    code (a code that does not apply says why and is left out of the price)."""
    plans = list(form.fields["plan"].queryset)  # type: ignore[attr-defined]
    chosen_id = str(form["plan"].value() or "")
    promo_code = str(form["promo_code"].value() or "").strip()
    chosen = next((plan for plan in plans if str(plan.pk) == chosen_id), None)
    promo_error = ""
    if chosen is not None and promo_code:
        try:
            with guarded_promo(request, customer, promo_code):
                accepted = quote(plan=chosen, customer=customer, promo_code=promo_code).promotion
            promo_code = accepted.code if accepted is not None else promo_code  # as the operator spells it
        except (PromotionNotApplicable, TooManyPromotionAttempts) as exc:
            promo_error = service_message(exc.errors[0].message if exc.errors else exc.detail)
            promo_code = ""
    elif chosen is None:
        promo_code = ""  # checked once a plan is picked
    groups: dict[str, list[PlanPick]] = {}
    picked: PlanPick | None = None
    for plan in plans:
        try:
            price = quote(plan=plan, customer=customer, promo_code=promo_code or None)
        except PromotionNotApplicable:  # the accepted code may not cover the other plans
            price = quote(plan=plan, customer=customer, promo_code=None)
        pick = pick_of(plan, customer, price, checked=plan is chosen)
        groups.setdefault(plan.carrier.name, []).append(pick)
        if plan is chosen:
            picked = pick
    numbers, number_note = number_picks(form)
    return Order(
        groups=sorted(groups.items()),
        chosen=picked,
        promo_code=promo_code,
        promo_error=promo_error,
        has_methods=PaymentMethod.objects.filter(customer=customer, removed_at__isnull=True).exists(),
        numbers=numbers,
        number_note=number_note,
    )
