"""Workers claim deliveries before sending them: a live claim keeps other workers
away, a lapsed one (by real time, never the test clock) is taken over, a stopping
worker gives its claims back, and the operator can see where everything stands."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection, connections

from simrenew.kit import clock as kit_clock
from simrenew.notifications import channels, queries
from simrenew.notifications.channels import Channels
from simrenew.notifications.delivery import deliver_due, delivery_counts, dispatch_pending, release_claims
from simrenew.notifications.models import Delivery
from simrenew.notifications.services import emit
from simrenew.webhooks.services import create_endpoint
from tests.factories import make_customer
from tests.notifications.helpers import receipt_payload


def receipts(count: int) -> None:
    for _ in range(count):
        emit("subscription.renewed", customer=make_customer(), data=receipt_payload())


def claim(worker_id: str, *, limit: int = 100, seconds: int = 120) -> list[int]:
    """What a worker's claim step does; here a worker that then crashes before sending."""
    real_now = kit_clock.system_now()
    return queries.claim_due(
        worker_id=worker_id,
        now=kit_clock.now(),
        real_now=real_now,
        claim_until=real_now + timedelta(seconds=seconds),
        limit=limit,
    )


def test_a_delivery_another_worker_holds_is_left_alone_however_far_the_test_clock_moves(clock):
    receipts(1)
    dispatch_pending()
    assert len(claim("worker-that-crashed")) == 1

    assert deliver_due(worker_id="worker-2").total == 0
    clock.advance(days=2)
    assert deliver_due(worker_id="worker-2").total == 0
    assert delivery_counts()["claimed"] == 1


def test_a_claim_that_lapsed_in_real_time_is_taken_over(clock, mailoutbox):
    receipts(1)
    dispatch_pending()
    claim("worker-that-crashed")
    Delivery.objects.update(claim_expires_at=kit_clock.system_now() - timedelta(seconds=1))

    run = deliver_due(worker_id="worker-2")

    assert run.sent == 1 and len(mailoutbox) == 1
    delivery = Delivery.objects.get(channel="email")
    assert delivery.status == "sent" and not delivery.claimed_by


def test_claims_are_taken_oldest_due_first_and_at_most_limit_at_a_time(clock):
    receipts(3)
    dispatch_pending()
    Delivery.objects.filter(pk=Delivery.objects.order_by("id").first().pk).update(
        next_attempt_at=clock.now() - timedelta(hours=1)
    )

    first = claim("worker-1", limit=2)

    assert len(first) == 2 and Delivery.objects.order_by("id").first().pk in first
    assert len(claim("worker-2", limit=2)) == 1
    assert claim("worker-3") == []


def test_a_stopping_worker_gives_back_only_its_own_unfinished_claims(clock):
    receipts(3)
    dispatch_pending()
    mine = claim("worker-1", limit=2)
    theirs = claim("worker-2")

    assert release_claims("worker-1") == 2

    assert set(Delivery.objects.filter(claimed_by="").values_list("id", flat=True)) == set(mine)
    assert set(Delivery.objects.filter(claimed_by="worker-2").values_list("id", flat=True)) == set(theirs)
    assert deliver_due(worker_id="worker-3").sent == 2


def test_a_worker_interrupted_mid_batch_gives_back_what_it_had_not_tried(clock, monkeypatch, mailoutbox):
    receipts(3)
    dispatch_pending()
    real_send = Channels.send
    sent: list[int] = []

    def send_then_stop(self, delivery):
        if sent:
            raise KeyboardInterrupt  # the operator pressed Ctrl-C during the second send
        sent.append(delivery.pk)
        return real_send(self, delivery)

    monkeypatch.setattr(Channels, "send", send_then_stop)

    with pytest.raises(KeyboardInterrupt):
        deliver_due(worker_id="worker-1")

    assert Delivery.objects.get(pk=sent[0]).status == "sent"
    assert Delivery.objects.filter(status="pending", claimed_by="").count() == 2


def test_a_surprise_from_one_channel_does_not_stop_the_batch(clock, monkeypatch, mailoutbox):
    receipts(2)
    dispatch_pending()
    broken = Delivery.objects.order_by("id").first()
    real_render = channels.render_email

    def render(message, customer):
        if message.pk == broken.message_id:
            raise RuntimeError("template engine fell over")
        return real_render(message, customer)

    monkeypatch.setattr(channels, "render_email", render)

    run = deliver_due(worker_id="worker-1")

    broken.refresh_from_db()
    assert (run.sent, run.retrying) == (1, 1)
    assert broken.status == "pending" and broken.last_error == "unexpected error: RuntimeError"


def test_the_operator_sees_where_every_delivery_stands(clock):
    receipts(6)
    dispatch_pending()
    sent, dead, retrying, later, claimed, _due = Delivery.objects.order_by("id")
    Delivery.objects.filter(pk=sent.pk).update(status="sent", attempts=1)
    Delivery.objects.filter(pk=dead.pk).update(status="dead", attempts=9)
    Delivery.objects.filter(pk=retrying.pk).update(attempts=2, next_attempt_at=clock.now() + timedelta(minutes=5))
    Delivery.objects.filter(pk=later.pk).update(next_attempt_at=clock.now() + timedelta(hours=1))
    Delivery.objects.filter(pk=claimed.pk).update(
        claimed_by="worker-1", claim_expires_at=kit_clock.system_now() + timedelta(minutes=2)
    )
    emit("subscription.renewed", customer=None, data=receipt_payload())  # not planned yet

    counts = delivery_counts()

    assert counts == {
        "pending_due": 1,
        "pending_later": 2,
        "claimed": 1,
        "retrying": 1,
        "dead": 1,
        "sent": 1,
        "events_undispatched": 1,
    }


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_workers_running_at_once_plan_and_send_each_event_exactly_once(clock, receiver):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks (SQLite has one writer)")
    create_endpoint(url=receiver.url)
    receipts(30)
    workers = 4
    gate = threading.Barrier(workers)

    def work(worker_id: str) -> tuple[int, int]:
        try:
            gate.wait()
            dispatched = sent = 0
            while (batch := dispatch_pending(limit=4)) > 0:
                dispatched += batch
            while (run := deliver_due(worker_id=worker_id, limit=3)).total:
                sent += run.sent
            return dispatched, sent
        finally:
            connections.close_all()  # this thread's connection

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(work, [f"worker-{n}" for n in range(workers)]))

    assert sum(dispatched for dispatched, _ in results) == 60  # 30 customer.created + 30 receipts
    assert sum(sent for _, sent in results) == Delivery.objects.count() == 60 + 30  # webhooks + emails
    assert set(Delivery.objects.values_list("status", "attempts")) == {("sent", 1)}
    ids = Counter(request.headers["webhook-id"] for request in receiver.requests)
    assert len(ids) == 60 and set(ids.values()) == {1}
