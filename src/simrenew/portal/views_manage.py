"""Manage a plan (auto-renew, cancel, resume, top up), add an eSIM or move to
another carrier, install it, see its usage, and check its connection.

Every object is looked up through the signed-in customer, so another
customer's id answers 404. Charges go through `run_charge`, which owns its
transactions, so those views never wrap it in `transaction.atomic()`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core import signing
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from simrenew.customers.models import Customer
from simrenew.esims.models import USABLE_STATUSES, EsimProfile, ProfileSource, ProfileStatus
from simrenew.esims.services import assign_profile, qr_token
from simrenew.kit.errors import SimrenewError
from simrenew.payments.charging import run_charge
from simrenew.payments.models import AUTHENTICATE, AttemptPurpose, AttemptStatus, PaymentAttempt
from simrenew.payments.queries import attempt_for_key
from simrenew.portal.cancel_refunds import (
    cancel_refund_view,
    cancelled_now_message,
    quoted_at,
    refund_rows,
    refused_refund,
    retried_message,
)
from simrenew.portal.forms_manage import AddEsimForm, AutoRenewForm, CancelForm, RenewalPlanForm, TopUpForm
from simrenew.portal.pages import customer_page, own_subscription
from simrenew.portal.presenters import local_datetime, service_message
from simrenew.portal.presenters_manage import (
    PAYMENT_PENDING,
    auto_renew_saved,
    auto_renew_view,
    connection_check_not_sent,
    connection_check_refused,
    install_view,
    manage_view,
    pack_label,
    payment_failure,
    port_notice,
    port_requested_message,
    renewal_terms,
    service_error,
    usage_chart,
)
from simrenew.portal.views_renewal import first_purchase
from simrenew.portal.views_renewal.choose import guarded_promo
from simrenew.portal.views_renewal.shared import confirmation_url, hosted_page_links, paypal_offered
from simrenew.provisioning.connection_checks import (
    ConnectionCheckLimited,
    record_sent_check,
    release_reserved_check,
    reserve_connection_check,
    send_reserved_check,
)
from simrenew.provisioning.messaging import QUEUED, UNKNOWN, get_messaging
from simrenew.provisioning.porting import request_port, withdraw_unpaid_ports
from simrenew.provisioning.profiles import give_back_unused, obtain_esim, smdp_connection
from simrenew.subscriptions.cancellation import (
    cancel,
    finish_cancellation_refunds,
    resume,
    retry_refused_refunds,
    update_renewal,
)
from simrenew.subscriptions.models import Subscription, SubscriptionState
from simrenew.subscriptions.renewals import begin_subscription, choose_renewal_plan
from simrenew.subscriptions.topups import begin_top_up, top_up_options

log = logging.getLogger(__name__)

CONNECTION_CHECK_SALT = "portal-connection-check"
CONNECTION_REFRESH_SECONDS = 3


def _manage_page(
    request: HttpRequest,
    customer: Customer,
    subscription: Subscription,
    *,
    auto_renew_form: AutoRenewForm | None = None,
    renewal_plan_form: RenewalPlanForm | None = None,
    status: int = 200,
) -> HttpResponse:
    shown = manage_view(subscription, customer)
    packs = top_up_options(subscription) if shown.has_running_period else []
    renewal = auto_renew_view(subscription, customer)
    if auto_renew_form is None:
        auto_renew_form = AutoRenewForm(
            customer=customer,
            subscription=subscription,
            initial={"auto_renew": "on"},
            chosen=request.GET.get("method"),
            avoid=renewal.failed_method_id if renewal else None,
        )
    here = reverse("portal:manage", args=[subscription.pk])
    context = {
        "customer": customer,
        "manage": shown,
        "renewal": renewal,
        "auto_renew_form": auto_renew_form,
        # A new card or PayPal account comes back here, chosen in the form (`?method=`).
        "add_method_links": hosted_page_links(f"{here}#renewal-method"),
        "top_up_form": TopUpForm(customer=customer, packs=packs) if packs else None,
        # What auto-renew and "Renew" buy can be chosen while the plan is live.
        "renewal_plan_form": renewal_plan_form
        or (
            RenewalPlanForm(customer=customer, subscription=subscription)
            if subscription.state == SubscriptionState.LIVE
            else None
        ),
        # After cancelling now: what goes back, and a way to ask again for a refused refund.
        "refunds": refund_rows(subscription, customer),
        # Keeping a number: in progress, done, or why not.
        "port": port_notice(subscription.esim_id, customer),
    }
    return render(request, "portal/manage.html", context, status=status)


# ---------------------------------------------------------------------------
# Manage: auto-renew, cancel, resume, top up


@require_safe
@customer_page
def manage(request: HttpRequest, customer: Customer, subscription_id: int) -> HttpResponse:
    return _manage_page(request, customer, own_subscription(customer, subscription_id))


def _save_valid_form(
    request: HttpRequest,
    customer: Customer,
    subscription: Subscription,
    form: AutoRenewForm | RenewalPlanForm,
    save: Callable[[], Subscription],
    *,
    error_field: str | None,
    describe: Callable[[SimrenewError], str],
) -> Subscription | HttpResponse:
    """A manage-page form's change, `save`d in its own transaction once the form is valid; or the
    manage page again (400) with the form's errors or the service's refusal (nothing saved)."""
    if form.is_valid():
        try:
            with transaction.atomic():
                return save()
        except SimrenewError as exc:
            form.add_error(error_field, describe(exc))
    if isinstance(form, AutoRenewForm):
        return _manage_page(request, customer, subscription, auto_renew_form=form, status=400)
    return _manage_page(request, customer, subscription, renewal_plan_form=form, status=400)


@require_POST
@customer_page
def auto_renew(request: HttpRequest, customer: Customer, subscription_id: int) -> HttpResponse:
    subscription = own_subscription(customer, subscription_id)
    form = AutoRenewForm(request.POST, customer=customer, subscription=subscription)
    was_on = subscription.auto_renew

    def save() -> Subscription:
        turn_on = form.cleaned_data["auto_renew"] == "on"
        method = form.cleaned_data["payment_method"] if turn_on else None
        return update_renewal(subscription, auto_renew=turn_on, payment_method=method)

    saved = _save_valid_form(request, customer, subscription, form, save, error_field=None, describe=service_error)
    if isinstance(saved, HttpResponse):
        return saved
    messages.success(request, auto_renew_saved(saved, was_on=was_on))
    return redirect("portal:manage", subscription_id=subscription.pk)


@require_POST
@customer_page
def renewal_plan(request: HttpRequest, customer: Customer, subscription_id: int) -> HttpResponse:
    """The customer's explicit choice of the plan auto-renew and "Renew" buy (renewals.choose_renewal_plan)."""
    subscription = own_subscription(customer, subscription_id)
    form = RenewalPlanForm(request.POST, customer=customer, subscription=subscription)
    saved = _save_valid_form(
        request,
        customer,
        subscription,
        form,
        lambda: choose_renewal_plan(subscription, form.cleaned_data["plan"]),
        error_field="plan",
        describe=lambda exc: service_message(exc.detail),
    )
    if isinstance(saved, HttpResponse):
        return saved
    messages.success(request, renewal_terms(saved.plan, customer))
    return redirect("portal:manage", subscription_id=subscription.pk)


@require_http_methods(["GET", "HEAD", "POST"])
@customer_page
def cancel_subscription(request: HttpRequest, customer: Customer, subscription_id: int) -> HttpResponse:
    """Cancelling now shows what is refunded before the customer confirms; the cancellation and
    its refunds' first step commit together, and the gateway is asked after (never inside) it."""
    subscription = own_subscription(customer, subscription_id)
    shown = manage_view(subscription, customer)
    if request.method == "POST":
        form = CancelForm(request.POST)
        if form.is_valid() and shown.can_cancel:
            when = form.cleaned_data["when"]
            try:
                with transaction.atomic():
                    cancel(
                        subscription, when=when, refund_as_of=quoted_at(request.POST.get("quote", ""), subscription.pk)
                    )
            except SimrenewError as exc:
                form.add_error(None, service_error(exc))
            else:
                if when == "now":
                    refunds = finish_cancellation_refunds(subscription.pk)
                    messages.success(request, cancelled_now_message(refunds, customer))
                else:
                    messages.success(
                        request,
                        gettext("Your plan is cancelled. Service continues until %(when)s.")
                        % {"when": shown.service_ends_at},
                    )
                return redirect("portal:manage", subscription_id=subscription.pk)
        elif form.is_valid() and form.cleaned_data["when"] == "now" and subscription.ended_at is not None:
            # The same confirmation again (a double tap, or a reload after a lost answer): the
            # cancellation stands, so answer as the first time; its refunds are never made twice.
            refunds = finish_cancellation_refunds(subscription.pk)
            messages.success(request, cancelled_now_message(refunds, customer))
            return redirect("portal:manage", subscription_id=subscription.pk)
        elif not shown.can_cancel:
            form.add_error(None, gettext("This plan has already ended or is cancelled."))
        chosen = request.POST.get("when")
        status = 400
    else:
        form = CancelForm(request.GET or None)
        chosen = form.cleaned_data["when"] if request.GET and form.is_valid() else None
        form = CancelForm(initial={"when": chosen}) if chosen else CancelForm()
        status = 200
    if shown.cancelled_at_period_end and chosen != "now":
        chosen = "now"  # ending at period end is already set: only "now" remains
    return render(
        request,
        "portal/cancel_confirm.html",
        {
            "customer": customer,
            "manage": shown,
            "form": form,
            "when": chosen if chosen in ("now", "period_end") else None,
            "refund": cancel_refund_view(subscription, customer) if chosen == "now" and shown.can_cancel else None,
        },
        status=status,
    )


@require_POST
@customer_page
def retry_refund(request: HttpRequest, customer: Customer, subscription_id: int) -> HttpResponse:
    """ "Try the refund again" on a cancellation refund the payment provider refused: the retry that
    cancelling now again makes (under a new key, so nothing is paid back twice), committed before the
    gateway is asked. A second tap finds the refund already asked for again and changes nothing."""
    subscription = own_subscription(customer, subscription_id)
    if not refused_refund(subscription, request.POST.get("refund", "")):
        messages.info(request, gettext("This refund has already been asked for again. Its status is below."))
        return redirect("portal:manage", subscription_id=subscription.pk)
    with transaction.atomic():
        retry_refused_refunds(subscription)
    level, text = retried_message(finish_cancellation_refunds(subscription.pk))
    messages.add_message(request, level, text)
    return redirect("portal:manage", subscription_id=subscription.pk)


@require_POST
@customer_page
def resume_subscription(request: HttpRequest, customer: Customer, subscription_id: int) -> HttpResponse:
    subscription = own_subscription(customer, subscription_id)
    try:
        with transaction.atomic():
            resume(subscription)
    except SimrenewError as exc:
        messages.error(request, service_error(exc))
    else:
        messages.success(request, gettext("Your plan is resumed and will continue as before."))
    return redirect("portal:manage", subscription_id=subscription.pk)


def _attempt_for_form_key(key: str, customer: Customer, purpose: str) -> tuple[PaymentAttempt | None, bool]:
    """The attempt this form already made (a reload or double click), and whether the key clashes."""
    replay = attempt_for_key(key)
    if replay is None:
        return None, False
    if replay.customer_id != customer.pk or replay.purpose != purpose:
        return None, True
    return replay, False


@require_http_methods(["GET", "HEAD", "POST"])
@customer_page
def top_up(request: HttpRequest, customer: Customer, subscription_id: int) -> HttpResponse:
    subscription = own_subscription(customer, subscription_id)
    packs = top_up_options(subscription)
    form = TopUpForm(request.POST or None, customer=customer, packs=packs)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            key = f"portal-top-up-{customer.pk}-{form.cleaned_data['key']}"
            attempt, clash = _attempt_for_form_key(key, customer, AttemptPurpose.TOP_UP)
            if clash:
                form.add_error(None, gettext("This form was already used. Please try again."))
                form.fresh_key()
            else:
                try:
                    if attempt is None:
                        attempt = run_charge(
                            lambda: begin_top_up(
                                subscription=subscription,
                                pack_id=form.cleaned_data["pack"],
                                payment_method=form.cleaned_data["payment_method"],
                                idempotency_key=key,
                            ),
                            return_to=confirmation_url,
                        )
                except SimrenewError as exc:
                    form.add_error(None, service_error(exc))
                else:
                    if attempt.next_action == AUTHENTICATE:  # the bank's check, on the payment's page
                        return redirect("portal:confirmation", attempt_id=attempt.pk)
                    if attempt.status == AttemptStatus.SUCCEEDED:
                        pack = next((p for p in packs if p.pk == form.cleaned_data["pack"]), None)
                        messages.success(
                            request,
                            gettext("Data added: %(pack)s. Thank you!")
                            % {"pack": pack_label(pack, customer) if pack else ""},
                        )
                        return redirect("portal:manage", subscription_id=subscription.pk)
                    if attempt.status == AttemptStatus.FAILED:
                        form.add_error(None, payment_failure(attempt))
                        form.fresh_key()
                        status = 402
                    else:
                        messages.info(request, str(PAYMENT_PENDING))
                        return redirect("portal:manage", subscription_id=subscription.pk)
    return render(
        request,
        "portal/topup.html",
        {"customer": customer, "manage": manage_view(subscription, customer), "form": form, "packs": packs},
        status=status,
    )


# ---------------------------------------------------------------------------
# Add an eSIM (or move to another carrier), and install it


@require_http_methods(["GET", "HEAD", "POST"])
@customer_page
def add_esim(request: HttpRequest, customer: Customer) -> HttpResponse:
    if (elsewhere := first_purchase.detour(request)) is not None:  # "Add a card", "Apply": no charge
        return elsewhere
    initial = first_purchase.initial_choices(request, customer)  # kept across the card page
    form = AddEsimForm(request.POST or None, customer=customer, initial=initial)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            response = _buy_esim(request, customer, form)
            if response is not None:
                return response
            status = 402 if form.non_field_errors() else 400
    context = {
        "customer": customer,
        "form": form,
        "order": first_purchase.order(request, customer, form),
        "paypal_offered": paypal_offered(),
    }
    return render(request, "portal/add_esim.html", context, status=status)


def _buy_esim(request: HttpRequest, customer: Customer, form: AddEsimForm) -> HttpResponse | None:
    """Give the customer a profile (from inventory, or ordered from the carrier's SM-DP+ before the
    charge) and pay its first period. On a declined payment nothing stays behind:
    begin_subscription's failure path deletes the unpaid subscription, and here the profile is
    given back (to stock, or to the SM-DP+'s pool), because a customer whose payment failed does not
    expect to hold an eSIM (and has never seen its activation code). None means: show the form
    again with its errors."""
    data = form.cleaned_data
    plan = data["plan"]
    key = f"portal-add-esim-{customer.pk}-{data['key']}"
    attempt, clash = _attempt_for_form_key(key, customer, AttemptPurpose.FIRST_PERIOD)
    if clash:
        form.add_error(None, gettext("This form was already used. Please try again."))
        form.fresh_key()
        return None
    assigned: list[EsimProfile] = []
    if attempt is None and smdp_connection(plan.carrier) is not None:
        # Ordered from the carrier's SM-DP+ before the payment: the calls out hold no transaction.
        try:
            assigned.append(obtain_esim(customer=customer, carrier_code=plan.carrier.code))
        except SimrenewError as exc:
            form.add_error(None, service_error(exc))
            return None

    def begin() -> PaymentAttempt:
        esim = assigned[0] if assigned else assign_profile(customer=customer, carrier_code=plan.carrier.code)
        if not assigned:
            assigned.append(esim)
        if data.get("port_from") is not None:
            # "Keep my number": in the purchase's transaction, so the new line's `add` takes it.
            request_port(
                new_esim=esim,
                old_subscription=data["port_from"],
                account_number=data["port_account"],
                pin=data["port_pin"],
            )
        return begin_subscription(
            esim=esim,
            plan=plan,
            payment_method=data["payment_method"],
            auto_renew=data["auto_renew"],
            promo_code=data.get("promo_code") or None,
            idempotency_key=key,
        )

    try:
        if attempt is None:
            with guarded_promo(request, customer, data.get("promo_code") or None):
                attempt = run_charge(begin, return_to=confirmation_url)
    except SimrenewError as exc:  # refused before anything was written: an assignment rolled back too
        if assigned and assigned[0].source == ProfileSource.SMDP:
            give_back_unused(assigned[0])  # ordered before the transaction: given back explicitly
        form.add_error(None, service_error(exc))
        return None
    if attempt.status == AttemptStatus.FAILED:
        if assigned:
            with transaction.atomic():
                withdraw_unpaid_ports(assigned[0])  # nothing was bought: the old carrier's PIN goes too
            give_back_unused(assigned[0])
        form.add_error(None, payment_failure(attempt))
        form.fresh_key()
        return None
    subscription = attempt.subscription
    if subscription is None:  # a replayed failure
        form.add_error(None, payment_failure(attempt))
        form.fresh_key()
        return None
    if attempt.next_action == AUTHENTICATE:  # the bank's check, on the payment's page
        return redirect("portal:confirmation", attempt_id=attempt.pk)
    if attempt.status == AttemptStatus.SUCCEEDED:
        messages.success(request, gettext("Your new eSIM is ready. Install it now."))
        old = data.get("end_subscription")
        porting = data.get("port_from") is not None
        if old is not None and old.pk != subscription.pk:
            try:
                with transaction.atomic():
                    ended = cancel(old, when="period_end")
            except SimrenewError as exc:
                messages.warning(request, service_error(exc))
            else:
                if porting:  # it ends once the number has moved (porting.on_port_completed)
                    messages.info(request, port_requested_message(old.esim.msisdn))
                else:
                    messages.info(
                        request,
                        gettext("Your plan on %(number)s will end on %(when)s and will not renew.")
                        % {"number": old.esim.msisdn, "when": local_datetime(ended.paid_through, customer)}
                        if ended.paid_through
                        else gettext("Your old plan will not renew."),
                    )
    else:
        messages.info(request, str(PAYMENT_PENDING))
    return redirect("portal:install", esim_id=subscription.esim_id)


@require_safe
@customer_page
def install(request: HttpRequest, customer: Customer, esim_id: int) -> HttpResponse:
    esim = get_object_or_404(
        EsimProfile.objects.select_related("carrier"),
        pk=esim_id,
        customer=customer,
        status__in=USABLE_STATUSES,
    )
    waiting = Subscription.objects.filter(esim=esim, state=SubscriptionState.INCOMPLETE).exists()
    context: dict[str, Any] = {"customer": customer, "esim": esim, "waiting_for_payment": waiting}
    if esim.status == ProfileStatus.INSTALLED:  # the code was used: the page says so instead
        context["installed_at"] = local_datetime(esim.installed_at, customer) if esim.installed_at else ""
    elif not waiting:
        try:
            context["install"] = install_view(esim.activation_code)
        except SimrenewError:
            context["install"] = None  # a stored code that no longer parses: the page says to contact support
        # A path on this site (the same route and token as esims.views.qr_svg_url):
        # the CSP allows images from 'self' only, whatever SIMRENEW_PUBLIC_URL says.
        context["qr_src"] = reverse("esims:qr-svg", kwargs={"token": qr_token(esim)})
    return render(request, "portal/install.html", context)


# ---------------------------------------------------------------------------
# Usage chart


@require_safe
@customer_page
def usage(request: HttpRequest, customer: Customer, subscription_id: int) -> HttpResponse:
    subscription = own_subscription(customer, subscription_id)
    return render(
        request,
        "portal/usage.html",
        {
            "customer": customer,
            "manage": manage_view(subscription, customer),
            "chart": usage_chart(subscription, customer),
        },
    )


# ---------------------------------------------------------------------------
# Connection check: a test SMS to the eSIM's number


@require_POST
@customer_page
def connection_check(request: HttpRequest, customer: Customer, subscription_id: int) -> HttpResponse:
    """In three steps (connection_checks): reserve a place within the limits and commit, ask the
    carrier outside any transaction, then record the message id (or free the place if it failed)."""
    subscription = own_subscription(customer, subscription_id)
    text = gettext("simrenew test message: your eSIM can receive texts. No reply needed.")
    try:
        with transaction.atomic():
            check = reserve_connection_check(esim=subscription.esim)
    except ConnectionCheckLimited as exc:
        messages.error(request, connection_check_refused(exc, customer))
        return redirect("portal:manage", subscription_id=subscription.pk)
    except SimrenewError as exc:
        messages.error(request, service_error(exc))
        return redirect("portal:manage", subscription_id=subscription.pk)
    try:
        receipt = send_reserved_check(check, text=text)
    except Exception:  # whatever the carrier raised: the customer gets a message, not a 500
        log.exception("the carrier did not take connection check %s", check.pk)
        with transaction.atomic():
            release_reserved_check(check)
        messages.error(request, connection_check_not_sent())
        return redirect("portal:manage", subscription_id=subscription.pk)
    with transaction.atomic():
        record_sent_check(check, receipt)
    token = signing.Signer(salt=CONNECTION_CHECK_SALT).sign_object([subscription.esim_id, receipt.message_id])
    return redirect("portal:connection_status", subscription_id=subscription.pk, token=token)


@require_safe
@customer_page
def connection_status(request: HttpRequest, customer: Customer, subscription_id: int, token: str) -> HttpResponse:
    subscription = own_subscription(customer, subscription_id)
    try:
        esim_id, message_id = signing.Signer(salt=CONNECTION_CHECK_SALT).unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError):
        raise Http404("No such connection check.") from None
    if esim_id != subscription.esim_id:
        raise Http404("No such connection check.")
    with transaction.atomic():
        status = get_messaging().delivery_status(str(message_id))
    if status == UNKNOWN:
        raise Http404("No such connection check.")
    response = render(
        request,
        "portal/connection_status.html",
        {"customer": customer, "subscription": subscription, "status": status},
    )
    if status == QUEUED:
        # What <meta http-equiv="refresh"> does, without a block in base.html's <head> and without script.
        response["Refresh"] = str(CONNECTION_REFRESH_SECONDS)
    response["Cache-Control"] = "no-store"
    return response
