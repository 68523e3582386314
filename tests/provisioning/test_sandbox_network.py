"""The sandbox network answers service orders as a carrier does, on the test clock: acknowledged at
once, completed after the delay, the same order for the same externalId, a number for a new line,
and failures for its test numbers and PIN."""

from __future__ import annotations

import json

import pytest

from simrenew.esims.identifiers import normalize_msisdn
from simrenew.provisioning.models import SandboxServiceOrder
from simrenew.provisioning.sandbox_network import SandboxNetwork, sandbox_msisdn
from simrenew.provisioning.tmf641 import (
    LineChangeOrder,
    NetworkUnavailable,
    OrderRefused,
    OrderSnapshot,
    PortIn,
    order_body,
)

ICCID = "8901260882310000017"


def body(external_id: str = "simrenew-1-1", **fields: object) -> dict[str, object]:
    change = {"action": "add", "target_state": "active", "iccid": ICCID, "plan_code": "att-month-10gb", **fields}
    return order_body(LineChangeOrder(external_id=external_id, **change))  # type: ignore[arg-type]


def created(network: SandboxNetwork, *bodies: dict[str, object]) -> list[OrderSnapshot]:
    answers = network.create_many(list(bodies))
    assert all(isinstance(answer, OrderSnapshot) for answer in answers), answers
    return answers  # type: ignore[return-value]


def polled(network: SandboxNetwork, order_id: str) -> OrderSnapshot:
    (answer,) = network.get_many([order_id])
    assert isinstance(answer, OrderSnapshot), answer
    return answer


@pytest.fixture
def network(settings) -> SandboxNetwork:
    settings.SIMRENEW_SANDBOX_NETWORK_DELAY_SECONDS = 5
    settings.SIMRENEW_SANDBOX_NETWORK_LATENCY_MS = 0
    settings.SIMRENEW_SANDBOX_NETWORK_FAULT_RATE = 0.0
    return SandboxNetwork()


def test_a_new_line_is_acknowledged_then_completed_with_a_number_after_the_delay(clock, network):
    (order,) = created(network, body())

    assert order.state == "acknowledged"
    assert order.msisdn is None  # the number is told once the line exists
    clock.advance(seconds=4)
    assert polled(network, order.order_id).state == "acknowledged"
    clock.advance(seconds=1)
    done = polled(network, order.order_id)
    assert (done.state, done.succeeded, done.errors) == ("completed", True, [])
    assert done.msisdn is not None and normalize_msisdn(done.msisdn) == done.msisdn
    assert done.characteristics["plan"] == "att-month-10gb"
    assert done.service_id == f"sandbox-line-{ICCID}"


def test_the_same_external_id_is_the_same_order_however_often_sent(clock, network):
    (first,) = created(network, body())
    again, twin = created(network, body(), body())

    assert first.order_id == again.order_id == twin.order_id
    assert SandboxServiceOrder.objects.count() == 1
    assert network.find_by_external_id("simrenew-1-1") == first
    assert network.find_by_external_id("simrenew-9-9") is None


def test_a_batch_is_written_in_bulk_never_a_query_per_order(clock, network, django_assert_max_num_queries):
    bodies = [body(f"simrenew-{n}-1", iccid=f"89012608823100{n:05d}") for n in range(200)]

    # The clock, a look-up, a count for the numbers, multi-row INSERTs (SQLite's parameter limit
    # splits them), a savepoint.
    with django_assert_max_num_queries(8):
        answers = created(network, *bodies)

    assert len({answer.order_id for answer in answers}) == 200
    clock.advance(seconds=5)
    with django_assert_max_num_queries(3):  # the clock, a read, one UPDATE for those due
        finished = network.get_many([answer.order_id for answer in answers])
    numbers = [answer.msisdn for answer in finished]  # type: ignore[union-attr]
    assert len(set(numbers)) == 200  # every new line its own number


def test_suspend_restore_and_terminate_complete_on_the_same_service(clock, network):
    (added,) = created(network, body())
    clock.advance(seconds=5)
    service_id = polled(network, added.order_id).service_id

    changes = [
        body("simrenew-1-2", action="modify", target_state="inactive", msisdn="+12015550123", plan_code=None),
        body("simrenew-1-3", action="modify", target_state="active", msisdn="+12015550123", plan_code=None),
        body("simrenew-1-4", action="delete", target_state=None, msisdn="+12015550123", plan_code=None),
    ]
    answers = created(network, *changes)
    clock.advance(seconds=5)

    for answer in answers:
        done = polled(network, answer.order_id)
        assert (done.state, done.service_id) == ("completed", service_id)
        assert done.msisdn == "+12015550123"


def test_a_line_numbered_0000_fails_with_a_reason(clock, network):
    (order,) = created(network, body(action="modify", msisdn="+12015550000", plan_code=None))

    assert order.state == "acknowledged"
    clock.advance(seconds=5)
    failed = polled(network, order.order_id)
    assert (failed.state, failed.final, failed.succeeded) == ("failed", True, False)
    assert failed.errors == ["The network has no line with number +12015550000."]


def test_a_port_with_pin_0000_fails_and_no_pin_is_kept(clock, network):
    refused_pin = PortIn(msisdn="+12015550188", account="ACCT-1", pin="0000")
    good_pin = PortIn(msisdn="+12015550177", account="ACCT-2", pin="4321")
    bad, good = created(
        network,
        body("simrenew-1-1", port=refused_pin),
        body("simrenew-2-1", iccid="8901260882310000025", port=good_pin),
    )
    clock.advance(seconds=5)

    failed, ported = polled(network, bad.order_id), polled(network, good.order_id)
    assert (failed.state, failed.errors) == ("failed", ["The losing carrier refused the port-out PIN."])
    assert (ported.state, ported.msisdn) == ("completed", "+12015550177")
    assert "portInPin" not in ported.characteristics
    ledger = json.dumps(list(SandboxServiceOrder.objects.values_list("body", flat=True)))
    assert "4321" not in ledger and "ACCT-2" not in ledger


def test_requests_the_network_cannot_read_or_orders_it_does_not_know_are_refused(clock, network):
    nameless = body()
    del nameless["externalId"]

    (refused,) = network.create_many([nameless])
    (unknown,) = network.get_many(["so-nothing"])

    assert isinstance(refused, OrderRefused) and refused.status == 400
    assert isinstance(unknown, OrderRefused) and unknown.status == 404
    assert SandboxServiceOrder.objects.count() == 0


def test_lost_answers_leave_the_order_findable_only_when_it_arrived(clock):
    network = SandboxNetwork(fault_rate=1.0)
    bodies = [body(f"simrenew-{n}-1") for n in range(40)]

    answers = network.create_many(bodies)

    assert all(isinstance(answer, NetworkUnavailable) for answer in answers)
    for sent, answer in zip(bodies, answers, strict=True):
        found = SandboxNetwork().find_by_external_id(str(sent["externalId"]))
        assert (found is not None) == answer.reached  # type: ignore[union-attr]


def test_sandbox_numbers_are_valid_us_numbers_apart_from_the_demo_inventory():
    numbers = [sandbox_msisdn(serial) for serial in (0, 1, 99, 100, 25_000)]

    assert numbers[:2] == [numbers[0][:-2] + "00", numbers[0][:-2] + "01"]
    assert all(normalize_msisdn(number) == number for number in numbers)
    assert len(set(numbers)) == len(numbers)
    assert not any(number.startswith("+1201") for number in numbers)
