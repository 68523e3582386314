"""Races for PostgreSQL tests: jobs started in threads at the same instant."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.db import connections


def all_at_once(jobs: list[Callable[[], object]], *, expected: tuple[type[Exception], ...] = ()) -> list[object]:
    """Run the jobs in threads released together by a barrier. Each result is what
    its job returned, the exception it raised, or "refused" for an `expected` one."""
    gate = threading.Barrier(len(jobs))

    def run(job: Callable[[], object]) -> object:
        try:
            gate.wait()
            return job()
        except expected:
            return "refused"
        except Exception as exc:  # reported by the test, with the others' results
            return exc
        finally:
            connections.close_all()  # this thread's connections only

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(run, jobs))
