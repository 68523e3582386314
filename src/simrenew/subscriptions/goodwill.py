"""Goodwill: an operator lengthens a subscription's current period by a few days,
without money, for a reason (an outage, a slow support answer).

The extension moves the current period's end, and every period after it, by
the same number of days, together with their calendar anchors, so the next
renewal starts at the new end and still lasts a full period. `paid_through` and
the auto-renew schedule (`renewal_due_at`) move with the end, so the charge comes
that much later. A `PeriodExtension` row keeps the end the period had before,
and the audit trail keeps who granted it and why. No invoice and no charge.
Services never commit: the caller wraps this in `transaction.atomic()`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import F

from simrenew.console.audit import actor_label, record_change
from simrenew.kit import clock
from simrenew.kit.errors import ValidationFailed
from simrenew.notifications.services import emit
from simrenew.subscriptions.errors import SubscriptionError
from simrenew.subscriptions.models import Period, PeriodExtension, Subscription, SubscriptionState

MIN_GOODWILL_DAYS = 1
MAX_GOODWILL_DAYS = 31


class GoodwillNotAllowed(SubscriptionError):
    slug = "goodwill-not-allowed"
    title = "The period cannot be extended"


def _schedule(subscription: Subscription, period: Period | None) -> dict[str, Any]:
    return {
        "paid_through": subscription.paid_through,
        "renewal_due_at": subscription.renewal_due_at,
        "period_number": period.number if period else None,
        "period_ends_at": period.ends_at if period else None,
    }


def extend_current_period(*, subscription: Subscription, days: int, reason: str, actor: Any) -> PeriodExtension:
    """Give `days` (1 to 31) more days of the current period, free of charge, audited with `reason`."""
    reason = reason.strip()
    if not reason:
        raise ValidationFailed.on("reason", "Say why the period is extended; the reason is kept in the audit trail.")
    if not MIN_GOODWILL_DAYS <= days <= MAX_GOODWILL_DAYS:
        raise ValidationFailed.on(
            "days", f"A goodwill extension is {MIN_GOODWILL_DAYS} to {MAX_GOODWILL_DAYS} days; {days} is not."
        )
    locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
    now = clock.now()
    if locked.state not in (SubscriptionState.LIVE, SubscriptionState.CANCELLED) or locked.ended_at is not None:
        raise GoodwillNotAllowed(f"Subscription {locked.pk} gives no service now ({locked.state}); nothing to extend.")
    current = (
        Period.objects.select_for_update()
        .filter(subscription=locked, starts_at__lte=now, ends_at__gt=now)
        .order_by("-number")
        .first()
    )
    if current is None or locked.paid_through is None:
        raise GoodwillNotAllowed(
            f"Subscription {locked.pk} has no current period (it is suspended); renew it instead of extending."
        )
    before = _schedule(locked, current)
    shift = timedelta(days=days)
    # Later (prepaid) periods move as a block so periods stay back to back; anchors
    # move too, so a month bought after the extension still lasts a whole month.
    Period.objects.filter(subscription=locked, number__gt=current.number).update(
        starts_at=F("starts_at") + shift, ends_at=F("ends_at") + shift, anchor_at=F("anchor_at") + shift
    )
    previous_ends_at = current.ends_at
    current.ends_at += shift
    current.anchor_at += shift
    current.save(update_fields=["ends_at", "anchor_at"])

    locked.paid_through += shift
    if locked.renewal_due_at is not None:
        # The charge keeps its place in the schedule relative to the (new) end.
        locked.renewal_due_at += shift
    locked.sequence += 1
    locked.save(update_fields=["paid_through", "renewal_due_at", "sequence"])

    extension = PeriodExtension.objects.create(
        subscription=locked,
        period=current,
        days=days,
        reason=reason,
        previous_ends_at=previous_ends_at,
        new_ends_at=current.ends_at,
        granted_by=actor_label(actor),
        created_at=now,
    )
    emit(
        "subscription.extended",
        customer=locked.customer,
        subscription=locked,
        data={
            "subscription_id": locked.pk,
            "period_number": current.number,
            "days": days,
            "previous_ends_at": previous_ends_at.isoformat(),
            "ends_at": current.ends_at.isoformat(),
        },
    )
    record_change(
        actor=actor,
        action="goodwill",
        target=locked,
        before=before,
        after=_schedule(locked, current) | {"days": days},
        reason=reason,
    )
    return extension
