"""Pages speak the signed-in customer's language and show times in their zone."""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation

from simrenew.customers.models import Customer
from simrenew.kit import logs


def customer_of(request: HttpRequest) -> Customer | None:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    # The middleware below already read it for this request (one query less per page), unless the
    # user signed in during the request, after the middleware ran.
    attached: Customer | None = getattr(request, "customer", None)
    if attached is not None and attached.user_id == user.pk:
        return attached
    return Customer.objects.filter(user_id=user.pk).first()


class CustomerLocaleMiddleware:
    """After authentication: a customer's own language and zone win over the
    browser's; a visitor gets what LocaleMiddleware chose from the browser."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        customer = None if request.path.startswith(("/api/", "/admin/", "/static/")) else customer_of(request)
        request.customer = customer  # type: ignore[attr-defined]
        if customer is not None:
            logs.bind(customer_id=customer.pk)
            translation.activate(customer.locale)
            request.LANGUAGE_CODE = customer.locale
            timezone.activate(ZoneInfo(customer.time_zone))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
