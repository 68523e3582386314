"""The Stripe adapter, through Stripe's official SDK, against a local Stripe over HTTP that holds
every request to Stripe's published API: saving a card with a SetupIntent, charging it off-session,
declines, 3-D Secure wanted with nobody there, outages, lost answers, look-ups and refunds."""

from __future__ import annotations

import pytest

from simrenew.kit.errors import ValidationFailed
from simrenew.payments import card_setup
from simrenew.payments.failures import FailureCode, is_hard_decline
from simrenew.payments.gateway import ChargeRequest, ChargeStatus, gateway_named
from simrenew.payments.models import MethodType, PaymentMethod, ProviderCustomer
from simrenew.payments.stripe import StripeGateway
from tests.factories import make_customer
from tests.payments.local_stripe import confirm_in_browser, local_stripe, save_stripe_card, stripe_gateway
from tests.payments.stripe_server import StripeServer

__all__ = ["local_stripe"]  # the fixture, used by name


def charge(method: PaymentMethod, key: str, amount_minor: int = 1500) -> ChargeRequest:
    return ChargeRequest(
        token=method.token,
        amount_minor=amount_minor,
        currency="USD",
        idempotency_key=key,
        description="simrenew renewal",
        provider_customer=method.provider_customer,
    )


def stripe() -> StripeGateway:
    gateway = gateway_named("stripe")
    assert isinstance(gateway, StripeGateway)
    return gateway


# ---------------------------------------------------------------- saving a card


def test_a_card_saved_on_the_hosted_page_is_kept_as_stripe_gave_it(clock, local_stripe: StripeServer):
    customer = make_customer(email="ada@example.com", name="Ada Lovelace")
    method = save_stripe_card(customer, local_stripe, "pm_card_visa_debit")

    assert (method.type, method.brand, method.last4, method.gateway) == (MethodType.DEBIT, "visa", "5556", "stripe")
    assert method.token.startswith("pm_") and method.token != "pm_card_visa_debit"  # Stripe's own copy
    stripe_customer = local_stripe.customers[method.provider_customer]
    assert (stripe_customer["email"], stripe_customer["name"]) == ("ada@example.com", "Ada Lovelace")
    assert local_stripe.payment_methods[method.token]["customer"] == method.provider_customer
    setup = next(iter(local_stripe.setup_intents.values()))
    assert (setup["usage"], setup["customer"]) == ("off_session", method.provider_customer)


def test_a_credit_card_is_a_card_and_a_second_card_reuses_the_stripe_customer(clock, local_stripe):
    customer = make_customer()
    first = save_stripe_card(customer, local_stripe, "pm_card_mastercard")
    second = save_stripe_card(customer, local_stripe, "pm_card_visa")

    assert (first.type, first.brand, first.last4) == (MethodType.CARD, "mastercard", "4444")
    assert first.provider_customer == second.provider_customer
    assert len(local_stripe.customers) == 1
    assert ProviderCustomer.objects.filter(customer=customer).count() == 1
    assert first.is_default and not second.is_default


def test_finishing_twice_keeps_the_card_once(clock, local_stripe):
    customer = make_customer()
    gateway = stripe_gateway()
    setup = card_setup.begin(customer, gateway)
    confirm_in_browser(local_stripe, setup.client_secret, "pm_card_visa")

    first = card_setup.finish(customer, gateway, setup.setup_id)
    again = card_setup.finish(customer, gateway, setup.setup_id)  # the return page reloaded

    assert first.pk == again.pk
    assert PaymentMethod.objects.filter(customer=customer, gateway="stripe").count() == 1


def test_a_setup_the_customer_did_not_finish_saves_nothing(clock, local_stripe):
    customer = make_customer()
    gateway = stripe_gateway()
    setup = card_setup.begin(customer, gateway)

    with pytest.raises(ValidationFailed) as refused:
        card_setup.finish(customer, gateway, setup.setup_id)

    assert refused.value.errors[0].field == "setup_intent"
    assert not PaymentMethod.objects.filter(customer=customer).exists()


def test_a_card_the_bank_must_confirm_is_saved_once_the_customer_confirms(clock, local_stripe):
    customer = make_customer()
    gateway = stripe_gateway()
    setup = card_setup.begin(customer, gateway)
    confirmed = confirm_in_browser(local_stripe, setup.client_secret, "pm_card_authenticationRequiredOnSetup")
    assert confirmed["status"] == "requires_action"
    with pytest.raises(ValidationFailed):  # not yet: the bank's dialog is open
        card_setup.finish(customer, gateway, setup.setup_id)

    local_stripe.authenticate(setup.setup_id)

    assert card_setup.finish(customer, gateway, setup.setup_id).last4 == "3155"


def test_someone_elses_setup_is_never_kept_for_me(clock, local_stripe):
    owner, stranger = make_customer(), make_customer()
    gateway = stripe_gateway()
    setup = card_setup.begin(owner, gateway)
    confirm_in_browser(local_stripe, setup.client_secret, "pm_card_visa")
    card_setup.begin(stranger, gateway)  # the stranger has a Stripe customer too

    with pytest.raises(ValidationFailed) as refused:
        card_setup.finish(stranger, gateway, setup.setup_id)

    assert "not yours" in refused.value.errors[0].message
    assert not PaymentMethod.objects.filter(customer=stranger).exists()


def test_an_unknown_setup_id_is_a_clear_error(clock, local_stripe):
    customer = make_customer()
    with pytest.raises(ValidationFailed) as refused:
        card_setup.finish(customer, stripe_gateway(), "seti_nope")
    assert refused.value.errors[0].field == "setup_intent"


def test_card_numbers_never_reach_our_servers():
    """The sandbox's form takes a number; Stripe's adapter refuses one outright."""
    from simrenew.payments.gateway import CardDetails, TokenizationError

    gateway = StripeGateway(api_key="sk_test_x")
    with pytest.raises(TokenizationError):
        gateway.tokenize_card(CardDetails("4242424242424242", 12, 2040, "123"))


# ---------------------------------------------------------------- charges


def test_an_off_session_charge_names_the_customer_the_card_and_our_key(clock, local_stripe):
    method = save_stripe_card(make_customer(), local_stripe)

    result = stripe().charge(charge(method, "renewal:1:2026-02-15"))

    assert result.status == ChargeStatus.SUCCEEDED
    intent = local_stripe.payment_intents[result.charge_id]
    assert (intent["customer"], intent["payment_method"], intent["amount"], intent["currency"]) == (
        method.provider_customer,
        method.token,
        1500,
        "usd",
    )
    assert intent["metadata"] == {"idempotency_key": "renewal:1:2026-02-15"}
    assert any(method == "POST" and path == "/v1/payment_intents" for method, path in local_stripe.requests)


def test_asking_twice_with_one_key_charges_once(clock, local_stripe):
    method = save_stripe_card(make_customer(), local_stripe)

    first = stripe().charge(charge(method, "k-once"))
    again = stripe().charge(charge(method, "k-once"))

    assert first.charge_id == again.charge_id
    assert len(local_stripe.charges_of(method.provider_customer)) == 1


def test_one_key_for_another_amount_is_refused_not_charged(clock, local_stripe):
    method = save_stripe_card(make_customer(), local_stripe)
    stripe().charge(charge(method, "k-reused", amount_minor=1500))

    reused = stripe().charge(charge(method, "k-reused", amount_minor=9900))

    assert (reused.status, reused.failure_code) == (ChargeStatus.FAILED, FailureCode.IDEMPOTENCY_KEY_REUSED)
    assert [intent["amount"] for intent in local_stripe.charges_of(method.provider_customer)] == [1500]


@pytest.mark.parametrize(
    ("test_method", "code"),
    [
        ("pm_card_chargeDeclined", FailureCode.CARD_DECLINED),
        ("pm_card_chargeDeclinedInsufficientFunds", FailureCode.INSUFFICIENT_FUNDS),
        ("pm_card_chargeDeclinedExpiredCard", FailureCode.EXPIRED_CARD),
    ],
)
def test_a_decline_is_a_failure_with_our_code(clock, local_stripe, test_method, code):
    result = stripe().charge(
        ChargeRequest(token=test_method, amount_minor=1500, currency="USD", idempotency_key=f"k-{code}")
    )

    assert (result.status, result.failure_code) == (ChargeStatus.FAILED, code)
    assert result.charge_id.startswith("pi_")


def test_a_charge_the_bank_wants_confirmed_with_nobody_there_is_its_own_outcome(clock, local_stripe):
    method = save_stripe_card(make_customer(), local_stripe, "pm_card_authenticationRequired")

    result = stripe().charge(charge(method, "k-sca"))

    assert (result.status, result.failure_code) == (ChargeStatus.FAILED, FailureCode.AUTHENTICATION_REQUIRED)
    assert is_hard_decline(result.failure_code)  # the retries wait for the customer
    assert local_stripe.charges_of(method.provider_customer) == []


def test_stripe_down_leaves_the_outcome_unknown(clock, local_stripe):
    method = save_stripe_card(make_customer(), local_stripe)
    local_stripe.fail_with(500)

    assert stripe().charge(charge(method, "k-down")).status == ChargeStatus.UNKNOWN


def test_a_lost_answer_is_unknown_and_the_key_finds_the_charge(clock, local_stripe):
    method = save_stripe_card(make_customer(), local_stripe)
    local_stripe.lose_answer()

    lost = stripe().charge(charge(method, "renewal:'quoted'\\key"))
    found = stripe().lookup("renewal:'quoted'\\key")

    assert lost.status == ChargeStatus.UNKNOWN
    assert found is not None and found.status == ChargeStatus.SUCCEEDED
    assert found.charge_id in local_stripe.payment_intents
    assert stripe().lookup("never-sent") is None


def test_a_batch_overlaps_its_charges(clock, local_stripe):
    method = save_stripe_card(make_customer(), local_stripe)
    local_stripe.latency_ms = 100

    results = stripe().charge_many([charge(method, f"batch-{n}") for n in range(8)])

    assert [result.status for result in results] == [ChargeStatus.SUCCEEDED] * 8
    assert len({result.charge_id for result in results}) == 8
    assert local_stripe.max_in_flight > 1


# ---------------------------------------------------------------- refunds


def test_refunds_go_back_in_parts_once_per_key_and_never_beyond_the_charge(clock, local_stripe):
    method = save_stripe_card(make_customer(), local_stripe)
    paid = stripe().charge(charge(method, "k-paid", amount_minor=2000))

    part = stripe().refund(charge_id=paid.charge_id, amount_minor=500, idempotency_key="refund-1")
    same = stripe().refund(charge_id=paid.charge_id, amount_minor=500, idempotency_key="refund-1")
    rest = stripe().refund(charge_id=paid.charge_id, amount_minor=1500, idempotency_key="refund-2")
    beyond = stripe().refund(charge_id=paid.charge_id, amount_minor=1, idempotency_key="refund-3")

    assert part.succeeded and part.refund_id == same.refund_id
    assert rest.succeeded and rest.refund_id != part.refund_id
    assert not beyond.succeeded and "greater than unrefunded" in beyond.failure_message
    assert local_stripe.payment_intents[paid.charge_id]["amount_refunded"] == 2000


def test_a_refund_stripe_did_not_answer_raises_so_it_stays_pending(clock, local_stripe):
    method = save_stripe_card(make_customer(), local_stripe)
    paid = stripe().charge(charge(method, "k-paid-2"))
    local_stripe.fail_with(503)

    with pytest.raises(Exception, match="Stripe is down"):
        stripe().refund(charge_id=paid.charge_id, amount_minor=100, idempotency_key="refund-x")
