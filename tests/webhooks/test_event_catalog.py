"""Every event partners are promised is written by the service that makes the change,
with a payload that says what happened."""

from __future__ import annotations

from simrenew.esims.services import assign_profile, mark_installed
from simrenew.notifications.events import EVENT_KINDS
from simrenew.notifications.models import OutboxMessage
from tests.factories import make_customer, make_esim

PROMISED = {
    "customer.created",
    "esim.assigned",
    "esim.installed",
    "subscription.created",
    "subscription.renewed",
    "subscription.renewal_failed",
    "subscription.expiring",
    "subscription.suspended",
    "subscription.cancelled",
    "subscription.terminated",
    "usage.threshold_reached",
    "payment.refunded",
}


def test_every_promised_event_type_is_known():
    assert set(EVENT_KINDS) >= PROMISED


def test_assigning_and_installing_an_esim_are_events_without_its_activation_code(clock):
    customer = make_customer()
    stock = make_esim(carrier="tmobile")

    profile = assign_profile(customer=customer, carrier_code="tmobile")
    mark_installed(profile)
    mark_installed(profile)  # again: nothing new happened, no event

    assigned, installed = OutboxMessage.objects.filter(event_type__startswith="esim.").order_by("id")
    assert (assigned.event_type, installed.event_type) == ("esim.assigned", "esim.installed")
    assert assigned.customer_id == installed.customer_id == customer.pk
    assert assigned.payload == {
        "esim_id": stock.pk,
        "customer_id": customer.pk,
        "carrier": "tmobile",
        "iccid": stock.iccid,
        "msisdn": stock.msisdn,
        "status": "assigned",
        "assigned_at": "2026-01-15T12:00:00+00:00",
        "installed_at": None,
    }
    assert installed.payload["status"] == "installed"
    assert installed.payload["installed_at"] == "2026-01-15T12:00:00+00:00"
    assert stock.activation_code not in str(assigned.payload) + str(installed.payload)


def test_an_events_number_comes_only_from_the_subscriptions_counter(clock):
    """`emit` takes no `sequence`: a caller's number (once the subscription's change
    counter) could only disagree with the counter that orders partners' events."""
    import inspect

    import pytest

    from simrenew.notifications.services import Event, emit

    assert "sequence" not in inspect.signature(emit).parameters
    assert "sequence" not in Event.__dataclass_fields__
    with pytest.raises(TypeError):
        emit("customer.created", customer=make_customer(), sequence=7, data={})  # type: ignore[call-arg]
