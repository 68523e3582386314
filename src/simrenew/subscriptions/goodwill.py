"""Goodwill: an operator lengthens a subscription's current period by a few days,
without money, for a reason (an outage, a slow support answer).

The extension moves the current period's end, and every period after it, by
the same number of calendar days in the period's time zone (wall-clock times kept
across DST, DESIGN.md §4), together with their calendar anchors, so the next
renewal starts at the new end and still lasts a full period. `paid_through` and
the auto-renew schedule (`renewal_due_at`) move with the end, so the charge comes
that much later; a schedule spent by soft declines starts afresh for the new end
(a hard decline keeps it stopped). A `PeriodExtension` row keeps the end the period had before,
and the audit trail keeps who granted it and why. No invoice and no charge.
Services never commit: the caller wraps this in `transaction.atomic()`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from simrenew.kit import clock
from simrenew.kit.audit import actor_label, record_change
from simrenew.kit.errors import ValidationFailed
from simrenew.notifications import payloads
from simrenew.notifications.events import EventType
from simrenew.notifications.services import emit
from simrenew.payments.failures import HARD_DECLINES
from simrenew.payments.models import AttemptPurpose, AttemptStatus, PaymentAttempt
from simrenew.subscriptions.errors import SubscriptionError
from simrenew.subscriptions.models import Period, PeriodExtension, Subscription, SubscriptionState
from simrenew.subscriptions.reminders import forget_reminders_ahead_of
from simrenew.subscriptions.schedule import due_after_change, first_try_at
from simrenew.subscriptions.status import period_runs_q

MIN_GOODWILL_DAYS = 1
MAX_GOODWILL_DAYS = 31
# All the goodwill one period may receive, over every extension of it: a run of small
# extensions cannot give more than one large one would.
MAX_GOODWILL_DAYS_PER_PERIOD = MAX_GOODWILL_DAYS


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


def local_days_later(moment: datetime, days: int, time_zone: str) -> datetime:
    """`moment` moved `days` calendar days on in `time_zone`, keeping its wall-clock time
    (DESIGN.md §4): 18:00 before a DST change is 18:00 after it, 23 or 25 hours later per
    changed day. A wall-clock time the change skips or repeats resolves as
    `periods.add_calendar_months` does (fold=0: the offset in force before the change)."""
    local = moment.astimezone(ZoneInfo(time_zone))
    return (local.replace(tzinfo=None) + timedelta(days=days)).replace(tzinfo=local.tzinfo, fold=0).astimezone(UTC)


def _retries_spent_by_soft_declines(subscription: Subscription, paid_through: datetime) -> bool:
    """Auto-renew is on and the subscription live, but no charge is scheduled because every
    try before `paid_through` was declined softly (insufficient funds, a generic decline):
    attempts were made, and none failed for a reason a retry cannot fix."""
    if not subscription.auto_renew or subscription.state != SubscriptionState.LIVE:
        return False
    codes = set(
        PaymentAttempt.objects.filter(
            subscription=subscription,
            purpose=AttemptPurpose.AUTO_RENEWAL,
            status=AttemptStatus.FAILED,
            created_at__gte=first_try_at(paid_through),
        ).values_list("failure_code", flat=True)
    )
    return bool(codes) and not codes & HARD_DECLINES


def extend_current_period(*, subscription: Subscription, days: int, reason: str, actor: Any) -> PeriodExtension:
    """Give `days` (1 to 31) more days of the current period, free of charge, audited with `reason`;
    at most `MAX_GOODWILL_DAYS_PER_PERIOD` days in total per period."""
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
        Period.objects.select_for_update(of=("self",))  # the subscription's row is locked above
        .filter(period_runs_q(now), subscription=locked)
        .order_by("-number")
        .first()
    )
    if current is None or locked.paid_through is None:
        raise GoodwillNotAllowed(
            f"Subscription {locked.pk} has no current period (it is suspended); renew it instead of extending."
        )
    given = sum(PeriodExtension.objects.filter(period=current).values_list("days", flat=True))
    if given + days > MAX_GOODWILL_DAYS_PER_PERIOD:
        left = MAX_GOODWILL_DAYS_PER_PERIOD - given
        raise GoodwillNotAllowed(
            f"Period {current.number} of subscription {locked.pk} already received {given} goodwill day(s); "
            f"a period may receive at most {MAX_GOODWILL_DAYS_PER_PERIOD} in total, so at most {left} more."
        )
    before = _schedule(locked, current)
    # Later (prepaid) periods move as a block so periods stay back to back; anchors
    # move too, so a month bought after the extension still lasts a whole month.
    later = list(Period.objects.select_for_update().filter(subscription=locked, number__gt=current.number))
    for period in later:
        period.starts_at = local_days_later(period.starts_at, days, period.time_zone)
        period.ends_at = local_days_later(period.ends_at, days, period.time_zone)
        period.anchor_at = local_days_later(period.anchor_at, days, period.time_zone)
    Period.objects.bulk_update(later, ["starts_at", "ends_at", "anchor_at"])
    previous_ends_at = current.ends_at
    current.ends_at = local_days_later(current.ends_at, days, current.time_zone)
    current.anchor_at = local_days_later(current.anchor_at, days, current.time_zone)
    current.save(update_fields=["ends_at", "anchor_at"])

    previous_paid_through = locked.paid_through
    last = max([current, *later], key=lambda period: period.number)
    locked.paid_through = local_days_later(locked.paid_through, days, last.time_zone)
    if locked.renewal_due_at is not None:
        # The charge keeps its place in the schedule relative to the (new) end.
        locked.renewal_due_at = locked.paid_through - (previous_paid_through - locked.renewal_due_at)
    elif _retries_spent_by_soft_declines(locked, previous_paid_through):
        # The old end's tries are used up, but a card that was only declined may pay by the
        # new end: the schedule starts afresh. After a hard decline (a dead card) or with no
        # method nothing is tried until the customer changes the method.
        locked.renewal_due_at = due_after_change(locked.paid_through, now)
    locked.save(update_fields=["paid_through", "renewal_due_at"])
    # Reminders already sent were about the old end; the new one gets its own.
    forget_reminders_ahead_of(locked, period_number=last.number, now=now)

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
        EventType.EXTENDED,
        customer=locked.customer,
        subscription=locked,
        data=payloads.subscription_extended(
            subscription_id=locked.pk,
            period_number=current.number,
            days=days,
            previous_ends_at=previous_ends_at,
            ends_at=current.ends_at,
        ),
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
