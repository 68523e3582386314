"""A customer with a real history, made by the factories: the person whose data is exported and
erased in these tests, and every personal value of theirs that must not outlive the erasure."""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps

from simrenew.customers.models import Customer
from simrenew.customers.services import Channels, create_customer, set_notification_preferences, update_customer
from simrenew.esims.models import EsimProfile
from simrenew.kit.actors import Actor, ActorKind, acting_as
from simrenew.notifications.delivery import deliver_due, dispatch_pending
from simrenew.subscriptions.models import Subscription
from tests.factories import make_paypal, make_plan, make_subscription, record_usage, renew

NAME = "Grace Brewster Hopper"
EMAIL = "grace.hopper@example.org"
PHONE = "+12125550147"
PAYPAL = "grace.paypal@example.net"
LABEL = "Grace's travel phone"
EID = "89049032000000000000000000001234"


def valid_eid() -> str:
    prefix = EID[:30]
    return prefix + f"{(1 - int(prefix) * 100) % 97:02d}"


@dataclass
class Story:
    customer: Customer
    subscription: Subscription
    esim: EsimProfile

    @property
    def personal_values(self) -> dict[str, str]:
        return {"name": NAME, "email": EMAIL, "phone": PHONE, "paypal": PAYPAL, "label": LABEL, "eid": valid_eid()}


def customer_with_history() -> Story:
    """Signed up by a partner (audited), paying by card for a monthly plan with a month paid ahead,
    with a PayPal account saved, an eSIM they named, data used, and notices sent by email and SMS."""
    partner = Actor(ActorKind.API_KEY, "api_key:sk_test (partner)", api_key_id=1)
    with acting_as(partner):
        customer = create_customer(
            email=EMAIL, name=NAME, phone=PHONE, time_zone="Europe/Paris", password="s3cret-Passw0rd"
        )
    set_notification_preferences(customer, {"receipt": Channels(email=True, sms=True)})
    subscription = make_subscription(customer=customer, plan=make_plan(price_minor=1500))
    esim = subscription.esim
    esim.label, esim.eid = LABEL, valid_eid()
    esim.save(update_fields=["label", "eid"])
    attempt = renew(subscription)  # a month paid ahead: cancelling now refunds it
    assert attempt.status == "succeeded", attempt.failure_message
    make_paypal(customer=customer, email=PAYPAL)
    record_usage(iccid=esim.iccid, mb=250)
    with acting_as(partner):
        update_customer(customer, name=NAME)  # nothing changes: no entry
        update_customer(customer, time_zone="Europe/London")  # audited, with the customer's label
    dispatch_pending()
    deliver_due(worker_id="test")
    subscription.refresh_from_db()
    return Story(customer=customer, subscription=subscription, esim=esim)


def database_text(*, without: tuple[str, ...] = ()) -> str:
    """Every value of every column of every table (as tests/payments/test_no_card_numbers.py
    reads it), but the models named in `without` ("billing.invoice")."""
    chunks: list[str] = []
    for model in apps.get_models(include_auto_created=True):
        if model._meta.label_lower in without:
            continue
        columns = [field.attname for field in model._meta.concrete_fields]
        for row in model._base_manager.values_list(*columns):
            chunks.extend(repr(value) for value in row)
    return "\n".join(chunks)


def found(values: dict[str, str], text: str) -> dict[str, str]:
    """The personal values (any case) still in `text`."""
    lowered = text.lower()
    return {what: value for what, value in values.items() if value.lower() in lowered}
