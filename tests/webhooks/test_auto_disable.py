"""An endpoint whose every attempt has failed for three days is disabled and the operator
is emailed, once, through the real mail path (a real SMTP server here). A success in
between starts the count again; enabling it again starts afresh."""

from __future__ import annotations

from datetime import timedelta

from simrenew.notifications.delivery import dispatch_pending
from simrenew.notifications.models import Delivery
from simrenew.subscriptions.models import Subscription
from simrenew.webhooks.models import WebhookEndpoint
from simrenew.webhooks.services import create_endpoint, record_failure, update_endpoint
from tests.factories import make_subscription, renew
from tests.notifications.helpers import run_worker

DOWN = "http://127.0.0.1:9/hooks"  # the discard port: connection refused


def a_day_of_retries(clock) -> None:
    for _ in range(4):
        clock.advance(hours=6)
        run_worker()


def test_an_endpoint_failing_for_three_days_is_disabled_and_the_operator_told_once(clock, mail_server, settings):
    settings.SIMRENEW_OPERATOR_EMAIL = ["ops@example.com"]
    endpoint = create_endpoint(url=DOWN, event_types=["subscription.renewed"], description="Partner CRM")
    subscription = make_subscription()
    renew(subscription)
    run_worker()
    a_day_of_retries(clock)
    a_day_of_retries(clock)
    endpoint.refresh_from_db()
    assert endpoint.enabled and endpoint.failing_since is not None  # two days: still trying

    a_day_of_retries(clock)  # the first event's retries end; it is dead
    renew(
        Subscription.objects.get(pk=subscription.pk)
    )  # something new to send, more than 3 days after the first failure
    run_worker()
    a_day_of_retries(clock)

    endpoint.refresh_from_db()
    assert not endpoint.enabled and endpoint.disabled_at is not None
    assert endpoint.disabled_reason == "every attempt failed for 3 days"
    operator_mail = [m for m in mail_server.mailbox.messages if "ops@example.com" in m["To"]]
    assert len(operator_mail) == 1
    assert operator_mail[0]["Subject"] == f"[simrenew] Webhook endpoint {endpoint.pk} disabled after failing"
    text = operator_mail[0].get_content()
    assert DOWN in text and "webhook unreachable" in text and "replay" in text
    assert not Delivery.objects.filter(endpoint=endpoint, status="pending").exists()

    update_endpoint(endpoint, enabled=True)
    endpoint.refresh_from_db()
    assert endpoint.enabled and endpoint.consecutive_failures == 0 and endpoint.failing_since is None


def test_the_operator_falls_back_to_django_admins(clock, mail_server, settings):
    settings.SIMRENEW_OPERATOR_EMAIL = []
    settings.ADMINS = [("Ops", "admins@example.com")]
    settings.SIMRENEW_WEBHOOK_DISABLE_AFTER_DAYS = 0.01  # about a quarter of an hour
    create_endpoint(url=DOWN, event_types=["subscription.created"])
    make_subscription()
    run_worker()
    for minutes in (1, 5, 30):
        clock.advance(minutes=minutes)
        run_worker()

    assert [m["To"] for m in mail_server.mailbox.messages if "Webhook endpoint" in m["Subject"]] == [
        "admins@example.com"
    ]


def test_a_success_between_failures_starts_the_count_again(clock, receiver):
    endpoint = create_endpoint(url=receiver.url, event_types=["subscription.renewed"])
    subscription = make_subscription()
    receiver.statuses = [500]
    renew(subscription)
    run_worker()
    clock.advance(days=2)
    run_worker()  # the retry succeeds
    clock.advance(days=2)
    receiver.statuses = [500]
    renew(Subscription.objects.get(pk=subscription.pk))
    run_worker()

    endpoint.refresh_from_db()
    assert endpoint.enabled and endpoint.consecutive_failures == 1 and endpoint.failing_since == clock.now()
    assert WebhookEndpoint.objects.filter(enabled=False).count() == 0


def test_the_disabling_failure_gives_up_what_was_waiting_at_once(clock):
    endpoint = create_endpoint(url=DOWN, event_types=["subscription.renewed"])
    subscription = make_subscription()
    renew(subscription)
    renew(Subscription.objects.get(pk=subscription.pk))
    dispatch_pending()  # planned, not sent: two deliveries wait for the endpoint
    assert Delivery.objects.filter(endpoint=endpoint, status="pending").count() == 2
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=clock.now() - timedelta(days=4))

    assert record_failure(endpoint.pk) is True

    waiting = Delivery.objects.filter(endpoint=endpoint)
    assert [d.status for d in waiting] == ["dead", "dead"]
    assert all("disabled after failing" in d.last_error for d in waiting)
