"""The local Stripe as a fixture: simrenew configured for it, and a customer's card saved the way
our card page saves one (the SetupIntent confirmed with the publishable key, as Stripe.js does)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from simrenew.customers.models import Customer
from simrenew.payments import card_setup
from simrenew.payments.gateway import CardSetupGateway, forget_gateways
from simrenew.payments.models import PaymentMethod
from tests.payments.stripe_server import PUBLISHABLE_KEY, SECRET_KEY, WEBHOOK_SECRET, StripeServer


@pytest.fixture
def local_stripe(settings: Any) -> Iterator[StripeServer]:
    """Stripe on 127.0.0.1, and simrenew saving cards there. Fails the test if any request was
    not one of Stripe's published API."""
    with StripeServer() as server:
        settings.SIMRENEW_PAYMENT_GATEWAY = "stripe"
        settings.SIMRENEW_STRIPE_API_KEY = SECRET_KEY
        settings.SIMRENEW_STRIPE_PUBLISHABLE_KEY = PUBLISHABLE_KEY
        settings.SIMRENEW_STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
        settings.SIMRENEW_STRIPE_API_BASE = server.url
        settings.SIMRENEW_STRIPE_JS_URL = server.url + "/v3/"
        forget_gateways()
        yield server
        forget_gateways()
    assert server.violations == [], server.violations


def stripe_gateway() -> CardSetupGateway:
    gateway = card_setup.setup_gateway()
    assert gateway is not None and gateway.name == "stripe"
    return gateway


def confirm_in_browser(server: StripeServer, setup_client_secret: str, payment_method: str) -> dict[str, Any]:
    """What the card page's Stripe.js does with the card the customer typed: confirm the setup."""
    setup_id = setup_client_secret.split("_secret_")[0]
    answer = httpx.post(
        f"{server.url}/v1/setup_intents/{setup_id}/confirm",
        data={"client_secret": setup_client_secret, "payment_method": payment_method},
        headers={"Authorization": f"Bearer {PUBLISHABLE_KEY}"},
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def save_stripe_card(customer: Customer, server: StripeServer, payment_method: str = "pm_card_visa") -> PaymentMethod:
    """The whole card page: begin, the customer's card confirmed by Stripe.js, finish."""
    gateway = stripe_gateway()
    setup = card_setup.begin(customer, gateway)
    confirmed = confirm_in_browser(server, setup.client_secret, payment_method)
    if confirmed["status"] == "requires_action":  # the bank's 3-D Secure dialog, answered
        server.authenticate(setup.setup_id)
    return card_setup.finish(customer, gateway, setup.setup_id)
