"""Period arithmetic (DESIGN.md §4, Time): properties over random instants, zones
and plans, then the stories a customer would recognise."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo, available_timezones

from hypothesis import example, given, settings
from hypothesis import strategies as st

from simrenew.subscriptions.periods import (
    PeriodSpan,
    PreviousPeriod,
    add_calendar_months,
    boundary,
    next_period,
)

# Zones whose rules are worth meeting on purpose: US and EU DST, a 30-minute DST
# (Lord Howe), a skipped calendar day (Apia, 30 Dec 2011) and DST at midnight (Santiago).
AWKWARD_ZONES = ["America/New_York", "Europe/London", "Australia/Lord_Howe", "Pacific/Apia", "America/Santiago"]
ALL_ZONES = sorted(available_timezones())

zones = st.one_of(st.sampled_from(AWKWARD_ZONES), st.sampled_from(ALL_ZONES))
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 12, 31, 23, 59), timezones=st.just(UTC)
)
calendar_plans = st.one_of(
    st.tuples(st.just("month"), st.integers(1, 12)), st.tuples(st.just("year"), st.integers(1, 2))
)
plans = st.one_of(st.tuples(st.just("day"), st.integers(1, 30)), calendar_plans)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(when: datetime, zone: str) -> datetime:
    return when.astimezone(ZoneInfo(zone))


def at(zone: str, *args: int) -> datetime:
    """A wall-clock time in `zone`, as the UTC instant it is."""
    return datetime(*args, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def stacked(*, start: datetime, unit: str, count: int, zone: str, n: int) -> list[PeriodSpan]:
    """`n` periods all paid at `start`: each one stacks after the last."""
    spans: list[PeriodSpan] = []
    previous = None
    for _ in range(n):
        span = next_period(previous=previous, period_unit=unit, period_count=count, time_zone=zone, now=start)
        spans.append(span)
        previous = PreviousPeriod(span.ends_at, span.anchor_at, span.anchor_offset, unit, count, zone)
    return spans


def wall_exists(wall: datetime, zone: str) -> bool:
    """Whether a naive wall-clock time is shown by clocks in `zone` (not inside a DST gap)."""
    aware = wall.replace(tzinfo=ZoneInfo(zone))
    return aware.astimezone(UTC).astimezone(ZoneInfo(zone)).replace(tzinfo=None) == wall


def months_on(wall: datetime, months: int) -> datetime:
    """The naive wall time `months` calendar months later, day clamped to the month's end."""
    year, month_index = divmod(wall.month - 1 + months, 12)
    year += wall.year
    day = min(wall.day, calendar.monthrange(year, month_index + 1)[1])
    return wall.replace(year=year, month=month_index + 1, day=day)


def assert_shows_wall_time(instant: datetime, wanted: datetime, zone: str) -> None:
    """`instant` shows the wanted wall-clock time in `zone`; if clocks skipped that
    time (a DST gap, or Apia's lost day), it shows it moved on by exactly the jump."""
    shown = local(instant, zone)
    if wall_exists(wanted, zone):
        assert shown.replace(tzinfo=None) == wanted
        return
    shift = shown.replace(tzinfo=None) - wanted
    offset_before_jump = local(instant - shift, zone).utcoffset()
    assert timedelta(0) < shift <= timedelta(days=1)
    assert shift == shown.utcoffset() - offset_before_jump


# Properties ---------------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(start=instants, zone=zones, plan=plans, n=st.integers(1, 8))
@example(start=at("America/New_York", 2026, 1, 31, 9, 0), zone="America/New_York", plan=("month", 1), n=4)
@example(start=at("Europe/London", 2024, 2, 29, 23, 30), zone="Europe/London", plan=("year", 1), n=5)
@example(start=at("Pacific/Apia", 2011, 11, 30, 9, 0), zone="Pacific/Apia", plan=("month", 1), n=3)
@example(start=at("Australia/Lord_Howe", 2026, 9, 4, 2, 10), zone="Australia/Lord_Howe", plan=("month", 1), n=3)
@example(start=at("America/Santiago", 2026, 8, 6, 0, 30), zone="America/Santiago", plan=("month", 1), n=3)
def test_stacked_periods_are_contiguous_and_keep_their_anchor(start, zone, plan, n):
    unit, count = plan

    spans = stacked(start=start, unit=unit, count=count, zone=zone, n=n)

    assert spans[0].starts_at == start
    for k, span in enumerate(spans, start=1):
        assert span.ends_at > span.starts_at
        assert span.anchor_at == start
        assert span.anchor_offset == (k - 1) * count
        assert span.ends_at == boundary(anchor_at=start, units=k * count, period_unit=unit, time_zone=zone)
    for earlier, later in pairwise(spans):
        assert later.starts_at == earlier.ends_at  # never a lost second, never an overlap
    assert spans[-1].ends_at - spans[0].starts_at == sum((s.ends_at - s.starts_at for s in spans), timedelta(0))


@settings(max_examples=300, deadline=None)
@given(start=instants, zone=zones, count=st.integers(1, 30), n=st.integers(1, 8))
def test_day_plans_are_exactly_24_hours_a_day_whatever_the_zone(start, zone, count, n):
    spans = stacked(start=start, unit="day", count=count, zone=zone, n=n)

    for k, span in enumerate(spans, start=1):
        assert span.ends_at - span.starts_at == timedelta(hours=24 * count)
        assert span.ends_at == start + timedelta(days=k * count)


@settings(max_examples=400, deadline=None)
@given(start=instants, zone=zones, plan=calendar_plans, n=st.integers(1, 8))
@example(start=at("Pacific/Apia", 2011, 10, 30, 9, 0), zone="Pacific/Apia", plan=("month", 1), n=3)
@example(start=at("America/New_York", 2026, 2, 8, 2, 30), zone="America/New_York", plan=("month", 1), n=2)
def test_calendar_period_ends_keep_the_anchor_day_and_wall_clock_time(start, zone, plan, n):
    unit, count = plan
    anchor_wall = local(start, zone).replace(tzinfo=None)

    spans = stacked(start=start, unit=unit, count=count, zone=zone, n=n)

    months_per_unit = 12 if unit == "year" else 1
    for k, span in enumerate(spans, start=1):
        wanted = months_on(anchor_wall, k * count * months_per_unit)
        # The day of month is the anchor's, clamped to the month's length...
        assert wanted.day == min(anchor_wall.day, calendar.monthrange(wanted.year, wanted.month)[1])
        # ...and the clocks there show the anchor's time, unless that time was skipped.
        assert_shows_wall_time(span.ends_at, wanted, zone)


@settings(max_examples=300, deadline=None)
@given(start=instants, zone=zones, months=st.integers(0, 36))
def test_add_calendar_months_moves_the_local_date_and_keeps_the_time(start, zone, months):
    wall = local(start, zone).replace(tzinfo=None)

    moved = add_calendar_months(start, months, zone)

    assert moved.tzinfo is not None and moved.utcoffset() == timedelta(0)
    assert_shows_wall_time(moved, months_on(wall, months), zone)
    if months:
        assert moved > start


@settings(max_examples=300, deadline=None)
@given(
    start=instants,
    zone=zones,
    steps=st.lists(
        st.tuples(plans, st.sampled_from([*AWKWARD_ZONES, "UTC"]), st.integers(0, 400)), min_size=1, max_size=8
    ),
)
def test_renewals_of_any_plans_never_overlap_and_never_lose_paid_time(start, zone, steps):
    """Each step pays for a plan `days_later` after the previous payment; the
    customer may have moved to another zone in between."""
    previous: PreviousPeriod | None = None
    now = start
    for (unit, count), step_zone, days_later in steps:
        now += timedelta(days=days_later, hours=days_later % 7)

        span = next_period(previous=previous, period_unit=unit, period_count=count, time_zone=step_zone, now=now)

        assert span.ends_at > span.starts_at
        if previous is None or previous.ends_at <= now:
            assert span.starts_at == now  # after a gap (or first): starts when paid
            assert (span.anchor_at, span.anchor_offset) == (now, 0)
        else:
            assert span.starts_at == previous.ends_at  # stacked: starts exactly where paid time ends
            same_calendar = (previous.period_unit, previous.time_zone) == (unit, step_zone)
            if same_calendar:
                assert span.anchor_at == previous.anchor_at
                assert span.anchor_offset == previous.anchor_offset + previous.period_count
            else:
                assert (span.anchor_at, span.anchor_offset) == (span.starts_at, 0)
        previous = PreviousPeriod(span.ends_at, span.anchor_at, span.anchor_offset, unit, count, step_zone)


# Stories ------------------------------------------------------------------------------------------------


def test_a_month_from_january_31_ends_on_the_last_day_of_february_then_returns_to_the_31st():
    start = at("America/New_York", 2026, 1, 31, 9, 0)

    ends = [s.ends_at for s in stacked(start=start, unit="month", count=1, zone="America/New_York", n=4)]

    assert [local(e, "America/New_York").replace(tzinfo=None) for e in ends] == [
        datetime(2026, 2, 28, 9, 0),
        datetime(2026, 3, 31, 9, 0),
        datetime(2026, 4, 30, 9, 0),
        datetime(2026, 5, 31, 9, 0),
    ]
    assert ends[0] == utc(2026, 2, 28, 14, 0)  # EST
    assert ends[1] == utc(2026, 3, 31, 13, 0)  # EDT


def test_a_yearly_plan_bought_on_february_29_returns_to_the_29th_in_the_next_leap_year():
    start = at("Europe/London", 2024, 2, 29, 8, 0)

    ends = [s.ends_at for s in stacked(start=start, unit="year", count=1, zone="Europe/London", n=4)]

    assert [local(e, "Europe/London").date().isoformat() for e in ends] == [
        "2025-02-28",
        "2026-02-28",
        "2027-02-28",
        "2028-02-29",
    ]
    assert all(local(e, "Europe/London").hour == 8 for e in ends)


def test_a_month_across_the_us_spring_dst_change_keeps_9_am_and_is_an_hour_short():
    start = at("America/New_York", 2026, 3, 1, 9, 0)

    span = next_period(previous=None, period_unit="month", period_count=1, time_zone="America/New_York", now=start)

    assert start == utc(2026, 3, 1, 14, 0)
    assert span.ends_at == utc(2026, 4, 1, 13, 0)
    assert local(span.ends_at, "America/New_York").strftime("%Y-%m-%d %H:%M") == "2026-04-01 09:00"
    assert span.ends_at - span.starts_at == timedelta(days=31, hours=-1)


def test_a_month_across_the_us_autumn_dst_change_keeps_9_am_and_is_an_hour_long():
    start = at("America/New_York", 2026, 10, 15, 9, 0)

    span = next_period(previous=None, period_unit="month", period_count=1, time_zone="America/New_York", now=start)

    assert span.ends_at == utc(2026, 11, 15, 14, 0)
    assert span.ends_at - span.starts_at == timedelta(days=31, hours=1)


def test_a_week_plan_across_the_dst_change_is_exactly_168_hours_so_the_wall_clock_moves():
    start = at("America/New_York", 2026, 3, 5, 9, 0)

    span = next_period(previous=None, period_unit="day", period_count=7, time_zone="America/New_York", now=start)

    assert span.ends_at - span.starts_at == timedelta(hours=168)
    assert local(span.ends_at, "America/New_York").strftime("%d %H:%M") == "12 10:00"


def test_a_wall_time_skipped_by_lord_howes_half_hour_dst_moves_on_by_half_an_hour():
    # On 4 Oct 2026 Lord Howe's clocks jump from 02:00 to 02:30.
    start = at("Australia/Lord_Howe", 2026, 9, 4, 2, 10)

    ends = [s.ends_at for s in stacked(start=start, unit="month", count=1, zone="Australia/Lord_Howe", n=2)]

    assert local(ends[0], "Australia/Lord_Howe").strftime("%Y-%m-%d %H:%M %z") == "2026-10-04 02:40 +1100"
    assert local(ends[1], "Australia/Lord_Howe").strftime("%Y-%m-%d %H:%M %z") == "2026-11-04 02:10 +1100"


def test_a_wall_time_skipped_by_santiagos_midnight_dst_moves_on_by_an_hour():
    # On 6 Sep 2026 Santiago's clocks jump from 00:00 to 01:00.
    start = at("America/Santiago", 2026, 8, 6, 0, 30)

    ends = [s.ends_at for s in stacked(start=start, unit="month", count=1, zone="America/Santiago", n=2)]

    assert local(ends[0], "America/Santiago").strftime("%Y-%m-%d %H:%M") == "2026-09-06 01:30"
    assert local(ends[1], "America/Santiago").strftime("%Y-%m-%d %H:%M") == "2026-10-06 00:30"


def test_a_month_ending_on_the_day_apia_skipped_ends_a_day_later_then_returns_to_the_30th():
    # Samoa moved across the date line: 30 Dec 2011 never happened there.
    start = at("Pacific/Apia", 2011, 11, 30, 9, 0)

    spans = stacked(start=start, unit="month", count=1, zone="Pacific/Apia", n=2)

    assert local(spans[0].ends_at, "Pacific/Apia").strftime("%Y-%m-%d %H:%M") == "2011-12-31 09:00"
    assert spans[0].ends_at - spans[0].starts_at == timedelta(days=30)  # the clock lost a day, not the customer
    assert local(spans[1].ends_at, "Pacific/Apia").strftime("%Y-%m-%d %H:%M") == "2012-01-30 09:00"


def test_a_renewal_after_the_period_ran_out_starts_now_and_anchors_there():
    first = next_period(
        previous=None, period_unit="month", period_count=1, time_zone="UTC", now=utc(2026, 1, 31, 12, 0)
    )
    lapsed = PreviousPeriod(first.ends_at, first.anchor_at, first.anchor_offset, "month", 1, "UTC")
    paid_at = utc(2026, 3, 10, 8, 0)

    renewed = next_period(previous=lapsed, period_unit="month", period_count=1, time_zone="UTC", now=paid_at)

    assert first.ends_at == utc(2026, 2, 28, 12, 0)
    assert (renewed.starts_at, renewed.ends_at) == (paid_at, utc(2026, 4, 10, 8, 0))
    assert (renewed.anchor_at, renewed.anchor_offset) == (paid_at, 0)


def test_a_renewal_paid_at_the_exact_end_starts_at_that_end():
    first = next_period(previous=None, period_unit="day", period_count=1, time_zone="UTC", now=utc(2026, 1, 1))
    previous = PreviousPeriod(first.ends_at, first.anchor_at, first.anchor_offset, "day", 1, "UTC")

    renewed = next_period(previous=previous, period_unit="day", period_count=1, time_zone="UTC", now=first.ends_at)

    assert renewed.starts_at == first.ends_at == utc(2026, 1, 2)
    assert renewed.ends_at == utc(2026, 1, 3)


def test_a_plan_of_another_unit_starts_a_new_anchor_at_the_boundary():
    zone = "America/New_York"
    month = next_period(
        previous=None, period_unit="month", period_count=1, time_zone=zone, now=at(zone, 2026, 1, 31, 9, 0)
    )
    as_previous = PreviousPeriod(month.ends_at, month.anchor_at, month.anchor_offset, "month", 1, zone)

    week = next_period(previous=as_previous, period_unit="day", period_count=7, time_zone=zone, now=month.starts_at)
    back_to_months = next_period(
        previous=PreviousPeriod(week.ends_at, week.anchor_at, week.anchor_offset, "day", 7, zone),
        period_unit="month",
        period_count=1,
        time_zone=zone,
        now=month.starts_at,
    )

    assert week.starts_at == month.ends_at == at(zone, 2026, 2, 28, 9, 0)
    assert (week.anchor_at, week.anchor_offset) == (week.starts_at, 0)
    assert week.ends_at == week.starts_at + timedelta(days=7)
    # The months now count from the week's end (7 March), not from 31 January.
    assert back_to_months.starts_at == week.ends_at
    assert back_to_months.anchor_at == week.ends_at
    assert local(back_to_months.ends_at, zone).strftime("%Y-%m-%d %H:%M") == "2026-04-07 09:00"


def test_a_customer_who_moved_zone_gets_a_new_anchor_in_the_new_zone():
    first = next_period(
        previous=None, period_unit="month", period_count=1, time_zone="America/New_York", now=utc(2026, 1, 31, 14)
    )
    previous = PreviousPeriod(first.ends_at, first.anchor_at, first.anchor_offset, "month", 1, "America/New_York")

    moved = next_period(
        previous=previous, period_unit="month", period_count=1, time_zone="Asia/Tokyo", now=utc(2026, 2, 1)
    )

    assert moved.starts_at == first.ends_at
    assert (moved.anchor_at, moved.anchor_offset, moved.time_zone) == (first.ends_at, 0, "Asia/Tokyo")
    # 28 Feb 09:00 New York is 28 Feb 23:00 in Tokyo; a month on is 28 Mar 23:00 Tokyo.
    assert local(moved.ends_at, "Asia/Tokyo").strftime("%Y-%m-%d %H:%M") == "2026-03-28 23:00"


def test_boundary_counts_years_as_twelve_calendar_months():
    anchor = utc(2024, 2, 29, 0, 0)

    assert boundary(anchor_at=anchor, units=1, period_unit="year", time_zone="UTC") == utc(2025, 2, 28)
    assert boundary(anchor_at=anchor, units=4, period_unit="year", time_zone="UTC") == utc(2028, 2, 29)
    assert boundary(anchor_at=anchor, units=12, period_unit="month", time_zone="UTC") == utc(2025, 2, 28)
    assert boundary(anchor_at=anchor, units=3, period_unit="day", time_zone="UTC") == utc(2024, 3, 3)
