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


class ChargeStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNKNOWN = "unknown"  # no answer (timeout, dropped connection): ask again later by key


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


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    token: str
    amount_minor: int
    currency: str
    idempotency_key: str
    description: str = ""


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

    def lookup(self, idempotency_key: str) -> ChargeResult | None:
        """The outcome of the charge made with this key, or None if the gateway never saw it."""
        ...

    def refund(self, *, charge_id: str, amount_minor: int, idempotency_key: str) -> RefundResult: ...


def charge_concurrently(
    charge: Callable[[ChargeRequest], ChargeResult], requests: Sequence[ChargeRequest], *, max_in_flight: int
) -> list[ChargeResult]:
    """For gateways with no batch endpoint: one request per charge, up to
    `max_in_flight` of them overlapping, each failure confined to its charge."""

    def one(request: ChargeRequest) -> ChargeResult:
        try:
            return charge(request)
        except Exception:  # the outcome is unknown: the charge is looked up by its key later
            return ChargeResult(ChargeStatus.UNKNOWN)

    if len(requests) <= 1:
        return [one(request) for request in requests]
    with ThreadPoolExecutor(max_workers=min(max_in_flight, len(requests))) as pool:
        return list(pool.map(one, requests))


@cache
def get_gateway() -> PaymentGateway:
    name = settings.SIMRENEW_PAYMENT_GATEWAY
    if name == "sandbox":
        from simrenew.payments.sandbox import SandboxGateway

        return SandboxGateway()
    if name == "stripe":
        from simrenew.payments.stripe import StripeGateway

        return StripeGateway(api_key=settings.SIMRENEW_STRIPE_API_KEY)
    raise ValueError(f"unknown payment gateway {name!r}")
