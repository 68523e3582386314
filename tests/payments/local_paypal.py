"""The local PayPal as a fixture: simrenew configured for it (beside whatever takes cards), and a
customer's PayPal account linked the way our pages link one (setup token, the buyer's approval on
PayPal's page, payment token)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from simrenew.customers.models import Customer
from simrenew.payments import paypal_link
from simrenew.payments.gateway import forget_gateways
from simrenew.payments.models import PaymentMethod
from simrenew.payments.paypal import PayPalGateway
from tests.payments.paypal_server import CLIENT_ID, CLIENT_SECRET, WEBHOOK_ID, PayPalServer


@pytest.fixture
def local_paypal(settings: Any) -> Iterator[PayPalServer]:
    """PayPal on 127.0.0.1 and simrenew linking accounts there. Fails the test if any request was
    not one of PayPal's published operations, as its OpenAPI documents describe them."""
    with PayPalServer() as server:
        settings.SIMRENEW_PAYPAL_CLIENT_ID = CLIENT_ID
        settings.SIMRENEW_PAYPAL_CLIENT_SECRET = CLIENT_SECRET
        settings.SIMRENEW_PAYPAL_WEBHOOK_ID = WEBHOOK_ID
        settings.SIMRENEW_PAYPAL_API_BASE = server.url
        forget_gateways()
        yield server
        forget_gateways()
    assert server.violations == [], server.violations


def paypal() -> PayPalGateway:
    gateway = paypal_link.paypal_gateway()
    assert gateway is not None
    return gateway


def link_paypal(customer: Customer, server: PayPalServer, email: str = "buyer@example.com") -> PaymentMethod:
    """The whole round trip: a setup token, the buyer approving at PayPal, the payment token."""
    link = paypal_link.begin(
        paypal(),
        return_url="https://esim.example.test/back",
        cancel_url="https://esim.example.test/cancel",
        locale="en",
    )
    server.approve(link.setup_token_id, email=email)
    return paypal_link.finish(customer, paypal(), link.setup_token_id)
