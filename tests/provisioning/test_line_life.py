"""A line's whole life at a carrier speaking TMF641 over real HTTP: started when the first period is
paid, suspended at expiry, restored after a payment, moved to another plan at the period boundary,
terminated after retention. Each change is one service order, sent by the worker, followed to
`completed`, in order per line, exactly once per change, whatever the network does meanwhile."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.test import Client

from simrenew.esims.models import EsimProfile
from simrenew.kit import crypto
from simrenew.notifications.models import OutboxMessage
from simrenew.provisioning import line_orders
from simrenew.provisioning.models import Line, LineOrder, LineOrderStatus, NetworkConnection, PortRequest
from simrenew.provisioning.tmf641 import close_shared
from simrenew.subscriptions.models import Subscription
from simrenew.subscriptions.service_changes import ServiceChange, ServiceChangeKind, announce
from simrenew.worker.runner import Worker
from tests.factories import make_carrier, make_customer, make_esim, make_plan, make_subscription, renew
from tests.provisioning.tmf_server import TmfServer

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "carrier-token-123"
RETENTION = timedelta(days=90)
LISTENER = "/tmf-api/serviceOrdering/v4/listener/serviceOrderStateChangeEvent"


@pytest.fixture
def carrier(clock, wall_clock) -> Iterator[TmfServer]:
    with TmfServer(token=TOKEN) as server:
        now = clock.now()
        NetworkConnection.objects.create(
            carrier=make_carrier(code="att"),
            base_url=server.url,
            token=crypto.encrypt(TOKEN),
            created_at=now,
            updated_at=now,
        )
        yield server
        close_shared()
    assert server.violations == []  # every body the carrier saw was a valid ServiceOrder_Create


def settle(worker: Worker, wall_clock, *, runs: int = 8) -> None:
    """The worker runs until the carrier has finished every order it can (the wall clock moves on so
    each poll's backoff passes; the test clock stays where the story is)."""
    for _ in range(runs):
        worker.run_once()
        if not LineOrder.objects.filter(status__in=("queued", "sending", "in_progress")).exists():
            return
        wall_clock.advance(seconds=400)


def orders_of(subscription: Subscription) -> list[LineOrder]:
    return list(LineOrder.objects.filter(line__esim_id=subscription.esim_id).order_by("sequence"))


def network_state(subscription: Subscription) -> str:
    return EsimProfile.objects.get(pk=subscription.esim_id).network_state


def items(order: LineOrder) -> tuple[str, str | None, dict[str, str]]:
    item = order.body["serviceOrderItem"][0]
    characteristics = {c["name"]: c["value"] for c in item["service"]["serviceCharacteristic"]}
    return item["action"], item["service"].get("state"), characteristics


def test_a_line_lives_from_add_to_delete_each_change_one_order(clock, wall_clock, carrier):
    plan = make_plan(code="att-month")
    subscription = make_subscription(plan=plan, auto_renew=False)
    (add,) = orders_of(subscription)
    assert items(add) == (
        "add",
        "active",
        {"iccid": subscription.esim.iccid, "msisdn": subscription.esim.msisdn, "plan": "att-month"},
    )
    assert network_state(subscription) == "pending"  # nothing sent inside the customer's payment

    worker = Worker(batch_size=50)
    settle(worker, wall_clock)
    line = Line.objects.get(esim_id=subscription.esim_id)
    assert (line.state, line.plan_code) == ("active", "att-month")
    assert line.service_id.startswith("svc-")
    assert network_state(subscription) == "active"

    # Paid time runs out: the scan suspends it and the same worker run tells the carrier.
    clock.set(subscription.paid_through + timedelta(minutes=1))
    worker.run_once()
    suspend = orders_of(subscription)[1]
    assert items(suspend)[:2] == ("modify", "inactive")
    assert network_state(subscription) == "pending"
    settle(worker, wall_clock)
    assert network_state(subscription) == "inactive"

    # A payment restores it.
    assert renew(subscription).status == "succeeded"
    restore = orders_of(subscription)[2]
    assert (restore.change, items(restore)[:2]) == ("restore", ("modify", "active"))
    settle(worker, wall_clock)
    assert network_state(subscription) == "active"

    # A renewal onto another plan goes to the network when its period begins.
    other = make_plan(code="att-month-big")
    subscription.refresh_from_db()
    assert renew(subscription, plan=other).status == "succeeded"
    change = orders_of(subscription)[3]
    assert change.change == "change_plan" and change.not_before == subscription.paid_through
    assert items(change)[2]["plan"] == "att-month-big"
    settle(worker, wall_clock, runs=2)
    assert LineOrder.objects.get(pk=change.pk).status == "queued"  # not before its period
    clock.set(subscription.paid_through + timedelta(seconds=1))
    settle(worker, wall_clock)
    assert Line.objects.get(pk=line.pk).plan_code == "att-month-big"

    # Long after it lapsed, the line goes for good.
    clock.set(Subscription.objects.get(pk=subscription.pk).paid_through + RETENTION + timedelta(days=1))
    settle(worker, wall_clock)
    terminate = orders_of(subscription)[-1]
    assert (terminate.change, items(terminate)[0]) == ("terminate", "delete")
    assert network_state(subscription) == "terminated"

    # One POST per change, each its own externalId, with the carrier's token.
    external_ids = [o.external_id for o in orders_of(subscription)]
    assert len(set(external_ids)) == len(external_ids)
    assert all(carrier.posts[e] == 1 for e in external_ids)
    assert all(o.status == "completed" for o in orders_of(subscription))
    assert set(carrier.authorizations) == {f"Bearer {TOKEN}"}


def test_a_carrier_down_twice_gets_the_same_order_once(clock, wall_clock, carrier):
    subscription = make_subscription(auto_renew=False)
    (add,) = orders_of(subscription)
    carrier.fail_with(503, 2)
    worker = Worker(batch_size=50)
    worker.run_once()
    assert LineOrder.objects.get(pk=add.pk).status in ("sending", "queued")
    settle(worker, wall_clock)
    assert LineOrder.objects.get(pk=add.pk).status == "completed"
    assert list(carrier.by_external_id) == [add.external_id]  # one order at the carrier
    assert network_state(subscription) == "active"


def test_a_lost_answer_is_looked_up_and_never_posted_twice(clock, wall_clock, carrier):
    subscription = make_subscription(auto_renew=False)
    (add,) = orders_of(subscription)
    carrier.lose_answer(1)
    worker = Worker(batch_size=50)
    worker.run_once()
    assert LineOrder.objects.get(pk=add.pk).status == "sending"  # reached, answer unread: look it up first
    settle(worker, wall_clock)
    assert carrier.posts[add.external_id] == 1
    assert ("GET", f"/tmf-api/serviceOrdering/v4/serviceOrder?externalId={add.external_id}") in carrier.requests
    assert LineOrder.objects.get(pk=add.pk).status == "completed"


def test_a_failed_order_alerts_the_operator_and_holds_the_line_until_retried_or_resolved(
    clock, wall_clock, carrier, settings
):
    settings.SIMRENEW_OPERATOR_EMAIL = ["ops@example.com"]
    subscription = make_subscription(auto_renew=False)
    worker = Worker(batch_size=50)
    settle(worker, wall_clock)
    line = Line.objects.get(esim_id=subscription.esim_id)
    carrier.fail_order(f"simrenew-{line.pk}-2", "failed", "No such line")
    clock.set(subscription.paid_through + timedelta(minutes=1))
    settle(worker, wall_clock)
    suspend = orders_of(subscription)[1]
    assert suspend.status == "failed" and suspend.last_error.endswith("No such line")
    assert "simrenew-" in mail.outbox[-1].body and mail.outbox[-1].to == ["ops@example.com"]

    # A payment now must not overtake the suspension the network never carried out.
    assert renew(subscription).status == "succeeded"
    settle(worker, wall_clock, runs=2)
    restore = orders_of(subscription)[2]
    assert LineOrder.objects.get(pk=restore.pk).status == "queued"

    # The operator sends it again, as a new round the carrier has never seen.
    carrier.order(suspend.external_id)  # the failed one stays where it is at the carrier
    with transaction.atomic():
        retried = line_orders.retry(suspend, by=None)
    assert retried.external_id == f"simrenew-{line.pk}-2-r1"
    settle(worker, wall_clock)
    assert [o.status for o in orders_of(subscription)] == ["completed", "completed", "completed"]
    assert network_state(subscription) == "active"


def test_an_operator_may_resolve_a_failed_order_by_hand(clock, wall_clock, carrier):
    subscription = make_subscription(auto_renew=False)
    (add,) = orders_of(subscription)
    carrier.fail_order(add.external_id, "rejected", "Unknown ICCID")
    worker = Worker(batch_size=50)
    settle(worker, wall_clock, runs=3)
    assert LineOrder.objects.get(pk=add.pk).status == "rejected"
    with pytest.raises(line_orders.LineOrderError), transaction.atomic():
        line_orders.resolve(LineOrder.objects.get(pk=add.pk), by=None, note="  ")
    with transaction.atomic():
        line_orders.resolve(LineOrder.objects.get(pk=add.pk), by=None, note="Added by hand at the carrier's portal")
    assert LineOrder.objects.get(pk=add.pk).status == LineOrderStatus.RESOLVED


def test_the_carriers_event_rings_the_doorbell_and_the_worker_looks_at_once(clock, wall_clock, carrier):
    subscription = make_subscription(auto_renew=False)
    (add,) = orders_of(subscription)
    worker = Worker(batch_size=50)
    worker.run_once()  # POSTed, acknowledged; its first look is due only after the backoff
    assert LineOrder.objects.get(pk=add.pk).status == "in_progress"
    worker.run_once()
    assert carrier.order(add.external_id).gets == 0

    order = carrier.order(add.external_id)
    event = {
        "eventId": "evt-1",
        "eventType": "ServiceOrderStateChangeEvent",
        "event": {"serviceOrder": {"id": order.id, "externalId": add.external_id, "state": "completed"}},
    }
    answer = Client().post(LISTENER, event, content_type="application/json")
    assert answer.status_code == 204

    worker.run_once()  # the doorbell made it due: the worker asks the carrier (the event's state is not trusted)
    assert carrier.order(add.external_id).gets == 1
    assert LineOrder.objects.get(pk=add.pk).carrier_state == "inProgress"


def test_a_carrier_with_no_network_connection_uses_the_sandbox_network(clock, wall_clock):
    subscription = make_subscription(auto_renew=False)
    worker = Worker(batch_size=50)
    worker.run_once()
    (add,) = orders_of(subscription)
    assert add.status == "in_progress" and add.carrier_order_id.startswith("so-sandbox-")
    clock.advance(seconds=10)  # the sandbox network completes on the project clock
    wall_clock.advance(seconds=10)
    worker.run_once()
    assert LineOrder.objects.get(pk=add.pk).status == "completed"
    assert network_state(subscription) == "active"


def test_a_port_in_travels_with_the_add_and_its_pin_is_never_stored(clock, wall_clock, carrier):
    esim = make_esim(customer=make_customer())
    port = PortRequest.objects.create(
        new_esim=esim,
        msisdn="+12025550123",
        account_number=crypto.encrypt("ACC-991"),
        pin=crypto.encrypt("4821"),
        created_at=clock.now(),
    )
    with transaction.atomic():
        announce([ServiceChange(ServiceChangeKind.START, 0, esim.pk, "att-month", clock.now())])
    (add,) = LineOrder.objects.filter(line__esim=esim)
    assert add.port_id == port.pk and PortRequest.objects.get(pk=port.pk).status == "ordered"
    stored = {c["name"]: c["value"] for c in add.body["serviceOrderItem"][0]["service"]["serviceCharacteristic"]}
    assert stored["portInMsisdn"] == "+12025550123"
    assert "4821" not in str(add.body) and "ACC-991" not in str(add.body)

    Worker(batch_size=50).run_once()

    sent = carrier.order(add.external_id).characteristics()
    assert (sent["portInPin"], sent["portInAccount"]) == ("4821", "ACC-991")  # on the wire only


def port_to(esim: EsimProfile, *, old: Subscription, pin: str) -> PortRequest:
    """The customer's new eSIM (T-Mobile, whose network is the same local server here) keeps the
    number of their AT&T plan."""
    from simrenew.provisioning import porting

    att = NetworkConnection.objects.get(carrier__code="att")
    NetworkConnection.objects.get_or_create(
        carrier=esim.carrier,
        defaults={"base_url": att.base_url, "token": att.token, "created_at": clock_now(), "updated_at": clock_now()},
    )
    with transaction.atomic():
        port = porting.request_port(new_esim=esim, old_subscription=old, account_number="ACC-991", pin=pin)
        announce([ServiceChange(ServiceChangeKind.START, 0, esim.pk, "tmo-month", clock_now())])
    return port


def clock_now():  # type: ignore[no-untyped-def]
    from simrenew.kit import clock as kit_clock

    return kit_clock.now()


def test_a_completed_port_moves_the_number_and_ends_the_old_plan(clock, wall_clock, carrier):
    old = make_subscription(plan=make_plan(carrier="att", code="att-month"), auto_renew=False)
    settle(Worker(batch_size=50), wall_clock)
    new = make_esim(customer=old.customer, carrier="tmobile")
    port = port_to(new, old=old, pin="4821")

    settle(Worker(batch_size=50), wall_clock)

    port.refresh_from_db()
    assert (port.status, port.account_number, port.pin) == ("completed", "", "")
    assert EsimProfile.objects.get(pk=new.pk).msisdn == old.esim.msisdn
    assert Subscription.objects.get(pk=old.pk).state == "cancelled"
    assert [m.event_type for m in OutboxMessage.objects.filter(event_type__startswith="esim.port")] == [
        "esim.port_completed"
    ]
    assert not mail.outbox or "failed at the carrier" not in mail.outbox[-1].subject


def test_a_refused_port_tells_the_customer_and_orders_the_line_again_with_a_new_number(clock, wall_clock, carrier):
    old = make_subscription(plan=make_plan(carrier="att", code="att-month"), auto_renew=False)
    settle(Worker(batch_size=50), wall_clock)
    new = make_esim(customer=old.customer, carrier="tmobile")
    EsimProfile.objects.filter(pk=new.pk).update(msisdn="+12025550177")  # what the carrier will confirm
    port_to(new, old=old, pin="1111")
    (add,) = LineOrder.objects.filter(line__esim=new)
    carrier.fail_order(add.external_id, "rejected", "Port-out PIN does not match")

    settle(Worker(batch_size=50), wall_clock)

    port = PortRequest.objects.get(new_esim=new)
    assert (port.status, port.pin) == ("failed", "")
    assert port.failure_reason.endswith("Port-out PIN does not match")  # the carrier's words
    [told] = OutboxMessage.objects.filter(event_type="esim.port_failed")
    assert told.payload["reason"] == port.failure_reason
    first, again = LineOrder.objects.filter(line__esim=new).order_by("sequence")
    assert (first.status, again.status, again.action) == ("resolved", "completed", "add")
    assert "portInPin" not in str(carrier.order(again.external_id).body)
    assert Subscription.objects.get(pk=old.pk).state == "live"  # the old plan keeps its number
    assert not any("failed at the carrier" in m.subject for m in mail.outbox)  # the customer's, not the operator's


def test_a_replacement_esim_takes_over_the_line_with_one_swap_order(clock, wall_clock, carrier):
    """An eSIM from the SM-DP+ whose download failed after its line was added: support's
    replacement keeps the line (and the number the carrier gave it); the carrier is told the new
    ICCID in one `modify`."""
    from simrenew.payments.charging import run_charge
    from simrenew.provisioning import profiles
    from simrenew.provisioning.sandbox_smdp import DOWNLOAD_FAILS_EID
    from simrenew.subscriptions.renewals import begin_subscription
    from tests.factories import make_card
    from tests.provisioning.helpers import connect_smdp

    connect_smdp(carrier="att")
    customer = make_customer()
    failed = profiles.obtain_esim(customer=customer, carrier_code="att", eid=DOWNLOAD_FAILS_EID)
    card = make_card(customer=customer)
    attempt = run_charge(
        lambda: begin_subscription(
            esim=failed,
            plan=make_plan(code="att-month"),
            payment_method=card,
            auto_renew=False,
            promo_code=None,
            idempotency_key="first",
        )
    )
    assert attempt.status == "succeeded"
    settle(Worker(batch_size=50), wall_clock)
    number = EsimProfile.objects.get(pk=failed.pk).msisdn
    assert number  # the carrier gave the new line its number
    clock.advance(minutes=1)
    profiles.record_sandbox_downloads()
    failed.refresh_from_db()
    assert failed.status == "download_failed"

    replacement = profiles.order_replacement(failed)
    settle(Worker(batch_size=50), wall_clock)

    line = Line.objects.get(esim=replacement)
    first, swap = LineOrder.objects.filter(line=line).order_by("sequence")
    assert (first.action, swap.change, swap.action, swap.status) == ("add", "swap", "modify", "completed")
    assert carrier.order(swap.external_id).characteristics()["iccid"] == replacement.iccid
    assert carrier.posts[swap.external_id] == 1
    replacement.refresh_from_db()
    assert (replacement.msisdn, replacement.network_state) == (number, "active")
    assert Subscription.objects.get(pk=attempt.subscription_id).esim_id == replacement.pk
