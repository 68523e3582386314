"""Each place that changes a subscription's service tells the network's listener exactly that change,
inside its own transaction (provisioning turns each into a TMF641 order)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import transaction

from simrenew.subscriptions import service_changes
from simrenew.subscriptions.cancellation import cancel
from simrenew.subscriptions.lifecycle import stop_ended_cancellations, suspend_lapsed, terminate_expired
from simrenew.subscriptions.models import Subscription
from simrenew.subscriptions.service_changes import ServiceChange, ServiceChangeKind
from tests.factories import make_plan, make_subscription, renew

RETENTION = timedelta(days=90)


@pytest.fixture
def heard(monkeypatch) -> list[ServiceChange]:
    """What the listener hears (in place of provisioning's, which has its own tests)."""
    changes: list[ServiceChange] = []
    monkeypatch.setattr(service_changes, "_listeners", [changes.extend])
    return changes


def once(step: Callable[[], int]) -> int:
    with transaction.atomic():
        return step()


def kinds(changes: list[ServiceChange]) -> list[str]:
    return [change.kind.value for change in changes]


def test_the_first_paid_period_starts_the_line_on_its_plan(clock, heard):
    subscription = make_subscription(plan=make_plan(code="att-start"))
    assert heard == [
        ServiceChange(ServiceChangeKind.START, subscription.pk, subscription.esim_id, "att-start", clock.now())
    ]


def test_a_renewal_of_the_same_plan_in_time_changes_nothing_at_the_network(clock, heard):
    subscription = make_subscription()
    heard.clear()
    assert renew(subscription).status == "succeeded"
    assert heard == []


def test_a_renewal_onto_another_plan_changes_the_plan_when_its_period_begins(clock, heard):
    subscription = make_subscription(plan=make_plan(code="att-small"))
    heard.clear()
    assert renew(subscription, plan=make_plan(code="att-big")).status == "succeeded"
    assert heard == [
        ServiceChange(
            ServiceChangeKind.CHANGE_PLAN, subscription.pk, subscription.esim_id, "att-big", subscription.paid_through
        )
    ]


def test_paid_time_running_out_suspends_and_a_payment_restores(clock, heard):
    subscription = make_subscription(plan=make_plan(code="att-x"), auto_renew=False)
    heard.clear()
    clock.set(subscription.paid_through + timedelta(minutes=5))
    assert once(suspend_lapsed) == 1
    assert once(suspend_lapsed) == 0  # once per lapse
    assert kinds(heard) == ["suspend"] and heard[0].esim_id == subscription.esim_id

    heard.clear()
    assert renew(subscription).status == "succeeded"
    assert heard == [
        ServiceChange(ServiceChangeKind.RESTORE, subscription.pk, subscription.esim_id, "att-x", clock.now())
    ]


def test_cancelling_now_stops_the_line_and_at_period_end_not_yet(clock, heard):
    now_one, later_one = make_subscription(), make_subscription()
    heard.clear()
    with transaction.atomic():
        cancel(later_one, when="period_end")
    assert heard == []
    with transaction.atomic():
        cancel(now_one, when="now")
    assert kinds(heard) == ["stop"] and heard[0].subscription_id == now_one.pk


def test_termination_after_retention_deletes_the_line(clock, heard):
    subscription = make_subscription(auto_renew=False)
    clock.set(subscription.paid_through + RETENTION + timedelta(days=1))
    heard.clear()
    assert once(terminate_expired) == 1
    assert kinds(heard) == ["terminate"]
    assert Subscription.objects.get(pk=subscription.pk).state == "terminated"


def test_a_cancellation_at_period_end_stops_the_line_once_when_the_period_ends(clock, heard):
    subscription = make_subscription()
    with transaction.atomic():
        cancel(subscription, when="period_end")
    heard.clear()
    assert once(stop_ended_cancellations) == 0  # still in its paid time
    clock.set(subscription.paid_through + timedelta(minutes=1))
    assert once(stop_ended_cancellations) == 1
    assert once(stop_ended_cancellations) == 0
    assert heard == [ServiceChange(ServiceChangeKind.STOP, subscription.pk, subscription.esim_id, "", clock.now())]


def test_a_cancelled_subscription_followed_by_a_new_one_leaves_the_line_on(clock, heard):
    old = make_subscription()
    with transaction.atomic():
        cancel(old, when="period_end")
    clock.set(old.paid_through + timedelta(minutes=1))
    newer = make_subscription(customer=old.customer)
    Subscription.objects.filter(pk=newer.pk).update(esim=old.esim)  # bought again on the same eSIM
    heard.clear()
    assert once(stop_ended_cancellations) == 0
    assert heard == []
