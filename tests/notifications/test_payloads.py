"""One typed payload per event type, built by one function, held to its shape where it is
emitted: a payload missing a field, with one too many or of the wrong type never reaches a
partner from a sandbox (or a test), and `subscription.renewal_failed` says the same fields
whichever path failed."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import get_type_hints

import pytest

from simrenew.notifications import payloads
from simrenew.notifications.events import (
    EVENT_KINDS,
    SPECS,
    EventType,
    PayloadMismatch,
    payload_problems,
    payload_schema,
)
from simrenew.notifications.models import OutboxMessage
from simrenew.notifications.services import Event, emit, emit_many
from simrenew.payments.failures import FailureCode, failure_message
from tests.factories import make_card, make_customer, make_plan, make_subscription, renew, renew_due
from tests.notifications.helpers import receipt_payload, sample_payload

pytestmark = pytest.mark.django_db


def test_every_event_type_has_one_payload_shape_and_its_notice_kind():
    assert set(SPECS) == set(EventType) == set(EVENT_KINDS)
    for spec in SPECS.values():
        assert get_type_hints(spec.payload), spec
    # esim.assigned and esim.installed say the same things; no other two types share a shape.
    shared = [t for t, s in SPECS.items() if s.payload is payloads.EsimChanged]
    assert shared == [EventType.ESIM_ASSIGNED, EventType.ESIM_INSTALLED]


@pytest.mark.parametrize("event_type", sorted(t for t, kind in EVENT_KINDS.items() if kind is not None))
def test_each_builder_makes_the_shape_of_its_event_type(clock, event_type):
    subscription = make_subscription()

    assert payload_problems(event_type, sample_payload(event_type, subscription)) == []


def test_emit_refuses_a_payload_that_is_not_its_event_types_shape(clock):
    customer = make_customer()
    good = receipt_payload()

    with pytest.raises(PayloadMismatch, match="missing auto_renewed"):
        emit("subscription.renewed", customer=customer, data={k: v for k, v in good.items() if k != "auto_renewed"})
    with pytest.raises(PayloadMismatch, match="unexpected note"):
        emit("subscription.renewed", customer=customer, data={**good, "note": "hi"})
    with pytest.raises(PayloadMismatch, match=re.escape("amount_minor is '25.00'")):
        emit("subscription.renewed", customer=customer, data={**good, "amount_minor": "25.00"})
    with pytest.raises(PayloadMismatch, match="period is"):
        emit("subscription.renewed", customer=customer, data={**good, "period": {"number": 1}})
    with pytest.raises(PayloadMismatch, match="not an event type"):
        emit("subscription.teleported", customer=customer, data={})
    # The right payload under another event type is refused too.
    with pytest.raises(PayloadMismatch):
        emit("subscription.created", customer=customer, data=good)

    assert not OutboxMessage.objects.filter(event_type="subscription.renewed").exists()


def test_emit_many_checks_every_rows_fields_and_the_first_rows_types(clock):
    customer = make_customer()
    good = receipt_payload()
    event = Event("subscription.renewed", customer.pk, None, good)

    with pytest.raises(PayloadMismatch, match="missing invoice"):
        emit_many(
            [
                event,
                event,
                Event(event.event_type, customer.pk, None, {k: v for k, v in good.items() if k != "invoice"}),
            ]
        )
    with pytest.raises(PayloadMismatch, match="auto_renewed is 'yes'"):
        emit_many([Event(event.event_type, customer.pk, None, {**good, "auto_renewed": "yes"}), event])

    emit_many([event, event])

    assert OutboxMessage.objects.filter(event_type="subscription.renewed").count() == 2


def test_in_live_mode_a_mismatch_is_logged_and_the_event_still_written(clock, settings, caplog):
    """A builder's bug must not roll back the payment or renewal the event reports."""
    settings.SIMRENEW_SANDBOX = False
    customer = make_customer()

    with caplog.at_level(logging.ERROR, logger="simrenew.notifications.services"):
        emit("subscription.renewed", customer=customer, data={**receipt_payload(), "note": "hi"})

    assert OutboxMessage.objects.filter(event_type="subscription.renewed").count() == 1
    assert "event=payload_mismatch type=subscription.renewed" in caplog.text


def test_a_failed_renewal_says_the_same_fields_by_hand_and_by_auto_renew(clock):
    by_hand = make_subscription(plan=make_plan(period_unit="month"))
    renew(by_hand, payment_method=make_card(customer=by_hand.customer, number="4000000000000002"))
    automatic = make_subscription(plan=make_plan(period_unit="month"))
    automatic.payment_method = make_card(customer=automatic.customer, number="4000000000000002")
    automatic.save(update_fields=["payment_method"])
    clock.set(automatic.paid_through - timedelta(hours=72))
    renew_due()

    hand, auto = (
        OutboxMessage.objects.get(event_type="subscription.renewal_failed", subscription=s).payload
        for s in (by_hand, automatic)
    )

    assert hand.keys() == auto.keys() == get_type_hints(payloads.RenewalFailed).keys()
    declined = failure_message(FailureCode.CARD_DECLINED)
    assert (hand["failure_code"], hand["failure_message"]) == (auto["failure_code"], auto["failure_message"])
    assert (hand["failure_code"], hand["failure_message"]) == ("card_declined", declined)
    # Paid by hand while auto-renew is on: the worker still tries at its time, and the event says when.
    assert (hand["action"], hand["next_retry_at"]) == ("wait_for_retry", by_hand.renewal_due_at.isoformat())
    assert hand["expires_at"] == by_hand.paid_through.isoformat()
    assert auto["action"] == "wait_for_retry" and auto["next_retry_at"] is not None


def test_the_documented_shape_is_the_built_shape():
    schema = payload_schema("subscription.renewal_failed")

    assert set(schema["required"]) == set(get_type_hints(payloads.RenewalFailed))
    assert schema["properties"]["action"] == {
        "enum": ["wait_for_retry", "update_payment_method", "renew_by_hand", "confirm_payment"]
    }
    assert schema["properties"]["next_retry_at"] == {
        "anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]
    }
    assert payload_schema("subscription.created")["properties"]["period"]["required"] == [
        "ends_at",
        "number",
        "starts_at",
    ]
