"""When auto-renew charges: from the first entry of the retry schedule before
expiry (T-72h by default), then at each later entry (T-24h, T-6h, T-1h)."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache

from django.conf import settings


def retry_offsets() -> tuple[timedelta, ...]:
    """Longest first, so the tries they give come in time order."""
    return _offsets(tuple(settings.SIMRENEW_RENEWAL_RETRY_HOURS))


@cache  # the worker asks once per renewal; the setting may change (tests), hence keyed by its value
def _offsets(hours: tuple[float, ...]) -> tuple[timedelta, ...]:
    return tuple(timedelta(hours=each) for each in hours)


def first_try_at(paid_through: datetime) -> datetime:
    return paid_through - retry_offsets()[0]


def next_try_after(paid_through: datetime, moment: datetime) -> datetime | None:
    """The first scheduled try strictly after `moment`, or None when the schedule is spent."""
    for offset in retry_offsets():
        at = paid_through - offset
        if at > moment:
            return at
    return None


def due_after_change(paid_through: datetime | None, now: datetime) -> datetime | None:
    """After the customer turns auto-renew on, picks another method or resumes:
    the first try, or at once if its time has come (the schedule starts afresh)."""
    if paid_through is None or paid_through <= now:
        return None
    return max(first_try_at(paid_through), now)
