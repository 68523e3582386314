"""The PayPal adapter, through PayPal's official SDK, against a local PayPal over HTTP that holds
every request to PayPal's published OpenAPI documents (Orders v2, Payments v2, Vault v3, Webhooks):
linking an account (the approval round trip), a vaulted charge with nobody present, a decline, a
lost answer, refunds, and cards and PayPal on at the same time."""

from __future__ import annotations

import pytest

from simrenew.kit.errors import ValidationFailed
from simrenew.payments import paypal_link
from simrenew.payments.charging import run_charge
from simrenew.payments.failures import FailureCode
from simrenew.payments.gateway import ChargeRequest, ChargeStatus, gateway_named
from simrenew.payments.models import AttemptStatus, MethodType
from simrenew.subscriptions.renewals import begin_renewal
from tests.factories import make_customer, make_subscription
from tests.payments.local_paypal import link_paypal, local_paypal, paypal
from tests.payments.local_stripe import local_stripe, save_stripe_card
from tests.payments.paypal_server import PayPalServer
from tests.payments.stripe_server import StripeServer

__all__ = ["local_paypal", "local_stripe"]


def charge(token: str, key: str, amount_minor: int = 2500) -> ChargeRequest:
    return ChargeRequest(token=token, amount_minor=amount_minor, currency="USD", idempotency_key=key)


def test_linking_keeps_the_vault_id_and_the_email_only(clock, local_paypal: PayPalServer):
    customer = make_customer()

    method = link_paypal(customer, local_paypal, email="ada.buyer@example.com")

    assert (method.type, method.gateway, method.paypal_email) == (MethodType.PAYPAL, "paypal", "ada.buyer@example.com")
    assert method.token and method.token != method.provider_customer
    assert (method.brand, method.last4) == ("paypal", "")


def test_a_link_the_buyer_did_not_approve_saves_nothing(clock, local_paypal: PayPalServer):
    customer = make_customer()
    link = paypal_link.begin(
        paypal(), return_url="https://x.test/back", cancel_url="https://x.test/c", locale="zh-hans"
    )

    assert link.approve_url.startswith(local_paypal.url)
    with pytest.raises(ValidationFailed):
        paypal_link.finish(customer, paypal(), link.setup_token_id)
    assert not customer.payment_methods.exists()


def test_finishing_a_link_twice_keeps_it_once(clock, local_paypal: PayPalServer):
    customer = make_customer()
    link = paypal_link.begin(paypal(), return_url="https://x.test/back", cancel_url="https://x.test/c", locale="en")
    local_paypal.approve(link.setup_token_id)

    first = paypal_link.finish(customer, paypal(), link.setup_token_id)
    again = paypal_link.finish(customer, paypal(), link.setup_token_id)

    assert first.pk == again.pk


def test_a_vaulted_charge_is_captured_once_per_key(clock, local_paypal: PayPalServer):
    method = link_paypal(make_customer(), local_paypal)

    first = gateway_named("paypal").charge(charge(method.token, "renewal:7:2026-02-15"))
    again = gateway_named("paypal").charge(charge(method.token, "renewal:7:2026-02-15"))

    assert first.status == ChargeStatus.SUCCEEDED
    assert first.charge_id == again.charge_id
    [capture] = local_paypal.captures_of(method.token)
    assert capture["custom_id"] == "renewal:7:2026-02-15"
    assert capture["amount"] == {"currency_code": "USD", "value": "25.00"}


@pytest.mark.parametrize("email", ["declined.buyer@example.com", "refused.buyer@example.com"])
def test_a_buyer_paypal_declines_is_a_failure_with_our_code(clock, local_paypal: PayPalServer, email: str):
    method = link_paypal(make_customer(), local_paypal, email=email)

    result = gateway_named("paypal").charge(charge(method.token, f"k-{email}"))

    assert (result.status, result.failure_code) == (ChargeStatus.FAILED, FailureCode.PAYPAL_DECLINED)


def test_paypal_down_or_silent_leaves_the_outcome_unknown(clock, local_paypal: PayPalServer):
    method = link_paypal(make_customer(), local_paypal)
    local_paypal.fail_with(503)
    assert gateway_named("paypal").charge(charge(method.token, "k-down")).status == ChargeStatus.UNKNOWN
    local_paypal.lose_answer()
    assert gateway_named("paypal").charge(charge(method.token, "k-lost")).status == ChargeStatus.UNKNOWN
    assert len(local_paypal.captures_of(method.token)) == 1  # the lost answer's capture was made


def test_a_known_capture_is_looked_up_by_its_id(clock, local_paypal: PayPalServer):
    method = link_paypal(make_customer(), local_paypal)
    paid = gateway_named("paypal").charge(charge(method.token, "k-look"))

    found = gateway_named("paypal").lookup("k-look", paid.charge_id)

    assert found is not None and (found.status, found.charge_id) == (ChargeStatus.SUCCEEDED, paid.charge_id)
    assert gateway_named("paypal").lookup("k-never") is None


def test_refunds_go_back_in_parts_once_per_key_and_never_beyond_the_capture(clock, local_paypal: PayPalServer):
    method = link_paypal(make_customer(), local_paypal)
    paid = gateway_named("paypal").charge(charge(method.token, "k-refund", amount_minor=2000))
    gateway = gateway_named("paypal")

    part = gateway.refund(charge_id=paid.charge_id, amount_minor=500, idempotency_key="r-1")
    same = gateway.refund(charge_id=paid.charge_id, amount_minor=500, idempotency_key="r-1")
    rest = gateway.refund(charge_id=paid.charge_id, amount_minor=1500, idempotency_key="r-2")
    beyond = gateway.refund(charge_id=paid.charge_id, amount_minor=1, idempotency_key="r-3")

    assert part.succeeded and part.refund_id == same.refund_id
    assert rest.succeeded and rest.refund_id != part.refund_id
    assert not beyond.succeeded


def test_cards_at_stripe_and_paypal_pay_side_by_side(clock, local_paypal: PayPalServer, local_stripe: StripeServer):
    customer = make_customer()
    card = save_stripe_card(customer, local_stripe)
    account = link_paypal(customer, local_paypal)
    subscription = make_subscription(customer=customer, payment_method=card)

    by_paypal = run_charge(
        lambda: begin_renewal(subscription=subscription, idempotency_key="side-by-side", payment_method=account)
    )

    assert (by_paypal.status, by_paypal.gateway) == (AttemptStatus.SUCCEEDED, "paypal")
    assert len(local_paypal.captures_of(account.token)) == 1
    assert len(local_stripe.charges_of(card.provider_customer)) == 1  # the first period only
