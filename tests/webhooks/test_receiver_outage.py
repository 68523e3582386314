"""A partner's receiver goes down for hours and comes back: it gets every event it
missed, each verified with the standardwebhooks library, exactly once (by webhook-id)
and in order, with each subscription's events numbered 1, 2, 3, … without a gap.

The receiver is a real HTTP server on a loopback port; while it is stopped the port
refuses connections. Deliveries are made by the worker's own tick (`Worker.run_once`),
and the test clock moves retries on."""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from simrenew.notifications.models import Delivery, OutboxMessage
from simrenew.subscriptions.cancellation import cancel
from simrenew.webhooks.services import create_endpoint
from simrenew.worker.runner import Worker
from tests.factories import make_plan, make_subscription, renew
from tests.notifications.servers import free_port


@dataclass
class Arrival:
    path: str
    webhook_id: str
    event: dict[str, Any]


class VerifyingReceiver:
    """What a partner runs: each path is one endpoint with its own secret; a request whose
    signature does not verify is refused (401) and counted, a verified one kept."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.secrets: dict[str, str] = {}
        self.arrivals: list[Arrival] = []
        self.refused: list[str] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {key.lower(): value for key, value in self.headers.items()}
                status = 200
                try:
                    event = Webhook(receiver.secrets[self.path]).verify(body, headers)
                except (KeyError, WebhookVerificationError) as exc:
                    status = 401
                    with receiver._lock:
                        receiver.refused.append(f"{self.path}: {exc!r}")
                else:
                    with receiver._lock:
                        receiver.arrivals.append(Arrival(self.path, headers["webhook-id"], event))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Down: the port is closed, so connecting is refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def first_arrivals(self, path: str) -> list[Arrival]:
        """What the partner keeps after dropping repeats by webhook-id."""
        seen: set[str] = set()
        kept: list[Arrival] = []
        for arrival in self.arrivals:
            if arrival.path == path and arrival.webhook_id not in seen:
                seen.add(arrival.webhook_id)
                kept.append(arrival)
        return kept


@pytest.fixture
def partner() -> Iterator[VerifyingReceiver]:
    receiver = VerifyingReceiver(free_port())
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


def tick(worker: Worker) -> None:
    worker.run_once()


def test_after_an_outage_every_event_arrives_once_and_in_order(clock, partner):
    everything = create_endpoint(url=partner.url("/all"))
    renewals_only = create_endpoint(
        url=partner.url("/renewals"), event_types=["subscription.renewed", "subscription.cancelled"]
    )
    partner.secrets = {"/all": everything.secret, "/renewals": renewals_only.secret}
    plan = make_plan(period_unit="month", price_minor=2500)
    subscriptions = [make_subscription(plan=plan) for _ in range(3)]
    worker = Worker(worker_id="outage", batches_in_flight=1)

    tick(worker)
    before_outage = len(partner.arrivals)
    assert before_outage == 6  # customer.created and subscription.created for each

    partner.stop()
    for subscription in subscriptions:
        renew(subscription)
        renew(subscription)
    cancel(subscriptions[1], when="period_end")
    tick(worker)

    # One attempt per endpoint (its oldest event); the rest wait behind it, untried.
    tried = Delivery.objects.filter(channel="webhook", attempts__gt=0, status="pending")
    assert tried.count() == 2
    assert not Delivery.objects.filter(channel="webhook", status="pending", attempts=0, claimed_by__gt="").exists()
    for minutes in (1, 5, 30, 120, 360):  # the first retry steps, all while the receiver is down
        clock.advance(minutes=minutes)
        tick(worker)
    assert len(partner.arrivals) == before_outage
    head = tried.order_by("message_id").first()
    assert head is not None and head.attempts == 6 and head.last_error.startswith("webhook unreachable")
    assert not Delivery.objects.filter(channel="webhook", status="dead").exists()

    partner.start()
    clock.advance(hours=12)  # the next retry of the first event comes due
    tick(worker)
    worker.close()

    assert partner.refused == []  # every signature verified
    assert not Delivery.objects.filter(channel="webhook").exclude(status="sent").exists()
    events = list(OutboxMessage.objects.order_by("id"))
    for path, endpoint in (("/all", everything), ("/renewals", renewals_only)):
        wanted = [m for m in events if endpoint.wants(m.event_type)]
        kept = partner.first_arrivals(path)
        # Every event exactly once (nothing sent twice: no dedup needed either), in the order it happened.
        assert [a.webhook_id for a in kept] == [str(m.event_id) for m in wanted]
        assert len(kept) == len([a for a in partner.arrivals if a.path == path])
        assert [a.event["data"]["event_id"] for a in kept] == [a.webhook_id for a in kept]
        assert [a.event["type"] for a in kept] == [m.event_type for m in wanted]
    assert len(partner.first_arrivals("/renewals")) == 7  # six renewals, one cancellation

    # Each subscription's events: 1, 2, 3, … in the order they arrived, no gaps.
    numbers: dict[int, list[int]] = defaultdict(list)
    for arrival in partner.first_arrivals("/all"):
        data = arrival.event["data"]
        if data["subscription_id"] is not None:
            numbers[data["subscription_id"]].append(data["sequence"])
    assert set(numbers) == {s.pk for s in subscriptions}
    for subscription in subscriptions:
        count = OutboxMessage.objects.filter(subscription=subscription).count()
        assert numbers[subscription.pk] == list(range(1, count + 1))
    assert len(numbers[subscriptions[1].pk]) == 4  # created, renewed twice, cancelled


def test_the_body_a_receiver_verifies_is_the_event_as_the_events_api_shows_it(clock, partner):
    endpoint = create_endpoint(url=partner.url("/all"), event_types=["subscription.created"])
    partner.secrets = {"/all": endpoint.secret}
    subscription = make_subscription()

    Worker(worker_id="body", batches_in_flight=1).run_once()

    [arrival] = partner.arrivals
    message = OutboxMessage.objects.get(event_type="subscription.created")
    assert arrival.event == {
        "type": "subscription.created",
        "timestamp": "2026-01-15T12:00:00+00:00",
        "data": {
            **json.loads(json.dumps(message.payload)),
            "event_id": str(message.event_id),
            "customer_id": subscription.customer_id,
            "subscription_id": subscription.pk,
            "sequence": 1,
        },
    }
