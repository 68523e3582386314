"""The PayPal adapter, through PayPal's official SDK (`paypal-server-sdk`), behind the same
`PaymentGateway` protocol as the sandbox and Stripe.

Linking an account (Vault v3, no purchase): a setup token for `payment_source.paypal` with
`usage_type=MERCHANT`, the buyer approves on PayPal's page and comes back to our return URL, and
the setup token becomes a payment token (the vault id) we keep with the buyer's email; nothing else.
Charges are Orders v2 orders paid from the vault id with nobody present: PayPal completes them at
once (an order merely approved is captured); our idempotency key is the `PayPal-Request-Id` and the
purchase unit's `custom_id`, so a retry never charges twice and the webhook finds the attempt.
Refunds go through Payments v2 (`captures/{id}/refund`) with their own request id. PayPal has no
search by key: an answer lost before we learnt the capture's id is settled by the
`PAYMENT.CAPTURE.*` webhook (a success after we gave up is refunded, see `provider_events`).
Webhooks are verified by PayPal's verify-webhook-signature call, which the SDK does not wrap: it is
made here over HTTPS with the SDK's own OAuth token endpoint's answer.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from paypalserversdk.configuration import Configuration, Environment, Server
from paypalserversdk.exceptions.api_exception import ApiException
from paypalserversdk.http.auth.o_auth_2 import ClientCredentialsAuthCredentials
from paypalserversdk.models.amount_with_breakdown import AmountWithBreakdown
from paypalserversdk.models.money import Money as PayPalMoney
from paypalserversdk.models.order_request import OrderRequest
from paypalserversdk.models.payment_source import PaymentSource
from paypalserversdk.models.payment_token_request import PaymentTokenRequest
from paypalserversdk.models.payment_token_request_payment_source import PaymentTokenRequestPaymentSource
from paypalserversdk.models.paypal_wallet import PaypalWallet
from paypalserversdk.models.purchase_unit_request import PurchaseUnitRequest
from paypalserversdk.models.refund_request import RefundRequest
from paypalserversdk.models.setup_token_request import SetupTokenRequest
from paypalserversdk.models.setup_token_request_payment_source import SetupTokenRequestPaymentSource
from paypalserversdk.models.vault_experience_context import VaultExperienceContext
from paypalserversdk.models.vault_paypal_wallet_request import VaultPaypalWalletRequest
from paypalserversdk.models.vault_token_request import VaultTokenRequest
from paypalserversdk.paypal_serversdk_client import PaypalServersdkClient
from requests.exceptions import RequestException

from simrenew.kit.errors import ServiceUnavailable
from simrenew.kit.money import decimal_amount, minor_amount
from simrenew.payments.failures import FailureCode, failure_message
from simrenew.payments.gateway import (
    CardDetails,
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
    RefundResult,
    TokenizationError,
    TokenizedMethod,
    charge_in_pool,
)

LIVE_API = "https://api-m.paypal.com"
REFUND_CUSTOM_ID = re.compile(r"[A-Za-z0-9_.,-]{1,127}")
SANDBOX_API = "https://api-m.sandbox.paypal.com"
RETRY_AFTER_SECONDS = 30
# The answers that say the buyer's PayPal refused: another try of the same account may pass later.
DECLINE_ISSUES = {"INSTRUMENT_DECLINED", "PAYER_ACTION_REQUIRED", "PAYER_CANNOT_PAY", "TRANSACTION_REFUSED"}
# The headers PayPal signs a webhook delivery with, as verify-webhook-signature names them.
SIGNATURE_HEADERS = {
    "auth_algo": "PAYPAL-AUTH-ALGO",
    "cert_url": "PAYPAL-CERT-URL",
    "transmission_id": "PAYPAL-TRANSMISSION-ID",
    "transmission_sig": "PAYPAL-TRANSMISSION-SIG",
    "transmission_time": "PAYPAL-TRANSMISSION-TIME",
}


@dataclass(frozen=True, slots=True)
class PayPalLink:
    """A PayPal account being linked: the buyer goes to `approve_url`; we keep `setup_token_id`."""

    setup_token_id: str
    approve_url: str


class _Endpoint(Configuration):
    """The SDK's configuration, at SIMRENEW_PAYPAL_API_BASE (PayPal's live or sandbox address, or a
    local PayPal in tests) rather than only the two the SDK knows."""

    def __init__(self, api_base: str, **options: Any) -> None:
        self._api_base = api_base
        super().__init__(**options)

    def get_base_uri(self, server: Server = Server.DEFAULT) -> str:
        return self._api_base


@contextmanager
def _answered() -> Iterator[None]:
    """PayPal not answering is a 503 to the customer waiting on our page, never a 500."""
    try:
        yield
    except RequestException:
        raise ServiceUnavailable(
            "PayPal is not answering. Nothing was changed; try again in a moment.",
            retry_after=RETRY_AFTER_SECONDS,
            code="payment_provider_unavailable",
        ) from None
    except ApiException as refused:
        if refused.response_code >= 500 or refused.response_code == 429:
            raise ServiceUnavailable(
                "PayPal is not answering. Nothing was changed; try again in a moment.",
                retry_after=RETRY_AFTER_SECONDS,
                code="payment_provider_unavailable",
            ) from None
        raise


class PayPalGateway:
    name = "paypal"

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        api_base: str,
        webhook_id: str = "",
        timeout: float = 20.0,
        max_in_flight: int = 64,
    ):
        if not client_id or not client_secret:
            raise ValueError("SIMRENEW_PAYPAL_CLIENT_ID and SIMRENEW_PAYPAL_CLIENT_SECRET are required for PayPal")
        self._credentials = (client_id, client_secret)
        self._api_base = api_base.rstrip("/")
        self._webhook_id = webhook_id
        self._timeout = timeout
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(max_in_flight, "paypal")

    @property
    def _client(self) -> PaypalServersdkClient:
        """A client per thread: the SDK's HTTP session is not made to be shared by threads."""
        client: PaypalServersdkClient | None = getattr(self._local, "client", None)
        if client is None:
            environment = Environment.SANDBOX if self._api_base == SANDBOX_API else Environment.PRODUCTION
            client = self._local.client = PaypalServersdkClient(
                config=_Endpoint(
                    self._api_base,
                    environment=environment,
                    timeout=self._timeout,
                    client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
                        o_auth_client_id=self._credentials[0], o_auth_client_secret=self._credentials[1]
                    ),
                )
            )
        return client

    # --- linking an account ---------------------------------------------------------------------

    def tokenize_card(self, card: CardDetails) -> TokenizedMethod:
        raise TokenizationError("number", "Cards are not taken by PayPal here.")

    def tokenize_paypal(self, email: str) -> TokenizedMethod:
        raise TokenizationError("paypal_email", "PayPal accounts are linked on PayPal's own page.")

    def begin_link(self, *, return_url: str, cancel_url: str, locale: str) -> PayPalLink:
        request = SetupTokenRequest(
            payment_source=SetupTokenRequestPaymentSource(
                paypal=VaultPaypalWalletRequest(
                    usage_type="MERCHANT",
                    description="simrenew: eSIM plans renewed automatically",
                    experience_context=VaultExperienceContext(
                        brand_name="simrenew",
                        locale="zh-CN" if locale.startswith("zh") else "en-US",
                        return_url=return_url,
                        cancel_url=cancel_url,
                        shipping_preference="NO_SHIPPING",
                    ),
                )
            )
        )
        with _answered():
            token = self._client.vault.create_setup_token(
                {"body": request, "paypal_request_id": str(uuid.uuid4())}
            ).body
        approve = next((link.href for link in token.links or [] if link.rel == "approve"), "")
        if not approve:
            raise ServiceUnavailable(
                "PayPal did not give a page to approve on; try again in a moment.", retry_after=RETRY_AFTER_SECONDS
            )
        return PayPalLink(setup_token_id=str(token.id), approve_url=str(approve))

    def finish_link(self, setup_token_id: str) -> tuple[TokenizedMethod, str]:
        """The vault id and the buyer's email once they approved; TokenizationError if they did not."""
        request = PaymentTokenRequest(
            payment_source=PaymentTokenRequestPaymentSource(
                token=VaultTokenRequest(id=setup_token_id, mtype="SETUP_TOKEN")
            )
        )
        try:
            with _answered():
                token = self._client.vault.create_payment_token(
                    {"body": request, "paypal_request_id": f"simrenew-link-{setup_token_id}"}
                ).body
        except ApiException:
            raise TokenizationError("paypal", "PayPal did not confirm the link: approve it on PayPal's page.") from None
        paypal = token.payment_source.paypal if token.payment_source is not None else None
        email = str(getattr(paypal, "email_address", "") or "")
        customer = str(getattr(token.customer, "id", "") or "")
        return TokenizedMethod(token=str(token.id), brand="paypal", last4="", provider_customer=customer), email

    # --- charges --------------------------------------------------------------------------------

    def charge(self, request: ChargeRequest) -> ChargeResult:
        unit = PurchaseUnitRequest(
            amount=AmountWithBreakdown(
                currency_code=request.currency, value=decimal_amount(request.amount_minor, request.currency)
            ),
            custom_id=request.idempotency_key[:127],
        )
        if request.description:  # the SDK would send an empty one as null, which the API refuses
            unit.description = request.description[:127]
        order = OrderRequest(
            intent="CAPTURE",
            purchase_units=[unit],
            payment_source=PaymentSource(paypal=PaypalWallet(vault_id=request.token)),
        )
        try:
            created = self._client.orders.create_order(
                {"body": order, "paypal_request_id": request.idempotency_key, "prefer": "return=representation"}
            ).body
            if created.status == "APPROVED":  # not completed at once: capture it, once
                created = self._client.orders.capture_order(
                    {
                        "id": created.id,
                        "paypal_request_id": f"{request.idempotency_key}:capture",
                        "prefer": "return=representation",
                    }
                ).body
        except RequestException:
            return ChargeResult(ChargeStatus.UNKNOWN)  # perhaps charged: the webhook tells
        except ApiException as refused:
            return self._refusal(refused)
        return self._outcome(created)

    @staticmethod
    def _refusal(refused: ApiException) -> ChargeResult:
        if refused.response_code >= 500 or refused.response_code == 429:
            return ChargeResult(ChargeStatus.UNKNOWN)
        issues = {str(getattr(detail, "issue", "")) for detail in getattr(refused, "details", None) or []}
        code = FailureCode.PAYPAL_DECLINED if issues & DECLINE_ISSUES or not issues else FailureCode.PROCESSING_ERROR
        return ChargeResult(ChargeStatus.FAILED, failure_code=code, failure_message=failure_message(code))

    @staticmethod
    def _outcome(order: Any) -> ChargeResult:
        captures = [
            capture
            for unit in order.purchase_units or []
            for capture in (getattr(getattr(unit, "payments", None), "captures", None) or [])
        ]
        if not captures:
            return ChargeResult(ChargeStatus.UNKNOWN, charge_id="")
        capture = captures[0]
        return _capture_result(str(capture.id), str(capture.status))

    def charge_many(self, requests: Sequence[ChargeRequest]) -> list[ChargeResult]:
        return charge_in_pool(self.charge, requests, self._pool)

    def lookup(self, idempotency_key: str, charge_id: str = "") -> ChargeResult | None:
        """By the capture's id when an answer gave it. PayPal has no search by our key: without the id
        the charge is taken as never made, and a capture PayPal did make is reported by its webhook
        (refunded, the attempt having failed)."""
        if not charge_id:
            return None
        capture = self._client.payments.get_captured_payment({"capture_id": charge_id}).body
        return _capture_result(str(capture.id), str(capture.status))

    def refund(self, *, charge_id: str, amount_minor: int, idempotency_key: str) -> RefundResult:
        capture = self._client.payments.get_captured_payment({"capture_id": charge_id}).body
        currency = str(capture.amount.currency_code)
        try:
            refund = self._client.payments.refund_captured_payment(
                {
                    "capture_id": charge_id,
                    "body": self._refund_request(amount_minor, currency, idempotency_key),
                    "paypal_request_id": idempotency_key,
                    "prefer": "return=representation",
                }
            ).body
        except ApiException as refused:
            if refused.response_code >= 500 or refused.response_code == 429:
                raise  # no answer: the refund stays pending and is asked again with the same id
            return RefundResult(False, failure_message=f"PayPal refused the refund: {refused.reason}")
        if refund.status in ("FAILED", "CANCELLED"):
            return RefundResult(False, refund_id=str(refund.id), failure_message=f"PayPal: refund {refund.status}")
        return RefundResult(True, refund_id=str(refund.id))

    @staticmethod
    def _refund_request(amount_minor: int, currency: str, idempotency_key: str) -> RefundRequest:
        refund = RefundRequest(amount=PayPalMoney(currency_code=currency, value=decimal_amount(amount_minor, currency)))
        if REFUND_CUSTOM_ID.fullmatch(idempotency_key):  # PayPal's pattern for it: then its report names it
            refund.custom_id = idempotency_key
        return refund

    # --- webhooks -------------------------------------------------------------------------------

    def verify_webhook(self, headers: Mapping[str, str], event: dict[str, Any]) -> bool:
        """PayPal's verify-webhook-signature: True only when PayPal says it sent this event to our
        webhook (SIMRENEW_PAYPAL_WEBHOOK_ID)."""
        if not self._webhook_id:
            return False
        fields = {name: headers.get(header, "") for name, header in SIGNATURE_HEADERS.items()}
        if not all(fields.values()):
            return False
        with httpx.Client(base_url=self._api_base, timeout=self._timeout) as client:
            token = client.post(
                "/v1/oauth2/token", data={"grant_type": "client_credentials"}, auth=self._credentials
            ).raise_for_status()
            answer = client.post(
                "/v1/notifications/verify-webhook-signature",
                json={**fields, "webhook_id": self._webhook_id, "webhook_event": event},
                headers={"Authorization": f"Bearer {token.json()['access_token']}"},
            )
        return answer.status_code == 200 and answer.json().get("verification_status") == "SUCCESS"


def _capture_result(capture_id: str, status: str) -> ChargeResult:
    if status == "COMPLETED":
        return ChargeResult(ChargeStatus.SUCCEEDED, charge_id=capture_id)
    if status in ("DECLINED", "FAILED"):
        code = FailureCode.PAYPAL_DECLINED
        return ChargeResult(ChargeStatus.FAILED, capture_id, code, failure_message(code))
    return ChargeResult(ChargeStatus.UNKNOWN, charge_id=capture_id)  # PENDING: PayPal's webhook settles it


def captured_minor(capture: Mapping[str, Any]) -> int:
    """A webhook capture's amount in minor units."""
    amount = capture.get("amount") or {}
    return minor_amount(str(amount.get("value", "0")), str(amount.get("currency_code", "USD")))
