"""Partners receive events on their endpoints, signed per Standard Webhooks, at least
once: a failing receiver gets the same event again (same webhook-id) after a backoff."""

from __future__ import annotations

import json

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from simrenew.notifications.delivery import dispatch_pending
from simrenew.notifications.models import Delivery, OutboxMessage
from simrenew.webhooks.models import WebhookEndpoint
from simrenew.webhooks.services import create_endpoint, new_secret
from tests.factories import make_subscription
from tests.notifications.helpers import run_worker


def verified(endpoint: WebhookEndpoint, request) -> dict:
    """What a partner does with each request: check the signature, then read the event."""
    return Webhook(endpoint.secret).verify(request.body, request.headers)


def test_a_partner_receives_each_event_signed_and_can_verify_it(clock, receiver):
    endpoint = create_endpoint(url=receiver.url)
    subscription = make_subscription()

    run = run_worker()

    assert run.sent == 3  # customer.created and subscription.created to the partner, the receipt by email
    assert len(receiver.requests) == 2
    events = {
        verified(endpoint, request)["type"]: (request, verified(endpoint, request)) for request in receiver.requests
    }
    request, created = events["subscription.created"]
    message = OutboxMessage.objects.get(event_type="subscription.created")
    assert request.path == "/hooks"
    assert request.headers["webhook-id"] == str(message.event_id)
    assert request.headers["content-type"] == "application/json"
    assert created["timestamp"] == message.created_at.isoformat() == "2026-01-15T12:00:00+00:00"
    assert created["data"]["subscription_id"] == subscription.pk
    assert created["data"]["sequence"] == message.sequence
    assert created["data"]["period"]["number"] == 1
    assert events["customer.created"][1]["data"]["customer_id"] == subscription.customer_id
    assert set(Delivery.objects.filter(channel="webhook").values_list("status", "provider_reference")) == {
        ("sent", "HTTP 200")
    }


def test_a_signature_made_with_another_secret_does_not_verify(clock, receiver):
    create_endpoint(url=receiver.url)
    make_subscription()
    run_worker()

    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(receiver.requests[0].body, receiver.requests[0].headers)


def test_a_receiver_that_fails_once_gets_the_same_event_again_after_a_minute(clock, receiver):
    endpoint = create_endpoint(url=receiver.url, event_types=["subscription.created"])
    make_subscription()
    receiver.statuses = [500]

    first = run_worker()
    endpoint.refresh_from_db()
    delivery = Delivery.objects.get(channel="webhook")

    assert first.retrying == 1 and delivery.last_error == "webhook answered HTTP 500"
    assert endpoint.consecutive_failures == 1
    assert run_worker().total == 0  # not yet due

    clock.advance(minutes=1)
    second = run_worker()

    endpoint.refresh_from_db()
    delivery.refresh_from_db()
    assert second.sent == 1 and delivery.status == "sent" and delivery.attempts == 2
    assert endpoint.consecutive_failures == 0
    first_try, retry = receiver.requests
    assert first_try.headers["webhook-id"] == retry.headers["webhook-id"]  # the receiver can deduplicate
    assert json.loads(first_try.body) == json.loads(retry.body)
    verified(endpoint, retry)


def test_a_receiver_answering_410_gone_is_not_tried_again(clock, receiver):
    endpoint = create_endpoint(url=receiver.url, event_types=["subscription.created"])
    make_subscription()
    receiver.default = 410

    run = run_worker()

    delivery = Delivery.objects.get(channel="webhook")
    assert run.dead == 1 and delivery.status == "dead" and delivery.last_error == "webhook answered HTTP 410"
    clock.advance(days=1)
    assert run_worker().total == 0 and len(receiver.requests) == 1
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 1


def test_an_unreachable_receiver_is_tried_again_and_its_failures_counted(clock):
    endpoint = create_endpoint(url="http://127.0.0.1:9/hooks", event_types=["subscription.created"])
    make_subscription()

    run = run_worker()
    clock.advance(minutes=1)
    run_worker()

    endpoint.refresh_from_db()
    delivery = Delivery.objects.get(channel="webhook")
    assert run.retrying == 1 and delivery.attempts == 2 and delivery.status == "pending"
    assert delivery.last_error.startswith("webhook unreachable")
    assert endpoint.consecutive_failures == 2


def test_an_endpoint_disabled_after_the_event_was_planned_gets_nothing(clock, receiver):
    endpoint = create_endpoint(url=receiver.url, event_types=["subscription.created"])
    make_subscription()
    dispatch_pending()
    endpoint.enabled = False
    endpoint.save()

    run = run_worker()

    assert run.dead == 1 and receiver.requests == []
    assert Delivery.objects.get(channel="webhook").last_error == "the webhook endpoint is disabled"
