"""The plan shown is the one running now; the renewal plan (what auto-renew and "Renew" buy) changes
only when the customer chooses so (DESIGN.md §1.8). The walk that found it: a month, then one day
prepaid on top of it; the dashboard named the day while the month ran, and auto-renew would have
bought $3 days from then on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction

from simrenew.catalog.services import period_price
from simrenew.kit.errors import ValidationFailed
from simrenew.payments.charging import execute
from simrenew.subscriptions.cancellation import cancel
from simrenew.subscriptions.models import Period, Subscription, SubscriptionState
from simrenew.subscriptions.paid_periods import PaidPeriod, PeriodPurchase, append_paid_period
from simrenew.subscriptions.queries import Status, last_period, view, views_of
from simrenew.subscriptions.renewals import begin_renewal, choose_renewal_plan
from tests.factories import make_card, make_plan, make_subscription, renew, renew_due

MONTH_END = datetime(2026, 2, 15, 12, 0, tzinfo=UTC)  # the month bought on the clock's 15 January


@pytest.fixture
def month_and_day(clock):
    """AT&T's month ($25, 20 GB) bought on 15 January, then one day ($3, 1 GB) prepaid on top."""
    month = make_plan(code="att-1m", name="AT&T 1 month", period_unit="month", data_mb=20_480, price_minor=2500)
    day = make_plan(code="att-1d", name="AT&T 1 day", period_unit="day", data_mb=1024, price_minor=300)
    subscription = make_subscription(plan=month)
    assert renew(subscription, plan=day).status == "succeeded"
    subscription.refresh_from_db()
    return subscription, month, day


def test_a_day_prepaid_on_a_month_leaves_the_month_shown_and_renewed(month_and_day):
    subscription, month, _day = month_and_day

    seen = view(subscription)

    assert subscription.plan_id == month.pk  # the renewal plan did not follow the one-off purchase
    assert (seen.plan_id, seen.renewal_plan_id) == (month.pk, month.pk)
    assert seen.current_period is not None and seen.current_period.plan_id == month.pk
    assert (seen.data_total_mb, seen.status) == (20_480, Status.ACTIVE)
    assert subscription.paid_through == MONTH_END + timedelta(days=1)


def test_when_the_month_ends_the_prepaid_day_runs_and_is_shown(month_and_day, clock):
    subscription, month, day = month_and_day
    clock.set(MONTH_END + timedelta(hours=1))

    seen = view(subscription)

    assert (seen.plan_id, seen.renewal_plan_id) == (day.pk, month.pk)
    assert seen.current_period is not None and seen.current_period.plan_id == day.pk
    assert seen.data_total_mb == 1024


def test_auto_renew_after_the_prepaid_day_buys_the_month_again(month_and_day, clock):
    subscription, month, _day = month_and_day
    clock.set(subscription.paid_through - timedelta(hours=72))

    renew_due()

    last = Period.objects.filter(subscription=subscription).order_by("-number").select_related("invoice").first()
    assert last is not None and last.number == 3
    assert (last.plan_id, last.invoice.total_minor) == (month.pk, 2500)
    subscription.refresh_from_db()
    assert subscription.plan_id == month.pk


def test_suspended_after_the_day_shows_the_day_that_ran_last_and_renews_the_month(month_and_day, clock):
    subscription, month, day = month_and_day
    Subscription.objects.filter(pk=subscription.pk).update(auto_renew=False)
    subscription.refresh_from_db()
    clock.set(subscription.paid_through + timedelta(days=2))

    seen = view(subscription)

    assert seen.status == Status.SUSPENDED
    assert seen.current_period is None
    assert (seen.plan_id, seen.renewal_plan_id) == (day.pk, month.pk)


def test_cancelled_now_during_the_month_shows_the_month_not_the_day_that_never_ran(month_and_day, clock):
    subscription, month, _day = month_and_day
    clock.advance(days=3)
    with transaction.atomic():
        cancelled = cancel(subscription, when="now")
    clock.set(MONTH_END + timedelta(hours=2))  # past the day's start: it never ran

    seen = view(cancelled)

    assert seen.status == Status.CANCELLED
    assert seen.plan_id == month.pk


def test_ticking_also_renew_with_this_plan_makes_it_the_renewal_plan_once_paid(clock):
    month = make_plan(period_unit="month", price_minor=2500)
    week = make_plan(code="att-1w", period_unit="day", period_count=7, price_minor=900)
    subscription = make_subscription(plan=month)

    assert renew(subscription, plan=week, also_renew_with_plan=True).status == "succeeded"

    subscription.refresh_from_db()
    assert subscription.plan_id == week.pk
    assert view(subscription).plan_id == month.pk  # the month still runs


def test_a_renewal_plan_chosen_while_the_box_ticked_payment_was_in_flight_is_kept(clock):
    # Step 1 of a week "also renewed from now on" is written; before it settles, the customer
    # picks the year on the manage page. The later, explicit choice is the one that stays.
    month = make_plan(period_unit="month", price_minor=2500)
    week = make_plan(code="att-1w", period_unit="day", period_count=7, price_minor=900)
    year = make_plan(code="att-1y", period_unit="year", price_minor=24_900)
    subscription = make_subscription(plan=month)
    with transaction.atomic():
        attempt = begin_renewal(
            subscription=subscription, plan=week, also_renew_with_plan=True, idempotency_key="week-and-renew"
        )
    assert attempt.purpose_data["renew_with_plan_instead_of"] == month.pk
    with transaction.atomic():
        choose_renewal_plan(subscription, year)

    assert execute(attempt).status == "succeeded"

    subscription.refresh_from_db()
    assert subscription.plan_id == year.pk
    assert Period.objects.filter(subscription=subscription).latest("number").plan_id == week.pk


def test_the_box_ticked_renewal_plan_comes_from_the_paid_period_like_every_other_value(clock):
    month = make_plan(period_unit="month", price_minor=2500)
    week = make_plan(code="att-1w", period_unit="day", period_count=7, price_minor=900)
    subscription = make_subscription(plan=month)
    last = last_period(subscription.pk)
    purchase = PeriodPurchase.of(
        week.pk, period_price(price_minor=900, currency="USD"), renew_with_plan_instead_of=month.pk
    )

    def paid(renewal_plan_id: int) -> PaidPeriod:
        return append_paid_period(
            last=last,
            ended_at=None,
            renewal_plan_id=renewal_plan_id,
            purchase=purchase,
            plan_data_mb=week.data_mb,
            period_unit=week.period_unit,
            period_count=week.period_count,
            time_zone="UTC",
            now=clock.now(),
        )

    assert paid(month.pk).subscription_fields()["plan_id"] == week.pk
    assert paid(week.pk + 1).subscription_fields()["plan_id"] == week.pk + 1  # chosen meanwhile: kept


def test_a_declined_payment_with_the_box_ticked_changes_nothing(clock):
    month = make_plan(period_unit="month", price_minor=2500)
    week = make_plan(code="att-1w", period_unit="day", period_count=7, price_minor=900)
    subscription = make_subscription(plan=month)
    declined = make_card(customer=subscription.customer, number="4000000000000002")

    attempt = renew(subscription, plan=week, payment_method=declined, also_renew_with_plan=True)

    assert attempt.status == "failed"
    subscription.refresh_from_db()
    assert subscription.plan_id == month.pk


def test_choosing_the_renewal_plan_changes_what_renews_and_not_what_runs(clock):
    month = make_plan(period_unit="month", price_minor=2500)
    year = make_plan(code="att-1y", period_unit="year", price_minor=24_900)
    subscription = make_subscription(plan=month)

    with transaction.atomic():
        chosen = choose_renewal_plan(subscription, year)

    assert chosen.plan_id == year.pk
    seen = view(chosen)
    assert (seen.plan_id, seen.renewal_plan_id) == (month.pk, year.pk)
    assert renew(chosen).amount_minor == 24_900  # "Renew" buys the chosen plan


def test_a_renewal_plan_of_another_carrier_or_for_an_ended_subscription_is_refused(clock):
    subscription = make_subscription(plan=make_plan(carrier="att"))
    verizon = make_plan(carrier="verizon")

    with pytest.raises(ValidationFailed) as other_carrier, transaction.atomic():
        choose_renewal_plan(subscription, verizon)
    Subscription.objects.filter(pk=subscription.pk).update(state=SubscriptionState.TERMINATED)
    with pytest.raises(ValidationFailed) as ended, transaction.atomic():
        choose_renewal_plan(subscription, make_plan(carrier="att", code="att-other"))

    assert other_carrier.value.errors[0].field == "plan_id"
    assert ended.value.detail == "This subscription has ended and its eSIM was released; start a new one."
    subscription.refresh_from_db()
    assert subscription.plan.carrier.code == "att"


def test_a_cancelled_subscription_has_no_renewal_plan_to_choose(clock):
    # Cancelled at the period's end, the service still runs, but nothing will renew it: the API
    # and the manage page refuse alike (the rule is here, not in either of them).
    month = make_plan(period_unit="month", price_minor=2500)
    year = make_plan(code="att-1y", period_unit="year", price_minor=24_900)
    subscription = make_subscription(plan=month)
    with transaction.atomic():
        cancel(subscription, when="period_end")

    with pytest.raises(ValidationFailed) as refused, transaction.atomic():
        choose_renewal_plan(subscription, year)

    assert refused.value.detail == "This subscription is cancelled; resume it before changing the plan it renews with."
    assert refused.value.errors[0].field == "plan_id"
    subscription.refresh_from_db()
    assert subscription.plan_id == month.pk


def test_the_dashboards_batch_read_shows_what_view_shows(month_and_day, clock, django_assert_num_queries):
    subscription, _month, _day = month_and_day
    other = make_subscription(customer=subscription.customer, plan=make_plan(carrier="tmobile"))
    for moment in (clock.now(), MONTH_END + timedelta(hours=1), MONTH_END + timedelta(days=3)):
        with django_assert_num_queries(2):  # whatever the number of subscriptions
            batch = views_of([subscription, other], now=moment)
        for one in (subscription, other):
            single = view(one, now=moment)
            assert (batch[one.pk].plan_id, batch[one.pk].status, batch[one.pk].days_left) == (
                single.plan_id,
                single.status,
                single.days_left,
            )
