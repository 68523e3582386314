"""The TMF641 listener is a doorbell: a carrier's event about one of our orders makes the worker look
at it now (204); anything else gets a TMF Error in JSON, never an HTML page, and changes nothing."""

from __future__ import annotations

import pytest
from django.test import Client

from simrenew.kit import clock as kit_clock
from simrenew.provisioning.models import LineOrder
from tests.factories import make_subscription

pytestmark = pytest.mark.django_db

LISTENER = "/tmf-api/serviceOrdering/v4/listener/serviceOrderStateChangeEvent"


def event(order_id: str | None = None, external_id: str | None = None) -> dict[str, object]:
    order: dict[str, str] = {"state": "completed"}
    if order_id:
        order["id"] = order_id
    if external_id:
        order["externalId"] = external_id
    return {"eventId": "e-1", "eventType": "ServiceOrderStateChangeEvent", "event": {"serviceOrder": order}}


def in_progress_order(wall_clock) -> LineOrder:
    subscription = make_subscription(auto_renew=False)
    order = LineOrder.objects.get(line__esim_id=subscription.esim_id)
    order.status, order.carrier_order_id = "in_progress", "so-000042"
    order.next_attempt_at = wall_clock.advance(hours=1)
    order.save()
    return order


def test_an_event_about_our_order_rings_the_doorbell(clock, wall_clock):
    order = in_progress_order(wall_clock)
    answer = Client().post(LISTENER, event(order_id="so-000042"), content_type="application/json")
    assert answer.status_code == 204 and answer.content == b""
    order.refresh_from_db()
    assert order.next_attempt_at == kit_clock.system_now()  # polled at the worker's next pass
    assert order.status == "in_progress"  # the event's "completed" is not believed


def test_an_event_by_external_id_is_enough(clock, wall_clock):
    order = in_progress_order(wall_clock)
    answer = Client().post(LISTENER, event(external_id=order.external_id), content_type="application/json")
    assert answer.status_code == 204


def test_an_unknown_order_is_a_tmf_404(clock, wall_clock):
    answer = Client().post(LISTENER, event(order_id="so-nobody"), content_type="application/json")
    assert answer.status_code == 404
    assert answer["Content-Type"].startswith("application/json")
    assert answer.json()["code"] == "404" and answer.json()["reason"] == "Unknown service order"


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"event": {}}', b'{"event": {"serviceOrder": {"id": 7}}}'])
def test_a_malformed_event_is_a_tmf_400(clock, body):
    answer = Client().post(LISTENER, body, content_type="application/json")
    assert answer.status_code == 400
    assert answer.json()["code"] == "400"


def test_only_post_is_answered_and_in_json(clock):
    answer = Client().get(LISTENER)
    assert answer.status_code == 405 and answer.json()["code"] == "405"


def test_one_client_ringing_too_often_is_told_to_wait(clock, wall_clock, settings):
    settings.SIMRENEW_TMF_LISTENER_EVENTS_PER_MINUTE = 2
    wall_clock.now = wall_clock.now.replace(second=15, microsecond=0)
    order = in_progress_order(wall_clock)
    ring = lambda: Client().post(LISTENER, event(external_id=order.external_id), content_type="application/json")  # noqa: E731

    assert [ring().status_code for _ in range(2)] == [204, 204]
    refused = ring()

    assert refused.status_code == 429 and refused["Retry-After"] == "45"
    assert refused.json()["reason"] == "Too many requests"
    wall_clock.advance(minutes=1)
    assert ring().status_code == 204  # a new minute
