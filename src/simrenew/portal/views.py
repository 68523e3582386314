"""Customer pages: thin views over the services and queries."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

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
