"""Read paths: what a customer or partner sees of a subscription right now."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from simrenew.kit import clock
from simrenew.subscriptions.models import Period, Subscription, SubscriptionState

MB = 1024 * 1024  # plans count data in MiB, as carriers' "1 GB = 1024 MB" does
EXPIRING_WITHIN = timedelta(days=3)
EXPIRING_DATA_FRACTION = 0.10


class Status:
    INCOMPLETE = "incomplete"
    ACTIVE = "active"
    EXPIRING = "expiring"
    SUSPENDED = "suspended"
    CANCELLED = "cancelled"
    TERMINATED = "terminated"


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    subscription: Subscription
    status: str
    current_period: Period | None
    data_total_mb: int
    data_left_mb: int
    days_left: int
    now: datetime


def current_period(subscription: Subscription, now: datetime) -> Period | None:
    if subscription.ended_at is not None and subscription.ended_at <= now:
        return None
    return (
        Period.objects.filter(subscription=subscription, starts_at__lte=now, ends_at__gt=now)
        .select_related("plan")
        .order_by("-number")
        .first()
    )


def data_left_bytes(period: Period) -> int:
    return max(0, (period.data_mb + period.top_up_mb) * MB - period.used_bytes)


def view(subscription: Subscription, *, now: datetime | None = None) -> SubscriptionView:
    now = now or clock.now()
    period = current_period(subscription, now) if subscription.state != SubscriptionState.INCOMPLETE else None
    total_mb = (period.data_mb + period.top_up_mb) if period else 0
    left_mb = data_left_bytes(period) // MB if period else 0
    service_ends = subscription.ended_at or subscription.paid_through
    remaining = (service_ends - now) if (service_ends and period) else timedelta(0)
    days_left = math.ceil(remaining.total_seconds() / 86400) if remaining > timedelta(0) else 0
    status = derive_status(subscription, period=period, remaining=remaining, total_mb=total_mb, left_mb=left_mb)
    return SubscriptionView(subscription, status, period, total_mb, left_mb, days_left, now)


def derive_status(
    subscription: Subscription, *, period: Period | None, remaining: timedelta, total_mb: int, left_mb: int
) -> str:
    if subscription.state == SubscriptionState.TERMINATED:
        return Status.TERMINATED
    if subscription.state == SubscriptionState.INCOMPLETE:
        return Status.INCOMPLETE
    if subscription.state == SubscriptionState.CANCELLED:
        return Status.CANCELLED
    if period is None:
        return Status.SUSPENDED
    if remaining <= EXPIRING_WITHIN or left_mb <= total_mb * EXPIRING_DATA_FRACTION:
        return Status.EXPIRING
    return Status.ACTIVE


def future_periods(subscription: Subscription, now: datetime) -> int:
    return Period.objects.filter(subscription=subscription, starts_at__gt=now).count()
