"""The period arithmetic as stored: random renewal stories through the services and
the database, in awkward zones, never lose or overlap paid time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simrenew.payments.charging import run_charge
from simrenew.subscriptions.models import Period, Subscription
from simrenew.subscriptions.renewals import begin_renewal, begin_subscription
from tests.factories import make_card, make_customer, make_esim, make_plan

ZONES = ["America/New_York", "Europe/London", "Australia/Lord_Howe", "Pacific/Apia", "America/Santiago", "UTC"]
PLAN_SHAPES = [("day", 1), ("day", 7), ("day", 30), ("month", 1), ("month", 3), ("year", 1)]


class Rollback(Exception):
    """Raised to undo one example's writes, so each example starts from the same database."""


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    zone=st.sampled_from(ZONES),
    start=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)),
    steps=st.lists(
        st.tuples(st.integers(0, len(PLAN_SHAPES) - 1), st.integers(0, 45), st.integers(0, 23)),
        min_size=1,
        max_size=8,
    ),
)
def test_stored_periods_follow_each_other_without_gaps_or_overlaps(clock, zone, start, steps):
    try:
        with transaction.atomic():
            check_story(clock, zone, start, steps)
            raise Rollback
    except Rollback:
        pass


def check_story(clock, zone, start, steps):
    plans = [make_plan(period_unit=unit, period_count=count) for unit, count in PLAN_SHAPES]
    customer = make_customer(time_zone=zone)
    card = make_card(customer=customer)
    esim = make_esim(customer=customer)
    clock.set(start)
    first = run_charge(
        lambda: begin_subscription(
            esim=esim, plan=plans[3], payment_method=card, auto_renew=True, promo_code=None, idempotency_key=f"f{start}"
        )
    )
    subscription = Subscription.objects.get(pk=first.subscription_id)
    paid_at = [start]

    for index, (plan_index, days, hours) in enumerate(steps):
        clock.advance(days=days, hours=hours)
        fresh = Subscription.objects.select_related("customer", "plan", "esim", "payment_method").get(
            pk=subscription.pk
        )
        attempt = run_charge(
            lambda fresh=fresh, plan_index=plan_index, index=index: begin_renewal(
                subscription=fresh, plan=plans[plan_index], idempotency_key=f"r{start}-{index}"
            )
        )
        assert attempt.status == "succeeded"
        paid_at.append(clock.now())

    periods = list(Period.objects.filter(subscription=subscription).select_related("plan").order_by("number"))
    assert len(periods) == len(steps) + 1
    for period in periods:
        assert period.ends_at > period.starts_at
        if period.plan.period_unit == "day":
            assert period.ends_at - period.starts_at == timedelta(days=period.plan.period_count)
    for (previous, period), paid in zip(pairwise(periods), paid_at[1:], strict=True):
        # Stacked when paid before the previous end, else from the payment: never an overlap, never lost time.
        assert period.starts_at == max(previous.ends_at, paid)
    subscription.refresh_from_db()
    assert subscription.paid_through == periods[-1].ends_at
