"""The sandbox gateway: behaves like a real one (test cards, latency, an
idempotency cache and a lookup by key) and keeps its own ledger
(`SandboxCharge`), never a card number."""

from __future__ import annotations

import math
import random
import secrets
import time
from collections.abc import Sequence
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from stdnum import luhn

from simrenew.kit import clock, rows, writes
from simrenew.payments.failures import FailureCode, failure_message
from simrenew.payments.gateway import (
    CardDetails,
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
    RefundResult,
    TokenizationError,
    TokenizedMethod,
)
from simrenew.payments.models import SandboxCharge, SandboxRefund, SandboxToken

# Test card numbers and how they behave (Stripe's numbers where Stripe has one).
TEST_CARDS: dict[str, str] = {
    "4242424242424242": "succeed",
    "5555555555554444": "succeed",
    "4000056655665556": "succeed",  # Visa debit
    "4000000000000002": FailureCode.CARD_DECLINED,
    "4000000000009995": FailureCode.INSUFFICIENT_FUNDS,
    "4000000000000069": FailureCode.EXPIRED_CARD,
    "4000000000000119": FailureCode.PROCESSING_ERROR,
    "4000000000009987": FailureCode.LOST_CARD,
    "4000000000009979": FailureCode.STOLEN_CARD,
    # The bank wants the cardholder to confirm every payment (3-D Secure): with nobody there (auto-renew)
    # it is declined with authentication_required; on our pages the sandbox's check passes at once.
    "4000002760003184": FailureCode.AUTHENTICATION_REQUIRED,
    # The gateway charges the card but the answer never arrives: the outcome is unknown
    # to us until we look the charge up by its idempotency key.
    "4000000000000408": "timeout_after_charge",
    # The request never reaches the gateway: unknown to us, and the lookup finds nothing.
    "4000000000000416": "timeout_before_charge",
}
# A declining card's behaviour is the failure code it answers with.
DECLINE_BEHAVIOURS: set[str] = {
    FailureCode.CARD_DECLINED,
    FailureCode.INSUFFICIENT_FUNDS,
    FailureCode.EXPIRED_CARD,
    FailureCode.PROCESSING_ERROR,
    FailureCode.LOST_CARD,
    FailureCode.STOLEN_CARD,
}


# Where an answer is lost: before the request reaches the gateway, or after it charged.
LOST_BEFORE = "before"
LOST_AFTER = "after"

LEDGER_COLUMNS = (
    "idempotency_key",
    "charge_id",
    "token",
    "amount_minor",
    "currency",
    "status",
    "failure_code",
    "refunded_minor",
    "created_at",
)


def card_brand(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number[:2] in {"34", "37"}:
        return "amex"
    if number[:2] in {"51", "52", "53", "54", "55"} or 2221 <= int(number[:4]) <= 2720:
        return "mastercard"
    if number.startswith(("6011", "65")):
        return "discover"
    return "card"


class SandboxGateway:
    name = "sandbox"

    def __init__(self, latency_ms: int | None = None, fault_rate: float | None = None):
        self._latency_ms = latency_ms
        self._fault_rate = fault_rate
        # token -> (behaviour, (exp_year, exp_month) or None)
        self._behaviours: dict[str, tuple[str, tuple[int, int] | None]] = {}

    @property
    def fault_rate(self) -> float:
        """The share of charges whose answer is lost (half before, half after the
        gateway charged), whatever the card: the network faults a real gateway has."""
        rate = settings.SIMRENEW_SANDBOX_GATEWAY_FAULT_RATE if self._fault_rate is None else self._fault_rate
        return float(rate)

    @property
    def latency_seconds(self) -> float:
        ms = settings.SIMRENEW_SANDBOX_GATEWAY_LATENCY_MS if self._latency_ms is None else self._latency_ms
        return ms / 1000

    def _wait(self) -> None:
        if self.latency_seconds:
            time.sleep(self.latency_seconds)

    def tokenize_card(self, card: CardDetails) -> TokenizedMethod:
        number = "".join(card.number.split())
        if not number.isdigit() or not 12 <= len(number) <= 19 or not luhn.is_valid(number):
            raise TokenizationError("number", "The card number is not valid.")
        if not 1 <= card.exp_month <= 12:
            raise TokenizationError("exp_month", "The expiry month must be between 1 and 12.")
        today = clock.now().date()
        if (card.exp_year, card.exp_month) < (today.year, today.month) or card.exp_year > today.year + 30:
            raise TokenizationError("exp_year", "The card's expiry date has passed or is not valid.")
        if not (card.cvc.isdigit() and len(card.cvc) in (3, 4)):
            raise TokenizationError("cvc", "The security code must be 3 or 4 digits.")
        behaviour = TEST_CARDS.get(number, "succeed")
        token = SandboxToken.objects.create(
            token=f"tok_sandbox_{secrets.token_hex(12)}",
            behaviour=behaviour,
            brand=card_brand(number),
            last4=number[-4:],
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            created_at=clock.now(),
        )
        return TokenizedMethod(token.token, token.brand, token.last4, card.exp_month, card.exp_year)

    def tokenize_paypal(self, email: str) -> TokenizedMethod:
        # In the sandbox a PayPal account whose address starts with "declined" refuses payments.
        behaviour = FailureCode.PAYPAL_DECLINED if email.lower().startswith("declined") else "succeed"
        token = SandboxToken.objects.create(
            token=f"ba_sandbox_{secrets.token_hex(12)}",
            behaviour=behaviour,
            brand="paypal",
            last4="",
            created_at=clock.now(),
        )
        return TokenizedMethod(token.token, "paypal", "")

    def charge(self, request: ChargeRequest) -> ChargeResult:
        self._wait()
        return self._charge_now(request)

    def charge_many(self, requests: Sequence[ChargeRequest]) -> list[ChargeResult]:
        """All requests in flight at once (up to the worker's concurrency), each
        taking the configured latency; the ledger is written in one statement."""
        if not requests:
            return []
        rounds = math.ceil(len(requests) / max(1, settings.SIMRENEW_WORKER_GATEWAY_CONCURRENCY))
        if self.latency_seconds:
            time.sleep(self.latency_seconds * rounds)
        self._learn_behaviours({request.token for request in requests})
        keys = [request.idempotency_key for request in requests]
        if len(set(keys)) != len(keys):
            return [self._charge_now(request) for request in requests]  # one key twice: answer each as charge() does
        now = clock.now()
        answers: list[ChargeResult] = []
        ledger: list[tuple[object, ...]] = []
        for request in requests:
            behaviour = self._behaviour(request.token, now)
            fault = self._fault(request, behaviour)
            if fault == LOST_BEFORE:
                answers.append(ChargeResult(ChargeStatus.UNKNOWN))
                continue
            status, code = self._outcome(behaviour, customer_present=bool(request.return_url))
            charge_id = f"ch_sandbox_{secrets.token_hex(12)}"
            key, token = request.idempotency_key, request.token
            ledger.append((key, charge_id, token, request.amount_minor, request.currency, status.value, code, 0, now))
            if fault == LOST_AFTER:
                answers.append(ChargeResult(ChargeStatus.UNKNOWN))
            elif status == ChargeStatus.SUCCEEDED:
                answers.append(ChargeResult(status, charge_id=charge_id))
            else:
                answers.append(
                    ChargeResult(status, charge_id=charge_id, failure_code=code, failure_message=failure_message(code))
                )
        try:
            with transaction.atomic():  # the gateway's own books, committed on their own
                rows.insert_many(SandboxCharge, LEDGER_COLUMNS, ledger, returning=False)
        except IntegrityError:
            # A key seen before (a replay, or a concurrent request that won the race):
            # nothing of this batch was written, so answer each as charge() does. Asking
            # the ledger first would cost every batch a lookup of all its keys.
            return [self._charge_now(request) for request in requests]
        return answers

    def _fault(self, request: ChargeRequest, behaviour: str) -> str | None:
        """Whether the answer is lost, and on which side of the charge: the test
        cards that always lose it, else an injected fault (seeded by the key, so
        asking again with the same key meets the same fault). A fault never
        changes what the card does, only whether we hear of it."""
        if behaviour == "timeout_before_charge":
            return LOST_BEFORE
        if behaviour == "timeout_after_charge":
            return LOST_AFTER
        if self.fault_rate:
            draw = random.Random(request.idempotency_key).random()
            if draw < self.fault_rate:
                return LOST_BEFORE if draw < self.fault_rate / 2 else LOST_AFTER
        return None

    @staticmethod
    def _outcome(behaviour: str, *, customer_present: bool) -> tuple[ChargeStatus, str]:
        if behaviour == FailureCode.AUTHENTICATION_REQUIRED:
            return (ChargeStatus.SUCCEEDED, "") if customer_present else (ChargeStatus.FAILED, behaviour)
        if behaviour == "no_such_token":
            return ChargeStatus.FAILED, FailureCode.CARD_DECLINED
        if behaviour in DECLINE_BEHAVIOURS or behaviour == FailureCode.PAYPAL_DECLINED:
            return ChargeStatus.FAILED, behaviour
        return ChargeStatus.SUCCEEDED, ""

    def _learn_behaviours(self, tokens: set[str]) -> None:
        unknown = tokens - self._behaviours.keys()
        if unknown:
            found = SandboxToken.objects.filter(token__in=unknown).values_list(
                "token", "behaviour", "exp_year", "exp_month"
            )
            for token, behaviour, year, month in found:
                self._behaviours[token] = (behaviour, (year, month) if year and month else None)

    def _charge_now(self, request: ChargeRequest) -> ChargeResult:
        behaviour = self._behaviour(request.token, clock.now())
        fault = self._fault(request, behaviour)
        if fault == LOST_BEFORE:
            return ChargeResult(ChargeStatus.UNKNOWN)
        status, code = self._outcome(behaviour, customer_present=bool(request.return_url))
        try:
            # The gateway's own ledger commits on its own, whatever our transaction does.
            with transaction.atomic():
                charge = SandboxCharge(
                    idempotency_key=request.idempotency_key,
                    charge_id=f"ch_sandbox_{secrets.token_hex(12)}",
                    token=request.token,
                    amount_minor=request.amount_minor,
                    currency=request.currency,
                    status=status.value,
                    failure_code=code,
                    created_at=clock.now(),
                )
                writes.insert(charge)
        except IntegrityError:
            # A concurrent request with the same key won the race: answer as it did.
            return self._replay(SandboxCharge.objects.get(idempotency_key=request.idempotency_key), request)
        if fault == LOST_AFTER:
            return ChargeResult(ChargeStatus.UNKNOWN)
        return self._result(charge)

    def _behaviour(self, token: str, now: datetime) -> str:
        # Like a real gateway's, a token's behaviour never changes: remember it.
        known = self._behaviours.get(token)
        if known is None:
            self._learn_behaviours({token})
            known = self._behaviours.get(token)
            if known is None:
                return "no_such_token"
        behaviour, expiry = known
        if expiry is not None and (now.year, now.month) > expiry and behaviour not in DECLINE_BEHAVIOURS:
            return FailureCode.EXPIRED_CARD  # valid through the end of its expiry month, as cards are
        return behaviour

    def _replay(self, charge: SandboxCharge, request: ChargeRequest) -> ChargeResult:
        if (charge.amount_minor, charge.currency, charge.token) != (
            request.amount_minor,
            request.currency,
            request.token,
        ):
            return ChargeResult(
                ChargeStatus.FAILED,
                failure_code=FailureCode.IDEMPOTENCY_KEY_REUSED,
                failure_message=failure_message(FailureCode.IDEMPOTENCY_KEY_REUSED),
            )
        return self._result(charge)

    @staticmethod
    def _result(charge: SandboxCharge) -> ChargeResult:
        if charge.status == ChargeStatus.SUCCEEDED:
            return ChargeResult(ChargeStatus.SUCCEEDED, charge_id=charge.charge_id)
        return ChargeResult(
            ChargeStatus.FAILED,
            charge_id=charge.charge_id,
            failure_code=charge.failure_code,
            failure_message=failure_message(charge.failure_code),
        )

    def lookup(self, idempotency_key: str, charge_id: str = "") -> ChargeResult | None:
        self._wait()
        charge = SandboxCharge.objects.filter(idempotency_key=idempotency_key).first()
        return None if charge is None else self._result(charge)

    def refund(self, *, charge_id: str, amount_minor: int, idempotency_key: str) -> RefundResult:
        self._wait()
        done = SandboxRefund.objects.filter(idempotency_key=idempotency_key).first()
        if done is not None:
            if (done.charge_id, done.amount_minor) != (charge_id, amount_minor):
                return RefundResult(False, failure_message="This idempotency key was used for a different refund.")
            return RefundResult(True, refund_id=done.refund_id)
        charge = SandboxCharge.objects.filter(charge_id=charge_id, status=ChargeStatus.SUCCEEDED).first()
        if charge is None:
            return RefundResult(False, failure_message="No such successful charge.")
        try:
            with transaction.atomic():  # the gateway's own books, committed on their own
                updated = SandboxCharge.objects.filter(
                    pk=charge.pk, refunded_minor__lte=charge.amount_minor - amount_minor
                ).update(refunded_minor=F("refunded_minor") + amount_minor)
                if not updated:
                    return RefundResult(False, failure_message="The refund is larger than what is left of the charge.")
                refund = SandboxRefund.objects.create(
                    idempotency_key=idempotency_key,
                    refund_id=f"re_sandbox_{secrets.token_hex(12)}",
                    charge_id=charge_id,
                    amount_minor=amount_minor,
                    created_at=clock.now(),
                )
        except IntegrityError:  # a concurrent request with the same key won
            refund = SandboxRefund.objects.get(idempotency_key=idempotency_key)
        return RefundResult(True, refund_id=refund.refund_id)
