"""Stories of a subscription's end: suspended when its paid time runs out, warned a
week before termination, terminated (its eSIM released) after the retention window."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction

from simrenew.console.queries import suspended_awaiting_renewal
from simrenew.esims.models import ProfileStatus
from simrenew.notifications.models import OutboxMessage
from simrenew.payments.charging import run_charge
from simrenew.subscriptions.cancellation import cancel
from simrenew.subscriptions.errors import RenewalNotAllowed
from simrenew.subscriptions.lifecycle import released_at, suspend_lapsed, terminate_expired, warn_before_termination
from simrenew.subscriptions.models import Subscription, SubscriptionState
from simrenew.subscriptions.queries import Status, view
from simrenew.subscriptions.renewals import begin_subscription
from tests.concurrency import all_at_once
from tests.factories import make_card, make_plan, make_subscription, renew

FIRST_END = datetime(2026, 2, 15, 12, 0, tzinfo=UTC)  # a month after the test clock's start
RETENTION = timedelta(days=90)  # SIMRENEW_RETENTION_DAYS
WARNING = timedelta(days=7)  # SIMRENEW_TERMINATION_WARNING_DAYS


def once(step: Callable[[], int]) -> int:
    """One worker call, in its own transaction, as the worker makes it."""
    with transaction.atomic():
        return step()


def payloads(event_type: str) -> list[dict]:
    return [m.payload for m in OutboxMessage.objects.filter(event_type=event_type).order_by("id")]


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def fresh(subscription: Subscription) -> Subscription:
    return Subscription.objects.select_related("esim").get(pk=subscription.pk)


def event_number_after_earlier_ones(message: OutboxMessage) -> int:
    """The subscription's next event number when `message` was written: one past its events before."""
    earlier = OutboxMessage.objects.filter(subscription_id=message.subscription_id, pk__lt=message.pk)
    return max((m.sequence for m in earlier), default=0) + 1


# --- suspension -------------------------------------------------------------------------------------------------


def test_a_plan_that_runs_out_is_suspended_once_and_its_charges_stop(clock):
    subscription = make_subscription(plan=make_plan(period_unit="month"), auto_renew=True)
    assert subscription.renewal_due_at is not None
    clock.set(FIRST_END - timedelta(seconds=1))
    assert once(suspend_lapsed) == 0

    clock.set(FIRST_END)
    assert once(suspend_lapsed) == 1

    subscription = fresh(subscription)
    assert view(subscription).status == Status.SUSPENDED
    assert subscription.state == SubscriptionState.LIVE  # the status is derived; nothing else changed
    assert subscription.renewal_due_at is None
    [message] = OutboxMessage.objects.filter(event_type="subscription.suspended")
    assert message.payload == {"subscription_id": subscription.pk, "period_number": 1, "suspended_at": iso(FIRST_END)}
    assert message.customer_id == subscription.customer_id
    assert message.sequence == event_number_after_earlier_ones(message)
    clock.advance(days=3)
    assert once(suspend_lapsed) == 0
    assert len(payloads("subscription.suspended")) == 1


def test_renewing_by_hand_resumes_service_and_a_later_lapse_is_told_again(clock):
    subscription = make_subscription(plan=make_plan(period_unit="month"), auto_renew=False)
    clock.set(FIRST_END + timedelta(days=2))
    once(suspend_lapsed)

    renew(subscription)
    subscription = fresh(subscription)
    assert view(subscription).status == Status.ACTIVE
    assert once(suspend_lapsed) == 0
    clock.set(subscription.paid_through)
    assert once(suspend_lapsed) == 1

    assert [(p["period_number"], p["suspended_at"]) for p in payloads("subscription.suspended")] == [
        (1, iso(FIRST_END)),
        (2, iso(subscription.paid_through)),
    ]


def test_a_subscription_renewed_in_time_is_never_suspended(clock):
    subscription = make_subscription(plan=make_plan(period_unit="month"), auto_renew=False)
    clock.set(FIRST_END - timedelta(days=1))
    renew(subscription)

    clock.set(FIRST_END + timedelta(days=1))

    assert once(suspend_lapsed) == 0
    assert view(fresh(subscription)).status == Status.ACTIVE


def test_a_cancelled_subscription_is_not_suspended(clock):
    subscription = make_subscription(plan=make_plan(period_unit="month"), auto_renew=False)
    cancel(subscription, when="period_end")

    clock.set(FIRST_END + timedelta(days=1))

    assert once(suspend_lapsed) == 0


# --- warning and termination ------------------------------------------------------------------------------------


def test_the_customer_is_warned_a_week_before_termination(clock):
    subscription = make_subscription(plan=make_plan(period_unit="month"), auto_renew=False)
    clock.set(FIRST_END + RETENTION - WARNING - timedelta(seconds=1))
    assert once(warn_before_termination) == 0

    clock.advance(seconds=1)
    assert once(warn_before_termination) == 1
    assert once(warn_before_termination) == 0
    clock.advance(days=3)
    assert once(warn_before_termination) == 0

    assert payloads("subscription.termination_warning") == [
        {"subscription_id": subscription.pk, "terminates_at": iso(FIRST_END + RETENTION)}
    ]


def test_termination_releases_the_esim_and_refuses_renewals(clock):
    subscription = make_subscription(plan=make_plan(period_unit="month"), auto_renew=False)
    clock.set(FIRST_END + RETENTION - timedelta(seconds=1))
    assert once(terminate_expired) == 0

    clock.advance(seconds=1)
    assert once(terminate_expired) == 1

    subscription = fresh(subscription)
    assert subscription.state == SubscriptionState.TERMINATED
    assert subscription.terminated_at == clock.now()
    assert view(subscription).status == Status.TERMINATED
    assert subscription.esim.status == ProfileStatus.RETIRED
    assert subscription.esim.retired_at == clock.now()
    [message] = OutboxMessage.objects.filter(event_type="subscription.terminated")
    assert message.payload == {"subscription_id": subscription.pk, "terminated_at": iso(clock.now())}
    assert message.sequence == event_number_after_earlier_ones(message)
    with pytest.raises(RenewalNotAllowed):
        renew(subscription)

    clock.advance(days=1)
    assert (once(terminate_expired), once(suspend_lapsed), once(warn_before_termination)) == (0, 0, 0)
    assert fresh(subscription).terminated_at == message.created_at
    assert len(payloads("subscription.terminated")) == 1


def test_the_release_the_console_announces_is_when_the_worker_terminates(clock):
    """The console lists suspended plans with the moment their numbers go (`released_at`); the
    worker's termination keeps that moment, for a lapsed plan and for one cancelled now."""
    lapsing = make_subscription(plan=make_plan(period_unit="month"), auto_renew=False)
    cancelled = make_subscription(plan=make_plan(period_unit="month"), auto_renew=False)
    clock.advance(days=5)
    cancel(cancelled, when="now")
    stopped = clock.now()
    clock.set(FIRST_END)

    [shown] = suspended_awaiting_renewal(clock.now()).soonest
    assert (shown.subscription_id, shown.released_at) == (lapsing.pk, FIRST_END + RETENTION)
    assert released_at(fresh(lapsing)) == FIRST_END + RETENTION
    assert released_at(fresh(cancelled)) == stopped + RETENTION
    clock.set(stopped + RETENTION - timedelta(seconds=1))
    assert once(terminate_expired) == 0
    clock.set(stopped + RETENTION)
    assert once(terminate_expired) == 1  # the one cancelled now
    clock.set(shown.released_at - timedelta(seconds=1))
    assert once(terminate_expired) == 0
    clock.set(shown.released_at)
    assert once(terminate_expired) == 1
    assert fresh(lapsing).state == fresh(cancelled).state == SubscriptionState.TERMINATED


def test_the_whole_end_in_order_suspended_warned_terminated(clock):
    subscription = make_subscription(plan=make_plan(period_unit="month"), auto_renew=False)
    told = []
    for moment in (FIRST_END, FIRST_END + RETENTION - WARNING, FIRST_END + RETENTION):
        clock.set(moment)
        for step in (suspend_lapsed, warn_before_termination, terminate_expired):
            while once(step):
                pass
        told = list(OutboxMessage.objects.filter(subscription=subscription).values_list("event_type", flat=True))

    assert told == [
        "subscription.created",
        "subscription.suspended",
        "subscription.termination_warning",
        "subscription.terminated",
    ]


def test_a_worker_down_past_the_retention_window_terminates_without_stale_notices(clock):
    subscription = make_subscription(plan=make_plan(period_unit="month"), auto_renew=False)

    clock.set(FIRST_END + RETENTION + timedelta(days=10))

    assert (once(suspend_lapsed), once(warn_before_termination), once(terminate_expired)) == (0, 0, 1)
    assert fresh(subscription).state == SubscriptionState.TERMINATED


def test_a_subscription_cancelled_now_is_terminated_a_retention_window_after_its_service_stopped(clock):
    subscription = make_subscription(plan=make_plan(period_unit="month"), auto_renew=False)
    clock.advance(days=5)
    cancel(subscription, when="now")
    stopped = clock.now()

    clock.set(stopped + RETENTION - WARNING)
    assert once(warn_before_termination) == 1
    clock.set(stopped + RETENTION - timedelta(seconds=1))
    assert once(terminate_expired) == 0
    clock.advance(seconds=1)
    assert once(terminate_expired) == 1

    assert payloads("subscription.termination_warning")[0]["terminates_at"] == iso(stopped + RETENTION)
    assert fresh(subscription).esim.status == ProfileStatus.RETIRED


def test_a_subscription_cancelled_at_period_end_is_terminated_a_retention_window_after_that_end(clock):
    subscription = make_subscription(plan=make_plan(period_unit="month"), auto_renew=False)
    cancel(subscription, when="period_end")

    clock.set(FIRST_END + RETENTION - timedelta(seconds=1))
    assert once(terminate_expired) == 0
    clock.advance(seconds=1)
    assert once(terminate_expired) == 1


def test_a_new_plan_on_the_same_esim_keeps_it_when_the_old_subscription_is_terminated(clock):
    old = make_subscription(plan=make_plan(period_unit="month"), auto_renew=False)
    cancel(old, when="now")
    stopped = clock.now()
    clock.advance(days=1)
    attempt = run_charge(
        lambda: begin_subscription(
            esim=old.esim,
            plan=old.plan,
            payment_method=make_card(customer=old.customer),
            auto_renew=False,
            promo_code=None,
            idempotency_key="second-plan",
        )
    )
    new = Subscription.objects.get(pk=attempt.subscription_id)

    clock.set(stopped + RETENTION - WARNING)
    assert once(warn_before_termination) == 0  # the eSIM is not going anywhere
    clock.set(stopped + RETENTION)
    assert once(terminate_expired) == 1

    assert fresh(old).state == SubscriptionState.TERMINATED
    assert fresh(new).state == SubscriptionState.LIVE
    assert fresh(new).esim.status == ProfileStatus.ASSIGNED
    assert [p["subscription_id"] for p in payloads("subscription.terminated")] == [old.pk]


def test_termination_goes_in_bounded_batches(clock):
    plan = make_plan(period_unit="month")
    subscriptions = [make_subscription(plan=plan, auto_renew=False) for _ in range(3)]
    clock.set(FIRST_END + RETENTION)

    assert [once(lambda: terminate_expired(limit=2)) for _ in range(3)] == [2, 1, 0]
    assert {fresh(s).state for s in subscriptions} == {SubscriptionState.TERMINATED}


# --- several workers at once (PostgreSQL) ------------------------------------------------------------------------

THREADS = 6


def until_idle(step: Callable[[], int]) -> Callable[[], int]:
    def job() -> int:
        done = 0
        while count := once(step):
            done += count
        return done

    return job


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_workers_racing_suspend_warn_and_terminate_each_subscription_once(clock):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks and true concurrency")
    plan = make_plan(period_unit="month")
    subscriptions = [make_subscription(plan=plan, auto_renew=False) for _ in range(8)]

    for moment, step in (
        (FIRST_END, lambda: suspend_lapsed(limit=2)),
        (FIRST_END + RETENTION - WARNING, lambda: warn_before_termination(limit=2)),
        (FIRST_END + RETENTION, lambda: terminate_expired(limit=2)),
    ):
        clock.set(moment)
        results = all_at_once([until_idle(step) for _ in range(THREADS)])
        assert [r for r in results if isinstance(r, Exception)] == []
        assert sum(r for r in results if isinstance(r, int)) == len(subscriptions)

    per_event = Counter(
        OutboxMessage.objects.exclude(event_type="subscription.created")
        .exclude(subscription=None)
        .values_list("subscription_id", "event_type")
    )
    assert len(per_event) == 3 * len(subscriptions)
    assert set(per_event.values()) == {1}
    assert {fresh(s).esim.status for s in subscriptions} == {ProfileStatus.RETIRED}
