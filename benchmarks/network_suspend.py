"""Lines suspended at expiry: COUNT live subscriptions whose paid time ends, one worker process.
The worker's run suspends them (one TMF641 `modify`/`inactive` service order per line, written with
the suspension) and sends the orders to the carrier, polling each until `completed`. Two runs in
the same process, each on its own freshly seeded subscriptions:

- the carrier connected: a local TMF641 server in its own process (tests/provisioning/tmf_server.py,
  which checks every body against the TMF641 v4.1.0 schema) answering every call in LATENCY_MS,
  an order `acknowledged` when posted and `completed` when next read;
- no network connected: the same run with the sandbox network (in our database) completing at once.

    python -m benchmarks.network_suspend COUNT LATENCY_MS        e.g. 10000 200   (prints one JSON line)

The figures: orders sent and completed per second of the worker's network step (the time the
run spends sending and following the orders), and the whole run (the suspensions, their notices
and the orders, from the first tick to the tick after which every order is completed) beside the
same run with no network connected, as a ratio (sandbox run's seconds over the connected run's).
Uses whatever database SIMRENEW_DATABASE_URL names; migrate it first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from threading import Event
from typing import Any

from benchmarks.renewals import setup

ROOT = Path(__file__).resolve().parent.parent
POLL_SECONDS = 0.2  # the carrier's order is complete at the first read: poll it soon after


def seed_active_lines(count: int) -> list[int]:
    """`count` live subscriptions ending in an hour, each eSIM's line active at the carrier."""
    from django.db import transaction

    from benchmarks.seed import seed_subscriptions
    from simrenew.esims.models import EsimProfile
    from simrenew.kit import clock
    from simrenew.provisioning.models import Line
    from simrenew.subscriptions.models import Subscription

    ids = seed_subscriptions(count, ends_in=timedelta(hours=1))
    now = clock.now()
    subscriptions = Subscription.objects.filter(pk__in=ids)
    subscriptions.update(auto_renew=False, renewal_due_at=None)  # they lapse: nothing renews them
    esims = list(subscriptions.values_list("esim_id", "esim__carrier_id"))
    with transaction.atomic():
        Line.objects.bulk_create(
            [
                Line(
                    esim_id=esim_id,
                    carrier_id=carrier_id,
                    service_id=f"svc-{esim_id}",
                    state="active",
                    plan_code="bench-1m",
                    created_at=now,
                )
                for esim_id, carrier_id in esims
            ],
            batch_size=2000,
        )
        EsimProfile.objects.filter(pk__in=[esim_id for esim_id, _ in esims]).update(network_state="active")
    return ids


def worker_run(count: int) -> tuple[float, float, int, int]:
    """Expire the seeded subscriptions and tick one worker until every order is completed:
    (seconds of the whole run, seconds in its network step, orders sent, orders completed)."""
    from simrenew.kit import clock
    from simrenew.provisioning import line_orders
    from simrenew.provisioning.models import LINE_ORDER_OPEN_STATUSES, LineOrder
    from simrenew.worker.runner import Worker, freeze_startup_heap

    network_seconds = 0.0
    run_network = line_orders.run_network

    def timed_network(**kwargs: Any) -> Any:  # the worker's network step, timed
        nonlocal network_seconds
        began = time.perf_counter()
        try:
            return run_network(**kwargs)
        finally:
            network_seconds += time.perf_counter() - began

    line_orders.run_network = timed_network  # type: ignore[assignment]

    clock.advance(timedelta(hours=2))
    freeze_startup_heap()
    worker = Worker(worker_id="bench", batch_size=500, stop=Event())
    sent = completed = 0
    started = time.perf_counter()
    report = worker.run_once(scan=True)
    while True:
        sent += report.network_sent
        completed += report.network_completed
        if report.network_failed:
            raise RuntimeError(f"{report.network_failed} orders failed")
        if not LineOrder.objects.filter(status__in=LINE_ORDER_OPEN_STATUSES).exists():
            break
        report = worker.run_once(scan=False)
    seconds = time.perf_counter() - started
    worker.close()
    line_orders.run_network = run_network  # type: ignore[assignment]
    suspended = LineOrder.objects.filter(change="suspend", status="completed").count()
    if completed != count or suspended < count:
        raise RuntimeError(f"expected {count} completed suspensions, got sent={sent} completed={completed}")
    LineOrder.objects.all().delete()  # the next run counts its own orders only
    return seconds, network_seconds, sent, completed


def start_carrier(latency_ms: int) -> tuple[subprocess.Popen[str], int]:
    from tests.notifications.servers import free_port

    port = free_port()
    server = subprocess.Popen(  # its own process: the worker's interpreter is not shared with it
        [
            sys.executable,
            "-m",
            "tests.provisioning.tmf_server",
            "--port",
            str(port),
            "--latency-ms",
            str(latency_ms),
            "--states",
            "acknowledged,completed",
            "--no-answer-check",  # its answers' shape is the tests' business; our bodies are checked
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert server.stdout is not None
    server.stdout.readline()  # it says when it listens
    return server, port


def main() -> None:
    count, latency_ms = int(sys.argv[1]), int(sys.argv[2])
    os.environ["SIMRENEW_NETWORK_POLL_SECONDS"] = str(POLL_SECONDS)
    os.environ["SIMRENEW_SANDBOX_NETWORK_DELAY_SECONDS"] = "0"
    setup()
    from simrenew.catalog.models import Carrier
    from simrenew.kit import clock
    from simrenew.provisioning.models import NetworkConnection
    from simrenew.provisioning.tmf641 import close_shared

    # No network connected: the sandbox network.
    seed_active_lines(count)
    sandbox_seconds, sandbox_network_seconds, _, _ = worker_run(count)

    server, port = start_carrier(latency_ms)
    try:
        seed_active_lines(count)
        now = clock.now()
        NetworkConnection.objects.create(
            carrier=Carrier.objects.get(code="att"),
            base_url=f"http://127.0.0.1:{port}/tmf-api/serviceOrdering/v4",
            created_at=now,
            updated_at=now,
        )
        seconds, network_seconds, sent, completed = worker_run(count)
    finally:
        close_shared()
        server.terminate()
        server.wait()
    print(
        json.dumps(
            {
                "count": count,
                "latency_ms": latency_ms,
                "sent": sent,
                "completed": completed,
                # the network step of the worker's run: orders sent and completed per second
                "network_seconds": round(network_seconds, 2),
                "network_rate": round(count / network_seconds),
                "sandbox_network_seconds": round(sandbox_network_seconds, 2),
                "sandbox_network_rate": round(count / sandbox_network_seconds),
                # the whole worker run (suspensions, their notices, the orders)
                "run_seconds": round(seconds, 2),
                "sandbox_run_seconds": round(sandbox_seconds, 2),
                "run_ratio": round(sandbox_seconds / seconds, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
