"""The dashboard of a customer with 3 eSIMs, rendered in-process by Django's test Client
(server time: URL routing, middleware, queries, templates; no network), beside a baseline
request through the same stack in the same run.

    python -m benchmarks.dashboard [REQUESTS]      (prints one JSON line)

Uses whatever database SIMRENEW_DATABASE_URL names; migrate it first.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from typing import TYPE_CHECKING

import django

if TYPE_CHECKING:
    from django.test import Client

    from simrenew.customers.models import Customer

WARM_UP = 10


def setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "simrenew.settings")
    os.environ.setdefault("SIMRENEW_SANDBOX", "1")
    django.setup()


def customer_with_three_esims() -> Customer:
    """One customer, an eSIM on each demo carrier, each with a paid monthly plan and some usage."""
    from tests.factories import make_customer, make_plan, make_subscription, record_usage

    customer = make_customer(email="dashboard-bench@example.com", name="Bench Customer")
    for carrier, used_mb in (("att", 1500), ("tmobile", 9000), ("verizon", 120)):
        plan = make_plan(carrier=carrier, code=f"bench-{carrier}-1m", data_mb=10_240, price_minor=2500)
        subscription = make_subscription(customer=customer, plan=plan)
        record_usage(iccid=subscription.esim.iccid, mb=used_mb)
    return customer


def timings_ms(client: Client, path: str, requests: int) -> list[float]:
    for _ in range(WARM_UP):  # first renders compile templates and fill caches
        client.get(path)
    measured = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path)
        measured.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} answered {response.status_code}")
    return measured


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    setup()
    from django.db import connection
    from django.test import Client

    from simrenew.esims.models import EsimProfile

    customer = customer_with_three_esims()
    # A host the sandbox serves (the test Client's default "testserver" is not one of them).
    client = Client(HTTP_HOST="localhost")
    client.force_login(customer.user, backend="django.contrib.auth.backends.ModelBackend")
    esims = EsimProfile.objects.filter(customer=customer).count()
    first = client.get("/dashboard/")
    page = first.content.decode()
    if first.status_code != 200 or page.count("GB of") < esims:
        raise RuntimeError(f"the dashboard does not show the {esims} eSIMs (status {first.status_code})")

    dashboard = timings_ms(client, "/dashboard/", requests)
    baseline = timings_ms(client, "/healthz", requests)
    median, base_median = statistics.median(dashboard), statistics.median(baseline)
    print(
        json.dumps(
            {
                "database": connection.vendor,
                "esims": esims,
                "requests": requests,
                "median_ms": round(median, 2),
                "p95_ms": round(percentile(dashboard, 0.95), 2),
                "baseline_median_ms": round(base_median, 2),
                "baseline_p95_ms": round(percentile(baseline, 0.95), 2),
                "ratio": round(median / base_median, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
