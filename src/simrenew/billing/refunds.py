"""Refunds, in the same three steps as charges (DESIGN.md §4, Payments).

1. `request_refund` locks the invoice, checks what is left to refund (counting
   refunds still pending) and writes the refund, inside the caller's
   transaction. A refund to the wallet (or of a wallet payment) needs no
   outside call and completes right there. A wallet top-up goes back only to
   the card that paid it, and the same amount leaves the wallet right there
   (refused when the customer has spent it); a free invoice is not refunded.
2. `execute_refund` asks the gateway, outside any transaction, with the
   refund's own idempotency key, so asking twice never pays back twice.
3. `settle_refund` records the answer (a refused top-up refund puts the money
   back in the wallet).
"""

from __future__ import annotations

import logging
import re
import secrets
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Q, QuerySet, Sum

from simrenew.billing.models import Invoice, InvoiceStatus, Refund, RefundStatus
from simrenew.kit import clock
from simrenew.kit.audit import record_change
from simrenew.kit.errors import Conflict, ValidationFailed
from simrenew.kit.money import format_money
from simrenew.notifications import payloads
from simrenew.notifications.events import EventType
from simrenew.notifications.services import emit
from simrenew.payments.gateway import RefundResult, refund_at
from simrenew.payments.models import AttemptPurpose, MethodType, PaymentAttempt
from simrenew.payments.services import credit_wallet, debit_wallet, ensure_wallet

log = logging.getLogger(__name__)


class AlreadyRefunded(Conflict):
    slug = "already-refunded"
    title = "Nothing is left to refund"


class NothingPaid(Conflict):
    slug = "nothing-paid"
    title = "Nothing was paid"


class TopUpAlreadySpent(Conflict):
    """A wallet top-up is refunded by taking the money back out of the wallet; the customer
    has spent (part of) it, so paying it back would pay them twice."""

    slug = "top-up-spent"
    title = "The top-up has been spent"


# Wallet ledger reasons for a refunded top-up, and for putting it back when the gateway refuses.
TOP_UP_REFUND_REASON = "top_up_refund"
TOP_UP_REFUND_FAILED_REASON = "top_up_refund_failed"


# A pending refund is asked about again by `refunds_due` this long after it was written (its
# request was lost), then with a growing wait, never longer than MAX_RETRY_AFTER_SECONDS.
#
# These waits run on the system clock (`clock.system_now`), while the refund's own dates
# (`created_at`, `completed_at`) stay on the platform's clock: when to ask the gateway again is
# an operational matter, like the worker's claims and heartbeats, about the gateway's real
# availability. On the sandbox's test clock (frozen in `make run` demos and in tests) a retry
# scheduled on business time would never come due, and its jumps (a month ahead) would set the
# pace of the questions instead of the minutes that really passed. Outside sandbox mode both
# clocks are the same.
RETRY_AFTER_SECONDS = 60
MAX_RETRY_AFTER_SECONDS = 3600


def refundable_minor(invoice: Invoice) -> int:
    pending = (
        Refund.objects.filter(invoice=invoice, status=RefundStatus.PENDING).aggregate(total=Sum("amount_minor"))[
            "total"
        ]
        or 0
    )
    return invoice.total_minor - invoice.refunded_minor - pending


def paid_internally(attempt: PaymentAttempt) -> bool:
    """Paid from the wallet (or by the platform itself): such a payment can only go back to the wallet."""
    return attempt.gateway == "internal" or attempt.payment_method.type == MethodType.WALLET


def request_refund(
    *,
    invoice: Invoice,
    amount_minor: int,
    reason: str,
    to_wallet: bool = False,
    idempotency_key: str | None = None,
    asked_after_commit: bool = True,
) -> Refund:
    """Step 1, inside the caller's transaction. A caller that must never refund the same thing
    twice (a cancellation) passes its own `idempotency_key`: a refund written under it that is
    pending or paid is returned as it is. One the gateway refused is asked for again, under a new
    key (`<key>_2`, `<key>_3`…: the gateway would answer a reused key with its old refusal).
    A caller that does not ask the gateway itself after commit (a payment settled late, found by
    reconciliation) passes `asked_after_commit=False`: the worker's next tick asks instead."""
    locked = (
        Invoice.objects.select_for_update()
        .select_related("customer", "payment_attempt__payment_method")
        .get(pk=invoice.pk)
    )
    if idempotency_key is not None:
        tries = list(_tries_under(idempotency_key))
        if any(tried.invoice_id != locked.pk for tried in tries):
            raise Conflict(f"The refund key {idempotency_key} was used for another invoice.")
        alive = [tried for tried in tries if tried.status != RefundStatus.FAILED]
        if alive:
            return alive[-1]
        if tries:
            idempotency_key = f"{idempotency_key}_{len(tries) + 1}"
    if locked.total_minor <= 0:
        raise NothingPaid(f"Invoice {locked.number} was free: nothing was paid, so there is nothing to refund.")
    if amount_minor <= 0:
        raise ValidationFailed.on("amount_minor", "A refund must be a positive amount.")
    left = refundable_minor(locked)
    if left <= 0:
        raise AlreadyRefunded(f"Invoice {locked.number} is already refunded in full (or a refund of it is pending).")
    if amount_minor > left:
        raise ValidationFailed.on("amount_minor", f"At most {left} can still be refunded on {locked.number}.")
    attempt = locked.payment_attempt
    if _is_wallet_top_up(attempt):
        _take_top_up_back(locked, attempt, amount_minor=amount_minor, to_wallet=to_wallet)
    else:
        to_wallet = to_wallet or paid_internally(attempt)
        if to_wallet and ensure_wallet(locked.customer).currency != locked.currency:
            raise ValidationFailed.on("to_wallet", f"The wallet does not hold {locked.currency}; refund to the card.")
    refund = Refund.objects.create(
        invoice=locked,
        amount_minor=amount_minor,
        currency=locked.currency,
        reason=reason[:200],
        to_wallet=to_wallet,
        idempotency_key=idempotency_key or f"refund_{secrets.token_hex(16)}",
        created_at=clock.now(),
        # Usually the caller asks the gateway right after commit, and the worker steps in only if
        # that is lost; otherwise (and for a refund never asked: None) the worker asks at once.
        next_retry_at=(
            clock.system_now() + timedelta(seconds=RETRY_AFTER_SECONDS)
            if asked_after_commit and not to_wallet
            else None
        ),
    )
    if to_wallet:
        credit_wallet(customer=locked.customer, amount_minor=amount_minor, reason="refund", attempt=attempt)
        _succeed(refund, locked, gateway_refund_id="")
    return refund


def _tries_under(idempotency_key: str) -> QuerySet[Refund]:
    """The refunds asked for under a caller's key: the first one, then each new try after a refusal."""
    return Refund.objects.filter(
        Q(idempotency_key=idempotency_key) | Q(idempotency_key__regex=rf"^{re.escape(idempotency_key)}_[0-9]+$")
    ).order_by("id")


def _is_wallet_top_up(attempt: PaymentAttempt) -> bool:
    return attempt.purpose == AttemptPurpose.WALLET_TOP_UP


def _take_top_up_back(invoice: Invoice, attempt: PaymentAttempt, *, amount_minor: int, to_wallet: bool) -> None:
    """A wallet top-up goes back to the card that paid it, and the same money leaves the
    wallet in this transaction: crediting the wallet again, or returning the card payment
    while the balance stays, would pay the customer twice."""
    if to_wallet:
        raise ValidationFailed.on(
            "to_wallet",
            f"Invoice {invoice.number} is a wallet top-up: it can only go back to the card or account that paid "
            "it (the amount is taken back out of the wallet), not to the wallet.",
        )
    wallet = ensure_wallet(invoice.customer)
    if wallet.currency != invoice.currency:
        raise ValidationFailed.on("to_wallet", f"The wallet does not hold {invoice.currency}; it cannot give it back.")
    if not debit_wallet(
        customer=invoice.customer, amount_minor=amount_minor, reason=TOP_UP_REFUND_REASON, attempt=attempt
    ):
        wallet.refresh_from_db(fields=["balance_minor"])
        held, asked = (format_money(v, invoice.currency) for v in (wallet.balance_minor, amount_minor))
        raise TopUpAlreadySpent(
            f"The wallet holds {held}, less than the {asked} to refund: the customer has spent part of this "
            "top-up. Refund at most what is still in the wallet; nothing was changed."
        )


def refund_for_operator(
    *, invoice: Invoice, amount_minor: int, reason: str, to_wallet: bool, actor: Any = None
) -> Refund:
    """Step 1 of a refund an operator asked for (in the console or through the API), audited
    with their reason and whoever acts (`actor`, or the edge's: the API key, the CLI), inside
    the caller's transaction; the caller then runs `execute_refund` after commit. Refunds the
    platform makes itself (paid after cancellation) use `request_refund` and are not audited."""
    reason = reason.strip()
    if not reason:
        raise ValidationFailed.on("reason", "Say why the payment is refunded; the reason is kept in the audit trail.")
    before = _refund_picture(Invoice.objects.get(pk=invoice.pk))
    refund = request_refund(invoice=invoice, amount_minor=amount_minor, reason=reason, to_wallet=to_wallet)
    after = _refund_picture(Invoice.objects.get(pk=invoice.pk)) | {
        "refund_id": refund.pk,
        "refund_amount_minor": refund.amount_minor,
        "refund_status": refund.status,
        "to_wallet": refund.to_wallet,
    }
    record_change(actor=actor, action="refund", target=refund.invoice, before=before, after=after, reason=reason)
    return refund


def _refund_picture(invoice: Invoice) -> dict[str, Any]:
    return {
        "invoice": invoice.number,
        "total_minor": invoice.total_minor,
        "refunded_minor": invoice.refunded_minor,
        "currency": invoice.currency,
        "status": invoice.status,
    }


def execute_refund(refund: Refund) -> Refund:
    """Steps 2 and 3 for a refund whose step 1 has committed (an edge helper: it owns transactions)."""
    if refund.status != RefundStatus.PENDING:
        return refund
    attempt = refund.invoice.payment_attempt
    try:
        # Back through the gateway that took the money, whichever takes new cards today.
        result = refund_at(
            attempt.gateway,
            charge_id=attempt.gateway_charge_id,
            amount_minor=refund.amount_minor,
            idempotency_key=refund.idempotency_key,
        )
    except Exception:  # no answer: the refund stays pending and is asked about again
        log.exception("gateway refund failed for refund %s; will ask again", refund.pk)
        return refund
    with transaction.atomic():
        return settle_refund(refund, result)


def settle_refund(refund: Refund, result: RefundResult) -> Refund:
    """Step 3, inside the caller's transaction; settling twice is harmless."""
    invoice = Invoice.objects.select_for_update().get(pk=refund.invoice_id)
    refund = Refund.objects.select_for_update().get(pk=refund.pk)
    if refund.status != RefundStatus.PENDING:
        return refund
    if result.succeeded:
        _succeed(refund, invoice, gateway_refund_id=result.refund_id)
    else:
        refund.status = RefundStatus.FAILED
        refund.failure_message = result.failure_message[:300]
        refund.completed_at = clock.now()
        refund.save(update_fields=["status", "failure_message", "completed_at"])
        attempt = invoice.payment_attempt
        if _is_wallet_top_up(attempt):
            # Nothing went back to the card, so the top-up taken out of the wallet returns to it.
            credit_wallet(
                customer=invoice.customer,
                amount_minor=refund.amount_minor,
                reason=TOP_UP_REFUND_FAILED_REASON,
                attempt=attempt,
            )
    return refund


def _succeed(refund: Refund, invoice: Invoice, *, gateway_refund_id: str) -> None:
    refund.status = RefundStatus.SUCCEEDED
    refund.gateway_refund_id = gateway_refund_id
    refund.completed_at = clock.now()
    refund.save(update_fields=["status", "gateway_refund_id", "completed_at"])
    invoice.refunded_minor += refund.amount_minor
    fully = invoice.refunded_minor == invoice.total_minor
    invoice.status = InvoiceStatus.REFUNDED if fully else InvoiceStatus.PARTIALLY_REFUNDED
    invoice.save(update_fields=["refunded_minor", "status"])
    emit(
        EventType.PAYMENT_REFUNDED,
        customer=invoice.customer,
        subscription_id=invoice.subscription_id,
        data=payloads.payment_refunded(
            invoice=invoice.number,
            refund_id=refund.pk,
            amount_minor=refund.amount_minor,
            currency=refund.currency,
            to_wallet=refund.to_wallet,
        ),
    )


def refund_invoice(*, invoice: Invoice, amount_minor: int, reason: str, to_wallet: bool = False) -> Refund:
    """All three steps of an operator's refund (an edge helper: it owns its transactions). A
    refusal by the gateway is an error for the caller; the refund stays recorded as failed."""
    with transaction.atomic():
        refund = refund_for_operator(invoice=invoice, amount_minor=amount_minor, reason=reason, to_wallet=to_wallet)
    refund = execute_refund(refund)
    invoice.refresh_from_db()
    if refund.status == RefundStatus.FAILED:
        raise Conflict(f"The payment provider refused the refund: {refund.failure_message}")
    return refund


def retry_backoff(retries: int) -> timedelta:
    """How long to wait after the `retries`-th time a lost refund was asked about: 1, 2, 4… minutes, at most an hour."""
    return timedelta(seconds=min(RETRY_AFTER_SECONDS * 2 ** min(retries, 10), MAX_RETRY_AFTER_SECONDS))


def refunds_due(*, limit: int = 100) -> list[Refund]:
    """Pending gateway refunds whose next try has come (by the system clock: see
    RETRY_AFTER_SECONDS), each claimed for the caller: its next try is pushed back
    (`retry_backoff`) by a conditional UPDATE, so the workers and `simrenew reconcile` never ask
    about the same refund at once, nor every tick while the gateway is down. A pending refund
    without a next try (written before tries were scheduled) is due at once: asking again under
    its key never pays back twice."""
    now = clock.system_now()
    candidates = list(
        Refund.objects.filter(
            Q(next_retry_at__isnull=True) | Q(next_retry_at__lte=now),
            status=RefundStatus.PENDING,
            to_wallet=False,
        )
        .select_related("invoice__payment_attempt")
        .order_by("created_at", "id")[:limit]
    )
    claimed: list[Refund] = []
    for refund in candidates:
        won = Refund.objects.filter(
            pk=refund.pk, status=RefundStatus.PENDING, retries=refund.retries, next_retry_at=refund.next_retry_at
        ).update(retries=F("retries") + 1, next_retry_at=now + retry_backoff(refund.retries))
        if won:
            claimed.append(refund)
    return claimed


def settle_reported_refund(gateway: str, refund_id: str, idempotency_key: str) -> bool:
    """A provider reports a refund (Stripe's `charge.refunded`, PayPal's `PAYMENT.CAPTURE.REFUNDED`):
    one of ours (known by its id, or pending under its key: its answer was lost, and the report
    settles it) is True; one made elsewhere (the provider's dashboard) is False, for the operator to
    see. Inside the caller's transaction."""
    if Refund.objects.filter(gateway_refund_id=refund_id).exists():
        return True
    pending = Refund.objects.filter(idempotency_key=idempotency_key).first() if idempotency_key else None
    if pending is None or pending.invoice.payment_attempt.gateway != gateway:
        return False
    settle_refund(pending, RefundResult(True, refund_id=refund_id))
    return True
