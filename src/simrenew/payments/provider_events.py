"""What a gateway's webhook events mean to us. The views verify who sent them; here each event is
acted on once (`ProviderEvent` is unique per gateway and event id: gateways deliver at least
once) inside the caller's transaction.

Stripe:
- `payment_intent.succeeded` / `payment_intent.payment_failed` settle the attempt whose key is in
  the intent's metadata, if it is still open (an answer lost on the way: the webhook closes it
  before the reconciliation's first look-up). A success for an attempt already settled as failed
  (the look-up found nothing yet) is money taken for nothing: it is given back (`LateSuccess`).
- `payment_method.automatically_updated`: the card network sent Stripe a new expiry; we keep it.
- any other type is recorded and ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from simrenew.kit import clock
from simrenew.payments import charging
from simrenew.payments.failures import FailureCode, failure_message
from simrenew.payments.gateway import ChargeResult, ChargeStatus
from simrenew.payments.models import OPEN_ATTEMPT_STATUSES, AttemptStatus, PaymentMethod, ProviderEvent
from simrenew.payments.queries import attempt_for_key


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
    else:
        handled = Handled(f"ignored: {event_type or 'no type'}")
    kept.outcome = handled.outcome[:200]
    kept.save(update_fields=["outcome"])
    return handled


def _settle_intent(intent: dict[str, Any], *, succeeded: bool) -> Handled:
    key = str((intent.get("metadata") or {}).get("idempotency_key") or "")
    attempt = attempt_for_key(key) if key else None
    if attempt is None or attempt.gateway != "stripe":
        return Handled("ignored: not a charge of ours")
    if succeeded:
        result = ChargeResult(ChargeStatus.SUCCEEDED, charge_id=str(intent.get("id", "")))
    else:
        error = intent.get("last_payment_error") or {}
        code = str(error.get("decline_code") or error.get("code") or FailureCode.CARD_DECLINED)
        if "authentication_required" in (error.get("decline_code"), error.get("code")):
            code = FailureCode.AUTHENTICATION_REQUIRED
        result = ChargeResult(ChargeStatus.FAILED, str(intent.get("id", "")), code, failure_message(code))
    was = attempt.status
    settled = charging.settle(attempt, result)
    if was in OPEN_ATTEMPT_STATUSES:
        return Handled(f"settled attempt {attempt.pk}: {settled.status}")
    if succeeded and settled.status == AttemptStatus.FAILED:
        late = LateSuccess(
            attempt_id=attempt.pk,
            gateway=attempt.gateway,
            charge_id=result.charge_id,
            amount_minor=int(intent.get("amount_received") or intent.get("amount") or attempt.amount_minor),
            idempotency_key=f"{attempt.idempotency_key}:late-success-refund",
        )
        return Handled(f"attempt {attempt.pk} had failed: refunding {result.charge_id}", late_success=late)
    return Handled(f"attempt {attempt.pk} already {settled.status}")


def _new_expiry(method: dict[str, Any]) -> Handled:
    card = method.get("card") or {}
    month, year = card.get("exp_month"), card.get("exp_year")
    if not isinstance(month, int) or not isinstance(year, int) or not 1 <= month <= 12:
        return Handled("ignored: no expiry in the event")
    updated = PaymentMethod.objects.filter(gateway="stripe", token=str(method.get("id", ""))).update(
        exp_month=month, exp_year=year
    )
    return Handled(f"new expiry {month:02d}/{year} on {updated} method(s)")
