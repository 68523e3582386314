"""Resend: a sent or dead message goes out again on its channel, with the same event id."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from simrenew.audit.models import AuditEntry
from simrenew.kit.errors import ValidationFailed
from simrenew.notifications.models import Delivery, OutboxMessage
from simrenew.notifications.resend import NothingToResend, resend_message
from tests.factories import make_subscription
from tests.notifications.helpers import run_worker

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent():  # type: ignore[no-untyped-def]
    return get_user_model().objects.create_user("agent", "agent@example.com", "pw", is_staff=True)


def test_a_sent_receipt_is_sent_again_with_the_same_event_id(clock, settings, mail_server, agent):
    settings.EMAIL_PORT = mail_server.port
    make_subscription()
    run_worker()
    message = OutboxMessage.objects.get(event_type="subscription.created")
    assert len(mail_server.mailbox.messages) == 1
    clock.advance(days=2)

    resend_message(message=message, reason="Customer lost the email", actor=agent)

    delivery = Delivery.objects.get(message=message)
    assert (delivery.status, delivery.next_attempt_at) == ("pending", clock.now())
    assert run_worker().sent == 1
    assert len(mail_server.mailbox.messages) == 2
    assert OutboxMessage.objects.get(pk=message.pk).event_id == message.event_id
    entry = AuditEntry.objects.get(action="resend")
    assert entry.reason == "Customer lost the email" and entry.target_id == str(delivery.pk)


def test_a_dead_delivery_is_tried_again(clock, settings, mail_server, agent):
    settings.EMAIL_PORT = 9  # nothing listens: the delivery dies
    make_subscription()
    run_worker()
    Delivery.objects.update(status="dead")
    settings.EMAIL_PORT = mail_server.port
    message = OutboxMessage.objects.get(event_type="subscription.created")

    resend_message(message=message, reason="Mail server fixed", actor=agent)

    assert run_worker().sent == 1 and Delivery.objects.get().status == "sent"


def test_a_message_still_on_its_way_or_without_a_reason_is_refused(clock, agent):
    make_subscription()
    message = OutboxMessage.objects.get(event_type="subscription.created")
    with pytest.raises(NothingToResend, match="not been planned"):
        resend_message(message=message, reason="Again", actor=agent)
    run_worker()
    Delivery.objects.update(status="pending")
    with pytest.raises(NothingToResend, match="Still being delivered"):
        resend_message(message=message, reason="Again", actor=agent)
    with pytest.raises(ValidationFailed):
        resend_message(message=message, reason=" ", actor=agent)
    assert not AuditEntry.objects.exists()
