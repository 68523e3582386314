"""The webhook documentation (the OpenAPI document's `webhooks`) is generated from the typed
event payloads: every event type is documented, with exactly the fields its builder writes, and
a body the service really sends validates against the documented schema."""

from __future__ import annotations

import json
from typing import Any, get_type_hints

import jsonschema_rs
import pytest

from simrenew.api.openapi import document_text
from simrenew.api.webhook_docs import ENVELOPE_FIELDS, SCHEMA_REF, schema_name
from simrenew.notifications.events import SPECS, EventType
from simrenew.notifications.models import OutboxMessage
from simrenew.notifications.webhook_events import event_body
from tests.factories import make_card, make_plan, make_subscription, renew

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(document_text())
    return document


def body_schema(spec: dict[str, Any], event_type: str) -> dict[str, Any]:
    ref = spec["webhooks"][event_type]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert ref == SCHEMA_REF + schema_name(event_type)
    schema: dict[str, Any] = spec["components"]["schemas"][ref.removeprefix(SCHEMA_REF)]
    return schema


def test_every_event_type_is_documented_and_nothing_else(spec):
    assert set(spec["webhooks"]) == {str(event_type) for event_type in EventType}
    for event_type, hook in spec["webhooks"].items():
        operation = hook["post"]
        assert operation["summary"] == SPECS[EventType(event_type)].summary
        assert {p["name"] for p in operation["parameters"]} == {"webhook-id", "webhook-timestamp", "webhook-signature"}


@pytest.mark.parametrize("event_type", list(EventType))
def test_each_documented_body_has_exactly_the_fields_of_its_payload_type(spec, event_type):
    schema = body_schema(spec, event_type)
    data = schema["properties"]["data"]

    assert schema["properties"]["type"] == {"const": event_type}
    assert set(data["properties"]) == set(get_type_hints(SPECS[event_type].payload)) | set(ENVELOPE_FIELDS)
    assert set(data["required"]) == set(data["properties"])


def test_a_failed_renewal_as_sent_validates_against_its_documentation(spec, clock):
    subscription = make_subscription(plan=make_plan(period_unit="month"))
    renew(subscription, payment_method=make_card(customer=subscription.customer, number="4000000000009987"))
    message = OutboxMessage.objects.get(event_type="subscription.renewal_failed")
    validator = jsonschema_rs.validator_for({"$ref": SCHEMA_REF + schema_name(message.event_type), **spec})

    sent = json.loads(event_body(message))

    assert [str(error) for error in validator.iter_errors(sent)] == []
    assert sent["data"]["failure_code"] == "lost_card"


def test_every_event_written_by_a_renewal_and_a_receipt_validates(spec, clock):
    subscription = make_subscription(plan=make_plan(period_unit="month"))
    renew(subscription, payment_method=make_card(customer=subscription.customer))

    messages = list(OutboxMessage.objects.all())

    assert {m.event_type for m in messages} >= {"customer.created", "subscription.created", "subscription.renewed"}
    for message in messages:
        validator = jsonschema_rs.validator_for({"$ref": SCHEMA_REF + schema_name(message.event_type), **spec})
        errors = [str(error) for error in validator.iter_errors(json.loads(event_body(message)))]
        assert errors == [], message.event_type
