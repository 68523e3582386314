"""Due auto-renewals through the worker's pipeline with the Stripe adapter (the official SDK)
against a local Stripe in its own process answering in LATENCY ms, beside the same count through
the sandbox gateway at the same latency, in the same process and database.

    python -m benchmarks.stripe_autorenewals COUNT LATENCY_MS     e.g. 5000 250   (prints one JSON line)

The ratio (Stripe's rate / the sandbox's) says whether the adapter overlaps its calls as the
sandbox path does: the sandbox answers a whole batch after one latency; Stripe has no batch
endpoint, so the adapter keeps SIMRENEW_WORKER_GATEWAY_CONCURRENCY requests in flight.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from benchmarks.autorenewals import BATCH, IN_FLIGHT, NOW, check_books, renew_with_pipeline
from benchmarks.renewals import setup

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_local_stripe(latency_ms: int) -> tuple[subprocess.Popen[bytes], str]:
    """The local Stripe of the tests, in its own process (its threads must not share the worker's
    interpreter), with its request checks on: every call is held to Stripe's published API."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.payments.stripe_server", "--port", str(port), "--latency-ms", str(latency_ms)],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdout=subprocess.PIPE,
    )
    assert server.stdout is not None
    server.stdout.readline()  # "stripe listening on …"
    return server, f"http://127.0.0.1:{port}"


def cards_at_stripe(ids: list[int]) -> None:
    """The run's subscriptions pay with a card saved at Stripe (Stripe's test card, off-session)."""
    from simrenew.payments.models import PaymentMethod
    from simrenew.subscriptions.models import Subscription

    methods = Subscription.objects.filter(pk__gte=ids[0], pk__lte=ids[-1]).values_list("payment_method_id", flat=True)
    PaymentMethod.objects.filter(pk__in=list(methods)).update(gateway="stripe", token="pm_card_visa")


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5_000
    latency_ms = int(sys.argv[2]) if len(sys.argv) > 2 else 250
    setup()
    import logging

    from django.conf import settings

    from benchmarks.seed import seed_subscriptions
    from simrenew.kit import clock
    from simrenew.payments.gateway import forget_gateways
    from tests.payments.stripe_server import SECRET_KEY

    logging.getLogger("simrenew.worker").setLevel(logging.WARNING)
    logging.getLogger("stripe").setLevel(logging.WARNING)
    clock.set_now(NOW)
    sandbox_ids = seed_subscriptions(count, ends_in=timedelta(days=2))
    stripe_ids = seed_subscriptions(count, ends_in=timedelta(days=2))
    cards_at_stripe(stripe_ids)
    server, url = start_local_stripe(latency_ms)
    try:
        settings.SIMRENEW_STRIPE_API_KEY = SECRET_KEY
        settings.SIMRENEW_STRIPE_API_BASE = url
        # Every charge of the batches in flight at once, for both gateways: the sandbox answers a whole
        # batch after one latency whatever the setting; Stripe's adapter keeps this many requests open.
        settings.SIMRENEW_WORKER_GATEWAY_CONCURRENCY = BATCH * IN_FLIGHT
        forget_gateways()
        sandbox_seconds = renew_with_pipeline(sandbox_ids, latency_ms)
        check_books(sandbox_ids)
        stripe_seconds = renew_with_pipeline(stripe_ids, latency_ms)
        check_books(stripe_ids)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(
        json.dumps(
            {
                "count": count,
                "latency_ms": latency_ms,
                "concurrency": settings.SIMRENEW_WORKER_GATEWAY_CONCURRENCY,
                "sandbox_seconds": round(sandbox_seconds, 3),
                "sandbox_rate": round(count / sandbox_seconds, 1),
                "stripe_seconds": round(stripe_seconds, 3),
                "stripe_rate": round(count / stripe_seconds, 1),
                "ratio": round(sandbox_seconds / stripe_seconds, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
