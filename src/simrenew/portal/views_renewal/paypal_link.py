"""Linking a PayPal account: to PayPal's page and back (Vault v3, `payments.paypal_link`).

`paypal_link` makes the setup token and sends the browser to PayPal; PayPal sends it back to
`paypal_linked` with `approval_token_id` (or to `paypal_cancelled`). The setup tokens a customer
began are kept in their session: a token from anyone else's link is refused. With the sandbox
gateway the sandbox's own page plays PayPal's part.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import get_language, gettext
from django.views.decorators.http import require_http_methods

from simrenew.customers.models import Customer
from simrenew.kit.errors import ServiceUnavailable, SimrenewError
from simrenew.payments import paypal_link
from simrenew.payments.gateway import paypal_gateway_name
from simrenew.portal.pages import customer_page
from simrenew.portal.presenters import method_label, service_message
from simrenew.portal.views_renewal.checkout import safe_next
from simrenew.portal.views_renewal.shared import with_query

SESSION_KEY = "paypal_setup_tokens"
KEPT_TOKENS = 5  # the links a customer began and may still come back from


@customer_page
@require_http_methods(["GET", "HEAD"])
def paypal_link_page(request: HttpRequest, customer: Customer) -> HttpResponse:
    next_url = safe_next(request, request.GET.get("next", ""))
    provider = paypal_gateway_name()
    if provider == "sandbox":
        return redirect(f"{reverse('portal:sandbox_gateway_card')}?{urlencode({'type': 'paypal', 'next': next_url})}")
    gateway = paypal_link.paypal_gateway()
    if gateway is None:
        raise Http404("PayPal is not offered here.")
    back = urlencode({"next": next_url})
    try:
        link = paypal_link.begin(
            gateway,
            return_url=f"{settings.SIMRENEW_PUBLIC_URL}{reverse('portal:paypal_linked')}?{back}",
            cancel_url=f"{settings.SIMRENEW_PUBLIC_URL}{reverse('portal:paypal_cancelled')}?{back}",
            locale=get_language() or "en",
        )
    except ServiceUnavailable as exc:
        messages.error(request, service_message(exc.detail))
        return redirect(next_url)
    began = [link.setup_token_id, *request.session.get(SESSION_KEY, [])][:KEPT_TOKENS]
    request.session[SESSION_KEY] = began
    return redirect(link.approve_url)


@customer_page
@require_http_methods(["GET", "HEAD"])
def paypal_linked(request: HttpRequest, customer: Customer) -> HttpResponse:
    next_url = safe_next(request, request.GET.get("next", ""))
    token = request.GET.get("approval_token_id", "")
    gateway = paypal_link.paypal_gateway()
    if gateway is None or not token or token not in request.session.get(SESSION_KEY, []):
        messages.error(request, gettext("PayPal was not linked. Start again from “Add a PayPal account”."))
        return redirect(next_url)
    try:
        method = paypal_link.finish(customer, gateway, token)
    except SimrenewError as exc:
        messages.error(request, service_message(exc.errors[0].message if exc.errors else exc.detail))
        return redirect(next_url)
    request.session[SESSION_KEY] = [kept for kept in request.session.get(SESSION_KEY, []) if kept != token]
    messages.success(request, gettext("%(method)s is linked.") % {"method": method_label(method, customer)})
    return redirect(with_query(next_url, method=method.pk))


@customer_page
@require_http_methods(["GET", "HEAD"])
def paypal_cancelled(request: HttpRequest, customer: Customer) -> HttpResponse:
    messages.info(request, gettext("PayPal was not linked: you cancelled on PayPal's page."))
    return redirect(safe_next(request, request.GET.get("next", "")))
