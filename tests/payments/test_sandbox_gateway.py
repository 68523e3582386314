"""The sandbox gateway behaves like a real one: test cards, an idempotency cache, a lookup by key, refunds."""

from __future__ import annotations

import pytest

from simrenew.payments.failures import CATALOGUE
from simrenew.payments.gateway import (
    CardDetails,
    ChargeRequest,
    ChargeStatus,
    TokenizationError,
)
from simrenew.payments.models import SandboxCharge, SandboxToken
from simrenew.payments.sandbox import TEST_CARDS, SandboxGateway

# What each test card does when charged: (status we are told, status in the gateway's own ledger, failure code).
CARD_OUTCOMES = {
    "4242424242424242": (ChargeStatus.SUCCEEDED, "succeeded", ""),
    "5555555555554444": (ChargeStatus.SUCCEEDED, "succeeded", ""),
    "4000056655665556": (ChargeStatus.SUCCEEDED, "succeeded", ""),
    "4000000000000002": (ChargeStatus.FAILED, "failed", "card_declined"),
    "4000000000009995": (ChargeStatus.FAILED, "failed", "insufficient_funds"),
    "4000000000000069": (ChargeStatus.FAILED, "failed", "expired_card"),
    "4000000000000119": (ChargeStatus.FAILED, "failed", "processing_error"),
    "4000000000009987": (ChargeStatus.FAILED, "failed", "lost_card"),
    "4000000000009979": (ChargeStatus.FAILED, "failed", "stolen_card"),
    # The bank wants its cardholder (3-D Secure): charged with nobody there (these charges), refused.
    "4000002760003184": (ChargeStatus.FAILED, "failed", "authentication_required"),
    # The card is charged but the answer is lost on the way back.
    "4000000000000408": (ChargeStatus.UNKNOWN, "succeeded", ""),
    # The request never arrives: nothing in the gateway's ledger.
    "4000000000000416": (ChargeStatus.UNKNOWN, None, ""),
}


@pytest.fixture
def gateway(clock) -> SandboxGateway:
    return SandboxGateway(latency_ms=0)


def tokenize(gateway: SandboxGateway, number: str, *, exp_month: int = 12, exp_year: int = 2040, cvc: str = "123"):
    return gateway.tokenize_card(CardDetails(number, exp_month, exp_year, cvc))


def charge(gateway: SandboxGateway, token: str, *, key: str = "key-1", amount_minor: int = 2500):
    return gateway.charge(ChargeRequest(token=token, amount_minor=amount_minor, currency="USD", idempotency_key=key))


def test_every_test_card_has_a_known_outcome():
    assert set(CARD_OUTCOMES) == set(TEST_CARDS)


@pytest.mark.parametrize(("number", "outcome"), CARD_OUTCOMES.items())
def test_each_test_card_is_charged_as_documented(gateway, number, outcome):
    told, ledger, code = outcome
    token = tokenize(gateway, number)

    result = charge(gateway, token.token, key=f"charge-{number}")

    assert result.status == told
    assert result.failure_code == code
    if code:
        assert result.failure_message == CATALOGUE[code].message
    stored = SandboxCharge.objects.filter(idempotency_key=f"charge-{number}").first()
    assert (stored.status if stored else None) == ledger
    if stored:
        assert (stored.amount_minor, stored.currency, stored.token) == (2500, "USD", token.token)


def test_on_our_pages_the_sandbox_banks_check_passes_at_once(gateway):
    token = tokenize(gateway, "4000002760003184")

    result = gateway.charge(
        ChargeRequest(
            token=token.token,
            amount_minor=2500,
            currency="USD",
            idempotency_key="on-session",
            return_url="http://127.0.0.1:8000/payments/1/",
        )
    )

    assert result.status == ChargeStatus.SUCCEEDED


def test_a_lookup_tells_what_became_of_a_charge_whose_answer_was_lost(gateway):
    lost = tokenize(gateway, "4000000000000408")
    never_sent = tokenize(gateway, "4000000000000416")
    charge(gateway, lost.token, key="lost")
    charge(gateway, never_sent.token, key="never-sent")

    found = gateway.lookup("lost")

    assert found.status == ChargeStatus.SUCCEEDED
    assert found.charge_id == SandboxCharge.objects.get(idempotency_key="lost").charge_id
    assert gateway.lookup("never-sent") is None
    assert gateway.lookup("no-such-key") is None


def test_a_lookup_of_a_declined_charge_says_why(gateway):
    token = tokenize(gateway, "4000000000009995")
    charge(gateway, token.token, key="poor")

    found = gateway.lookup("poor")

    assert (found.status, found.failure_code) == (ChargeStatus.FAILED, "insufficient_funds")


def test_the_same_key_twice_charges_once_and_answers_the_same(gateway):
    token = tokenize(gateway, "4242424242424242")

    first = charge(gateway, token.token, key="same")
    second = charge(gateway, token.token, key="same")

    assert first == second
    assert first.status == ChargeStatus.SUCCEEDED
    assert SandboxCharge.objects.count() == 1


def test_the_same_key_for_a_different_charge_is_refused_and_charges_nothing_more(gateway):
    token = tokenize(gateway, "4242424242424242")
    other = tokenize(gateway, "5555555555554444")
    first = charge(gateway, token.token, key="same", amount_minor=2500)

    more = charge(gateway, token.token, key="same", amount_minor=9900)
    other_card = charge(gateway, other.token, key="same", amount_minor=2500)

    for refused in (more, other_card):
        assert (refused.status, refused.failure_code) == (ChargeStatus.FAILED, "idempotency_key_reused")
    assert SandboxCharge.objects.get().amount_minor == 2500
    assert charge(gateway, token.token, key="same") == first  # the original is still answered as before


def test_a_declined_charge_is_replayed_as_declined(gateway):
    token = tokenize(gateway, "4000000000000002")

    first = charge(gateway, token.token, key="declined")
    again = charge(gateway, token.token, key="declined")

    assert first == again
    assert again.failure_code == "card_declined"
    assert SandboxCharge.objects.count() == 1


def test_an_unknown_token_is_declined(gateway):
    result = charge(gateway, "tok_sandbox_made_up", key="forged")

    assert (result.status, result.failure_code) == (ChargeStatus.FAILED, "card_declined")


def test_tokenizing_keeps_brand_last4_and_expiry_but_never_the_number(gateway):
    visa = tokenize(gateway, "4242 4242 4242 4242", exp_month=3, exp_year=2031)
    mastercard = tokenize(gateway, "5555555555554444")

    assert (visa.brand, visa.last4, visa.exp_month, visa.exp_year) == ("visa", "4242", 3, 2031)
    assert (mastercard.brand, mastercard.last4) == ("mastercard", "4444")
    assert visa.token.startswith("tok_sandbox_") and visa.token != mastercard.token
    stored = SandboxToken.objects.get(token=visa.token)
    assert (stored.brand, stored.last4, stored.behaviour) == ("visa", "4242", "succeed")
    assert "4242424242424242" not in repr(CardDetails("4242424242424242", 3, 2031, "123"))


@pytest.mark.parametrize(
    ("number", "exp_month", "exp_year", "cvc", "field"),
    [
        ("4242424242424241", 12, 2040, "123", "number"),  # Luhn check digit wrong
        ("4242-4242-4242-4242", 12, 2040, "123", "number"),
        ("42424242", 12, 2040, "123", "number"),
        ("4242424242424242", 13, 2040, "123", "exp_month"),
        ("4242424242424242", 12, 2025, "123", "exp_year"),  # the clock says January 2026
        ("4242424242424242", 12, 2099, "123", "exp_year"),
        ("4242424242424242", 12, 2040, "12", "cvc"),
        ("4242424242424242", 12, 2040, "12a", "cvc"),
    ],
)
def test_tokenizing_refuses_bad_details_naming_the_field(gateway, number, exp_month, exp_year, cvc, field):
    with pytest.raises(TokenizationError) as refused:
        tokenize(gateway, number, exp_month=exp_month, exp_year=exp_year, cvc=cvc)

    assert refused.value.field == field
    assert number not in refused.value.message
    assert not SandboxToken.objects.exists()


def test_a_card_is_good_through_the_last_day_of_its_expiry_month(gateway):
    token = tokenize(gateway, "4242424242424242", exp_month=1, exp_year=2026)

    assert token.exp_month == 1


def test_a_paypal_account_whose_address_starts_with_declined_refuses_payments(gateway):
    good = gateway.tokenize_paypal("buyer@example.com")
    bad = gateway.tokenize_paypal("Declined.buyer@example.com")

    assert charge(gateway, good.token, key="pp-good").status == ChargeStatus.SUCCEEDED
    refused = charge(gateway, bad.token, key="pp-bad")
    assert (refused.status, refused.failure_code) == (ChargeStatus.FAILED, "paypal_declined")
    assert (good.brand, good.last4) == ("paypal", "")


def test_refunds_never_exceed_what_was_charged(gateway):
    token = tokenize(gateway, "4242424242424242")
    charged = charge(gateway, token.token, key="to-refund", amount_minor=2500)

    partial = gateway.refund(charge_id=charged.charge_id, amount_minor=1000, idempotency_key="r1")
    too_much = gateway.refund(charge_id=charged.charge_id, amount_minor=1501, idempotency_key="r2")
    rest = gateway.refund(charge_id=charged.charge_id, amount_minor=1500, idempotency_key="r3")

    assert partial.succeeded and partial.refund_id.startswith("re_sandbox_")
    assert not too_much.succeeded and too_much.failure_message
    assert rest.succeeded
    assert SandboxCharge.objects.get().refunded_minor == 2500


def test_a_declined_charge_cannot_be_refunded(gateway):
    token = tokenize(gateway, "4000000000000002")
    declined = charge(gateway, token.token, key="declined")

    result = gateway.refund(charge_id=declined.charge_id, amount_minor=100, idempotency_key="r")

    assert not result.succeeded


def test_a_batch_of_charges_answers_each_as_single_charges_would(gateway):
    numbers = list(CARD_OUTCOMES)
    requests = [
        ChargeRequest(token=tokenize(gateway, n).token, amount_minor=900, currency="USD", idempotency_key=f"batch-{n}")
        for n in numbers
    ]

    results = gateway.charge_many(requests)

    assert [(r.status, r.failure_code) for r in results] == [(o[0], o[2]) for o in CARD_OUTCOMES.values()]
    ledger = {c.idempotency_key: c.status for c in SandboxCharge.objects.filter(idempotency_key__startswith="batch-")}
    assert ledger == {f"batch-{n}": o[1] for n, o in CARD_OUTCOMES.items() if o[1] is not None}


def test_a_batch_sent_again_replays_and_charges_nothing_more(gateway):
    token = tokenize(gateway, "4242424242424242").token
    requests = [
        ChargeRequest(token=token, amount_minor=900, currency="USD", idempotency_key=f"again-{i}") for i in range(5)
    ]
    first = gateway.charge_many(requests)

    second = gateway.charge_many(requests)

    assert [r.charge_id for r in second] == [r.charge_id for r in first]
    assert SandboxCharge.objects.filter(idempotency_key__startswith="again-").count() == 5


def test_injected_faults_lose_answers_but_never_charge_twice(clock):
    gateway = SandboxGateway(latency_ms=0, fault_rate=0.5)
    token = tokenize(gateway, "4242424242424242").token
    requests = [
        ChargeRequest(token=token, amount_minor=900, currency="USD", idempotency_key=f"fault-{i}") for i in range(200)
    ]

    results = gateway.charge_many(requests)

    unknown = [req for req, res in zip(requests, results, strict=True) if res.status == ChargeStatus.UNKNOWN]
    assert 50 < len(unknown) < 150  # about half, seeded by the keys
    looked_up = [gateway.lookup(req.idempotency_key) for req in unknown]
    charged_anyway = [r for r in looked_up if r is not None]
    assert charged_anyway and len(charged_anyway) < len(unknown)  # some before, some after the charge
    assert all(r.status == ChargeStatus.SUCCEEDED for r in charged_anyway)
    again = gateway.charge_many(requests)  # asked again with the same keys: the stored answers, no new charges
    assert sum(r.status == ChargeStatus.SUCCEEDED for r in again) == 200 - (len(unknown) - len(charged_anyway))
    assert SandboxCharge.objects.filter(idempotency_key__startswith="fault-").count() == 200 - (
        len(unknown) - len(charged_anyway)
    )


def test_a_card_is_declined_as_expired_after_its_expiry_month(gateway, clock):
    from datetime import UTC, datetime

    token = tokenize(gateway, "4242424242424242", exp_month=2, exp_year=2026).token
    clock.set(datetime(2026, 2, 28, 23, 0, tzinfo=UTC))
    assert charge(gateway, token, key="in-february").status == ChargeStatus.SUCCEEDED

    clock.set(datetime(2026, 3, 1, 0, 0, tzinfo=UTC))
    declined = charge(gateway, token, key="in-march")

    assert (declined.status, declined.failure_code) == (ChargeStatus.FAILED, "expired_card")
