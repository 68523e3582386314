"""Two workers sending the same network outbox at once: each change still reaches the carrier as
exactly one order (one POST per externalId), and each line's orders in their sequence (a suspension
never goes before the line's add has completed)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection, transaction

from simrenew.kit import clock as kit_clock
from simrenew.kit import crypto
from simrenew.provisioning import line_orders
from simrenew.provisioning.models import LineOrder, NetworkConnection
from simrenew.provisioning.tmf641 import close_shared
from simrenew.subscriptions.service_changes import ServiceChange, ServiceChangeKind, announce
from tests.concurrency import all_at_once
from tests.factories import make_carrier, make_customer, make_esim
from tests.provisioning.tmf_server import TmfServer

pytestmark = pytest.mark.django_db(transaction=True)

LINES = 120


@pytest.fixture
def carrier(clock, settings) -> Iterator[TmfServer]:
    settings.SIMRENEW_NETWORK_POLL_SECONDS = 0  # look again at once: the race is the point, not the wait
    with TmfServer(states=("acknowledged", "completed")) as server:
        now = clock.now()
        NetworkConnection.objects.create(
            carrier=make_carrier(code="att"),
            base_url=server.url,
            token=crypto.encrypt("t"),
            created_at=now,
            updated_at=now,
        )
        yield server
        close_shared()
    assert server.violations == []


def lines_started_then_suspended(count: int) -> None:
    customer = make_customer()
    esims = [make_esim(customer=customer) for _ in range(count)]
    now = kit_clock.now()
    with transaction.atomic():
        announce([ServiceChange(ServiceChangeKind.START, 0, esim.pk, "att-month", now) for esim in esims])
    with transaction.atomic():
        announce([ServiceChange(ServiceChangeKind.SUSPEND, 0, esim.pk, "", now) for esim in esims])


def work(worker_id: str) -> int:
    sent = 0
    for _ in range(200):
        counts = line_orders.run_network(worker_id=worker_id, limit=17, between=lambda: None)
        sent += counts.sent
        if not LineOrder.objects.filter(status__in=("queued", "sending", "in_progress")).exists():
            break
    return sent


def each_change_once_and_in_sequence(server: TmfServer) -> None:
    orders = list(LineOrder.objects.order_by("line_id", "sequence"))
    assert len(orders) == 2 * LINES
    assert {o.status for o in orders} == {"completed"}
    assert all(server.posts[o.external_id] == 1 for o in orders)
    assert len(server.orders) == 2 * LINES
    for add, suspend in zip(orders[::2], orders[1::2], strict=True):
        # The carrier numbers orders as they arrive: each suspension arrived after its line's add.
        assert (add.change, suspend.change) == ("start", "suspend")
        assert add.carrier_order_id < suspend.carrier_order_id


@pytest.mark.postgres_only
def test_two_workers_at_once_on_postgresql_send_each_change_once_in_order(carrier):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: two workers claiming with FOR UPDATE SKIP LOCKED")
    lines_started_then_suspended(LINES)

    results = all_at_once([lambda: work("worker-a"), lambda: work("worker-b")])

    assert all(isinstance(result, int) for result in results), results
    each_change_once_and_in_sequence(carrier)


def test_two_workers_taking_turns_on_sqlite_send_each_change_once_in_order(carrier):
    lines_started_then_suspended(LINES)
    for _ in range(50):
        for worker in ("worker-a", "worker-b"):
            line_orders.run_network(worker_id=worker, limit=17, between=lambda: None)
        if not LineOrder.objects.filter(status__in=("queued", "sending", "in_progress")).exists():
            break
    each_change_once_and_in_sequence(carrier)
