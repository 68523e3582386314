"""Prometheus metrics: what each process counts, in one place (the official `prometheus_client`).

Every counter and histogram of simrenew is defined here, so that an operator (and the alert rules
in deploy/prometheus/alerts.yml) finds them all at once; the code that knows an outcome calls the
small `record_*` function beside its metric. Figures that the database already knows (what is due,
the outbox's backlog, endpoints' health, the last worker tick) are read at scrape time instead
(`worker.metrics`), so they are right whichever process changed them.

Several processes: gunicorn runs several web processes, and Prometheus scrapes one of them at a
time. `simrenew serve` gives them a shared folder (`PROMETHEUS_MULTIPROC_DIR`, made empty at
every start): each process writes its values to its own memory-mapped files there, and /metrics
adds them up (`prometheus_client.multiprocess`). `simrenew worker --metrics-port` serves the
worker's own figures. The environment variable must be set before prometheus_client is first
imported (it picks its storage then): `simrenew serve` sets it for the processes it starts.

Metrics cost a few microseconds a request; `SIMRENEW_METRICS=0` turns the request middleware off
(benchmarks/api_throughput.py measures both).
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import REGISTRY, Collector

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # Each value is a file there, made at the first count: the folder must exist first.
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

# The `_created` series (when each counter was made) are not written in multiprocess mode; without
# them in one process either, every process kind exposes the same series.
disable_created_metrics()

# Seconds: web requests are answered in milliseconds, gateway and carrier calls in up to tens of seconds.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CALL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

HTTP_REQUESTS = Counter(
    "simrenew_http_requests",
    "HTTP requests answered, by route template (Django's URL pattern), method and status code.",
    ["route", "method", "status"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "simrenew_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template and method.",
    ["route", "method"],
    buckets=REQUEST_BUCKETS,
)
RENEWALS = Counter(
    "simrenew_renewals",
    "Renewal payments by path (portal, api, auto_renew) and the outcome known when it was asked "
    "(succeeded, failed, unknown: the gateway's answer was lost and is looked up later, "
    "action_required: the customer must answer their bank).",
    ["path", "outcome"],
)
GATEWAY_CALLS = Counter(
    "simrenew_gateway_calls",
    "Payment gateway calls by provider, operation (charge, lookup, refund) and outcome "
    "(succeeded, failed, unknown, action_required, not_found, error).",
    ["provider", "operation", "outcome"],
)
GATEWAY_CALL_SECONDS = Histogram(
    "simrenew_gateway_call_duration_seconds",
    "Time a gateway call took, by provider and operation (a batch of charges counts once, as `charge_batch`).",
    ["provider", "operation"],
    buckets=CALL_BUCKETS,
)
AUTORENEW_SPENT = Counter(
    "simrenew_autorenew_spent",
    "Automatic renewals whose every payment method failed in one try: rescheduled, or handed to the customer.",
)
REMINDERS_SENT = Counter("simrenew_reminders_sent", "Reminders decided and queued, by kind.", ["kind"])
DELIVERIES = Counter(
    "simrenew_deliveries",
    "Outbox delivery attempts by channel (email, sms, webhook) and outcome (sent, retrying, dead).",
    ["channel", "outcome"],
)
SMDP_ORDERS = Counter(
    "simrenew_smdp_orders",
    "eSIM profile orders at an SM-DP+ (ES2+) by how they ended: done, refused, unreachable, lost, cancelled.",
    ["outcome"],
)
NETWORK_ORDERS = Counter(
    "simrenew_network_orders",
    "Carrier network orders (TMF641) by step: sent, completed, failed.",
    ["outcome"],
)
WORKER_TICK = Gauge(
    "simrenew_worker_process_last_tick_timestamp_seconds",
    "When this worker process last finished a tick (Unix time).",
    multiprocess_mode="max",
)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


@dataclass(slots=True)
class GatewayCall:
    """What a gateway call turned out to be; set `outcome` inside the `gateway_call` block."""

    outcome: str = "error"


@contextmanager
def gateway_call(provider: str, operation: str) -> Iterator[GatewayCall]:
    """Count and time one gateway call: `with gateway_call("stripe", "charge") as call: ...;
    call.outcome = result.status`. An exception leaves the outcome `error` (and is raised on)."""
    call = GatewayCall()
    try:
        with timed(provider, operation):
            yield call
    finally:
        GATEWAY_CALLS.labels(provider, operation, call.outcome).inc()


@contextmanager
def timed(provider: str, operation: str) -> Iterator[None]:
    """Time a gateway call whose outcomes are counted one by one (a batch of charges)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        GATEWAY_CALL_SECONDS.labels(provider, operation).observe(time.perf_counter() - started)


def record_gateway_outcomes(provider: str, operation: str, outcomes: Mapping[str, int]) -> None:
    for outcome, count in outcomes.items():
        if count:
            GATEWAY_CALLS.labels(provider, operation, outcome).inc(count)


def record_renewal(path: str, outcome: str, count: int = 1) -> None:
    if count:
        RENEWALS.labels(path, outcome).inc(count)


def record_counts(counter: Counter, **by_label: int) -> None:
    """Add each count to the counter's series of that (single) label value; zeros add nothing."""
    for label, count in by_label.items():
        if count:
            counter.labels(label).inc(count)


def record_worker_tick() -> None:
    WORKER_TICK.set(time.time())


# --- HTTP ---------------------------------------------------------------------------------------

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_of(request: HttpRequest) -> str:
    """The URL pattern that answered (`api/v1/subscriptions/<id>/renewals`), never the path itself:
    ids in paths would make a time series per customer."""
    match = request.resolver_match
    return "unmatched" if match is None else "/" + match.route


class RequestMetricsMiddleware:
    """First in the chain: counts and times every answer, static files and refusals included."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        method = request.method if request.method in _METHODS else "other"
        route = route_of(request)
        HTTP_REQUEST_SECONDS.labels(route, method).observe(time.perf_counter() - started)
        HTTP_REQUESTS.labels(route, method, str(response.status_code)).inc()
        return response


# --- exposition ---------------------------------------------------------------------------------


def exposition(*extra: Collector) -> bytes:
    """The text Prometheus reads: this process's figures (or, under gunicorn, every process's added
    up from the shared folder), then `extra` collectors (figures read from the database)."""
    folder = multiprocess_dir()
    if folder is not None:
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry, path=folder)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    if extra:
        more = CollectorRegistry(auto_describe=False)
        for collector in extra:
            more.register(collector)
        body += generate_latest(more)
    return body


def bearer_token_matches(header: str, token: str) -> bool:
    """`Authorization: Bearer <token>`, compared in constant time."""
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


# The text format every Prometheus reads (2.x included, as Debian ships it); the names need no escaping.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
