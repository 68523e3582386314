"""Saving a card on the gateway's hosted page (Stripe: a SetupIntent confirmed by the Payment
Element), for the edges: each step calls the gateway outside any transaction and owns the short
transaction that keeps its result.

1. `begin` finds or makes the customer's Customer at the gateway and a setup for it; the page
   gets the setup's client secret, never more.
2. The customer types the card into the gateway's element; the gateway saves it (3-D Secure if
   the bank asks) and sends the browser back to us with the setup's id.
3. `finish` asks the gateway what the setup saved, checks the setup is this customer's, and keeps
   the method: its id, brand, last 4, expiry, and credit or debit as the card's funding says.
   Finishing twice (a reload of the return page) keeps it once.
"""

from __future__ import annotations

from typing import cast

from django.db import transaction

from simrenew.customers.models import Customer
from simrenew.kit import clock
from simrenew.kit.errors import ValidationFailed
from simrenew.payments.gateway import CardSetup, CardSetupGateway, TokenizationError, gateway_named, get_gateway
from simrenew.payments.models import MethodType, PaymentMethod, ProviderCustomer
from simrenew.payments.services import TokenizedNewMethod, keep_method_once


def setup_gateway(name: str | None = None) -> CardSetupGateway | None:
    """The gateway (the one taking new cards, or the one `name`d) if it saves cards on its own
    page and runs banks' checks in its script; None for the sandbox, which has its own form."""
    gateway = get_gateway() if name is None else gateway_named(name)
    return cast(CardSetupGateway, gateway) if hasattr(gateway, "begin_card_setup") else None


def provider_customer_id(customer: Customer, gateway: CardSetupGateway) -> str:
    """The customer's Customer at the gateway, made the first time (the gateway's idempotency
    key makes two racing first times one Customer)."""
    known = ProviderCustomer.objects.filter(customer=customer, gateway=gateway.name).first()
    if known is not None:
        return known.external_id
    external_id = gateway.provider_customer(reference=str(customer.pk), email=customer.email, name=customer.name)
    with transaction.atomic():
        kept, _ = ProviderCustomer.objects.get_or_create(
            customer=customer, gateway=gateway.name, defaults={"external_id": external_id, "created_at": clock.now()}
        )
    return kept.external_id


def begin(customer: Customer, gateway: CardSetupGateway) -> CardSetup:
    return gateway.begin_card_setup(provider_customer=provider_customer_id(customer, gateway))


def finish(
    customer: Customer, gateway: CardSetupGateway, setup_id: str, *, make_default: bool = False
) -> PaymentMethod:
    try:
        owner, card = gateway.finish_card_setup(setup_id)
    except TokenizationError as exc:
        raise ValidationFailed.on(exc.field, exc.message) from None
    mine = ProviderCustomer.objects.filter(customer=customer, gateway=gateway.name, external_id=owner).exists()
    if not owner or not mine:  # a setup id from someone else's page: never theirs to keep
        raise ValidationFailed.on("setup_intent", "This card setup is not yours.")
    method_type = MethodType.DEBIT if card.funding == "debit" else MethodType.CARD
    with transaction.atomic():
        return keep_method_once(
            customer=customer, tokenized=TokenizedNewMethod(method_type, gateway.name, card), make_default=make_default
        )
