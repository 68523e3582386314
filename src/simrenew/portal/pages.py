"""What every customer page shares: who may see it, and finding their own rows."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Concatenate, ParamSpec

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from simrenew.customers.models import Customer
from simrenew.portal.middleware import customer_of
from simrenew.subscriptions.models import Subscription

P = ParamSpec("P")
CustomerView = Callable[Concatenate[HttpRequest, Customer, P], HttpResponse]


def customer_page(view: CustomerView[P]) -> Callable[Concatenate[HttpRequest, P], HttpResponse]:
    """Signed in, and a customer (a staff login without a profile gets the 403 page);
    the view receives the customer after the request."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponse:
        customer = getattr(request, "customer", None) or customer_of(request)
        if customer is None:
            return render(request, "portal/no_customer.html", status=403)
        return view(request, customer, *args, **kwargs)

    return wrapper


def own_subscription(customer: Customer, subscription_id: int) -> Subscription:
    """The customer's subscription with this id; anyone else's is a 404."""
    return get_object_or_404(
        Subscription.objects.select_related("customer", "plan__carrier", "esim__carrier", "payment_method"),
        pk=subscription_id,
        customer=customer,
    )
