"""The Stripe adapter speaks Stripe's wire format behind the same protocol as the
sandbox. Stripe itself is outside: a local transport plays its part."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import httpx
import pytest

from simrenew.payments.gateway import CardDetails, ChargeRequest, ChargeStatus, PaymentGateway, TokenizationError
from simrenew.payments.stripe import StripeGateway


class FakeStripe:
    """Answers like Stripe's API for the calls the adapter makes, and remembers them."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.intents: dict[str, dict[str, object]] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "POST" and request.url.path == "/v1/payment_intents":
            form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
            key = request.headers["Idempotency-Key"]
            if key in self.intents:
                return httpx.Response(200, json=self.intents[key])
            if form["payment_method"] == "pm_card_chargeDeclined":
                error = {"error": {"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds"}}
                return httpx.Response(402, json=error)
            if form["payment_method"] == "pm_boom":
                return httpx.Response(500, json={"error": {"message": "internal"}})
            intent = {"id": f"pi_{len(self.intents) + 1}", "status": "succeeded", "amount": int(form["amount"])}
            self.intents[key] = intent
            return httpx.Response(200, json=intent)
        if request.url.path == "/v1/payment_intents/search":
            query = request.url.params["query"]
            found = [intent for key, intent in self.intents.items() if key in query]
            return httpx.Response(200, json={"data": found})
        if request.url.path == "/v1/refunds":
            return httpx.Response(200, json={"id": "re_1", "status": "succeeded"})
        return httpx.Response(404, json={"error": {"message": "no such route"}})


@pytest.fixture
def stripe() -> tuple[StripeGateway, FakeStripe]:
    fake = FakeStripe()
    return StripeGateway(api_key="sk_test_x", transport=httpx.MockTransport(fake)), fake


def charge(gateway: PaymentGateway, token: str, key: str = "key-1") -> ChargeRequest:
    return ChargeRequest(token=token, amount_minor=2500, currency="USD", idempotency_key=key)


def test_a_charge_sends_the_idempotency_key_and_the_amount_in_minor_units(stripe):
    gateway, fake = stripe

    result = gateway.charge(charge(gateway, "pm_card_visa"))

    assert result.status == ChargeStatus.SUCCEEDED and result.charge_id == "pi_1"
    sent = fake.requests[0]
    assert sent.headers["Idempotency-Key"] == "key-1"
    form = parse_qs(sent.content.decode())
    assert form["amount"] == ["2500"] and form["currency"] == ["usd"]
    assert form["metadata[idempotency_key]"] == ["key-1"]


def test_a_decline_carries_stripes_decline_code_and_words_a_customer_understands(stripe):
    gateway, _ = stripe

    result = gateway.charge(charge(gateway, "pm_card_chargeDeclined"))

    assert result.status == ChargeStatus.FAILED
    assert result.failure_code == "insufficient_funds"
    assert "insufficient funds" in result.failure_message


def test_a_server_error_or_a_dropped_connection_leaves_the_outcome_unknown(stripe):
    gateway, _ = stripe
    assert gateway.charge(charge(gateway, "pm_boom")).status == ChargeStatus.UNKNOWN

    def drop(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection reset", request=request)

    dropped = StripeGateway(api_key="sk_test_x", transport=httpx.MockTransport(drop))
    assert dropped.charge(charge(dropped, "pm_card_visa")).status == ChargeStatus.UNKNOWN


def test_lookup_finds_a_charge_by_its_idempotency_key_and_nothing_for_an_unknown_key(stripe):
    gateway, _ = stripe
    gateway.charge(charge(gateway, "pm_card_visa", key="lost-answer"))

    found = gateway.lookup("lost-answer")

    assert found is not None and found.status == ChargeStatus.SUCCEEDED
    assert gateway.lookup("never-sent") is None


def test_refunds_and_card_entry(stripe):
    gateway, fake = stripe

    refund = gateway.refund(charge_id="pi_1", amount_minor=500, idempotency_key="refund-1")

    assert refund.succeeded and refund.refund_id == "re_1"
    assert fake.requests[-1].headers["Idempotency-Key"] == "refund-1"
    with pytest.raises(TokenizationError):
        gateway.tokenize_card(CardDetails("4242424242424242", 12, 2040, "123"))
    assert json.dumps([r.content.decode() for r in fake.requests]).count("4242424242424242") == 0
