"""`GET /metrics`: what the processes counted and what the database says, for Prometheus, behind
a bearer token. The figures read from the database are right whichever process changed them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client, override_settings
from prometheus_client.parser import text_string_to_metric_families

from simrenew.kit.clock import system_now
from simrenew.notifications.models import Delivery, OutboxMessage
from simrenew.webhooks.models import WebhookEndpoint
from simrenew.worker.models import WorkerHeartbeat
from tests.factories import make_subscription

TOKEN = "metrics-token-for-tests-0123456789"


def scrape(client: Client | None = None, token: str = TOKEN) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = (client or Client()).get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.content
    assert answer["Content-Type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.content.decode())
        for sample in family.samples
    }


def sample(figures: dict, name: str, **labels: str) -> float:
    return figures[(name, tuple(sorted(labels.items())))]


@override_settings(SIMRENEW_METRICS_TOKEN=TOKEN)
@pytest.mark.django_db
def test_with_a_token_set_only_its_bearer_reads_the_figures():
    client = Client()

    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    refused = client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"})
    assert refused.status_code == 401 and refused["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"simrenew_" not in refused.content
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


@override_settings(SIMRENEW_METRICS_TOKEN="", SIMRENEW_SANDBOX=False)
@pytest.mark.django_db
def test_live_without_a_token_metrics_are_not_served():
    answer = Client().get("/metrics", secure=True)

    assert answer.status_code == 404
    assert b"simrenew_" not in answer.content


@override_settings(SIMRENEW_METRICS_TOKEN="")
@pytest.mark.django_db
def test_the_sandbox_without_a_token_serves_them_to_anyone():
    answer = Client().get("/metrics")

    assert answer.status_code == 200 and b"simrenew_http_requests_total" in answer.content


@override_settings(SIMRENEW_METRICS_TOKEN=TOKEN)
def test_the_database_figures_backlog_dead_letters_endpoints_due_and_worker_tick(clock):
    subscription = make_subscription()  # its events wait to be dispatched
    event = OutboxMessage.objects.earliest("id")
    now = clock.now()
    for number, (channel, status, due) in enumerate(
        [
            ("email", "pending", now - timedelta(minutes=20)),
            ("email", "pending", now - timedelta(minutes=3)),
            ("email", "pending", now + timedelta(hours=1)),  # a retry later: not in the backlog yet
            ("sms", "dead", now - timedelta(days=1)),
            ("email", "sent", now - timedelta(days=1)),
        ]
    ):
        Delivery.objects.create(
            message=event,
            channel=channel,
            recipient=f"r{number}@example.com",
            status=status,
            next_attempt_at=due,
            created_at=now - timedelta(days=1),
        )
    for enabled, failures in ((True, 0), (True, 0), (True, 3), (False, 9)):
        WebhookEndpoint.objects.create(
            url="https://partner.example.com/hooks",
            secret="whsec_dGVzdA==",
            enabled=enabled,
            consecutive_failures=failures,
            created_at=now,
        )
    tick = system_now() - timedelta(seconds=30)
    WorkerHeartbeat.objects.create(worker_id="w:1:a", started_at=tick, last_tick_at=tick)
    subscription.renewal_due_at = now - timedelta(minutes=1)
    subscription.save(update_fields=["renewal_due_at"])

    figures = scrape()

    assert sample(figures, "simrenew_outbox_backlog", channel="email") == 2
    assert sample(figures, "simrenew_outbox_oldest_age_seconds", channel="email") == pytest.approx(1200)
    assert sample(figures, "simrenew_outbox_backlog", channel="webhook") == 0
    assert sample(figures, "simrenew_outbox_oldest_age_seconds", channel="webhook") == 0
    assert sample(figures, "simrenew_outbox_dead_letters", channel="sms") == 1
    assert sample(figures, "simrenew_outbox_dead_letters", channel="email") == 0
    undispatched = OutboxMessage.objects.filter(status="pending").count()
    assert undispatched >= 1 and sample(figures, "simrenew_outbox_backlog", channel="undispatched") == undispatched
    assert sample(figures, "simrenew_webhook_endpoints", health="healthy") == 2
    assert sample(figures, "simrenew_webhook_endpoints", health="failing") == 1
    assert sample(figures, "simrenew_webhook_endpoints", health="disabled") == 1
    assert sample(figures, "simrenew_autorenew_subscriptions", state="due") == 1
    assert sample(figures, "simrenew_worker_last_tick_timestamp_seconds") == pytest.approx(tick.timestamp())
    assert sample(figures, "simrenew_workers_running") == 1


@override_settings(SIMRENEW_METRICS_TOKEN=TOKEN)
@pytest.mark.django_db
def test_with_nothing_anywhere_every_database_figure_is_zero():
    figures = scrape()

    assert sample(figures, "simrenew_worker_last_tick_timestamp_seconds") == 0
    for channel in ("email", "sms", "webhook", "undispatched"):
        assert sample(figures, "simrenew_outbox_backlog", channel=channel) == 0
    for state in ("due", "claimed", "retrying", "waiting_for_customer"):
        assert sample(figures, "simrenew_autorenew_subscriptions", state=state) == 0
