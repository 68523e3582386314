"""Switching an endpoint off gives up what was waiting for it at once (as deleting does);
replaying a time range brings back what an endpoint missed, not what is still on its way."""

from __future__ import annotations

from simrenew.notifications.models import Delivery, OutboxMessage
from simrenew.notifications.webhook_events import replay
from simrenew.webhooks.services import create_endpoint, update_endpoint
from tests.factories import make_subscription, renew
from tests.notifications.helpers import run_worker


def test_disabling_an_endpoint_gives_up_its_waiting_deliveries_at_once(clock, receiver):
    endpoint = create_endpoint(url=receiver.url, event_types=["subscription.renewed"])
    subscription = make_subscription()
    renew(subscription)
    renew(subscription)
    receiver.statuses = [503]
    run_worker()  # the first fails and waits for its retry; the second waits behind it
    assert Delivery.objects.filter(channel="webhook", status="pending").count() == 2

    update_endpoint(endpoint, enabled=False)

    assert set(Delivery.objects.filter(channel="webhook").values_list("status", "last_error")) == {
        ("dead", "the webhook endpoint was disabled (disabled by its owner)")
    }
    update_endpoint(endpoint, enabled=True)
    clock.advance(hours=1)
    assert run_worker().total == 0 and len(receiver.requests) == 1  # nothing old comes back by itself


def test_a_time_range_replay_leaves_out_events_still_waiting_for_the_endpoint(clock, receiver):
    endpoint = create_endpoint(url=receiver.url, event_types=["subscription.renewed"])
    subscription = make_subscription()
    since = clock.now()
    renew(subscription)
    clock.advance(minutes=1)
    run_worker()  # the first renewal goes out
    renew(subscription)
    clock.advance(minutes=1)
    receiver.statuses = [503]
    run_worker()  # the second fails and waits for its retry
    first, second = OutboxMessage.objects.filter(event_type="subscription.renewed").order_by("id")

    replayed = replay(endpoint, since=since, until=clock.now())

    assert [d.message_id for d in replayed] == [first.pk]
    clock.advance(minutes=5)
    run_worker()
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    # The second: its failed try and its retry, no third copy from the replay.
    assert ids == [str(first.event_id), str(second.event_id), str(first.event_id), str(second.event_id)]
