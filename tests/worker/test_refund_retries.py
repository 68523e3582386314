"""A refund whose answer was lost (the payment provider did not answer after a cancellation
committed) is asked about again by the worker, under the same key, on the system clock: with the
sandbox's test clock frozen (as in `make run` demos) it still comes due a minute later, then
waits longer each time the provider stays silent. The provider is never asked while a database
transaction is open."""

from __future__ import annotations

import pytest
from django.db import transaction

from simrenew.billing.models import Refund
from simrenew.billing.refunds import RETRY_AFTER_SECONDS
from simrenew.kit import clock as kit_clock
from simrenew.payments.models import SandboxRefund
from simrenew.subscriptions.cancellation import cancel, finish_cancellation_refunds
from simrenew.subscriptions.models import Subscription
from simrenew.worker.runner import Worker
from tests.billing.refund_gateway import WatchedRefunds
from tests.conftest import TestClock, WallClock
from tests.factories import make_plan, make_subscription, renew


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> WatchedRefunds:
    return WatchedRefunds(monkeypatch)


def cancelled_now_while_the_provider_is_silent(provider: WatchedRefunds, clock: TestClock) -> Subscription:
    """A $25 month with a $349 year paid ahead, cancelled now as the portal does it (the refund's
    first step commits, then the provider is asked); the provider does not answer."""
    subscription = make_subscription(plan=make_plan(price_minor=2500))
    assert renew(subscription, plan=make_plan(period_unit="year", price_minor=34900)).status == "succeeded"
    clock.advance(days=10)
    provider.down = True
    with transaction.atomic():
        cancel(subscription, when="now")
    [refund] = finish_cancellation_refunds(subscription.pk)
    assert refund.status == "pending" and provider.calls == 1
    return subscription


def tick() -> int:
    return Worker(worker_id="refunds", batches_in_flight=1).run_once(scan=False).refunds_retried


# Transactional: the provider must be asked with no transaction open, which a test wrapped in
# one could never show.
@pytest.mark.django_db(transaction=True)
def test_with_the_test_clock_frozen_the_worker_asks_again_a_minute_later_and_the_refund_is_paid_once(
    clock: TestClock, wall_clock: WallClock, provider: WatchedRefunds
) -> None:
    cancelled_now_while_the_provider_is_silent(provider, clock)
    frozen_at = kit_clock.now()
    provider.down = False

    wall_clock.advance(seconds=RETRY_AFTER_SECONDS - 1)
    assert tick() == 0  # the portal's own call may still be under way
    assert provider.calls == 1

    wall_clock.advance(seconds=2)
    assert tick() == 1

    refund = Refund.objects.get()
    assert refund.status == "succeeded" and refund.retries == 1
    [paid_back] = SandboxRefund.objects.all()
    assert (paid_back.amount_minor, paid_back.idempotency_key) == (34900, refund.idempotency_key)
    assert provider.inside_transaction == [False, False]
    assert kit_clock.now() == frozen_at  # business time never moved
    wall_clock.advance(seconds=3600)
    assert tick() == 0  # settled: never asked again


@pytest.mark.django_db(transaction=True)
def test_while_the_provider_stays_silent_each_question_waits_twice_as_long(
    clock: TestClock, wall_clock: WallClock, provider: WatchedRefunds
) -> None:
    cancelled_now_while_the_provider_is_silent(provider, clock)

    cancelled_at = wall_clock.now
    asked_at = []
    for _ in range(4 * 60):  # four minutes of worker ticks, one every second
        wall_clock.advance(seconds=1)
        if tick():
            asked_at.append(int((wall_clock.now - cancelled_at).total_seconds()))

    assert asked_at == [60, 120, 240]  # a minute after the cancellation, then 1 and 2 minutes more
    assert Refund.objects.get().status == "pending" and not SandboxRefund.objects.exists()
    assert provider.inside_transaction == [False] * 4
