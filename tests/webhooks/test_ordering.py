"""Each endpoint gets its events in the order they happened: while an earlier event to
it waits for a retry nothing later overtakes it; a dead one no longer holds the rest
up; other endpoints are not held up at all; workers running at once keep the order."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections, transaction

from simrenew.notifications.delivery import deliver_due, dispatch_pending
from simrenew.notifications.models import Delivery, OutboxMessage
from simrenew.webhooks.services import create_endpoint
from tests.factories import make_customer, make_subscription, renew
from tests.notifications.helpers import run_worker
from tests.notifications.servers import http_receiver


def event_ids(requests) -> list[str]:
    return [request.headers["webhook-id"] for request in requests]


def in_order(event_type: str | None = None) -> list[str]:
    found = OutboxMessage.objects.order_by("id")
    if event_type is not None:
        found = found.filter(event_type=event_type)
    return [str(event_id) for event_id in found.values_list("event_id", flat=True)]


def test_events_behind_a_failed_one_wait_for_it_then_follow_in_order(clock, receiver):
    create_endpoint(url=receiver.url, event_types=["subscription.renewed"])
    subscription = make_subscription()
    for _ in range(3):
        renew(subscription)
    receiver.statuses = [503]

    first = run_worker()

    webhooks = Delivery.objects.filter(channel="webhook")
    assert first.retrying == 1 and len(receiver.requests) == 1
    # The rest were not even tried, and are no longer claimed.
    assert webhooks.filter(status="pending", attempts=0, claimed_by="").count() == 2
    assert run_worker().total == 0  # the first retry is not due, so nothing behind it goes either

    clock.advance(minutes=1)
    second = run_worker()

    assert second.sent == 3
    assert event_ids(receiver.requests[1:]) == in_order("subscription.renewed")
    sequences = [json.loads(r.body)["data"]["sequence"] for r in receiver.requests[1:]]
    assert sequences == [2, 3, 4]  # subscription.created was 1


def test_a_dead_event_no_longer_holds_up_the_ones_behind_it(clock, receiver):
    create_endpoint(url=receiver.url, event_types=["subscription.renewed"])
    subscription = make_subscription()
    renew(subscription)
    renew(subscription)
    receiver.statuses = [410]  # Gone: that delivery is given up at once

    run = run_worker()

    assert run.dead == 1 and len(receiver.requests) == 2
    assert event_ids(receiver.requests) == in_order("subscription.renewed")


def test_a_failing_endpoint_does_not_hold_up_another(clock, receiver):
    create_endpoint(url="http://127.0.0.1:9/down", event_types=["subscription.renewed"])
    create_endpoint(url=receiver.url, event_types=["subscription.renewed"])
    subscription = make_subscription()
    renew(subscription)
    renew(subscription)

    run = run_worker()

    assert run.retrying == 1 and len(receiver.requests) == 2
    assert event_ids(receiver.requests) == in_order("subscription.renewed")


def test_emails_are_not_held_up_by_a_failing_webhook(clock, mailoutbox):
    create_endpoint(url="http://127.0.0.1:9/down")
    make_subscription()

    run_worker()

    assert [m.subject for m in mailoutbox]  # the receipt went out


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_workers_delivering_at_once_keep_each_endpoints_order(clock):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks (SQLite has one writer)")
    with http_receiver() as first, http_receiver() as second:
        create_endpoint(url=first.url)
        create_endpoint(url=second.url)
        for _ in range(40):
            make_customer()  # customer.created
        while dispatch_pending(limit=50):
            pass
        workers = 4
        gate = threading.Barrier(workers)

        def work(worker_id: str) -> int:
            try:
                gate.wait()
                sent = 0
                for _ in range(200):
                    run = deliver_due(worker_id=worker_id, limit=3)
                    sent += run.sent
                    if not Delivery.objects.filter(status="pending").exists():
                        break
                return sent
            finally:
                connections.close_all()

        with ThreadPoolExecutor(max_workers=workers) as pool:
            sent = list(pool.map(work, [f"worker-{n}" for n in range(workers)]))

        assert sum(sent) == 80 == 2 * OutboxMessage.objects.count()
        assert event_ids(first.requests) == in_order() == event_ids(second.requests)


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_events_planned_by_a_later_batch_wait_for_an_earlier_batch_still_being_planned(clock):
    """Two dispatchers at once take disjoint batches (SKIP LOCKED). The one with the newer
    events commits first; its deliveries must not go out before the older batch's."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks (SQLite has one writer)")
    with http_receiver() as partner:
        create_endpoint(url=partner.url, event_types=["subscription.renewed"])
        subscription = make_subscription()
        for _ in range(4):
            renew(subscription)
        renewed = list(OutboxMessage.objects.filter(event_type="subscription.renewed").values_list("pk", flat=True))
        # Worker A's batch: every event up to and including the first renewal.
        older_batch = OutboxMessage.objects.filter(pk__lte=renewed[0]).count()
        a_planned, b_done = threading.Event(), threading.Event()

        def worker_a() -> int:
            try:
                with transaction.atomic():  # planned, not committed until B is done
                    planned = dispatch_pending(limit=older_batch)
                    a_planned.set()
                    assert b_done.wait(timeout=30)
                return planned
            finally:
                connections.close_all()

        def worker_b() -> int:
            try:
                assert a_planned.wait(timeout=30)
                dispatch_pending()  # the newer events, committed at once
                return deliver_due(worker_id="worker-b").sent
            finally:
                b_done.set()
                connections.close_all()

        with ThreadPoolExecutor(max_workers=2) as pool:
            planned_by_a = pool.submit(worker_a)
            sent_by_b = pool.submit(worker_b)
            assert planned_by_a.result() == older_batch
            sent_by_b.result()

        assert partner.requests == []  # B held back: event renewed[0] had no deliveries yet
        assert Delivery.objects.filter(channel="webhook", message_id__in=renewed[1:]).count() == 3

        deliver_due(worker_id="worker-b")

        sequences = [json.loads(r.body)["data"]["sequence"] for r in partner.requests]
        assert event_ids(partner.requests) == in_order("subscription.renewed")
        assert sequences == sorted(sequences) and len(sequences) == 4
