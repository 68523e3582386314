"""What a customer sees: status, days left and data left, as time passes and data is used."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from simrenew.kit.errors import SimrenewError
from simrenew.subscriptions.errors import RenewalNotAllowed
from simrenew.subscriptions.models import SubscriptionState
from simrenew.subscriptions.queries import Status, view
from tests.factories import make_plan, make_subscription, record_usage, renew

# The clock fixture starts at 2026-01-15 12:00 UTC; a month bought then (New York
# time) ends on 2026-02-15 12:00 UTC.
FIRST_END = datetime(2026, 2, 15, 12, 0, tzinfo=UTC)


def test_a_new_subscription_is_active_with_its_whole_allowance_and_all_its_days(clock):
    subscription = make_subscription(plan=make_plan(data_mb=5120))

    shown = view(subscription)

    assert shown.status == Status.ACTIVE
    assert (shown.data_total_mb, shown.data_left_mb) == (5120, 5120)
    assert shown.days_left == 31
    assert shown.current_period.number == 1


def test_days_left_count_part_days_as_whole_days(clock):
    subscription = make_subscription()

    clock.set(FIRST_END - timedelta(days=10, hours=1))
    assert view(subscription).days_left == 11
    clock.set(FIRST_END - timedelta(minutes=1))
    assert view(subscription).days_left == 1


def test_three_days_before_the_end_the_subscription_is_expiring(clock):
    subscription = make_subscription()

    clock.set(FIRST_END - timedelta(days=3, minutes=1))
    assert (view(subscription).status, view(subscription).days_left) == (Status.ACTIVE, 4)

    clock.set(FIRST_END - timedelta(days=3))
    assert (view(subscription).status, view(subscription).days_left) == (Status.EXPIRING, 3)


def test_with_ten_percent_of_the_data_left_the_subscription_is_expiring(clock):
    subscription = make_subscription(plan=make_plan(data_mb=1000))
    iccid = subscription.esim.iccid

    record_usage(iccid=iccid, mb=899)
    shown = view(subscription)
    assert (shown.status, shown.data_left_mb) == (Status.ACTIVE, 101)

    record_usage(iccid=iccid, mb=1)
    shown = view(subscription)
    assert (shown.status, shown.data_left_mb) == (Status.EXPIRING, 100)
    assert shown.days_left == 31  # plenty of days: it is the data that runs out


def test_data_left_rounds_down_to_whole_megabytes_and_never_goes_negative(clock):
    subscription = make_subscription(plan=make_plan(data_mb=1000))

    record_usage(iccid=subscription.esim.iccid, bytes=1)
    assert view(subscription).data_left_mb == 999

    record_usage(iccid=subscription.esim.iccid, mb=5000)
    shown = view(subscription)
    assert (shown.data_total_mb, shown.data_left_mb, shown.status) == (1000, 0, Status.EXPIRING)


def test_a_renewed_subscription_is_not_expiring_near_the_end_of_its_first_period(clock):
    subscription = make_subscription()
    renew(subscription)
    subscription.refresh_from_db()

    clock.set(FIRST_END - timedelta(days=1))
    shown = view(subscription)

    assert shown.status == Status.ACTIVE
    assert shown.current_period.number == 1
    # Paid through 15 March 07:00 New York (11:00 UTC, after the DST change).
    assert shown.days_left == 29


def test_the_next_period_brings_a_fresh_allowance_and_the_used_data_stays_behind(clock):
    subscription = make_subscription(plan=make_plan(data_mb=2048))
    renew(subscription)
    subscription.refresh_from_db()
    record_usage(iccid=subscription.esim.iccid, mb=2000)
    assert view(subscription).data_left_mb == 48

    clock.set(FIRST_END)
    shown = view(subscription)

    assert shown.current_period.number == 2
    assert (shown.data_left_mb, shown.status) == (2048, Status.ACTIVE)


def test_when_the_paid_time_runs_out_the_subscription_is_suspended_with_nothing_left(clock):
    subscription = make_subscription()

    clock.set(FIRST_END)
    shown = view(subscription)

    assert shown.status == Status.SUSPENDED
    assert shown.current_period is None
    assert (shown.days_left, shown.data_left_mb, shown.data_total_mb) == (0, 0, 0)


def test_a_suspended_subscription_is_renewed_by_paying_and_is_active_again(clock):
    subscription = make_subscription()
    clock.set(FIRST_END + timedelta(days=5))

    attempt = renew(subscription)

    assert attempt.status == "succeeded"
    subscription.refresh_from_db()
    shown = view(subscription)
    assert (shown.status, shown.days_left, shown.current_period.number) == (Status.ACTIVE, 28, 2)
    assert shown.current_period.starts_at == clock.now()


def test_a_terminated_subscription_shows_terminated_and_cannot_be_renewed(clock):
    subscription = make_subscription()
    clock.set(FIRST_END + timedelta(days=60))
    # The lifecycle worker terminates subscriptions suspended past the retention window.
    subscription.state = SubscriptionState.TERMINATED
    subscription.terminated_at = clock.now()
    subscription.save()

    assert view(subscription).status == Status.TERMINATED
    with pytest.raises(RenewalNotAllowed) as refused:
        renew(subscription)
    assert "start a new one" in refused.value.detail
    assert isinstance(refused.value, SimrenewError) and refused.value.status == 409
