"""The sandbox gateway's injected faults lose answers; they never change what the card does.

The worker's fault stories (test_killed_worker.py) rely on this: with
SIMRENEW_SANDBOX_GATEWAY_FAULT_RATE set, half of the faulty charges lose their
answer after the gateway charged, and reconciliation then learns the outcome by
key. That outcome must be the card's own: a card that declines stays declined.
"""

from __future__ import annotations

import pytest

from simrenew.payments.gateway import ChargeRequest, ChargeStatus
from simrenew.payments.sandbox import SandboxGateway
from tests.factories import make_card, make_customer


@pytest.mark.parametrize("way", ["charge", "charge_many"])
def test_a_declining_card_whose_answer_is_lost_is_still_declined_when_looked_up(clock, way):
    declining = make_card(customer=make_customer(), number="4000000000000002")
    gateway = SandboxGateway(latency_ms=0, fault_rate=1.0)  # every answer lost, half of them after charging
    requests = [
        ChargeRequest(token=declining.token, amount_minor=2500, currency="USD", idempotency_key=f"lost-{i}")
        for i in range(20)
    ]

    answers = [gateway.charge(r) for r in requests] if way == "charge" else gateway.charge_many(requests)

    assert {answer.status for answer in answers} == {ChargeStatus.UNKNOWN}
    found = [gateway.lookup(request.idempotency_key) for request in requests]
    seen = [result for result in found if result is not None]  # the faults that came after the gateway charged
    assert seen
    assert [(result.status, result.failure_code) for result in seen] == [(ChargeStatus.FAILED, "card_declined")] * len(
        seen
    )
