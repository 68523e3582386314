from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class WorkerHeartbeat(models.Model):
    """A worker process's sign of life: one row per process, its last tick written at most
    every few seconds (worker.heartbeat). Times are system time, not the sandbox test clock:
    whether a worker is alive is a fact about the real world, whatever date the clock shows."""

    worker_id = models.CharField(max_length=64, primary_key=True)
    started_at = models.DateTimeField()
    last_tick_at = models.DateTimeField(db_index=True)
    stopped_at = models.DateTimeField(null=True, blank=True, help_text="Set when the process stopped cleanly.")

    class Meta:
        verbose_name, verbose_name_plural = _("worker heartbeat"), _("worker heartbeats")
        ordering = ["-last_tick_at"]

    def __str__(self) -> str:
        return f"worker {self.worker_id}, last tick {self.last_tick_at:%Y-%m-%d %H:%M:%S}"
