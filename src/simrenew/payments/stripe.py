"""The Stripe adapter, behind the same `PaymentGateway` protocol as the sandbox.

Cards are tokenized in the browser by Stripe.js (our servers never see the
number), so this adapter accepts PaymentMethod ids and only charges, looks up
and refunds. The idempotency key goes in Stripe's `Idempotency-Key` header and
in the PaymentIntent's metadata, so a lost answer is found again by search."""

from __future__ import annotations

from collections.abc import Sequence

import httpx
from django.conf import settings

from simrenew.payments.failures import FailureCode, failure_message
from simrenew.payments.gateway import (
    CardDetails,
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
    RefundResult,
    TokenizationError,
    TokenizedMethod,
    charge_concurrently,
)

STRIPE_API = "https://api.stripe.com"


class StripeGateway:
    name = "stripe"

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = STRIPE_API,
        timeout: float = 20.0,
        transport: httpx.BaseTransport | None = None,
    ):
        if not api_key:
            raise ValueError("SIMRENEW_STRIPE_API_KEY is required for the Stripe gateway")
        self._client = httpx.Client(base_url=base_url, auth=(api_key, ""), timeout=timeout, transport=transport)

    def tokenize_card(self, card: CardDetails) -> TokenizedMethod:
        raise TokenizationError("number", "Card details are collected by Stripe.js in the browser.")

    def tokenize_paypal(self, email: str) -> TokenizedMethod:
        raise TokenizationError("paypal_email", "PayPal accounts are linked through PayPal's own flow.")

    def charge(self, request: ChargeRequest) -> ChargeResult:
        form = {
            "amount": str(request.amount_minor),
            "currency": request.currency.lower(),
            "payment_method": request.token,
            "confirm": "true",
            "off_session": "true",
            "description": request.description,
            "metadata[idempotency_key]": request.idempotency_key,
        }
        try:
            response = self._client.post(
                "/v1/payment_intents", data=form, headers={"Idempotency-Key": request.idempotency_key}
            )
        except httpx.TransportError:
            return ChargeResult(ChargeStatus.UNKNOWN)
        if response.status_code >= 500:
            return ChargeResult(ChargeStatus.UNKNOWN)
        return self._result(response.json())

    @staticmethod
    def _result(body: dict) -> ChargeResult:
        if "error" in body:
            error = body["error"]
            code = error.get("decline_code") or error.get("code") or FailureCode.CARD_DECLINED
            intent = error.get("payment_intent") or {}
            return ChargeResult(ChargeStatus.FAILED, intent.get("id", ""), code, failure_message(code))
        if body.get("status") == "succeeded":
            return ChargeResult(ChargeStatus.SUCCEEDED, charge_id=body["id"])
        if body.get("status") in {"processing", "requires_action"}:
            return ChargeResult(ChargeStatus.UNKNOWN, charge_id=body["id"])
        code = FailureCode.CARD_DECLINED
        return ChargeResult(ChargeStatus.FAILED, body.get("id", ""), code, failure_message(code))

    def charge_many(self, requests: Sequence[ChargeRequest]) -> list[ChargeResult]:
        # Stripe has no batch endpoint: overlap single requests (httpx clients are thread-safe).
        return charge_concurrently(self.charge, requests, max_in_flight=settings.SIMRENEW_WORKER_GATEWAY_CONCURRENCY)

    def lookup(self, idempotency_key: str) -> ChargeResult | None:
        # Stripe's search language quotes with ' and escapes with \: never let a key end the string.
        quoted = idempotency_key.replace("\\", "\\\\").replace("'", "\\'")
        query = f"metadata['idempotency_key']:'{quoted}'"
        response = self._client.get("/v1/payment_intents/search", params={"query": query})
        response.raise_for_status()
        found = response.json().get("data", [])
        return self._result(found[0]) if found else None

    def refund(self, *, charge_id: str, amount_minor: int, idempotency_key: str) -> RefundResult:
        try:
            response = self._client.post(
                "/v1/refunds",
                data={"payment_intent": charge_id, "amount": str(amount_minor)},
                headers={"Idempotency-Key": idempotency_key},
            )
        except httpx.TransportError as exc:
            return RefundResult(False, failure_message=f"Stripe unreachable: {exc.__class__.__name__}")
        body = response.json()
        if response.status_code >= 400:
            return RefundResult(False, failure_message=body.get("error", {}).get("message", "refused"))
        return RefundResult(True, refund_id=body["id"])
