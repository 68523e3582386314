"""`GET /readyz`: may this process take traffic? 200 only when the database answers, every
migration is applied, the cache works and a worker ticked within the last 5 minutes; else 503
with the checks that failed. Like /healthz, it names no host, user or driver message."""

from __future__ import annotations

import logging
import secrets

from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from simrenew.worker import heartbeat

logger = logging.getLogger(__name__)

# Once every migration is applied it stays so for the life of the process: reading the
# migration files again on every probe would cost more than the rest of the checks together.
_migrated = False


def _database() -> str:
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # the point is to report any database failure
        logger.error("readyz: the database does not answer (%s)", type(exc).__name__)
        return "unavailable"
    return "ok"


def _migrations() -> str:
    global _migrated
    if _migrated:
        return "ok"
    try:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        unapplied = len(executor.migration_plan(executor.loader.graph.leaf_nodes()))
    except Exception as exc:  # the database went away after `_database`, or its migration table is unreadable
        logger.error("readyz: the applied migrations cannot be read (%s)", type(exc).__name__)
        return "cannot be read"
    if unapplied:
        return f"{unapplied} not applied (run `simrenew migrate`)"
    _migrated = True
    return "ok"


def _cache() -> str:
    token = secrets.token_hex(8)
    try:
        cache.set("simrenew:readyz", token, timeout=30)
        answered = cache.get("simrenew:readyz")
    except Exception as exc:  # any backend's failure
        logger.error("readyz: the cache does not answer (%s)", type(exc).__name__)
        return "unavailable"
    return "ok" if answered == token else "does not keep what is written"


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _database()}
    last_tick: str | None = None
    if checks["database"] == "ok":
        checks["migrations"] = _migrations()
        if checks["migrations"] == "ok":
            worker = heartbeat.liveness()
            last_tick = worker.last_tick_at.isoformat() if worker.last_tick_at else None
            checks["worker"] = "ok" if worker.alive else f"no tick for {heartbeat.STALE_AFTER.seconds // 60} minutes"
    checks["cache"] = _cache()
    ready = all(value == "ok" for value in checks.values()) and len(checks) == 4
    body = {"status": "ready" if ready else "unavailable", "checks": checks, "last_worker_tick": last_tick}
    return JsonResponse(body, status=200 if ready else 503)
