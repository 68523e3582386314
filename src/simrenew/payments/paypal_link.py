"""Linking a PayPal account through PayPal (Vault v3), for the edges: each step calls PayPal outside
any transaction and owns the short transaction that keeps its result.

1. `begin`: a setup token; the browser goes to PayPal's page to approve it (the edge remembers the
   token in the customer's session, so only the one who began can finish).
2. The buyer approves at PayPal and comes back to our return URL with `approval_token_id`.
3. `finish`: the approved setup token becomes a payment token (the vault id), kept with the buyer's
   email: what auto-renew charges with nobody present. Finishing twice keeps it once.
"""

from __future__ import annotations

from typing import cast

from django.db import transaction

from simrenew.customers.models import Customer
from simrenew.kit.errors import ValidationFailed
from simrenew.payments.gateway import TokenizationError, gateway_named, paypal_gateway_name
from simrenew.payments.models import MethodType, PaymentMethod
from simrenew.payments.paypal import PayPalGateway, PayPalLink
from simrenew.payments.services import TokenizedNewMethod, keep_method_once


def paypal_gateway() -> PayPalGateway | None:
    """PayPal itself, when it links accounts (None: the sandbox's page does, or nobody)."""
    return cast(PayPalGateway, gateway_named("paypal")) if paypal_gateway_name() == "paypal" else None


def begin(gateway: PayPalGateway, *, return_url: str, cancel_url: str, locale: str) -> PayPalLink:
    return gateway.begin_link(return_url=return_url, cancel_url=cancel_url, locale=locale)


def finish(
    customer: Customer, gateway: PayPalGateway, setup_token_id: str, *, make_default: bool = False
) -> PaymentMethod:
    try:
        token, email = gateway.finish_link(setup_token_id)
    except TokenizationError as exc:
        raise ValidationFailed.on(exc.field, exc.message) from None
    with transaction.atomic():
        return keep_method_once(
            customer=customer,
            tokenized=TokenizedNewMethod(MethodType.PAYPAL, gateway.name, token, paypal_email=email),
            make_default=make_default,
        )
