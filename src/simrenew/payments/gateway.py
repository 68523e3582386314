"""The typed border to payment gateways. Amounts are minor units; every charge
carries an idempotency key so that asking again never charges twice."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable

from django.conf import settings

from simrenew.kit import metrics


class ChargeStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNKNOWN = "unknown"  # no answer (timeout, dropped connection): ask again later by key
    # The customer, present, must answer their bank first (3-D Secure): the charge waits for them.
    ACTION_REQUIRED = "action_required"


@dataclass(frozen=True, slots=True)
class CardDetails:
    number: str
    exp_month: int
    exp_year: int
    cvc: str

    def __repr__(self) -> str:  # never let a card number reach a log through repr()
        return f"CardDetails(number='…{self.number[-4:]}', exp={self.exp_month}/{self.exp_year})"


@dataclass(frozen=True, slots=True)
class TokenizedMethod:
    token: str
    brand: str
    last4: str
    exp_month: int | None = None
    exp_year: int | None = None
    # The gateway's customer the method is attached to (Stripe's `cus_…`): charges name it.
    provider_customer: str = ""
    funding: str = ""  # a card's: "credit", "debit", "prepaid" or "unknown"


@dataclass(frozen=True, slots=True)
class CardSetup:
    """A card being saved on the gateway's hosted page (Stripe: a SetupIntent the page's
    Payment Element confirms). The page needs only `client_secret`; we keep `setup_id`."""

    setup_id: str
    client_secret: str


@dataclass(frozen=True, slots=True)
class NextStep:
    client_secret: str
    redirect_url: str = ""
    qr_image: str = ""


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    token: str
    amount_minor: int
    currency: str
    idempotency_key: str
    description: str = ""
    provider_customer: str = ""  # the gateway's customer the method is attached to, if any
    # Set when the customer is on our page (on-session): where the bank's check (3-D Secure) sends
    # them back. Empty: nobody is there (auto-renew, the API), and a check wanted fails the charge.
    return_url: str = ""
    # What pays: a saved card or account ("card", "debit", "paypal"), or a one-off method paid on the
    # provider's page ("alipay", "wechat_pay": `token` is empty, `return_url` required).
    method_type: str = "card"


@dataclass(frozen=True, slots=True)
class ChargeResult:
    status: ChargeStatus
    charge_id: str = ""
    failure_code: str = ""
    failure_message: str = ""


@dataclass(frozen=True, slots=True)
class RefundResult:
    succeeded: bool
    refund_id: str = ""
    failure_message: str = ""


class TokenizationError(Exception):
    """The gateway refused the card or account details; `field` names what is wrong."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


class PaymentGateway(Protocol):
    name: str

    def tokenize_card(self, card: CardDetails) -> TokenizedMethod: ...

    def tokenize_paypal(self, email: str) -> TokenizedMethod: ...

    def charge(self, request: ChargeRequest) -> ChargeResult: ...

    def charge_many(self, requests: Sequence[ChargeRequest]) -> list[ChargeResult]:
        """Many charges in flight at once (the worker's batches); results in request order.
        A transport failure of one request is that request's UNKNOWN, never an exception."""
        ...

    def lookup(self, idempotency_key: str, charge_id: str = "") -> ChargeResult | None:
        """The outcome of the charge made with this key, or None if the gateway never saw it.
        `charge_id`, when an answer gave one, finds it directly (a search may lag)."""
        ...

    def refund(self, *, charge_id: str, amount_minor: int, idempotency_key: str) -> RefundResult: ...


class CardSetupGateway(PaymentGateway, Protocol):
    """A gateway whose hosted page saves cards for later use (Stripe). Our servers never see
    the card: the page gives the details to the gateway, we keep what `finish_card_setup` returns."""

    publishable_key: str
    js_url: str

    def provider_customer(self, *, reference: str, email: str, name: str) -> str:
        """The gateway's customer for ours (made once: `reference` is its idempotency key)."""
        ...

    def begin_card_setup(self, *, provider_customer: str) -> CardSetup: ...

    def next_step(self, charge_id: str) -> NextStep:
        """What the customer must do for a charge waiting for them: answer their bank's check (the
        page's script, with `client_secret`), pay on the provider's page (`redirect_url`), or scan
        a code with their phone (`qr_image`, a data URL)."""
        ...

    def finish_card_setup(self, setup_id: str) -> tuple[str, TokenizedMethod]:
        """The setup's customer and the card it saved. Raises TokenizationError when the setup has
        not succeeded (the customer did not finish, or the bank refused)."""
        ...


def charge_in_pool(
    charge: Callable[[ChargeRequest], ChargeResult], requests: Sequence[ChargeRequest], pool: ThreadPoolExecutor
) -> list[ChargeResult]:
    """For gateways with no batch endpoint (Stripe, PayPal): one request per charge, overlapping in
    the adapter's long-lived pool (its threads keep their connections); results in request order,
    each failure confined to its charge: the outcome is unknown, looked up by its key later."""

    def one(request: ChargeRequest) -> ChargeResult:
        try:
            return charge(request)
        except Exception:
            return ChargeResult(ChargeStatus.UNKNOWN)

    return list(pool.map(one, requests))


@cache
def gateway_named(name: str) -> PaymentGateway:
    """The gateway a payment method or an attempt names (`PaymentMethod.gateway`,
    `PaymentAttempt.gateway`): its money goes back and is looked up where it was taken."""
    if name == "sandbox":
        from simrenew.payments.sandbox import SandboxGateway

        return SandboxGateway()
    if name == "stripe":
        from simrenew.payments.stripe import StripeGateway

        return StripeGateway(
            api_key=settings.SIMRENEW_STRIPE_API_KEY,
            publishable_key=settings.SIMRENEW_STRIPE_PUBLISHABLE_KEY,
            api_base=settings.SIMRENEW_STRIPE_API_BASE,
            js_url=settings.SIMRENEW_STRIPE_JS_URL,
            max_in_flight=settings.SIMRENEW_WORKER_GATEWAY_CONCURRENCY,
        )
    if name == "paypal":
        from simrenew.payments.paypal import PayPalGateway

        return PayPalGateway(
            client_id=settings.SIMRENEW_PAYPAL_CLIENT_ID,
            client_secret=settings.SIMRENEW_PAYPAL_CLIENT_SECRET,
            api_base=settings.SIMRENEW_PAYPAL_API_BASE,
            webhook_id=settings.SIMRENEW_PAYPAL_WEBHOOK_ID,
            max_in_flight=settings.SIMRENEW_WORKER_GATEWAY_CONCURRENCY,
        )
    raise ValueError(f"unknown payment gateway {name!r}")


def refund_at(name: str, *, charge_id: str, amount_minor: int, idempotency_key: str) -> RefundResult:
    """A refund at the gateway that took the money, counted and timed (kit.metrics). Raises what the
    gateway's transport raised: no answer, so the caller asks again later with the same key."""
    with metrics.gateway_call(name, "refund") as call:
        call.outcome = "unknown"
        result = gateway_named(name).refund(
            charge_id=charge_id, amount_minor=amount_minor, idempotency_key=idempotency_key
        )
        call.outcome = "succeeded" if result.succeeded else "failed"
    return result


def get_gateway() -> PaymentGateway:
    """The gateway new cards are saved with (SIMRENEW_PAYMENT_GATEWAY)."""
    return gateway_named(settings.SIMRENEW_PAYMENT_GATEWAY)


def paypal_gateway_name() -> str | None:
    """Who links new PayPal accounts: PayPal itself once configured, else the sandbox gateway in
    sandbox mode (its own page), else nobody (PayPal is not offered)."""
    if settings.SIMRENEW_PAYPAL_CLIENT_ID:
        return "paypal"
    if settings.SIMRENEW_PAYMENT_GATEWAY == "sandbox":
        return "sandbox"
    return None


def forget_gateways() -> None:
    """Build gateways afresh from the settings (tests change them)."""
    gateway_named.cache_clear()
