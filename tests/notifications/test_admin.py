"""The operator's console: deliveries and events to read, filtered by state, and dead
deliveries sent again with one action."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from simrenew.notifications.models import Delivery, OutboxMessage
from tests.factories import make_subscription
from tests.notifications.helpers import run_worker


@pytest.fixture
def operator(client: Client) -> Client:
    admin = get_user_model().objects.create_superuser("operator", "operator@example.com", "correct horse battery")
    client.force_login(admin)
    return client


def test_the_operator_finds_dead_deliveries_and_sends_them_again(clock, settings, operator, mail_server):
    settings.EMAIL_PORT = 9  # the mail server is misconfigured at first
    make_subscription()
    run_worker()
    Delivery.objects.update(status="dead", last_error="SMTP unavailable: ConnectionRefusedError")
    delivery = Delivery.objects.get()

    listing = operator.get("/admin/notifications/delivery/", {"status__exact": "dead", "channel__exact": "email"})

    assert listing.status_code == 200 and listing.context["cl"].result_count == 1
    assert "SMTP unavailable" in listing.content.decode()

    settings.EMAIL_PORT = mail_server.port  # fixed
    clock.advance(days=5)
    response = operator.post(
        "/admin/notifications/delivery/",
        {"action": "retry_now", "_selected_action": [delivery.pk]},
        follow=True,
    )

    assert "1 delivery(ies) will be retried now." in response.content.decode()
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.next_attempt_at == clock.now()
    assert run_worker().sent == 1
    assert len(mail_server.mailbox.messages) == 1


def test_events_and_deliveries_are_read_only(clock, operator):
    make_subscription()
    run_worker()
    event = OutboxMessage.objects.get(event_type="subscription.created")
    delivery = Delivery.objects.get()

    page = operator.get(f"/admin/notifications/outboxmessage/{event.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert operator.post(f"/admin/notifications/delivery/{delivery.pk}/change/", {"status": "sent"}).status_code == 403
    assert operator.get("/admin/notifications/delivery/add/").status_code == 403
    assert operator.get("/admin/notifications/outboxmessage/", {"status__exact": "dispatched"}).status_code == 200
