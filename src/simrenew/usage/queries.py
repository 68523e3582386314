"""Read paths of usage: what an eSIM has used and has left right now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from simrenew.esims.models import EsimProfile
from simrenew.kit import clock
from simrenew.subscriptions.models import Subscription
from simrenew.subscriptions.queries import MB, subscription_of_esim, view
from simrenew.subscriptions.status import service_ends_at


@dataclass(frozen=True, slots=True)
class EsimUsage:
    esim_id: int
    subscription: Subscription | None
    status: str | None  # the subscription's derived status; None when the eSIM never had a plan
    data_total_mb: int
    data_used_mb: int
    data_remaining_mb: int
    used_bytes: int
    period_start: datetime | None
    period_end: datetime | None
    expires_at: datetime | None  # when service stops unless renewed
    days_left: int
    now: datetime


def esim_usage(profile: EsimProfile, *, now: datetime | None = None) -> EsimUsage:
    """The usage of the eSIM's running plan (its open subscription, else its latest one)."""
    now = now or clock.now()
    subscription = subscription_of_esim(profile.pk)
    if subscription is None:
        return EsimUsage(profile.pk, None, None, 0, 0, 0, 0, None, None, None, 0, now)
    seen = view(subscription, now=now)
    period = seen.current_period
    used_bytes = period.used_bytes if period else 0
    # Used is what the allowance lost, so that used + remaining is always the total.
    used_mb = min(seen.data_total_mb, seen.data_total_mb - seen.data_left_mb)
    expires_at = service_ends_at(subscription)
    return EsimUsage(
        esim_id=profile.pk,
        subscription=subscription,
        status=seen.status,
        data_total_mb=seen.data_total_mb,
        data_used_mb=max(0, used_mb),
        data_remaining_mb=seen.data_left_mb,
        used_bytes=used_bytes,
        period_start=period.starts_at if period else None,
        period_end=period.ends_at if period else None,
        expires_at=expires_at,
        days_left=seen.days_left,
        now=now,
    )


__all__ = ["MB", "EsimUsage", "esim_usage"]
