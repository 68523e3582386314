"""Customer pages: thin views over the services and queries."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from simrenew.portal.accounts import ResendOutcome
from simrenew.portal.accounts import resend_confirmation as resend
from simrenew.portal.middleware import customer_of
from simrenew.portal.presenters import esim_cards


def landing(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("portal:dashboard")
    return render(request, "portal/landing.html")


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    customer = customer_of(request)
    if customer is None:  # a staff login without a customer profile
        return render(request, "portal/no_customer.html", status=403)
    return render(request, "portal/dashboard.html", {"customer": customer, "cards": esim_cards(customer)})


@require_POST
def resend_confirmation(request: HttpRequest) -> HttpResponse:
    """ "Resend the confirmation email", on the page that asks to confirm the address."""
    outcome = resend(request)
    if outcome is ResendOutcome.NO_SIGN_UP:
        messages.info(
            request,
            gettext(
                "Log in with your email and password: if your address still needs confirming, we send you a new link."
            ),
        )
        return redirect("account_login")
    if outcome is ResendOutcome.TOO_SOON:
        messages.warning(
            request, gettext("We sent you a link a moment ago. Please wait a few minutes before asking for another.")
        )
    # Sent: allauth's own message says where to.
    return redirect("account_email_verification_sent")
