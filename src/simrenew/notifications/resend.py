"""Resend: an operator has a message delivered again on its channels.

The message keeps its event id (receivers that deduplicate see the same event;
a customer sees the same notice again). Each chosen delivery that was sent, or
that died after its retries, goes back to `pending`, due now, unclaimed; the
worker sends it on its next tick. Services never commit: the caller wraps this
in `transaction.atomic()`, and the audit entry lands in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from simrenew.kit import clock
from simrenew.kit.audit import record_change
from simrenew.kit.errors import Conflict, ValidationFailed
from simrenew.notifications.models import Delivery, DeliveryChannel, DeliveryStatus, OutboxMessage

RESENDABLE = (DeliveryStatus.SENT, DeliveryStatus.DEAD)


class NothingToResend(Conflict):
    slug = "nothing-to-resend"
    title = "There is nothing to send again"


def _ours_to_send(message: OutboxMessage, deliveries: list[Delivery]) -> list[Delivery]:
    """An erased customer (privacy.erasure) is never written to again: only webhooks remain."""
    customer = message.customer
    if customer is not None and customer.erased_at is not None:
        return [delivery for delivery in deliveries if delivery.channel == DeliveryChannel.WEBHOOK]
    return deliveries


def resendable(message: OutboxMessage) -> list[Delivery]:
    """The message's deliveries that can be sent again (sent, or dead)."""
    return _ours_to_send(message, list(message.deliveries.filter(status__in=RESENDABLE).order_by("id")))


def _picture(delivery: Delivery) -> dict[str, Any]:
    return {
        "channel": delivery.channel,
        "recipient": delivery.recipient,
        "status": delivery.status,
        "next_attempt_at": delivery.next_attempt_at,
        "sent_at": delivery.sent_at,
    }


def resend_message(
    *, message: OutboxMessage, reason: str, actor: Any, delivery_ids: Sequence[int] | None = None
) -> list[Delivery]:
    """Put the chosen deliveries of `message` (all that can be resent, when none are named) back in the queue."""
    reason = reason.strip()
    if not reason:
        raise ValidationFailed.on("reason", "Say why the message is sent again; the reason is kept in the audit trail.")
    deliveries = _ours_to_send(
        message, list(Delivery.objects.select_for_update().filter(message=message).order_by("id"))
    )
    if not deliveries:
        raise NothingToResend(f"Event {message.event_id} has not been planned for delivery yet; it goes out soon.")
    if delivery_ids is not None:
        wanted = set(delivery_ids)
        chosen = [delivery for delivery in deliveries if delivery.pk in wanted]
        if not chosen or len(chosen) != len(wanted):
            raise ValidationFailed.on("deliveries", "Choose at least one of this message's channels.")
    else:
        chosen = [delivery for delivery in deliveries if delivery.status in RESENDABLE]
    waiting = [delivery for delivery in chosen if delivery.status not in RESENDABLE]
    if waiting or not chosen:
        names = ", ".join(f"{d.channel} to {d.recipient}" for d in waiting) or "every channel"
        raise NothingToResend(f"Still being delivered ({names}): wait until it is sent or has failed.")
    now = clock.now()
    for delivery in chosen:
        before = _picture(delivery)
        delivery.status = DeliveryStatus.PENDING
        delivery.next_attempt_at = now
        delivery.claimed_by = ""
        delivery.claim_expires_at = None
        delivery.save(update_fields=["status", "next_attempt_at", "claimed_by", "claim_expires_at"])
        record_change(
            actor=actor,
            action="resend",
            target=delivery,
            before=before,
            after=_picture(delivery) | {"event_id": str(message.event_id), "event_type": message.event_type},
            reason=reason,
            customer_id=message.customer_id,
        )
    return chosen
