"""The three steps of a charge (DESIGN.md §4, Payments).

1. `create_attempt` writes the attempt and its idempotency key inside the
   caller's transaction, which commits before anything else happens.
2. `execute` calls the gateway outside any transaction.
3. `settle` records the outcome in one transaction and, on success, hands the
   attempt to the handler registered for its purpose (append a period, add a
   top-up, credit the wallet), which writes invoices and outbox messages.

An attempt left `pending` or `unknown` is reconciled by looking its key up at
the gateway; it is never charged again blindly. `run_charge` and `execute` own
their transactions: they are for the edges (requests, commands, the worker).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from django.db import IntegrityError, transaction
from django.db.models import Model

from simrenew.customers.models import Customer
from simrenew.kit import clock, metrics, tracing, writes
from simrenew.kit.actors import ActorKind, current_actor
from simrenew.kit.errors import Conflict, ValidationFailed
from simrenew.kit.money import Money
from simrenew.payments.failures import FailureCode, failure_message
from simrenew.payments.gateway import ChargeRequest, ChargeResult, ChargeStatus, gateway_named
from simrenew.payments.models import (
    AUTHENTICATE,
    ONE_OFF_TYPES,
    OPEN_ATTEMPT_STATUSES,
    PAY_ELSEWHERE,
    AttemptPurpose,
    AttemptStatus,
    MethodType,
    PaymentAttempt,
    PaymentMethod,
)
from simrenew.payments.services import debit_wallet, ensure_wallet

log = logging.getLogger(__name__)

FINAL_STATUSES = {AttemptStatus.SUCCEEDED, AttemptStatus.FAILED}
# When an unanswered attempt is looked up again, counted from its creation.
RECONCILE_SCHEDULE = (timedelta(minutes=5), timedelta(hours=1), timedelta(days=1))

# How long a charge waits for the customer to answer their bank's check (3-D Secure) before it is
# looked up and, still unanswered, failed: the check's own pages time out well before.
ACTION_WAIT = timedelta(minutes=30)

AttemptHandler = Callable[[PaymentAttempt], None]
# Where the customer, present, comes back to after their bank's check: the attempt's page, by id
# (an edge's URL: the portal gives it, payments does not know its routes).
ReturnTo = Callable[[int], str]


@dataclass(frozen=True, slots=True)
class PurposeHandlers:
    on_success: AttemptHandler
    on_failure: AttemptHandler | None = None


_handlers: dict[str, PurposeHandlers] = {}


def register_purpose(purpose: str, *, on_success: AttemptHandler, on_failure: AttemptHandler | None = None) -> None:
    """Domains that sell something say here what a settled payment means to them,
    so payments never imports them (arrows point one way)."""
    _handlers[purpose] = PurposeHandlers(on_success, on_failure)


def create_attempt(
    *,
    customer: Customer,
    payment_method: PaymentMethod,
    purpose: str,
    amount: Money,
    idempotency_key: str,
    purpose_data: dict[str, object],
    subscription: Model | None = None,  # a subscriptions.Subscription: payments do not import subscriptions
) -> PaymentAttempt:
    """Step 1. Callers look for a replay first (`payments.queries.attempt_for_key`);
    a key used twice still cannot make two attempts (unique constraint)."""
    if amount.amount_minor < 0:
        raise ValidationFailed.on("amount_minor", "An amount cannot be negative.")
    if payment_method.customer_id != customer.pk or payment_method.removed_at is not None:
        raise ValidationFailed.on("payment_method_id", "This payment method does not belong to the customer.")
    if payment_method.type == MethodType.WALLET and amount.amount_minor:
        wallet_currency = ensure_wallet(customer).currency
        if wallet_currency != amount.currency:
            raise ValidationFailed.on(
                "payment_method_id",
                f"The wallet holds {wallet_currency} and this price is in {amount.currency}; pay by card or PayPal.",
            )
    now = clock.now()
    try:
        attempt = PaymentAttempt(
            customer=customer,
            # Passed by instance, so the attempt keeps it (its settlement reads it); typed as
            # Any because payments cannot name Subscription (it does not import subscriptions).
            subscription=cast(Any, subscription),
            payment_method=payment_method,
            purpose=purpose,
            purpose_data=purpose_data,
            amount_minor=amount.amount_minor,
            currency=amount.currency,
            idempotency_key=idempotency_key,
            gateway="internal" if _is_internal(payment_method, amount.amount_minor) else payment_method.gateway,
            created_at=now,
            reconcile_after=now + RECONCILE_SCHEDULE[0],
        )
        writes.insert(attempt)
        return attempt
    except IntegrityError:
        # The caller's transaction is spoiled by the failed INSERT; raising rolls it back.
        raise Conflict("This idempotency key was already used for a different payment.") from None


def _is_internal(method: PaymentMethod, amount_minor: int) -> bool:
    """Wallet payments and free (fully discounted) ones never reach a gateway."""
    return method.type == MethodType.WALLET or amount_minor == 0


def call_gateway(attempt: PaymentAttempt, return_to: ReturnTo | None = None) -> ChargeResult | None:
    """Step 2, outside any transaction. None for payments settled internally. With `return_to` the
    customer is on our page (on-session) and may be asked to answer their bank."""
    if attempt.gateway == "internal":
        return None
    request = ChargeRequest(
        token=attempt.payment_method.token,
        amount_minor=attempt.amount_minor,
        currency=attempt.currency,
        idempotency_key=attempt.idempotency_key,
        description=f"simrenew {attempt.purpose} {attempt.pk}",
        provider_customer=attempt.payment_method.provider_customer,
        return_url=return_to(attempt.pk) if return_to is not None else "",
        method_type=attempt.payment_method.type,
    )
    # The one place a single charge reaches a gateway: its span (kit.tracing) says which provider
    # and what came of it. Stripe's and PayPal's SDKs call out through `requests`, which no
    # instrumentation here follows, so this span is the gateway call in the trace.
    with (
        tracing.span(
            "payment.charge",
            {
                "payment.provider": attempt.gateway,
                "payment.method_type": request.method_type,
                "payment.currency": request.currency,
                "payment.amount_minor": request.amount_minor,
                "payment.purpose": attempt.purpose,
                "payment.on_session": bool(request.return_url),
            }
            if tracing.is_on()
            else None,
        ) as span,
        metrics.gateway_call(attempt.gateway, "charge") as call,
    ):
        try:
            result = gateway_named(attempt.gateway).charge(request)
        except Exception:  # any transport failure leaves the outcome unknown, to be looked up
            log.exception("gateway charge failed for attempt %s; outcome unknown", attempt.pk)
            result = ChargeResult(ChargeStatus.UNKNOWN)
        call.outcome = result.status.value
        tracing.set_attributes(
            span, {"payment.outcome": result.status.value, "payment.failure_code": result.failure_code or None}
        )
    if result.status in {ChargeStatus.FAILED, ChargeStatus.UNKNOWN}:
        # Support's first question about a renewal that did not go through (the log line carries
        # the request's id, the customer and the trace: kit.logs).
        log.info(
            "charge of attempt %s not taken: %s %s",
            attempt.pk,
            result.status.value,
            result.failure_code or "-",
            extra={
                "attempt_id": attempt.pk,
                "provider": attempt.gateway,
                "outcome": result.status.value,
                "failure_code": result.failure_code,
            },
        )
    return result


def settle(attempt: PaymentAttempt, result: ChargeResult | None) -> PaymentAttempt:
    """Step 3, inside the caller's transaction. Settling twice is harmless: the
    conditional UPDATE lets exactly one settler move an open attempt on."""
    if attempt.status in FINAL_STATUSES:
        return attempt
    open_statuses = list(OPEN_ATTEMPT_STATUSES)
    if result is None:
        # Internal settlement moves money itself (the wallet debit), so it must
        # first be sure no one settled the attempt meanwhile: the row lock
        # (PostgreSQL) or the writer lock (SQLite) holds until commit.
        current = (
            PaymentAttempt.objects.select_for_update().filter(pk=attempt.pk).values_list("status", flat=True).get()
        )
        if current not in open_statuses:
            attempt.refresh_from_db()
            return attempt
        result = _settle_internally(attempt)
    if result.status == ChargeStatus.ACTION_REQUIRED:
        return _wait_for_customer(attempt, result)
    if result.status == ChargeStatus.UNKNOWN:
        reconcile_after = next_reconcile_at(attempt)
        # A pending answer may name the charge (PayPal's pending capture): kept, it is looked up by id.
        charge_id = result.charge_id or attempt.gateway_charge_id
        marked = PaymentAttempt.objects.filter(pk=attempt.pk, status__in=open_statuses).update(
            status=AttemptStatus.UNKNOWN, reconcile_after=reconcile_after, gateway_charge_id=charge_id
        )
        if marked:
            attempt.status, attempt.reconcile_after = AttemptStatus.UNKNOWN, reconcile_after
            attempt.gateway_charge_id = charge_id
        else:  # settled meanwhile (the gateway's webhook came before its lost answer): show what is
            attempt.refresh_from_db()
        return attempt
    failed = result.status == ChargeStatus.FAILED
    changes = {
        "status": AttemptStatus(result.status.value),
        "gateway_charge_id": result.charge_id,
        "failure_code": result.failure_code,
        "failure_message": (result.failure_message or failure_message(result.failure_code))[:300] if failed else "",
        "completed_at": clock.now(),
        "reconcile_after": None,
        "next_action": "",
    }
    claimed = writes.update(PaymentAttempt, attempt.pk, changes, where={"status": open_statuses})
    if not claimed:  # another process settled it first
        attempt.refresh_from_db()
        return attempt
    for field, value in changes.items():
        setattr(attempt, field, value)
    handlers = _handlers[attempt.purpose]
    if attempt.status == AttemptStatus.SUCCEEDED:
        handlers.on_success(attempt)
    elif handlers.on_failure is not None:
        handlers.on_failure(attempt)
    return attempt


def _wait_for_customer(attempt: PaymentAttempt, result: ChargeResult) -> PaymentAttempt:
    """The bank wants the customer, who is on our page: the attempt stays open, its confirmation
    page runs the check, and it is looked up after ACTION_WAIT if nothing settled it before."""
    changes = {
        "gateway_charge_id": result.charge_id,
        "next_action": PAY_ELSEWHERE if attempt.payment_method.type in ONE_OFF_TYPES else AUTHENTICATE,
        "reconcile_after": clock.now() + ACTION_WAIT,
    }
    if PaymentAttempt.objects.filter(pk=attempt.pk, status__in=list(OPEN_ATTEMPT_STATUSES)).update(**changes):
        for field, value in changes.items():
            setattr(attempt, field, value)
    else:
        attempt.refresh_from_db()
    return attempt


def _settle_internally(attempt: PaymentAttempt) -> ChargeResult:
    if attempt.amount_minor == 0:
        return ChargeResult(ChargeStatus.SUCCEEDED, charge_id="free")
    if debit_wallet(
        customer=attempt.customer, amount_minor=attempt.amount_minor, reason=attempt.purpose, attempt=attempt
    ):
        return ChargeResult(ChargeStatus.SUCCEEDED, charge_id=f"wallet:{attempt.pk}")
    code = FailureCode.WALLET_INSUFFICIENT_BALANCE
    return ChargeResult(ChargeStatus.FAILED, failure_code=code, failure_message=failure_message(code))


def next_reconcile_at(attempt: PaymentAttempt) -> datetime:
    """The next look-up: on the schedule counted from creation, and once the
    schedule is behind us, one step (at most a day) after now."""
    return reconcile_at(attempt.created_at, attempt.reconcile_count, clock.now())


def reconcile_at(created_at: datetime, reconcile_count: int, now: datetime) -> datetime:
    """`next_reconcile_at` from plain values (the worker's batches hold no models)."""
    step = RECONCILE_SCHEDULE[min(reconcile_count, len(RECONCILE_SCHEDULE) - 1)]
    due = created_at + step
    return due if due > now else now + step


def execute(attempt: PaymentAttempt, *, return_to: ReturnTo | None = None) -> PaymentAttempt:
    """Steps 2 and 3 for an attempt whose step 1 has committed."""
    if attempt.status in FINAL_STATUSES:
        return attempt
    result = call_gateway(attempt, return_to)
    with transaction.atomic(), clock.one_instant():
        settled = settle(attempt, result)
    if settled.purpose == AttemptPurpose.RENEWAL:
        metrics.record_renewal(_renewal_path(), "action_required" if settled.next_action else settled.status)
    return settled


def _renewal_path() -> str:
    """Who asked for a renewal paid by hand: a partner's API key, else someone on the portal."""
    actor = current_actor()
    return "api" if actor is not None and actor.kind == ActorKind.API_KEY else "portal"


def run_charge(begin: Callable[[], PaymentAttempt], *, return_to: ReturnTo | None = None) -> PaymentAttempt:
    """All three steps: `begin` validates and writes the attempt (step 1). `return_to`: the
    customer is present (the portal), see `call_gateway`."""
    with transaction.atomic(), clock.one_instant():
        attempt = begin()
    return execute(attempt, return_to=return_to)


def reconcile(attempt: PaymentAttempt) -> PaymentAttempt:
    """Ask the gateway what became of an unanswered attempt, and settle it.

    If the gateway never saw the key, no money moved: the attempt fails, which
    is safe because its key is never sent again."""
    if attempt.status in FINAL_STATUSES:
        return attempt
    if attempt.gateway == "internal":
        with transaction.atomic():
            return settle(attempt, None)
    with metrics.gateway_call(attempt.gateway, "lookup") as call:
        try:
            result = gateway_named(attempt.gateway).lookup(attempt.idempotency_key, attempt.gateway_charge_id)
        except Exception:
            log.exception("gateway lookup failed for attempt %s", attempt.pk)
            result = ChargeResult(ChargeStatus.UNKNOWN)
        call.outcome = "not_found" if result is None else result.status.value
    if result is None:
        code = FailureCode.GATEWAY_UNREACHABLE
        result = ChargeResult(ChargeStatus.FAILED, failure_code=code, failure_message=failure_message(code))
    with transaction.atomic():
        settled = settle(attempt, result)
        if settled.status == AttemptStatus.UNKNOWN:
            settled.reconcile_count += 1
            settled.reconcile_after = next_reconcile_at(settled)
            PaymentAttempt.objects.filter(pk=settled.pk, status=AttemptStatus.UNKNOWN).update(
                reconcile_count=settled.reconcile_count, reconcile_after=settled.reconcile_after
            )
        return settled


def attempts_due_for_reconciliation(*, limit: int = 100) -> list[PaymentAttempt]:
    return list(
        PaymentAttempt.objects.filter(status__in=OPEN_ATTEMPT_STATUSES, reconcile_after__lte=clock.now())
        .select_related("customer", "payment_method", "subscription")
        .order_by("reconcile_after")[:limit]
    )
