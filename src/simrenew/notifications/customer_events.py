"""Events about customers, written to the outbox by listeners that customers call: customers
do not import notifications (notifications depend on them). Registered when the app is ready."""

from __future__ import annotations

from simrenew.customers.models import Customer
from simrenew.customers.services import register_on_created
from simrenew.notifications import payloads
from simrenew.notifications.events import EventType
from simrenew.notifications.services import emit


def customer_created(customer: Customer) -> None:
    data = payloads.customer_created(customer_id=customer.pk, email=customer.email)
    emit(EventType.CUSTOMER_CREATED, customer=customer, data=data)


def register() -> None:
    register_on_created(customer_created)
