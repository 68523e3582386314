"""Keep the number when switching carrier (issue 16): a customer with an AT&T plan buys a T-Mobile
eSIM and asks to keep their number. The old carrier's account number and port-out PIN are kept
encrypted, ride on the new line's `add` order, and are gone once the port is over; a completed
port moves the number, tells the customer and ends the old plan; a failed one says why."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection, transaction

from simrenew.billing.models import Refund
from simrenew.esims.models import EsimProfile
from simrenew.kit import crypto
from simrenew.kit.errors import ValidationFailed
from simrenew.notifications.models import OutboxMessage
from simrenew.payments.charging import run_charge
from simrenew.provisioning import porting, tmf641
from simrenew.provisioning.models import LineOrder, PortRequest, PortStatus
from simrenew.subscriptions.models import Subscription
from simrenew.subscriptions.renewals import begin_subscription
from tests.factories import make_card, make_customer, make_esim, make_plan, make_subscription, renew

pytestmark = pytest.mark.django_db

ACCOUNT = "ATT-77120-X"
PIN = "482913"


def att_customer_with_a_new_tmobile_esim() -> tuple[Subscription, EsimProfile]:
    """A customer whose AT&T plan is paid one period ahead, and a T-Mobile eSIM just given to them."""
    old = make_subscription(plan=make_plan(carrier="att", code="att-1m"))
    assert renew(old).status == "succeeded"  # a second month, not started yet
    return old, make_esim(customer=old.customer, carrier="tmobile")


def ask_to_keep_the_number(old: Subscription, new_esim: EsimProfile, *, pin: str = PIN) -> PortRequest:
    with transaction.atomic():
        return porting.request_port(new_esim=new_esim, old_subscription=old, account_number=ACCOUNT, pin=pin)


def pay_first_period(esim: EsimProfile) -> Subscription:
    """The new eSIM's first period: its line starts, and the `add` order is written."""
    attempt = run_charge(
        lambda: begin_subscription(
            esim=esim,
            plan=make_plan(carrier="tmobile", code="tmo-1m"),
            payment_method=make_card(customer=esim.customer),
            auto_renew=True,
            promo_code=None,
            idempotency_key=f"port-first-{esim.pk}",
        )
    )
    assert attempt.status == "succeeded"
    return Subscription.objects.get(pk=attempt.subscription_id)


def stored_row(port: PortRequest) -> str:
    """The port's row as the database holds it, every column."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {PortRequest._meta.db_table} WHERE id = %s", [port.pk])
        return json.dumps(cursor.fetchone(), default=str)


def events(event_type: str) -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(event_type=event_type).order_by("pk"))


def characteristics(body: dict[str, Any]) -> dict[str, str]:
    found = body["serviceOrderItem"][0]["service"]["serviceCharacteristic"]
    return {item["name"]: item["value"] for item in found}


def test_the_account_number_and_pin_are_stored_encrypted_never_in_clear(clock):
    old, new_esim = att_customer_with_a_new_tmobile_esim()

    port = ask_to_keep_the_number(old, new_esim)

    row = stored_row(port)
    assert PIN not in row and ACCOUNT not in row
    assert crypto.is_encrypted(port.pin) and crypto.is_encrypted(port.account_number)
    assert (port.msisdn, port.status) == (old.esim.msisdn, PortStatus.REQUESTED)
    assert porting.port_in_values(port) == (old.esim.msisdn, ACCOUNT, PIN)
    assert porting.open_port_for(new_esim.pk) == port


def test_the_new_lines_add_order_carries_the_port_and_stores_no_secret(clock):
    old, new_esim = att_customer_with_a_new_tmobile_esim()
    port = ask_to_keep_the_number(old, new_esim)

    pay_first_period(new_esim)

    order = LineOrder.objects.get(line__esim=new_esim)
    assert (order.action, order.port_id) == ("add", port.pk)
    stored = characteristics(order.body)
    assert stored["portInMsisdn"] == old.esim.msisdn
    assert PIN not in json.dumps(order.body) and ACCOUNT not in json.dumps(order.body)
    port.refresh_from_db()
    assert port.status == PortStatus.ORDERED and porting.open_port_for(new_esim.pk) is None
    # As it goes out (the secrets put back at send time only):
    sent = characteristics(tmf641.with_port_secrets(order.body, tmf641.PortIn(*porting.port_in_values(port))))
    assert (sent["portInMsisdn"], sent["portInAccount"], sent["portInPin"]) == (old.esim.msisdn, ACCOUNT, PIN)


def test_a_completed_port_moves_the_number_tells_the_customer_and_ends_the_old_plan(
    clock, django_capture_on_commit_callbacks
):
    old, new_esim = att_customer_with_a_new_tmobile_esim()
    number = old.esim.msisdn
    port = ask_to_keep_the_number(old, new_esim)
    new = pay_first_period(new_esim)

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        porting.on_port_completed(port)

    port.refresh_from_db()
    assert (port.status, port.account_number, port.pin) == (PortStatus.COMPLETED, "", "")
    assert PIN not in stored_row(port) and port.completed_at == clock.now()
    new_esim.refresh_from_db()
    assert new_esim.msisdn == number
    told = events("esim.port_completed")
    assert len(told) == 1 and told[0].customer_id == new_esim.customer_id and told[0].subscription_id == new.pk
    assert told[0].payload["msisdn"] == number and told[0].payload["old_plan_ended"] is True
    # The old plan ends now; its month paid ahead and not started is refunded (the default policy).
    old.refresh_from_db()
    assert (old.state, old.ended_at) == ("cancelled", clock.now())
    refund = Refund.objects.get(invoice__subscription=old)
    assert refund.status == "succeeded"
    assert [e.payload["when"] for e in events("subscription.cancelled")] == ["now"]


def test_a_completion_seen_twice_changes_nothing_more(clock):
    old, new_esim = att_customer_with_a_new_tmobile_esim()
    port = ask_to_keep_the_number(old, new_esim)

    with transaction.atomic():
        porting.on_port_completed(port)
    with transaction.atomic():
        porting.on_port_completed(port)
        porting.on_port_failed(port, "late failure")

    port.refresh_from_db()
    assert port.status == PortStatus.COMPLETED and port.failure_reason == ""
    assert len(events("esim.port_completed")) == 1 and events("esim.port_failed") == []


def test_a_failed_port_says_why_and_the_new_esim_keeps_its_own_number(clock):
    old, new_esim = att_customer_with_a_new_tmobile_esim()
    own_number = new_esim.msisdn
    port = ask_to_keep_the_number(old, new_esim, pin="0000")

    with transaction.atomic():
        porting.on_port_failed(port, "The losing carrier refused the port-out PIN.")

    port.refresh_from_db()
    assert (port.status, port.account_number, port.pin) == (PortStatus.FAILED, "", "")
    assert port.failure_reason == "The losing carrier refused the port-out PIN."
    new_esim.refresh_from_db()
    assert new_esim.msisdn == own_number
    told = events("esim.port_failed")
    assert len(told) == 1 and told[0].payload["reason"] == "The losing carrier refused the port-out PIN."
    assert "0000" not in json.dumps(told[0].payload).replace(own_number, "")
    old.refresh_from_db()
    assert (old.state, old.ended_at) == ("live", None)  # the old plan is as the customer left it


@pytest.mark.parametrize(
    ("account", "pin", "field"),
    [
        ("", PIN, "account_number"),
        ("ATT 771", PIN, "account_number"),
        ("A" * 41, PIN, "account_number"),
        (ACCOUNT, "123", "pin"),
        (ACCOUNT, "12345678901", "pin"),
        (ACCOUNT, "12a4", "pin"),
    ],
)
def test_a_bad_account_number_or_pin_is_refused_and_nothing_is_stored(clock, account, pin, field):
    old, new_esim = att_customer_with_a_new_tmobile_esim()

    with pytest.raises(ValidationFailed) as refused, transaction.atomic():
        porting.request_port(new_esim=new_esim, old_subscription=old, account_number=account, pin=pin)

    assert refused.value.errors[0].field == field
    assert not PortRequest.objects.exists()


def test_only_the_customers_own_live_number_moves_and_only_to_another_carrier(clock):
    old, new_esim = att_customer_with_a_new_tmobile_esim()
    strangers = make_subscription(customer=make_customer(), plan=make_plan(carrier="att"))
    same_carrier = make_esim(customer=old.customer, carrier="att")

    for subscription, esim in [(strangers, new_esim), (old, same_carrier)]:
        with pytest.raises(porting.PortNotAllowed), transaction.atomic():
            porting.request_port(new_esim=esim, old_subscription=subscription, account_number=ACCOUNT, pin=PIN)
    ask_to_keep_the_number(old, new_esim)
    with pytest.raises(porting.PortNotAllowed, match="already being moved"), transaction.atomic():
        ask_to_keep_the_number(old, make_esim(customer=old.customer, carrier="verizon"))

    assert PortRequest.objects.count() == 1
