"""The customer's settings page and the language switch (for visitors and customers alike), and
their data rights: downloading their data, deleting their account (the service in `privacy`)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.i18n import set_language

from simrenew.customers.models import Locale
from simrenew.customers.services import notification_preferences, set_notification_preferences, update_customer
from simrenew.kit import clock
from simrenew.kit.errors import SimrenewError, ValidationFailed
from simrenew.kit.timezones import zone_name
from simrenew.payments.models import Wallet
from simrenew.portal.cancel_refunds import cancel_refund_view
from simrenew.portal.forms_account import AccountSettingsForm, DeleteAccountForm
from simrenew.portal.middleware import customer_of
from simrenew.portal.presenters import local_datetime, money
from simrenew.privacy import export
from simrenew.privacy.erasure import erase_customer, finish_erasure
from simrenew.subscriptions.models import Subscription, SubscriptionState


@login_required
@require_http_methods(["GET", "POST"])
def account_settings(request: HttpRequest) -> HttpResponse:
    customer = customer_of(request)
    if customer is None:  # a staff login without a customer profile
        return render(request, "portal/no_customer.html", status=403)
    form = AccountSettingsForm(
        request.POST if request.method == "POST" else None,
        customer=customer,
        preferences=notification_preferences(customer),
    )
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                update_customer(
                    customer,
                    locale=form.cleaned_data["locale"],
                    time_zone=form.cleaned_data["time_zone"],
                    phone=form.cleaned_data["phone"],
                    renew_with_other_methods=form.cleaned_data["renew_with_other_methods"],
                )
                set_notification_preferences(customer, form.channels())
        except ValidationFailed as exc:
            customer.refresh_from_db()  # the rolled-back values must not show as saved
            for error in exc.errors or []:
                form.add_error(error.field if error.field in form.fields else None, error.message)
            if not exc.errors:
                form.add_error(None, exc.detail)
        else:
            # The very next page speaks the language just chosen.
            translation.activate(customer.locale)
            messages.success(request, _("Your settings are saved."))
            response = redirect("portal:settings")
            remember_language(response, customer.locale)
            return response
    context = {
        "customer": customer,
        "form": form,
        "local_now": local_datetime(clock.now(), customer),
        "zone_name": zone_name(customer.time_zone, customer.locale),
    }
    return render(request, "portal/settings.html", context)


@require_POST
def switch_language(request: HttpRequest) -> HttpResponse:
    """Django's set_language (cookie, safe `next` redirect); a signed-in customer's choice is
    also stored on the customer, so emails and every later visit use it."""
    customer = customer_of(request)
    language = request.POST.get("language", "")
    if customer is not None and language in Locale.values:
        update_customer(customer, locale=language)
    return set_language(request)


def remember_language(response: HttpResponse, language: str) -> None:
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )


# --- the customer's data rights: their data to take away, their account deleted ----------------

# The portal's file formats: the JSON document, or a zip of one CSV file per kind of record.
DATA_FORMATS = {"json": "application/json", "zip": "application/zip"}


@login_required
@require_GET
def download_my_data(request: HttpRequest, file_format: str) -> HttpResponse:
    customer = customer_of(request)
    if customer is None:
        return render(request, "portal/no_customer.html", status=403)
    if file_format not in DATA_FORMATS:
        raise Http404("Unknown format")
    data = export.customer_data(customer)
    body = export.as_json(data) if file_format == "json" else export.as_csv_zip(data)
    response = HttpResponse(body, content_type=DATA_FORMATS[file_format])
    response["Content-Disposition"] = f'attachment; filename="{export.file_name(data, file_format)}"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def delete_account(request: HttpRequest) -> HttpResponse:
    customer = customer_of(request)
    if customer is None:
        return render(request, "portal/no_customer.html", status=403)
    form = DeleteAccountForm(request.POST if request.method == "POST" else None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                erasure = erase_customer(customer, requested_by="the customer, in the portal's settings")
        except SimrenewError as exc:
            form.add_error(None, exc.detail)
        else:
            finish_erasure(erasure)
            language = customer.locale
            logout(request)
            translation.activate(language)
            return render(request, "portal/account_deleted.html")
    subscriptions = [
        (subscription, cancel_refund_view(subscription, customer))
        for subscription in Subscription.objects.filter(customer=customer)
        .select_related("esim")
        .exclude(state__in=[SubscriptionState.INCOMPLETE, SubscriptionState.TERMINATED])
        .exclude(ended_at__isnull=False)
        .order_by("id")
    ]
    wallet = Wallet.objects.filter(customer=customer).first()
    context = {
        "form": form,
        "subscriptions": subscriptions,
        "wallet_balance": money(wallet.balance_minor, wallet.currency, customer)
        if wallet is not None and wallet.balance_minor > 0
        else "",
        "retention_years": settings.SIMRENEW_INVOICE_RETENTION_YEARS,
    }
    return render(request, "portal/delete_account.html", context, status=400 if form.errors else 200)
