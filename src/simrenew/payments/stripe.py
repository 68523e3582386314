"""The Stripe adapter, through Stripe's official SDK, behind the same `PaymentGateway` protocol as
the sandbox.

Cards are saved on our hosted card page by Stripe's Payment Element confirming a SetupIntent
(`usage=off_session`) made for the customer's Stripe Customer: the number never reaches our
servers; we keep the PaymentMethod id (`pm_…`), brand, last 4, expiry and funding. Charges are
PaymentIntents for that Customer and PaymentMethod, confirmed at once; our idempotency key goes in
Stripe's `Idempotency-Key` header and in the intent's metadata, so a lost answer is found again
by search (and, sooner, by the `payment_intent.*` webhook). A charge the bank wants the cardholder
to authenticate (3-D Secure) is its own outcome, `authentication_required`: nobody is there to
answer the bank, so the customer is asked to pay on-session, never charged again meanwhile.

The SDK retries nothing here (`max_network_retries=0`): an unanswered charge is UNKNOWN and is
settled by the webhook or looked up by key, which is what makes every outcome exactly once.
Requests go through the SDK's libcurl client (one per thread; its own limits: 30 s to connect,
80 s per request, Stripe's CA bundle). The worker's batches overlap up to max_in_flight charges in
threads; Stripe's own rate limit (100 requests/s in live mode unless raised) comes first in life:
its 429 is an unknown outcome that the look-up settles (nothing charged: tried again soon)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import stripe
from stripe.params import PaymentIntentCreateParams, SetupIntentCreateParams

from simrenew.kit.errors import ServiceUnavailable
from simrenew.payments.failures import FailureCode, failure_message
from simrenew.payments.gateway import (
    CardDetails,
    CardSetup,
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
    NextStep,
    RefundResult,
    TokenizationError,
    TokenizedMethod,
    charge_in_pool,
)
from simrenew.payments.models import ONE_OFF_TYPES  # paid on the provider's page: Alipay, WeChat Pay

STRIPE_API = "https://api.stripe.com"
# A customer saving a card waits on the page: when Stripe does not answer they are told to try again.
RETRY_AFTER_SECONDS = 30


@contextmanager
def _answered() -> Iterator[None]:
    """Stripe not answering (down, too slow, rate-limited) is a 503 to the customer, never a 500."""
    try:
        yield
    except (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError, stripe.AuthenticationError):
        raise ServiceUnavailable(
            "The payment provider is not answering. Nothing was saved; try again in a moment.",
            retry_after=RETRY_AFTER_SECONDS,
            code="payment_provider_unavailable",
        ) from None


class StripeGateway:
    name = "stripe"

    def __init__(
        self,
        *,
        api_key: str,
        publishable_key: str = "",
        api_base: str = STRIPE_API,
        js_url: str = "",
        max_in_flight: int = 64,
    ):
        if not api_key:
            raise ValueError("SIMRENEW_STRIPE_API_KEY is required for the Stripe gateway")
        self.publishable_key = publishable_key
        self.js_url = js_url
        self._api_key, self._api_base = api_key, api_base
        self._local = threading.local()
        # The worker's batches: Stripe has no batch endpoint, so single requests overlap; the
        # threads live as long as the gateway, and so do their connections.
        self._pool = ThreadPoolExecutor(max_in_flight, "stripe")

    @property
    def _client(self) -> stripe.StripeClient:
        """A client per thread: the SDK's libcurl client keeps one handle (and its kept-alive
        connection) per client, which a thread must not share. libcurl costs the worker about a
        third of the CPU per request that requests does (`make bench-stripe`)."""
        client: stripe.StripeClient | None = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = stripe.StripeClient(
                self._api_key,
                base_addresses={"api": self._api_base},
                max_network_retries=0,
                http_client=stripe.PycurlClient(),
            )
        return client

    # --- saving a card --------------------------------------------------------------------------

    def tokenize_card(self, card: CardDetails) -> TokenizedMethod:
        raise TokenizationError("number", "Card details are collected by Stripe on the card page.")

    def tokenize_paypal(self, email: str) -> TokenizedMethod:
        raise TokenizationError("paypal_email", "PayPal accounts are linked through PayPal's own flow.")

    def provider_customer(self, *, reference: str, email: str, name: str) -> str:
        with _answered():
            created = self._client.v1.customers.create(
                params={"email": email, "name": name, "metadata": {"simrenew_customer": reference}},
                options={"idempotency_key": f"simrenew-customer-{reference}"},
            )
        return str(created.id)

    def begin_card_setup(self, *, provider_customer: str) -> CardSetup:
        # The card page offers cards only (the Payment Element's `paymentMethodTypes`); the
        # intent names none, which every API version reads as the account's card default.
        params: SetupIntentCreateParams = {"customer": provider_customer, "usage": "off_session"}
        with _answered():
            intent = self._client.v1.setup_intents.create(params=params)
        return CardSetup(setup_id=str(intent.id), client_secret=str(intent.client_secret))

    def finish_card_setup(self, setup_id: str) -> tuple[str, TokenizedMethod]:
        try:
            with _answered():
                intent = self._client.v1.setup_intents.retrieve(setup_id, params={"expand": ["payment_method"]})
        except stripe.InvalidRequestError:
            raise TokenizationError("setup_intent", "This card setup is not known to Stripe.") from None
        if intent.status != "succeeded" or intent.payment_method is None:
            error = intent.last_setup_error
            message = (
                _field(error, "message") if error is not None else None
            ) or "The card was not saved: finish the steps."
            raise TokenizationError("setup_intent", str(message))
        method: Any = intent.payment_method
        card = method.card
        if method.type != "card" or card is None:
            raise TokenizationError("setup_intent", "Only cards can be saved here.")
        return str(intent.customer or ""), TokenizedMethod(
            token=str(method.id),
            brand=str(card.brand),
            last4=str(card.last4),
            exp_month=int(card.exp_month),
            exp_year=int(card.exp_year),
            provider_customer=str(intent.customer or ""),
            funding=str(card.funding or "unknown"),
        )

    # --- charges --------------------------------------------------------------------------------

    def charge(self, request: ChargeRequest) -> ChargeResult:
        params: PaymentIntentCreateParams = {
            "amount": request.amount_minor,
            "currency": request.currency.lower(),
            "confirm": True,
            "description": request.description,
            "metadata": {"idempotency_key": request.idempotency_key},
        }
        if request.method_type in ONE_OFF_TYPES:
            if not request.return_url:  # paid on Alipay's page or with WeChat: only with the customer here
                code = FailureCode.PROCESSING_ERROR
                return ChargeResult(ChargeStatus.FAILED, failure_code=code, failure_message=failure_message(code))
            # The method made from its type alone (the customer's details are Alipay's or WeChat's); the
            # API version the SDK speaks takes the intent's method types from it.
            params["payment_method_data"] = {"type": request.method_type}
            if request.method_type == "wechat_pay":
                params["payment_method_options"] = {"wechat_pay": {"client": "web"}}
            params["return_url"] = request.return_url
        elif request.return_url:  # the customer is here: their bank may check them (3-D Secure)
            params["payment_method"] = request.token
            params["return_url"] = request.return_url
        else:
            params["payment_method"] = request.token
            params["off_session"] = True
        if request.provider_customer:
            params["customer"] = request.provider_customer
        try:
            intent = self._client.v1.payment_intents.create(
                params=params, options={"idempotency_key": request.idempotency_key}
            )
        except stripe.CardError as refused:
            return self._refusal(refused)
        except (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError):
            return ChargeResult(ChargeStatus.UNKNOWN)  # perhaps charged: the key finds it later
        except stripe.IdempotencyError:
            code = FailureCode.IDEMPOTENCY_KEY_REUSED
            return ChargeResult(ChargeStatus.FAILED, failure_code=code, failure_message=failure_message(code))
        return self._outcome(intent, customer_present=bool(request.return_url))

    @staticmethod
    def _refusal(refused: stripe.CardError) -> ChargeResult:
        error = refused.error
        intent = error.payment_intent if error is not None else None
        code = _failure_code(_field(error, "decline_code") if error is not None else None, refused.code)
        return ChargeResult(
            ChargeStatus.FAILED, str(intent.id) if intent is not None else "", code, failure_message(code)
        )

    @staticmethod
    def _outcome(intent: Any, *, customer_present: bool = False) -> ChargeResult:
        status = intent.status
        if status == "succeeded":
            return ChargeResult(ChargeStatus.SUCCEEDED, charge_id=str(intent.id))
        if status == "processing":
            return ChargeResult(ChargeStatus.UNKNOWN, charge_id=str(intent.id))
        if status == "requires_action" and customer_present:
            return ChargeResult(ChargeStatus.ACTION_REQUIRED, charge_id=str(intent.id))
        if paid_elsewhere(getattr(intent, "payment_method_types", None)):  # Alipay, WeChat Pay: not finished
            code = FailureCode.PAYMENT_NOT_COMPLETED.value
        elif status == "requires_action":  # the bank wants the cardholder, who is not (or no longer) there
            code = FailureCode.AUTHENTICATION_REQUIRED.value
        else:
            error = intent.last_payment_error
            code = (
                _failure_code(_field(error, "decline_code"), _field(error, "code"))
                if error is not None
                else FailureCode.CARD_DECLINED
            )
        return ChargeResult(ChargeStatus.FAILED, str(intent.id), code, failure_message(code))

    def next_step(self, charge_id: str) -> NextStep:
        with _answered():
            intent = self._client.v1.payment_intents.retrieve(charge_id)
        step: Any = intent.next_action
        kind = str(getattr(step, "type", "") or "")
        secret = str(intent.client_secret)
        if kind == "alipay_handle_redirect":
            return NextStep(secret, redirect_url=str(step.alipay_handle_redirect.url))
        if kind == "wechat_pay_display_qr_code":
            return NextStep(secret, qr_image=str(step.wechat_pay_display_qr_code.image_data_url))
        # A card's 3-D Secure (use_stripe_sdk, or redirect_to_url with a return URL): Stripe.js runs it.
        return NextStep(secret)

    def submit_dispute_evidence(self, dispute_id: str, note: str) -> None:
        """Finance's answer to a dispute, submitted to the bank at once (Stripe's `submit=true`)."""
        with _answered():
            self._client.v1.disputes.update(
                dispute_id, params={"evidence": {"uncategorized_text": note}, "submit": True}
            )

    def charge_many(self, requests: Sequence[ChargeRequest]) -> list[ChargeResult]:
        return charge_in_pool(self.charge, requests, self._pool)

    def lookup(self, idempotency_key: str, charge_id: str = "") -> ChargeResult | None:
        if charge_id.startswith("pi_"):  # known: read it, no search lag
            return self._outcome(self._client.v1.payment_intents.retrieve(charge_id))
        # Stripe's search language quotes with ' and escapes with \: never let a key end the string.
        # Search lags writes by up to a minute: the reconciliation's first look is minutes later.
        quoted = idempotency_key.replace("\\", "\\\\").replace("'", "\\'")
        found = self._client.v1.payment_intents.search(params={"query": f"metadata['idempotency_key']:'{quoted}'"})
        return self._outcome(found.data[0]) if found.data else None

    def refund(self, *, charge_id: str, amount_minor: int, idempotency_key: str) -> RefundResult:
        try:
            refund = self._client.v1.refunds.create(
                # The key in the metadata too: charge.refunded names it, settling a refund whose answer was lost.
                params={
                    "payment_intent": charge_id,
                    "amount": amount_minor,
                    "metadata": {"idempotency_key": idempotency_key},
                },
                options={"idempotency_key": idempotency_key},
            )
        except (stripe.InvalidRequestError, stripe.CardError, stripe.IdempotencyError) as refused:
            # A refusal (more than was paid, a disputed charge): the refund fails and is asked again
            # under a new key if the operator says so. No answer at all raises: the refund stays
            # pending and the worker asks again with the same key.
            return RefundResult(False, failure_message=str(refused.user_message or refused.__class__.__name__))
        if refund.status in ("failed", "canceled"):
            return RefundResult(False, refund_id=str(refund.id), failure_message=f"Stripe: refund {refund.status}")
        return RefundResult(True, refund_id=str(refund.id))


def _failure_code(decline_code: str | None, code: str | None) -> str:
    """Our failure code for Stripe's error: its decline code where it gave one (ours share
    Stripe's names), `authentication_required` as its own outcome, a generic decline as ours."""
    if "authentication_required" in (decline_code, code):
        return FailureCode.AUTHENTICATION_REQUIRED
    if code == "payment_intent_authentication_failure":
        return FailureCode.AUTHENTICATION_FAILED
    found = decline_code or code or FailureCode.CARD_DECLINED
    return FailureCode.CARD_DECLINED if found == "generic_decline" else str(found)


def _field(obj: Any, name: str) -> str | None:
    """A field of a Stripe object that may be absent (the SDK's objects raise for absent ones)."""
    value = getattr(obj, name, None)
    return None if value is None else str(value)


def paid_elsewhere(method_types: object) -> bool:
    """Whether an intent is paid on the provider's side (Alipay, WeChat Pay), by its method types."""
    return isinstance(method_types, list) and any(kind in ONE_OFF_TYPES for kind in method_types)
