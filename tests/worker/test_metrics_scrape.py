"""Prometheus scrapes a running simrenew: `simrenew serve` with 2 gunicorn processes (their figures
added up in the shared folder) and a `simrenew worker --metrics-port`, after a scripted day: a
customer signs up on the portal, a partner buys a plan over the API (a webhook endpoint listening),
a renewal with a declining card is refused, the clock reaches the auto-renewal, and the worker
renews, reminds and delivers. Every figure is compared with what happened (the requests this test
made, the webhooks its receiver got, the rows in the database), and both expositions parse with
prometheus_client's own parser."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.management.test_serve import first_health_check, free_port
from tests.worker.conftest import database, postgresql_template, simrenew, sqlite_template
from tests.worker.processes import SIMRENEW, Database, Simrenew

__all__ = ["database", "postgresql_template", "simrenew", "sqlite_template"]  # fixtures used here

TOKEN = "scrape-token-0123456789abcdef"
GOOD_CARD = "4242424242424242"
DECLINING_CARD = "4000000000000002"
# What Prometheus's own probes and this test's scrapes add to the request counts.
NOT_THE_STORY = {"/metrics", "/healthz", "/readyz"}

AUTO_RENEWALS_BY_STATUS = (
    "SELECT status, COUNT(*) FROM payments_paymentattempt WHERE purpose = 'auto_renewal' GROUP BY status"
)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def get(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: Samples, name: str, keep: Callable[[dict[str, str]], bool] = lambda labels: True) -> float:
    return sum(value for (found, labels), value in samples.items() if found == name and keep(dict(labels)))


def scrape(url: str) -> Samples:
    answer = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    return parse(answer.text)


def rows(database: Database, sql: str) -> list[tuple[Any, ...]]:
    """Read the processes' database directly: what the figures must agree with."""
    if database.is_postgresql:
        import psycopg

        with psycopg.connect(database.url) as connection:
            return list(connection.execute(sql).fetchall())
    connection = sqlite3.connect(database.url.removeprefix("sqlite:///"), timeout=30)
    try:
        return list(connection.execute(sql).fetchall())
    finally:
        connection.close()


class Receiver(BaseHTTPRequestHandler):
    """A partner's webhook endpoint: answers 200 and keeps the event types it got."""

    received: list[str] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        found = re.search(rb'"type":\s*"([^"]+)"', body)
        Receiver.received.append(found.group(1).decode() if found else "?")
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
    finally:
        server.shutdown()


class Story:
    """The test's own HTTP client: counts every request it makes to the server."""

    def __init__(self, base: str, key: str) -> None:
        self.base = base
        self.key = key
        self.made = 0
        self.client = httpx.Client(base_url=base, timeout=60, follow_redirects=False)

    def api(self, method: str, path: str, body: dict[str, Any] | None = None, key: str = "") -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.key}"}
        if key:
            headers["Idempotency-Key"] = key
        self.made += 1
        return self.client.request(method, f"/api/v1{path}", json=body, headers=headers)

    def page(self, method: str, path: str, data: dict[str, str] | None = None) -> httpx.Response:
        self.made += 1
        headers = {"Referer": f"{self.base}{path}"} if method == "POST" else {}
        return self.client.request(method, path, data=data, headers=headers)


def wait_until(condition: Callable[[], bool], *, within: float, what: str) -> None:
    """Real time passes here: the worker is a real process doing real work."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"waited {within} s for {what}"
        time.sleep(0.25)


def sign_up_on_the_portal(story: Story) -> None:
    form = story.page("GET", "/accounts/signup/")
    assert form.status_code == 200
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert token is not None
    answer = story.page(
        "POST",
        "/accounts/signup/",
        {
            "csrfmiddlewaretoken": token.group(1),
            "email": "grace@example.com",
            "name": "Grace Hopper",
            "locale": "en",
            "time_zone": "America/New_York",
            "password1": "a long and Unusual passphrase 42",
            "password2": "a long and Unusual passphrase 42",
        },
    )
    assert answer.status_code == 302, answer.text[:2000]


def buy_a_plan_over_the_api(story: Story, hooks: str) -> tuple[int, int]:
    """A customer, an eSIM, two cards, a webhook endpoint and a monthly plan bought: the
    subscription's id and the declining card's method id."""
    assert story.api("POST", "/webhook-endpoints", {"url": hooks}).status_code == 201
    customer = story.api("POST", "/customers", {"email": "ada@example.com", "name": "Ada Lovelace"}).json()
    esim = story.api("POST", "/esims", {"customer_id": customer["id"], "carrier": "verizon"})
    assert esim.status_code == 201, esim.text
    plans = story.api("GET", "/plans").json()["items"]
    plan = next(
        p for p in plans if p["carrier"] == "verizon" and p["period_unit"] == "month" and p["period_count"] == 1
    )
    methods = []
    for number in (GOOD_CARD, DECLINING_CARD):
        card = {"customer_id": customer["id"], "type": "card", "number": number, "exp_month": 12, "exp_year": 2040}
        added = story.api("POST", "/payment-methods", {**card, "cvc": "123"})
        assert added.status_code == 201, added.text
        methods.append(added.json()["id"])
    bought = story.api(
        "POST",
        "/subscriptions",
        {"esim_id": esim.json()["id"], "plan_id": plan["id"], "payment_method_id": methods[0], "auto_renew": True},
        key="buy-1",
    )
    assert bought.status_code == 201, bought.text
    return bought.json()["id"], methods[1]


@pytest.fixture
def server(simrenew: Simrenew, tmp_path: Path) -> Iterator[str]:
    simrenew.run("demo")  # the catalogue and the sandbox SM-DP+, as `make run` has them
    port = free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [SIMRENEW, "serve", "--port", str(port), "--workers", "2", "--threads", "2"],
            env=simrenew.env(SIMRENEW_METRICS_TOKEN=TOKEN, PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "web-metrics")),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        try:
            first_health_check(port)
        except httpx.TransportError:
            pytest.fail(f"the server did not start:\n{log_path.read_text()[-4000:]}")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_scripted_day_shows_in_the_web_and_worker_metrics(simrenew: Simrenew, server: str, receiver: str) -> None:
    key = simrenew.run("apikey", "create", "--name", "metrics story").stdout.strip().splitlines()[-1]
    story = Story(server, key)

    sign_up_on_the_portal(story)
    subscription_id, declining = buy_a_plan_over_the_api(story, receiver)
    refused = story.api(
        "POST", f"/subscriptions/{subscription_id}/renewals", {"payment_method_id": declining}, key="renew-declined"
    )
    assert refused.status_code == 402, refused.text
    due_at = story.api("GET", f"/subscriptions/{subscription_id}").json()["next_auto_renew_attempt_at"]
    simrenew.run("clock", "set", due_at)

    web = scrape(f"{server}/metrics")

    # Requests: every one this test made, each under its route's template, added up over 2 processes.
    story_routes = total(web, "simrenew_http_requests_total", lambda labels: labels["route"] not in NOT_THE_STORY)
    assert story_routes == story.made
    renewals_route = "/api/v1/subscriptions/<subscription_id>/renewals"
    assert get(web, "simrenew_http_requests_total", route=renewals_route, method="POST", status="402") == 1
    assert get(web, "simrenew_http_requests_total", route="/api/v1/subscriptions", method="POST", status="201") == 1
    assert get(web, "simrenew_http_requests_total", route="/accounts/signup/", method="POST", status="302") == 1
    assert get(web, "simrenew_http_request_duration_seconds_count", route=renewals_route, method="POST") == 1
    assert not any(str(subscription_id) in dict(labels).get("route", "") for _, labels in web)
    # The money: the purchase paid, the renewal by hand refused, both at the sandbox gateway.
    assert get(web, "simrenew_renewals_total", path="api", outcome="failed") == 1
    assert get(web, "simrenew_gateway_calls_total", provider="sandbox", operation="charge", outcome="succeeded") == 1
    assert get(web, "simrenew_gateway_calls_total", provider="sandbox", operation="charge", outcome="failed") == 1
    # The eSIM came from the (sandbox) SM-DP+ over ES2+.
    [(orders_done,)] = rows(simrenew.database, "SELECT COUNT(*) FROM provisioning_profileorder WHERE status = 'done'")
    assert orders_done >= 1 and get(web, "simrenew_smdp_orders_total", outcome="done") == orders_done
    # What the database says: the renewal is due, events wait, no worker has ever ticked.
    assert get(web, "simrenew_autorenew_subscriptions", state="due") >= 1  # ours, and the demo's
    assert get(web, "simrenew_outbox_backlog", channel="undispatched") >= 3
    assert get(web, "simrenew_worker_last_tick_timestamp_seconds") == 0
    assert get(web, "simrenew_webhook_endpoints", health="healthy") == 1

    metrics_port = free_port()
    started = time.time()
    worker = simrenew.start_worker("--metrics-port", str(metrics_port), SIMRENEW_METRICS_TOKEN=TOKEN)
    worker_url = f"http://127.0.0.1:{metrics_port}/metrics"

    def worker_done() -> bool:
        try:
            figures = scrape(worker_url)
        except httpx.TransportError:
            return False
        status = simrenew.status()
        return (
            get(figures, "simrenew_renewals_total", path="auto_renew", outcome="succeeded") >= 1
            and status["renewals_due"] == 0
            and status["deliveries_pending_due"] == 0
            and status["deliveries_claimed"] == 0
            and status["deliveries_events_undispatched"] == 0
        )

    wait_until(worker_done, within=120, what="the worker to renew and deliver everything")
    work = scrape(worker_url)
    web = scrape(f"{server}/metrics")
    worker.terminate()

    # Every automatic charge the database records, by outcome, at the renewals and at the gateway.
    charged = dict(rows(simrenew.database, AUTO_RENEWALS_BY_STATUS))
    assert charged.get("succeeded", 0) >= 1
    for outcome in ("succeeded", "failed", "unknown"):
        assert get(work, "simrenew_renewals_total", path="auto_renew", outcome=outcome) == charged.get(outcome, 0)
        assert get(work, "simrenew_gateway_calls_total", provider="sandbox", operation="charge", outcome=outcome) == (
            charged.get(outcome, 0)
        )
    assert get(work, "simrenew_gateway_call_duration_seconds_count", provider="sandbox", operation="charge_batch") >= 1
    # Every webhook the partner got, and every delivery the database records as sent, was counted once.
    assert "subscription.renewed" in Receiver.received
    assert get(work, "simrenew_deliveries_total", channel="webhook", outcome="sent") == len(Receiver.received)
    sent = dict(
        rows(
            simrenew.database,
            "SELECT channel, COUNT(*) FROM notifications_delivery WHERE status = 'sent' GROUP BY channel",
        )
    )
    for channel in ("email", "sms", "webhook"):
        assert get(work, "simrenew_deliveries_total", channel=channel, outcome="sent") == sent.get(channel, 0)
    assert sent.get("email", 0) >= 2
    # Reminders decided, by kind, as the ledger has them; the line's orders at the network.
    ledger = Counter(dict(rows(simrenew.database, "SELECT kind, COUNT(*) FROM subscriptions_reminder GROUP BY kind")))
    assert total(work, "simrenew_reminders_sent_total") == sum(ledger.values())
    for kind, count in ledger.items():
        assert get(work, "simrenew_reminders_sent_total", kind=kind) == count
    [(completed,)] = rows(simrenew.database, "SELECT COUNT(*) FROM provisioning_lineorder WHERE status = 'completed'")
    assert get(work, "simrenew_network_orders_total", outcome="completed") == completed
    assert get(work, "simrenew_worker_process_last_tick_timestamp_seconds") >= started
    # The worker's port has the process's figures only: the database's come from the web.
    assert total(work, "simrenew_outbox_backlog") == 0 and not any(
        name == "simrenew_autorenew_subscriptions" for name, _ in work
    )

    assert get(web, "simrenew_autorenew_subscriptions", state="due") == 0
    for channel in ("email", "sms", "webhook", "undispatched"):
        assert get(web, "simrenew_outbox_backlog", channel=channel) == 0
        assert get(web, "simrenew_outbox_oldest_age_seconds", channel=channel) == 0
    assert get(web, "simrenew_worker_last_tick_timestamp_seconds") >= started - 1
    assert get(web, "simrenew_webhook_endpoints", health="healthy") == 1
