"""Changing plan at the next boundary, plan versions, and paying ahead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction

from simrenew.catalog.services import revise_plan
from simrenew.kit.errors import ValidationFailed
from simrenew.payments.charging import run_charge
from simrenew.payments.models import PaymentAttempt
from simrenew.subscriptions.errors import RenewalNotAllowed
from simrenew.subscriptions.models import Period
from simrenew.subscriptions.queries import view
from simrenew.subscriptions.renewals import MAX_PREPAID_PERIODS, begin_subscription, preview_next_period
from tests.factories import make_card, make_customer, make_esim, make_plan, make_subscription, renew

FIRST_END = datetime(2026, 2, 15, 12, 0, tzinfo=UTC)


def periods(subscription) -> list[Period]:
    return list(Period.objects.filter(subscription=subscription).select_related("plan").order_by("number"))


def buy(plan, *, customer=None, key: str) -> PaymentAttempt:
    customer = customer or make_customer()
    esim = make_esim(customer=customer, carrier=plan.carrier.code)
    card = make_card(customer=customer)
    return run_charge(
        lambda: begin_subscription(
            esim=esim, plan=plan, payment_method=card, auto_renew=True, promo_code=None, idempotency_key=key
        )
    )


def test_renewing_early_with_another_plan_buys_it_once_from_the_next_boundary(clock):
    monthly = make_plan(period_unit="month", data_mb=10_240, price_minor=2500)
    weekly = make_plan(period_unit="day", period_count=7, data_mb=2048, price_minor=900)
    subscription = make_subscription(plan=monthly)
    clock.advance(days=5)

    attempt = renew(subscription, plan=weekly)

    assert attempt.amount_minor == 900
    first, second = periods(subscription)
    assert (first.plan_id, first.data_mb, first.ends_at) == (monthly.pk, 10_240, FIRST_END)
    assert (second.plan_id, second.data_mb) == (weekly.pk, 2048)
    assert second.starts_at == FIRST_END
    assert second.ends_at == FIRST_END + timedelta(days=7)
    subscription.refresh_from_db()
    assert subscription.paid_through == second.ends_at
    # A one-off purchase: auto-renew and "Renew" still buy the month.
    assert subscription.plan_id == monthly.pk
    # The current period still runs on the monthly plan, with its allowance, and is the one shown.
    seen = view(subscription)
    assert (seen.data_total_mb, seen.plan_id, seen.renewal_plan_id) == (10_240, monthly.pk, monthly.pk)


def test_after_a_plan_change_chosen_with_the_payment_a_plain_renewal_buys_the_new_plan(clock):
    weekly = make_plan(period_unit="day", period_count=7, price_minor=900)
    subscription = make_subscription()
    renew(subscription, plan=weekly, also_renew_with_plan=True)
    subscription.refresh_from_db()

    attempt = renew(subscription)

    assert attempt.amount_minor == 900
    assert [p.plan_id for p in periods(subscription)][1:] == [weekly.pk, weekly.pk]
    assert periods(subscription)[2].ends_at == FIRST_END + timedelta(days=14)


def test_the_period_a_plan_change_will_buy_can_be_seen_before_paying(clock):
    yearly = make_plan(period_unit="year", price_minor=20_000)
    subscription = make_subscription()

    preview = preview_next_period(subscription, yearly)

    assert preview.starts_at == FIRST_END
    assert preview.ends_at == datetime(2027, 2, 15, 12, 0, tzinfo=UTC)
    assert Period.objects.count() == 1  # looking costs nothing


def test_a_plan_for_another_carrier_is_refused_and_nothing_is_charged(clock):
    subscription = make_subscription(plan=make_plan(carrier="att"))
    verizon = make_plan(carrier="verizon")

    with pytest.raises(ValidationFailed) as refused:
        renew(subscription, plan=verizon)

    assert refused.value.errors[0].field == "plan_id"
    assert PaymentAttempt.objects.count() == 1


def test_a_price_change_makes_a_new_version_and_subscribers_keep_theirs(clock):
    v1 = make_plan(price_minor=2500, data_mb=10_240)
    subscription = make_subscription(plan=v1)
    with transaction.atomic():
        v2 = revise_plan(v1, price_minor=3000, data_mb=20_480)

    v1.refresh_from_db()
    assert (v2.code, v2.version, v2.is_current) == (v1.code, 2, True)
    assert v1.is_current is False
    attempt = renew(subscription)

    assert attempt.amount_minor == 2500
    assert attempt.invoice.total_minor == 2500
    assert [(p.plan_id, p.data_mb) for p in periods(subscription)] == [(v1.pk, 10_240), (v1.pk, 10_240)]


def test_new_buyers_get_the_new_version_and_cannot_buy_the_old_one(clock):
    v1 = make_plan(price_minor=2500)
    with transaction.atomic():
        v2 = revise_plan(v1, price_minor=3000)
    v1.refresh_from_db()

    with pytest.raises(ValidationFailed) as refused:
        buy(v1, key="old-version")
    attempt = buy(v2, key="new-version")

    assert "no longer sold" in refused.value.detail
    assert (attempt.status, attempt.amount_minor) == ("succeeded", 3000)


def test_a_subscriber_may_move_to_the_new_version_by_choosing_it(clock):
    v1 = make_plan(price_minor=2500)
    subscription = make_subscription(plan=v1)
    with transaction.atomic():
        v2 = revise_plan(v1, price_minor=3000)

    attempt = renew(subscription, plan=v2, also_renew_with_plan=True)

    assert attempt.amount_minor == 3000
    subscription.refresh_from_db()
    assert subscription.plan_id == v2.pk


def test_up_to_twelve_periods_can_be_paid_ahead_then_renewals_are_refused(clock):
    subscription = make_subscription(plan=make_plan(period_unit="month"))

    for _ in range(MAX_PREPAID_PERIODS):
        assert renew(subscription).status == "succeeded"

    assert MAX_PREPAID_PERIODS == 12
    with pytest.raises(RenewalNotAllowed) as refused:
        renew(subscription)
    assert "12" in refused.value.detail
    assert Period.objects.filter(subscription=subscription).count() == 13
    assert PaymentAttempt.objects.count() == 13
    subscription.refresh_from_db()
    # Thirteen months from 15 January 07:00 New York time.
    assert subscription.paid_through == datetime(2027, 2, 15, 12, 0, tzinfo=UTC)

    clock.set(FIRST_END)  # one paid-ahead period has started: there is room for one more
    assert renew(subscription).status == "succeeded"
    with pytest.raises(RenewalNotAllowed):
        renew(subscription)
