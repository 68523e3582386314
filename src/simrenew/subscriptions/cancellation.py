"""Cancel (at period end, reversible until then; or now), resume, and how a subscription renews.

Each change is audited when an operator makes it (a partner's API key, say); the customer's
own, in the portal, is not (see `kit.audit`)."""

from __future__ import annotations

from typing import Any, Literal

from simrenew.kit import clock
from simrenew.kit.audit import record_change
from simrenew.kit.errors import ValidationFailed
from simrenew.notifications import payloads
from simrenew.notifications.events import EventType
from simrenew.notifications.services import emit
from simrenew.payments.models import PaymentMethod
from simrenew.subscriptions.errors import CancellationNotAllowed
from simrenew.subscriptions.models import Subscription, SubscriptionState
from simrenew.subscriptions.schedule import due_after_change
from simrenew.subscriptions.status import running_to_period_end, service_ends_at

CancelWhen = Literal["period_end", "now"]
# What the audit trail shows of a subscription before and after.
_AUDITED = ("state", "cancelled_at", "ended_at", "auto_renew", "payment_method_id", "renewal_due_at")


def _picture(subscription: Subscription) -> dict[str, Any]:
    return {name: getattr(subscription, name) for name in _AUDITED}


def _record(action: str, subscription: Subscription, before: dict[str, Any]) -> None:
    after = _picture(subscription)
    changed = [name for name in _AUDITED if before[name] != after[name]]
    record_change(
        action=action,
        target=subscription,
        before={name: before[name] for name in changed},
        after={name: after[name] for name in changed},
    )


def _locked(subscription: Subscription) -> Subscription:
    return Subscription.objects.select_for_update().select_related("customer").get(pk=subscription.pk)


def cancel(subscription: Subscription, *, when: CancelWhen) -> Subscription:
    if when not in ("period_end", "now"):
        raise ValidationFailed.on("when", "Say when to cancel: period_end or now.")
    subscription = _locked(subscription)
    if subscription.state in (SubscriptionState.INCOMPLETE, SubscriptionState.TERMINATED):
        raise CancellationNotAllowed(f"A {subscription.state} subscription cannot be cancelled.")
    now = clock.now()
    already_ended = subscription.ended_at is not None
    if subscription.state == SubscriptionState.CANCELLED and (when == "period_end" or already_ended):
        return subscription  # cancelling twice changes nothing
    before = _picture(subscription)
    subscription.state = SubscriptionState.CANCELLED
    subscription.cancelled_at = subscription.cancelled_at or now
    if when == "now" and (subscription.paid_through is None or subscription.paid_through > now):
        subscription.ended_at = now
    subscription.save(update_fields=["state", "cancelled_at", "ended_at"])
    emit(
        EventType.CANCELLED,
        customer=subscription.customer,
        subscription=subscription,
        data=payloads.subscription_cancelled(
            subscription_id=subscription.pk,
            when=when,
            service_ends_at=service_ends_at(subscription),
        ),
    )
    _record(f"cancel.{when}", subscription, before)
    return subscription


def resume(subscription: Subscription) -> Subscription:
    """Undo a cancellation at period end, while the period still runs."""
    subscription = _locked(subscription)
    if subscription.state == SubscriptionState.LIVE:
        return subscription
    now = clock.now()
    if not running_to_period_end(subscription, now):
        raise CancellationNotAllowed(
            "Only a subscription cancelled at period end can be resumed, and only before that period ends."
        )
    if Subscription.objects.filter(esim_id=subscription.esim_id, state__in=["incomplete", "live"]).exists():
        raise CancellationNotAllowed("This eSIM has another subscription now.")
    before = _picture(subscription)
    subscription.state = SubscriptionState.LIVE
    subscription.cancelled_at = None
    subscription.renewal_due_at = due_after_change(subscription.paid_through, now)
    subscription.save(update_fields=["state", "cancelled_at", "renewal_due_at"])
    emit(
        EventType.RESUMED,
        customer=subscription.customer,
        subscription=subscription,
        data=payloads.subscription_resumed(subscription_id=subscription.pk, paid_through=subscription.paid_through),
    )
    _record("resume", subscription, before)
    return subscription


def update_renewal(
    subscription: Subscription, *, auto_renew: bool | None = None, payment_method: PaymentMethod | None = None
) -> Subscription:
    subscription = _locked(subscription)
    before = _picture(subscription)
    fields = []
    if payment_method is not None:
        if payment_method.customer_id != subscription.customer_id or payment_method.removed_at is not None:
            raise ValidationFailed.on("payment_method_id", "This payment method does not belong to the customer.")
        subscription.payment_method = payment_method
        fields.append("payment_method")
    if auto_renew is not None:
        if auto_renew and subscription.state in (SubscriptionState.CANCELLED, SubscriptionState.TERMINATED):
            raise CancellationNotAllowed("Resume the subscription before turning auto-renew on.")
        if auto_renew and subscription.payment_method is None:
            raise ValidationFailed.on("payment_method_id", "Auto-renew needs a payment method.")
        subscription.auto_renew = auto_renew
        fields.append("auto_renew")
    if fields:
        if subscription.auto_renew:
            # A new method or auto-renew turned on: the schedule starts afresh
            # (at once, inside the charging window), after any hard decline.
            subscription.renewal_due_at = due_after_change(subscription.paid_through, clock.now())
            fields.append("renewal_due_at")
        subscription.save(update_fields=fields)
        _record("update_renewal", subscription, before)
    return subscription
