"""Is a worker alive? Each running worker writes its last tick (system time, whatever the test
clock says); the console overview and /readyz read it and warn after 5 minutes of silence."""

from __future__ import annotations

from datetime import timedelta
from threading import Event

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from simrenew.kit.clock import system_now
from simrenew.worker import heartbeat
from simrenew.worker.models import WorkerHeartbeat
from simrenew.worker.runner import Worker


class StopAfterTicks(Event):
    """A stop flag that raises itself after `ticks` waits between ticks: forever mode, briefly."""

    def __init__(self, ticks: int) -> None:
        super().__init__()
        self.ticks = ticks

    def wait(self, timeout: float | None = None) -> bool:
        self.ticks -= 1
        if self.ticks <= 0:
            self.set()
        return self.is_set()


# Forever mode closes stale connections between ticks, as a long-running process must: on
# PostgreSQL that would close the test's own connection inside a wrapping transaction.
@pytest.mark.django_db(transaction=True)
def test_a_running_worker_says_it_is_alive_and_says_so_again_when_it_stops(clock):
    assert heartbeat.liveness().last_tick_at is None and not heartbeat.liveness().alive
    clock.advance(days=400)  # the test clock's date does not matter: liveness is real time

    worker = Worker(stop=StopAfterTicks(2))
    worker.run_forever(idle_seconds=0)

    row = WorkerHeartbeat.objects.get(worker_id=worker.worker_id)
    assert system_now() - row.last_tick_at < timedelta(minutes=1)
    assert row.stopped_at is not None and row.stopped_at >= row.last_tick_at
    seen = heartbeat.liveness()
    assert seen.alive and seen.last_tick_at == row.last_tick_at
    assert seen.running == 0  # stopped cleanly: its last tick is recent, but it is gone


def test_no_tick_for_five_minutes_is_a_dead_worker(db):
    now = system_now()
    WorkerHeartbeat.objects.create(worker_id="old:1:a", started_at=now - timedelta(hours=1), last_tick_at=now)
    assert heartbeat.liveness().alive and heartbeat.liveness().running == 1

    WorkerHeartbeat.objects.filter(worker_id="old:1:a").update(last_tick_at=now - timedelta(minutes=5, seconds=1))

    seen = heartbeat.liveness()
    assert not seen.alive and seen.running == 0
    assert seen.last_tick_at == now - timedelta(minutes=5, seconds=1)


def test_a_new_worker_forgets_workers_gone_for_a_week_and_liveness_is_one_query(db):
    now = system_now()
    for number in range(5):
        WorkerHeartbeat.objects.create(
            worker_id=f"gone:{number}:a", started_at=now - timedelta(days=9), last_tick_at=now - timedelta(days=8)
        )
    WorkerHeartbeat.objects.create(worker_id="yesterday:1:a", started_at=now, last_tick_at=now - timedelta(days=1))

    heartbeat.started("new:1:a")

    assert set(WorkerHeartbeat.objects.values_list("worker_id", flat=True)) == {"yesterday:1:a", "new:1:a"}
    with CaptureQueriesContext(connection) as asked:
        assert heartbeat.liveness().running == 1
    assert len(asked) == 1


def test_readyz_says_503_and_why_until_a_worker_ticks(client, db):
    waiting = client.get("/readyz")

    assert waiting.status_code == 503
    assert waiting.json()["status"] == "unavailable"
    assert waiting.json()["checks"] == {
        "database": "ok",
        "migrations": "ok",
        "worker": "no tick for 5 minutes",
        "cache": "ok",
    }
    assert waiting.json()["last_worker_tick"] is None

    heartbeat.started("web-test:1:a")
    ready = client.get("/readyz")

    assert ready.status_code == 200
    assert ready.json()["status"] == "ready" and set(ready.json()["checks"].values()) == {"ok"}
    assert ready["Cache-Control"].startswith("max-age=0")


def test_readyz_says_503_and_why_when_the_applied_migrations_cannot_be_read(client, db, monkeypatch):
    from django.db import OperationalError

    from simrenew.worker import health

    def unreadable(connection: object) -> None:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(health, "_migrated", False)
    monkeypatch.setattr(health, "MigrationExecutor", unreadable)

    answer = client.get("/readyz")

    assert answer.status_code == 503
    assert answer.json()["checks"]["migrations"] == "cannot be read"
    assert "server closed" not in answer.content.decode()  # no driver message


@pytest.mark.django_db(transaction=True)  # forever mode: see the first test
def test_a_long_run_of_renewal_batches_keeps_the_heartbeat_fresh(clock, monkeypatch):
    from simrenew.payments.models import PaymentAttempt
    from tests.factories import make_subscription

    subscriptions = [make_subscription() for _ in range(3)]
    clock.set(subscriptions[-1].paid_through - timedelta(hours=71))  # all three due for auto-renew
    renewed_at_each_beat: list[int] = []
    monkeypatch.setattr(heartbeat, "BEAT_EVERY_SECONDS", 0.0)
    for name in ("started", "ticked"):
        original = getattr(heartbeat, name)

        def beat(worker_id: str, original=original) -> None:  # type: ignore[no-untyped-def]
            renewed_at_each_beat.append(
                PaymentAttempt.objects.filter(purpose="auto_renewal", status="succeeded").count()
            )
            original(worker_id)

        monkeypatch.setattr(heartbeat, name, beat)

    Worker(batch_size=1, batches_in_flight=1, stop=StopAfterTicks(1)).run_forever(idle_seconds=0)

    assert PaymentAttempt.objects.filter(purpose="auto_renewal", status="succeeded").count() == 3
    # A beat after each batch, while the tick is still renewing, not only once it is over.
    assert {1, 2} <= set(renewed_at_each_beat)
