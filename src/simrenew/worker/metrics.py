"""`GET /metrics`: the figures Prometheus scrapes, behind a bearer token.

What the processes count themselves (requests, renewals, gateway calls, deliveries: kit.metrics)
comes with what only the database knows, read at scrape time, so any web process answers the
same: auto-renewals due, claimed and retrying, the outbox's backlog and its oldest wait by
channel, dead letters, webhook endpoints by health, and the newest worker tick. A scrape costs a
handful of aggregate queries; Prometheus asks every 15 to 60 seconds.

`SIMRENEW_METRICS_TOKEN` set: the scraper sends `Authorization: Bearer <token>`. Unset: open in
the sandbox (`make run`), and not served (404) in live mode, where figures about customers and
money are not for everyone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from socketserver import ThreadingMixIn
from threading import Thread
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from simrenew.kit import clock
from simrenew.kit.metrics import CONTENT_TYPE, bearer_token_matches, exposition
from simrenew.notifications import queries as outbox
from simrenew.webhooks.services import endpoint_health
from simrenew.worker import heartbeat
from simrenew.worker.status import worker_status

AUTORENEW_STATES = {
    "due": "renewals_due",
    "claimed": "renewals_claimed",
    "retrying": "renewals_retrying",
    "waiting_for_customer": "renewals_waiting_for_customer",
}


def _age(now: datetime, since: datetime | None) -> float:
    return max(0.0, (now - since).total_seconds()) if since is not None else 0.0


class DatabaseState(Collector):
    """Gauges read from the database at each scrape."""

    def collect(self) -> Iterable[Metric]:
        now = clock.now()
        status = worker_status()
        autorenew = GaugeMetricFamily(
            "simrenew_autorenew_subscriptions",
            "Subscriptions renewing automatically by state: due now, claimed by a worker, retrying after "
            "a failed charge, waiting for the customer (every try spent).",
            labels=["state"],
        )
        for state, key in AUTORENEW_STATES.items():
            autorenew.add_metric([state], status[key])
        yield autorenew
        yield GaugeMetricFamily(
            "simrenew_payments_unsettled",
            "Payment attempts whose gateway answer is not known yet (looked up by the worker).",
            value=status["payments_unsettled"],
        )

        backlog = GaugeMetricFamily(
            "simrenew_outbox_backlog", "Deliveries due and not yet sent, by channel.", labels=["channel"]
        )
        oldest = GaugeMetricFamily(
            "simrenew_outbox_oldest_age_seconds",
            "How long the longest-waiting due delivery has waited, by channel (0: nothing waits).",
            labels=["channel"],
        )
        dead = GaugeMetricFamily(
            "simrenew_outbox_dead_letters",
            "Deliveries given up (an operator retries them), by channel.",
            labels=["channel"],
        )
        for channel, (waiting, given_up, since) in outbox.backlog_by_channel(now=now).items():
            backlog.add_metric([channel], waiting)
            oldest.add_metric([channel], _age(now, since))
            dead.add_metric([channel], given_up)
        undispatched, since = outbox.undispatched_events(now=now)
        backlog.add_metric(["undispatched"], undispatched)
        oldest.add_metric(["undispatched"], _age(now, since))
        yield from (backlog, oldest, dead)

        endpoints = GaugeMetricFamily(
            "simrenew_webhook_endpoints",
            "Webhook endpoints by health: healthy, failing (every attempt since a time), disabled.",
            labels=["health"],
        )
        for health, count in endpoint_health().items():
            endpoints.add_metric([health], count)
        yield endpoints

        liveness = heartbeat.liveness()
        yield GaugeMetricFamily(
            "simrenew_worker_last_tick_timestamp_seconds",
            "The newest tick of any worker (Unix time; 0: no worker ever ticked).",
            value=liveness.last_tick_at.timestamp() if liveness.last_tick_at else 0.0,
        )
        yield GaugeMetricFamily(
            "simrenew_workers_running", "Workers that ticked within the last 5 minutes.", value=liveness.running
        )


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.SIMRENEW_METRICS_TOKEN
    if not token and not settings.SIMRENEW_SANDBOX:
        return JsonResponse({"detail": "Not found."}, status=404)
    if token and not bearer_token_matches(request.headers.get("Authorization", ""), token):
        response = JsonResponse({"detail": "A bearer token is required (SIMRENEW_METRICS_TOKEN)."}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(exposition(DatabaseState()), content_type=CONTENT_TYPE)


# --- the worker's own port ------------------------------------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Prometheus asks every few seconds: no line per scrape in the worker's log."""


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def _process_metrics_app(token: str) -> Callable[..., Iterable[bytes]]:
    """GET /metrics with this process's figures only (no database: the web's /metrics has those)."""

    def app(request: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        # `request` is the WSGI environ: the request's own variables, not the process's.
        if request.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"Not found: the figures are at /metrics\n"]
        if token and not bearer_token_matches(request.get("HTTP_AUTHORIZATION", ""), token):
            start_response(
                "401 Unauthorized", [("Content-Type", "text/plain"), ("WWW-Authenticate", 'Bearer realm="metrics"')]
            )
            return [b"A bearer token is required (SIMRENEW_METRICS_TOKEN).\n"]
        start_response("200 OK", [("Content-Type", CONTENT_TYPE)])
        return [exposition()]

    return app


def serve_process_metrics(*, host: str, port: int, token: str) -> WSGIServer:
    """Serve this process's figures on `host:port` from a daemon thread; `shutdown()` stops it."""
    server = make_server(
        host, port, _process_metrics_app(token), server_class=_ThreadingServer, handler_class=_QuietHandler
    )
    Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
