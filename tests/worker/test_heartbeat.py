"""Is a worker alive? Each running worker writes its last tick (system time, whatever the test
clock says); the console overview and /readyz read it and warn after 5 minutes of silence."""

from __future__ import annotations

from datetime import timedelta
from threading import Event

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
