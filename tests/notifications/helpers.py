"""Shared steps for the delivery stories."""

from __future__ import annotations

from simrenew.customers.models import Customer
from simrenew.customers.services import Channels, set_notification_preferences, update_customer
from simrenew.notifications.delivery import DeliveryRun, deliver_due, dispatch_pending
from tests.factories import make_customer

WORKER = "worker-1"


def run_worker(*, worker_id: str = WORKER) -> DeliveryRun:
    """What one tick of `simrenew worker` does with the outbox: plan new events, send what is due."""
    while dispatch_pending() == 500:
        pass
    return deliver_due(worker_id=worker_id)


def texting_customer(
    *,
    phone: str = "+12125550100",
    locale: str = "en",
    time_zone: str = "America/New_York",
    email: bool = True,
    kinds: tuple[str, ...] = ("receipt",),
) -> Customer:
    """A customer with a phone number who asked for these kinds of notice by SMS too."""
    customer = update_customer(make_customer(locale=locale, time_zone=time_zone), phone=phone)
    set_notification_preferences(customer, {kind: Channels(email=email, sms=True) for kind in kinds})
    return customer
