"""GET /api/v1/subscriptions/{id} reads a subscription in one statement (`queries.read_view`) and
renders it without a second validation. Whatever the subscription's state and whatever the time,
its answer is the one the `view()`-based path gives (the list of subscriptions, validated by
SubscriptionOut): same fields, same order, same values, same timestamp texts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pytest_django.fixtures import Settings

from simrenew.payments.charging import run_charge
from simrenew.subscriptions import cancellation
from simrenew.subscriptions.models import Subscription, SubscriptionState
from simrenew.subscriptions.queries import read_view, view
from simrenew.subscriptions.renewals import begin_subscription
from tests.api.helpers import ApiClient, assert_problem
from tests.conftest import TestClock
from tests.factories import (
    buy_top_up,
    make_card,
    make_customer,
    make_esim,
    make_plan,
    make_subscription,
    make_top_up_pack,
    record_usage,
    renew,
)

pytestmark = pytest.mark.django_db

_keys = count()
STATE_FIELDS = ("status", "data_total_mb", "data_left_mb", "days_left", "now")


def incomplete_subscription() -> Subscription:
    """The first payment's answer was lost (test card …0408): the subscription waits, incomplete."""
    customer = make_customer(email=f"incomplete{next(_keys)}@example.com")
    plan = make_plan()
    esim = make_esim(customer=customer, carrier="att")
    card = make_card(customer=customer, number="4000000000000408")
    attempt = run_charge(
        lambda: begin_subscription(
            esim=esim,
            plan=plan,
            payment_method=card,
            auto_renew=True,
            promo_code=None,
            idempotency_key=f"fast-{next(_keys)}",
        )
    )
    assert attempt.subscription_id is not None
    return Subscription.objects.get(pk=attempt.subscription_id)


def arrange_every_kind(clock: TestClock) -> dict[str, int]:
    """One subscription of each kind a partner may read, bought at the clock's "now"."""
    day_plan = make_plan(period_unit="day", period_count=7, data_mb=2048)
    kinds: dict[str, Subscription] = {
        "monthly, auto-renew": make_subscription(),
        "monthly, no auto-renew": make_subscription(auto_renew=False),
        "weekly by days": make_subscription(plan=day_plan),
        "prepaid two periods ahead": make_subscription(),
        "a day prepaid on a month": make_subscription(),
        "topped up": make_subscription(),
        "data nearly used": make_subscription(),
        "data all used": make_subscription(),
        "cancelled at period end": make_subscription(),
        "cancelled now": make_subscription(),
        "terminated": make_subscription(),
        "incomplete": incomplete_subscription(),
    }
    renew(kinds["prepaid two periods ahead"])
    renew(kinds["prepaid two periods ahead"])
    renew(kinds["a day prepaid on a month"], plan=make_plan(code="att-1d", period_unit="day", data_mb=1024))
    assert buy_top_up(kinds["topped up"], pack=make_top_up_pack(data_mb=512)).status == "succeeded"
    record_usage(iccid=kinds["data nearly used"].esim.iccid, mb=10_240 * 0.95)
    record_usage(iccid=kinds["data all used"].esim.iccid, mb=11_000)
    cancellation.cancel(kinds["cancelled at period end"], when="period_end")
    cancellation.cancel(kinds["cancelled now"], when="now")
    Subscription.objects.filter(pk=kinds["terminated"].pk).update(
        state=SubscriptionState.TERMINATED, terminated_at=clock.now()
    )
    return {name: subscription.pk for name, subscription in kinds.items()}


def validated_answers(api: ApiClient) -> dict[int, dict[str, Any]]:
    """Every subscription as the list route answers it: `view()` and SubscriptionOut's validation."""
    response = api.get("subscriptions?limit=100")
    assert response.status_code == 200, response.content
    items = response.json()["items"]
    return {item["id"]: item for item in items}


@pytest.mark.parametrize(
    "later",
    [
        timedelta(0),
        timedelta(days=10),
        timedelta(days=27, hours=12),  # within 3 days of the end: expiring
        timedelta(days=31) - timedelta(microseconds=1),  # the last instant of January's period
        timedelta(days=31),  # the period's end exactly: the next one (if any) runs
        timedelta(days=45),  # lapsed: suspended, unless prepaid
        timedelta(days=200),
    ],
    ids=["bought", "10 days on", "expiring", "last instant", "at the end", "lapsed", "long after"],
)
def test_the_fast_answer_is_the_validated_answer_for_every_kind_and_time(
    api: ApiClient, clock: TestClock, later: timedelta
) -> None:
    ids = arrange_every_kind(clock)
    clock.advance(seconds=later.total_seconds())
    expected = validated_answers(api)

    for name, subscription_id in ids.items():
        response = api.get(f"subscriptions/{subscription_id}")

        assert response.status_code == 200, (name, response.content)
        assert response["Content-Type"] == "application/json; charset=utf-8"
        body = json.loads(response.content)
        assert list(body) == list(expected[subscription_id]), name
        assert body == expected[subscription_id], name


def test_the_arranged_kinds_cover_every_status(api: ApiClient, clock: TestClock) -> None:
    ids = arrange_every_kind(clock)
    statuses = {api.get(f"subscriptions/{i}").json()["status"] for i in ids.values()}
    clock.advance(days=45)
    statuses |= {api.get(f"subscriptions/{i}").json()["status"] for i in ids.values()}
    clock.set(clock.now() - timedelta(days=45) + timedelta(days=29))
    statuses |= {api.get(f"subscriptions/{i}").json()["status"] for i in ids.values()}

    assert statuses == {"active", "expiring", "suspended", "cancelled", "terminated", "incomplete"}
    answers = [api.get(f"subscriptions/{i}").json() for i in ids.values()]
    assert any(a["next_auto_renew_attempt_at"] is not None for a in answers)
    assert any(a["next_auto_renew_attempt_at"] is None and a["auto_renew"] for a in answers)
    assert any(a["data_total_mb"] == 10_240 + 512 for a in answers)
    assert any(a["ended_at"] is not None for a in answers)


@pytest.mark.parametrize("later", [timedelta(0), timedelta(days=28), timedelta(days=31), timedelta(days=60)])
def test_read_view_derives_what_view_derives(clock: TestClock, later: timedelta) -> None:
    ids = arrange_every_kind(clock)
    moment = clock.now() + later

    for name, subscription_id in ids.items():
        subscription = Subscription.objects.get(pk=subscription_id)
        fast = read_view(subscription_id, now=moment)
        slow = view(subscription, now=moment)

        assert fast is not None
        for field in (*STATE_FIELDS, "plan_id", "renewal_plan_id"):
            assert getattr(fast, field) == getattr(slow, field), (name, field)
        assert (fast.current_period.pk if fast.current_period else None) == (
            slow.current_period.pk if slow.current_period else None
        ), name
        for field in ("paid_through", "cancelled_at", "ended_at", "renewal_due_at", "auto_renew", "state"):
            assert getattr(fast.subscription, field) == getattr(subscription, field), (name, field)


def test_timestamps_come_back_aware_in_utc_on_either_database(clock: TestClock) -> None:
    subscription = make_subscription()

    seen = read_view(subscription.pk)

    assert seen is not None and seen.current_period is not None
    stamps = [seen.now, seen.subscription.paid_through, seen.current_period.starts_at, seen.current_period.ends_at]
    assert all(stamp is not None and stamp.utcoffset() == timedelta(0) for stamp in stamps)
    assert seen.now == datetime(2026, 1, 15, 12, 0, tzinfo=UTC)  # the frozen test clock, read in the statement


def test_without_the_sandbox_now_is_the_system_clock(clock: TestClock, settings: Settings) -> None:
    subscription = make_subscription()  # bought at the test clock's January 2026
    settings.SIMRENEW_SANDBOX = False

    before = datetime.now(UTC)
    seen = read_view(subscription.pk)
    after = datetime.now(UTC)

    assert seen is not None
    assert before <= seen.now <= after
    slow = view(Subscription.objects.get(pk=subscription.pk), now=seen.now)
    assert (seen.status, seen.days_left, seen.current_period) == (slow.status, slow.days_left, slow.current_period)


def test_it_is_one_statement_and_other_fields_load_on_first_use(clock: TestClock) -> None:
    subscription = make_subscription()

    with CaptureQueriesContext(connection) as queries:
        seen = read_view(subscription.pk)
    assert len(queries.captured_queries) == 1

    assert seen is not None
    assert seen.subscription.created_at == subscription.created_at  # deferred: read when asked for
    assert seen.subscription.customer.pk == subscription.customer_id


def test_an_unknown_subscription_is_a_404_problem(api: ApiClient, clock: TestClock) -> None:
    assert read_view(987_654) is None

    assert_problem(api.get("subscriptions/987654"), status=404, type="/problems/not-found")
