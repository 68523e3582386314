"""Is a worker alive? Each running worker writes its last tick (system time) to its own row;
the console overview and /readyz read the newest one.

Without a worker nothing scheduled happens (no auto-renewal, no reminder, no email), and the
web pages give no sign of it: the heartbeat is how an operator finds out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Max, Q

from simrenew.kit import clock
from simrenew.worker.models import WorkerHeartbeat

# No tick for this long: the console warns and /readyz answers 503. A tick normally comes every
# second or so; a long batch of charges may hold one for a minute or two.
STALE_AFTER = timedelta(minutes=5)
# How often a running worker writes its heartbeat: often enough to be far inside STALE_AFTER,
# rarely enough to cost nothing (one UPDATE) beside the ticks' own work.
BEAT_EVERY_SECONDS = 15.0
# Rows of workers gone for longer than this are deleted when a worker starts.
FORGET_AFTER = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Liveness:
    last_tick_at: datetime | None  # the newest tick of any worker, system time
    running: int  # workers that ticked within STALE_AFTER and have not stopped
    checked_at: datetime

    @property
    def alive(self) -> bool:
        return self.last_tick_at is not None and self.checked_at - self.last_tick_at <= STALE_AFTER


def started(worker_id: str) -> None:
    """A new worker process: its row, and the rows of workers long gone forgotten."""
    now = clock.system_now()
    WorkerHeartbeat.objects.filter(last_tick_at__lt=now - FORGET_AFTER).delete()
    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id, defaults={"started_at": now, "last_tick_at": now, "stopped_at": None}
    )


def ticked(worker_id: str) -> None:
    now = clock.system_now()
    if not WorkerHeartbeat.objects.filter(worker_id=worker_id).update(last_tick_at=now, stopped_at=None):
        WorkerHeartbeat.objects.create(worker_id=worker_id, started_at=now, last_tick_at=now)


def stopped(worker_id: str) -> None:
    WorkerHeartbeat.objects.filter(worker_id=worker_id).update(stopped_at=clock.system_now())


def liveness() -> Liveness:
    """One query, whatever the number of rows."""
    now = clock.system_now()
    found = WorkerHeartbeat.objects.aggregate(
        last=Max("last_tick_at"),
        running=Count("worker_id", filter=Q(last_tick_at__gte=now - STALE_AFTER, stopped_at__isnull=True)),
    )
    return Liveness(last_tick_at=found["last"], running=int(found["running"] or 0), checked_at=now)
