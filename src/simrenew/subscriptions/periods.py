"""Period arithmetic (DESIGN.md §4, Time).

A `day` is exactly 24 hours. A `month` or `year` is calendar arithmetic in the
customer's zone, counted from an anchor so that the local day of month and
wall-clock time survive short months and DST: Jan 31 → Feb 28 → Mar 31, and
Feb 29 → Feb 28 (three years) → Feb 29.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from simrenew.catalog.models import PeriodUnit


@dataclass(frozen=True, slots=True)
class PeriodSpan:
    starts_at: datetime
    ends_at: datetime
    anchor_at: datetime
    anchor_offset: int
    time_zone: str


@dataclass(frozen=True, slots=True)
class PreviousPeriod:
    """What the next period needs to know about the one before it."""

    ends_at: datetime
    anchor_at: datetime
    anchor_offset: int
    period_unit: str
    period_count: int
    time_zone: str


def add_calendar_months(anchor: datetime, months: int, time_zone: str) -> datetime:
    """`anchor` moved `months` calendar months on in `time_zone`, day clamped to the month's end."""
    local = anchor.astimezone(ZoneInfo(time_zone))
    year, month_index = divmod(local.month - 1 + months, 12)
    year += local.year
    month = month_index + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    # replace() keeps the wall-clock time; the zone supplies the offset of that date.
    return local.replace(year=year, month=month, day=day, fold=0).astimezone(UTC)


def boundary(*, anchor_at: datetime, units: int, period_unit: str, time_zone: str) -> datetime:
    """The instant `units` period units after the anchor."""
    if period_unit == PeriodUnit.DAY:
        return anchor_at + timedelta(days=units)
    months = units * 12 if period_unit == PeriodUnit.YEAR else units
    return add_calendar_months(anchor_at, months, time_zone)


def next_period(
    *,
    previous: PreviousPeriod | None,
    period_unit: str,
    period_count: int,
    time_zone: str,
    now: datetime,
) -> PeriodSpan:
    """The period a payment made at `now` buys.

    It starts where the previous one ends if that is still ahead (no lost
    days), else now. It keeps the previous anchor when it continues the same
    kind of calendar, so stacked months stay on the original day."""
    if previous is not None and previous.ends_at > now:
        starts_at = previous.ends_at
        continues_calendar = previous.period_unit == period_unit and previous.time_zone == time_zone
        if continues_calendar:
            anchor_at = previous.anchor_at
            anchor_offset = previous.anchor_offset + previous.period_count
        else:
            anchor_at, anchor_offset = starts_at, 0
    else:
        starts_at = anchor_at = now
        anchor_offset = 0
    ends_at = boundary(
        anchor_at=anchor_at, units=anchor_offset + period_count, period_unit=period_unit, time_zone=time_zone
    )
    return PeriodSpan(starts_at, ends_at, anchor_at, anchor_offset, time_zone)
