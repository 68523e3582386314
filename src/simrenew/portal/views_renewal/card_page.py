"""The card page when Stripe takes the cards: our page, hosting Stripe's Payment Element.

The card is typed into Stripe's frame and goes to Stripe only; the page holds the client secret
of a SetupIntent made for the customer's Stripe Customer (`payments.card_setup`), and Stripe.js
confirms it (with 3-D Secure when the bank asks) and sends the browser to `card_saved` with the
setup's id, where we keep what Stripe saved. Only this page lets Stripe's script and frames in:
its Content-Security-Policy adds Stripe's origins, every other page keeps ours alone.
With the sandbox gateway the sandbox's own form plays this part (`checkout.sandbox_gateway_card`).
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language, gettext
from django.views.decorators.http import require_http_methods

from simrenew.customers.models import Customer
from simrenew.kit.errors import ServiceUnavailable, SimrenewError
from simrenew.payments import card_setup
from simrenew.payments.gateway import CardSetupGateway
from simrenew.portal.pages import customer_page
from simrenew.portal.presenters import method_label, service_message
from simrenew.portal.views_renewal.checkout import safe_next
from simrenew.portal.views_renewal.shared import with_query

CARD_KINDS = ("card", "debit")


def _kind(request: HttpRequest) -> str:
    kind = request.GET.get("type", "card")
    return kind if kind in CARD_KINDS else "card"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def stripe_sources(gateway: CardSetupGateway) -> dict[str, list[str]]:
    """What this page's policy lets in, besides our own: Stripe.js, its frames (the Payment Element
    on js.stripe.com, the bank's 3-D Secure page on hooks.stripe.com) and the API it calls."""
    script = _origin(gateway.js_url)
    api = _origin(settings.SIMRENEW_STRIPE_API_BASE)
    frames = [script, "https://hooks.stripe.com"] if script == "https://js.stripe.com" else [script]
    return {"script-src": [script], "frame-src": frames, "connect-src": [api]}


def stripe_locale() -> str:
    return "zh" if (get_language() or "en").startswith("zh") else "en"


@customer_page
@require_http_methods(["GET", "HEAD"])
def card_page(request: HttpRequest, customer: Customer) -> HttpResponse:
    kind = _kind(request)
    next_url = safe_next(request, request.GET.get("next", ""))
    gateway = card_setup.setup_gateway()
    if gateway is None:  # the sandbox gateway's own form
        return redirect(f"{reverse('portal:sandbox_gateway_card')}?{urlencode({'type': kind, 'next': next_url})}")
    context = {"customer": customer, "kind": kind, "back_url": next_url}
    try:
        setup = card_setup.begin(customer, gateway)  # calls Stripe: outside any transaction
    except ServiceUnavailable as exc:
        context["unavailable"] = service_message(exc.detail)
        response = render(request, "portal/card_page.html", context, status=503)
        response["Retry-After"] = str(exc.retry_after)
        return response
    saved = reverse("portal:card_saved")
    context.update(
        publishable_key=gateway.publishable_key,
        client_secret=setup.client_secret,
        stripe_js_url=gateway.js_url,
        stripe_locale=stripe_locale(),
        return_url=f"{settings.SIMRENEW_PUBLIC_URL}{saved}?{urlencode({'type': kind, 'next': next_url})}",
    )
    response = render(request, "portal/card_page.html", context)
    response._csp_update = stripe_sources(gateway)  # type: ignore[attr-defined]
    # The client secret is for this customer's browser only.
    response["Cache-Control"] = "no-store"
    return response


@customer_page
@require_http_methods(["GET", "HEAD"])
def card_saved(request: HttpRequest, customer: Customer) -> HttpResponse:
    """Stripe.js sends the browser here once Stripe saved the card (`?setup_intent=seti_…`)."""
    next_url = safe_next(request, request.GET.get("next", ""))
    gateway = card_setup.setup_gateway()
    setup_id = request.GET.get("setup_intent", "")
    again = f"{reverse('portal:card_page')}?{urlencode({'type': _kind(request), 'next': next_url})}"
    if gateway is None or not setup_id.startswith("seti_"):
        messages.error(request, gettext("The card was not saved. Enter it again."))
        return redirect(again)
    try:
        method = card_setup.finish(customer, gateway, setup_id, make_default=request.GET.get("default") == "1")
    except SimrenewError as exc:
        messages.error(request, service_message(exc.detail if not exc.errors else exc.errors[0].message))
        return redirect(again)
    messages.success(request, gettext("%(method)s is saved.") % {"method": method_label(method, customer)})
    return redirect(with_query(next_url, method=method.pk))
