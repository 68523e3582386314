"""Many workers at once share the due subscriptions and never charge one twice.

On PostgreSQL four worker processes claim batches side by side (FOR UPDATE SKIP
LOCKED); on SQLite two take turns at the single writer lock. Either way each
subscription is renewed by exactly one of them: the renewals their batch lines
report add up to the renewals in the books, and the sandbox gateway's own ledger
holds one successful charge per period bought."""

from __future__ import annotations

import time

import pytest

from tests.worker.books import (
    expected_outcomes,
    money_problems,
    no_period_charged_twice,
    nothing_left_open,
    one_successful_charge_per_period_bought,
    outcomes,
    wrongly_failed,
)
from tests.worker.processes import Simrenew, WorkerProcess, batches, run_through_the_schedule

CARDS = {
    "4242424242424242": "succeed",
    "4000000000000002": "card_declined",
    "4000000000009995": "insufficient_funds",
    "4000000000000069": "expired_card",
    "4000000000000408": "timeout_after_charge",
}
BAD_CARDS = {"4000000000000002": 30, "4000000000009995": 30, "4000000000000069": 30, "4000000000000408": 30}


def wait_until_nothing_is_left_to_claim(
    simrenew: Simrenew, workers: list[WorkerProcess], *, timeout: float = 60
) -> None:
    """Until every due subscription either waits for reconciliation (its charge's answer
    was lost) or is done, and no claim is held: the workers have nothing left to do."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert all(worker.process.poll() is None for worker in workers), [w.log[-2000:] for w in workers]
        status = simrenew.status()
        if status["renewals_due"] == status["payments_unsettled"] and status["renewals_claimed"] == 0:
            return
    raise AssertionError(f"the workers did not finish in {timeout} s: {status}")


def workers_renew_each_subscription_once(simrenew: Simrenew, *, workers: int, subscriptions: int) -> None:
    running = [
        simrenew.start_worker("--batch-size", "50", "--idle-seconds", "0.1", latency_ms=100) for _ in range(workers)
    ]
    assert all(worker.wait_for("event=worker.started") for worker in running)
    seeded = simrenew.seed(count=subscriptions, cards=BAD_CARDS)  # all fall due at once, with the workers waiting

    wait_until_nothing_is_left_to_claim(simrenew, running)
    stopped = [worker.terminate() for worker in running]

    assert [code for code, _ in stopped] == [0] * workers
    books = simrenew.books()
    renewed_now = sum(1 for subscription in books["subscriptions"] if len(subscription["periods"]) > 1)
    reported = [batch for worker in running for batch in batches(worker.log)]
    assert sum(batch.succeeded for batch in reported) == renewed_now  # no renewal counted by two workers
    assert len({batch.worker for batch in reported if batch.succeeded}) > 1  # and they did share the work
    assert no_period_charged_twice(books) == []

    status = run_through_the_schedule(simrenew)  # the lost answers are looked up, the declines retried

    assert (status["renewals_due"], status["renewals_claimed"], status["payments_unsettled"]) == (0, 0, 0)
    books = simrenew.books()
    assert one_successful_charge_per_period_bought(books) == []
    assert money_problems(books) == []
    assert nothing_left_open(books) == []
    assert wrongly_failed(books) == []
    assert outcomes(books) == expected_outcomes(seeded, CARDS)


@pytest.mark.postgres_only
def test_four_workers_at_once_on_postgresql_renew_each_subscription_exactly_once(simrenew: Simrenew):
    if not simrenew.database.is_postgresql:
        pytest.skip("needs PostgreSQL: four concurrent writers claiming with FOR UPDATE SKIP LOCKED")
    workers_renew_each_subscription_once(simrenew, workers=4, subscriptions=600)


def test_two_workers_at_once_on_sqlite_take_turns_and_renew_each_subscription_exactly_once(
    simrenew_on_sqlite: Simrenew,
):
    workers_renew_each_subscription_once(simrenew_on_sqlite, workers=2, subscriptions=400)
