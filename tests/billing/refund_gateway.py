"""The sandbox payment provider's refunds, watched by a test: whether each call came while a
database transaction was open (it never should: DESIGN.md §4, a gateway call holds no locks and
commits nothing), and made to refuse or not to answer while the test says so."""

from __future__ import annotations

import pytest
from django.db import connection

from simrenew.payments.gateway import RefundResult
from simrenew.payments.sandbox import SandboxGateway


class WatchedRefunds:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.refusing = False  # answers "refused" (a closed card)
        self.down = False  # does not answer at all (the refund stays pending)
        self.inside_transaction: list[bool] = []  # one entry per call, in order
        real_refund = SandboxGateway.refund

        def refund(gateway: SandboxGateway, *, charge_id: str, amount_minor: int, idempotency_key: str) -> RefundResult:
            # Recorded, not asserted: the caller catches whatever the gateway raises (a lost answer).
            self.inside_transaction.append(connection.in_atomic_block)
            if self.down:
                raise ConnectionError("the payment provider is not answering")
            if self.refusing:
                return RefundResult(False, failure_message="Card closed")
            return real_refund(gateway, charge_id=charge_id, amount_minor=amount_minor, idempotency_key=idempotency_key)

        monkeypatch.setattr(SandboxGateway, "refund", refund)

    @property
    def calls(self) -> int:
        return len(self.inside_transaction)
