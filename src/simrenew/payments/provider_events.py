"""What a gateway's webhook events mean to us. The views verify who sent them; here each event is
acted on once (`ProviderEvent` is unique per gateway and event id: gateways deliver at least
once) inside the caller's transaction.

Stripe:
- `payment_intent.succeeded` / `payment_intent.payment_failed` settle the attempt whose key is in
  the intent's metadata, if it is still open (an answer lost on the way: the webhook closes it
  before the reconciliation's first look-up). A success for an attempt already settled as failed
  (the look-up found nothing yet) is money taken for nothing: it is given back (`LateSuccess`).
- `payment_method.automatically_updated`: the card network sent Stripe a new expiry; we keep it.
- `charge.dispute.created` / `closed` (PayPal: `CUSTOMER.DISPUTE.CREATED` / `RESOLVED`): a
  `Dispute` on the attempt with the provider's reason, amount and deadline, told to the operator;
  its outcome when it closes. The period it paid stays paid: the operator decides otherwise.
- any other type is recorded and ignored.

PayPal:
- `PAYMENT.CAPTURE.COMPLETED` / `PAYMENT.CAPTURE.DENIED` settle the attempt whose key is the
  capture's `custom_id`, as Stripe's payment_intent events do (a late success is refunded).
- `VAULT.PAYMENT-TOKEN.DELETED`: the customer unlinked us at PayPal: the method is removed, so
  auto-renew stops charging it and asks for another when it is next due.
- `PAYMENT.CAPTURE.REFUNDED` and the rest are recorded and ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, transaction

from simrenew.kit import clock
from simrenew.kit.money import minor_amount
from simrenew.payments import charging
from simrenew.payments.failures import FailureCode, failure_message
from simrenew.payments.gateway import ChargeResult, ChargeStatus
from simrenew.payments.models import (
    OPEN_ATTEMPT_STATUSES,
    AttemptStatus,
    Dispute,
    DisputeStatus,
    PaymentAttempt,
    PaymentMethod,
    ProviderEvent,
)
from simrenew.payments.paypal import captured_minor
from simrenew.payments.queries import attempt_for_key
from simrenew.payments.services import remove_payment_method
from simrenew.payments.stripe import paid_elsewhere


@dataclass(frozen=True, slots=True)
class LateSuccess:
    """A charge that succeeded at the gateway after we settled its attempt as failed: refund it."""

    attempt_id: int
    gateway: str
    charge_id: str
    amount_minor: int
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class Handled:
    outcome: str  # what was done, kept on the event for support
    duplicate: bool = False
    late_success: LateSuccess | None = None
    dispute_opened: int | None = None  # a Dispute to tell the operator about, after commit
    refunded_elsewhere: str = ""  # a refund made outside simrenew (the provider's dashboard): for the operator


# (gateway, refund id, our idempotency key or "") -> whether the refund is one of ours. Billing says,
# registering in its AppConfig.ready (payments does not import billing: arrows point one way).
RefundReports = Callable[[str, str, str], bool]
_refund_reports: list[RefundReports] = []


def register_refund_reports(settle: RefundReports) -> None:
    _refund_reports[:] = [settle]


def _refund_reported(gateway: str, refund_id: str, key: str, *, described: str) -> Handled:
    ours = bool(_refund_reports) and _refund_reports[0](gateway, refund_id, key)
    if ours:
        return Handled(f"refund {refund_id}: ours, recorded")
    return Handled(f"refund {refund_id} made outside simrenew", refunded_elsewhere=described)


def record_once(*, gateway: str, event_id: str, event_type: str) -> ProviderEvent | None:
    """Keep the event's id; None if it was kept before (a redelivery: nothing more to do)."""
    try:
        with transaction.atomic():  # a savepoint: the duplicate's failed INSERT spoils nothing else
            return ProviderEvent.objects.create(
                gateway=gateway, event_id=event_id, type=event_type, received_at=clock.now()
            )
    except IntegrityError:
        return None


def handle_stripe_event(event: dict[str, Any]) -> Handled:
    event_id, event_type = str(event.get("id", "")), str(event.get("type", ""))
    obj = (event.get("data") or {}).get("object") or {}
    kept = record_once(gateway="stripe", event_id=event_id, event_type=event_type)
    if kept is None:
        return Handled("already handled", duplicate=True)
    if event_type in ("payment_intent.succeeded", "payment_intent.payment_failed"):
        handled = _settle_intent(obj, succeeded=event_type == "payment_intent.succeeded")
    elif event_type == "payment_method.automatically_updated":
        handled = _new_expiry(obj)
    elif event_type == "charge.refunded":
        handled = Handled("refunds: none listed")
        for refund in (obj.get("refunds") or {}).get("data") or []:
            key = str((refund.get("metadata") or {}).get("idempotency_key") or "")
            described = (
                f"Stripe refund {refund.get('id')} of {refund.get('amount')} (minor units, "
                f"{str(obj.get('currency', '')).upper()}) on payment {obj.get('payment_intent')}"
            )
            found = _refund_reported("stripe", str(refund.get("id", "")), key, described=described)
            if found.refunded_elsewhere or not handled.refunded_elsewhere:
                handled = found
    elif event_type == "charge.dispute.created":
        due = (obj.get("evidence_details") or {}).get("due_by")
        handled = _open_dispute(
            "stripe",
            external_id=str(obj.get("id", "")),
            charge_id=str(obj.get("payment_intent") or ""),
            reason=str(obj.get("reason") or "unknown"),
            amount_minor=int(obj.get("amount") or 0),
            currency=str(obj.get("currency") or "usd").upper(),
            due_by=datetime.fromtimestamp(due, tz=UTC) if isinstance(due, int) else None,
        )
    elif event_type == "charge.dispute.closed":
        status = str(obj.get("status", ""))
        closed = DisputeStatus.WON if status == "won" else DisputeStatus.LOST if status == "lost" else None
        handled = _close_dispute("stripe", str(obj.get("id", "")), closed or DisputeStatus.CLOSED, status)
    else:
        handled = Handled(f"ignored: {event_type or 'no type'}")
    kept.outcome = handled.outcome[:200]
    kept.save(update_fields=["outcome"])
    return handled


def _settle_intent(intent: dict[str, Any], *, succeeded: bool) -> Handled:
    key = str((intent.get("metadata") or {}).get("idempotency_key") or "")
    charge_id = str(intent.get("id", ""))
    if succeeded:
        result = ChargeResult(ChargeStatus.SUCCEEDED, charge_id=charge_id)
    else:
        error = intent.get("last_payment_error") or {}
        code = str(error.get("decline_code") or error.get("code") or FailureCode.CARD_DECLINED)
        if "authentication_required" in (error.get("decline_code"), error.get("code")):
            code = FailureCode.AUTHENTICATION_REQUIRED
        if paid_elsewhere(intent.get("payment_method_types")):  # Alipay, WeChat Pay: not finished
            code = FailureCode.PAYMENT_NOT_COMPLETED
        result = ChargeResult(ChargeStatus.FAILED, charge_id, code, failure_message(code))
    amount = int(intent.get("amount_received") or intent.get("amount") or 0)
    return _settle_by_key("stripe", key, result, amount)


def _settle_by_key(gateway: str, key: str, result: ChargeResult, amount_minor: int) -> Handled:
    """Settle the open attempt made with `key` at `gateway` as the gateway's event says; a success
    for an attempt already failed is money taken for nothing: `LateSuccess` gives it back."""
    attempt = attempt_for_key(key) if key else None
    if attempt is None or attempt.gateway != gateway:
        return Handled("ignored: not a charge of ours")
    was = attempt.status
    settled = charging.settle(attempt, result)
    if was in OPEN_ATTEMPT_STATUSES:
        return Handled(f"settled attempt {attempt.pk}: {settled.status}")
    if result.status == ChargeStatus.SUCCEEDED and settled.status == AttemptStatus.FAILED:
        late = LateSuccess(
            attempt_id=attempt.pk,
            gateway=attempt.gateway,
            charge_id=result.charge_id,
            amount_minor=amount_minor or attempt.amount_minor,
            idempotency_key=f"{attempt.idempotency_key}:late-success-refund",
        )
        return Handled(f"attempt {attempt.pk} had failed: refunding {result.charge_id}", late_success=late)
    return Handled(f"attempt {attempt.pk} already {settled.status}")


def handle_paypal_event(event: dict[str, Any]) -> Handled:
    event_id, event_type = str(event.get("id", "")), str(event.get("event_type", ""))
    resource = event.get("resource") or {}
    kept = record_once(gateway="paypal", event_id=event_id, event_type=event_type)
    if kept is None:
        return Handled("already handled", duplicate=True)
    if event_type in ("PAYMENT.CAPTURE.COMPLETED", "PAYMENT.CAPTURE.DENIED"):
        capture_id = str(resource.get("id", ""))
        if event_type == "PAYMENT.CAPTURE.COMPLETED":
            result = ChargeResult(ChargeStatus.SUCCEEDED, charge_id=capture_id)
        else:
            code = FailureCode.PAYPAL_DECLINED
            result = ChargeResult(ChargeStatus.FAILED, capture_id, code, failure_message(code))
        handled = _settle_by_key("paypal", str(resource.get("custom_id") or ""), result, captured_minor(resource))
    elif event_type == "PAYMENT.CAPTURE.REFUNDED":
        amount = resource.get("amount") or {}
        described = (
            f"PayPal refund {resource.get('id')} of {amount.get('value')} {amount.get('currency_code')}"
            f" (custom id {resource.get('custom_id') or '-'})"
        )
        handled = _refund_reported(
            "paypal", str(resource.get("id", "")), str(resource.get("custom_id") or ""), described=described
        )
    elif event_type == "VAULT.PAYMENT-TOKEN.DELETED":
        handled = _unlinked(str(resource.get("id", "")))
    elif event_type == "CUSTOMER.DISPUTE.CREATED":
        amount = resource.get("dispute_amount") or {}
        transactions = resource.get("disputed_transactions") or [{}]
        currency = str(amount.get("currency_code") or "USD")
        handled = _open_dispute(
            "paypal",
            external_id=str(resource.get("dispute_id", "")),
            charge_id=str(transactions[0].get("seller_transaction_id") or ""),
            reason=str(resource.get("reason") or "unknown"),
            amount_minor=minor_amount(str(amount.get("value") or "0"), currency),
            currency=currency,
            due_by=_paypal_time(resource.get("seller_response_due_date")),
        )
    elif event_type == "CUSTOMER.DISPUTE.RESOLVED":
        outcome_code = str((resource.get("dispute_outcome") or {}).get("outcome_code") or "")
        closed = {"RESOLVED_SELLER_FAVOUR": DisputeStatus.WON, "RESOLVED_BUYER_FAVOUR": DisputeStatus.LOST}.get(
            outcome_code
        )
        handled = _close_dispute(
            "paypal", str(resource.get("dispute_id", "")), closed or DisputeStatus.CLOSED, outcome_code
        )
    else:
        handled = Handled(f"ignored: {event_type or 'no type'}")
    kept.outcome = handled.outcome[:200]
    kept.save(update_fields=["outcome"])
    return handled


def _open_dispute(
    gateway: str,
    *,
    external_id: str,
    charge_id: str,
    reason: str,
    amount_minor: int,
    currency: str,
    due_by: datetime | None,
) -> Handled:
    attempt = PaymentAttempt.objects.filter(gateway=gateway, gateway_charge_id=charge_id).first() if charge_id else None
    if attempt is None or not external_id:
        return Handled("ignored: a dispute of a payment not ours")
    dispute, made = Dispute.objects.get_or_create(
        gateway=gateway,
        external_id=external_id,
        defaults={
            "attempt": attempt,
            "reason": reason[:80],
            "amount_minor": amount_minor,
            "currency": currency,
            "due_by": due_by,
            "opened_at": clock.now(),
        },
    )
    if not made:
        return Handled(f"dispute {dispute.pk} already recorded")
    return Handled(f"dispute {dispute.pk} opened on attempt {attempt.pk}: {reason}", dispute_opened=dispute.pk)


def _close_dispute(gateway: str, external_id: str, status: DisputeStatus, outcome: str) -> Handled:
    updated = Dispute.objects.filter(gateway=gateway, external_id=external_id).update(
        status=status, outcome=outcome[:80], closed_at=clock.now()
    )
    return Handled(f"dispute {external_id} closed: {status}" if updated else "ignored: a dispute not recorded here")


def _paypal_time(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def _unlinked(vault_id: str) -> Handled:
    methods = list(PaymentMethod.objects.filter(gateway="paypal", token=vault_id, removed_at__isnull=True))
    for method in methods:
        remove_payment_method(method)
    return Handled(f"removed {len(methods)} PayPal method(s) unlinked at PayPal")


def _new_expiry(method: dict[str, Any]) -> Handled:
    card = method.get("card") or {}
    month, year = card.get("exp_month"), card.get("exp_year")
    if not isinstance(month, int) or not isinstance(year, int) or not 1 <= month <= 12:
        return Handled("ignored: no expiry in the event")
    updated = PaymentMethod.objects.filter(gateway="stripe", token=str(method.get("id", ""))).update(
        exp_month=month, exp_year=year
    )
    return Handled(f"new expiry {month:02d}/{year} on {updated} method(s)")
