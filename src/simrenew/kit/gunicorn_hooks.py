"""gunicorn's server hooks for `simrenew serve` (`--config python:simrenew.kit.gunicorn_hooks`)."""

from __future__ import annotations

from typing import Any

from prometheus_client import multiprocess


def child_exit(server: Any, worker: Any) -> None:
    """A web process ended (a restart, a crash): its live gauges leave the metrics' shared folder.
    Its counters stay, so totals never go down while the server runs."""
    multiprocess.mark_process_dead(worker.pid)
