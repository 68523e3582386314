"""`simrenew worker`: `--once` for cron and tests, `--status [--json]` for the operator,
and forever mode, which a SIGTERM stops cleanly: the batches in flight are settled,
the claims given back, and the exit code is 0."""

from __future__ import annotations

import re
import socket
import time

from tests.worker.books import (
    money_problems,
    no_period_charged_twice,
    nothing_left_open,
    one_successful_charge_per_period_bought,
)
from tests.worker.processes import BATCH_LINE, Simrenew, batches

DECLINES = "4000000000000002"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def renewed(books: dict) -> int:
    return sum(1 for subscription in books["subscriptions"] if len(subscription["periods"]) > 1)


def test_worker_once_renews_everything_due_logs_each_batch_and_exits_0(simrenew: Simrenew):
    simrenew.seed(count=120)
    assert simrenew.status()["renewals_due"] == 120

    log = simrenew.worker_once("--batch-size", "50", latency_ms=50)  # fails unless the exit code is 0

    assert sorted(batch.claimed for batch in batches(log)) == [20, 50, 50]
    assert sum(batch.succeeded for batch in batches(log)) == 120
    assert re.search(r"event=worker\.tick worker=\S+ now=2026-01-15T12:00:00\+00:00 reconciled=0 renewed=120 ", log)
    status = simrenew.status()
    assert (status["renewals_due"], status["renewals_claimed"], status["payments_unsettled"]) == (0, 0, 0)
    books = simrenew.books()
    assert renewed(books) == 120
    assert one_successful_charge_per_period_bought(books) == []
    assert money_problems(books) == []


def test_status_shows_what_is_due_claimed_retrying_and_dead(simrenew: Simrenew):
    # Webhooks for every renewal: one endpoint never answers (retried), one has no secret (dead at once).
    simrenew.seed(count=15, cards={DECLINES: 5}, webhooks=f"http://127.0.0.1:{free_port()}/hooks")

    before = simrenew.status()
    assert before["renewals_due"] == 15
    assert [name for name, count in before.items() if count and name != "renewals_due"] == []
    assert re.search(r"^renewals due\s+15$", simrenew.run("worker", "--status").stdout, re.MULTILINE)

    worker = simrenew.start_worker(latency_ms=6000, claim_seconds=120)  # a slow gateway holds the batch
    deadline = time.monotonic() + 30
    while (during := simrenew.status())["payments_unsettled"] < 15 and time.monotonic() < deadline:
        pass  # until its charges are at the gateway
    assert (during["renewals_claimed"], during["payments_unsettled"]) == (15, 15)
    assert worker.terminate()[0] == 0
    simrenew.worker_once()  # the declines are rescheduled, the notices sent

    after = simrenew.status()
    assert after["renewals_due"] == 0
    assert after["renewals_claimed"] == 0
    assert after["payments_unsettled"] == 0
    assert after["renewals_retrying"] == 5  # declined, tried again at T-24h
    # The renewals' webhooks to the endpoint that never answers: its first is retried, and the other
    # nine wait behind it, due, so that the endpoint gets its events in order.
    assert after["deliveries_retrying"] == 1
    assert after["deliveries_pending_due"] == 9
    assert after["deliveries_dead"] == 10  # and to the one without a secret
    text = simrenew.run("worker", "--status").stdout
    for line in ("renewals due  0", "renewals claimed  0", "renewals retrying  5", "deliveries dead  10"):
        name, count = line.split("  ")
        assert re.search(rf"^{name}\s+{count}$", text, re.MULTILINE), text


def test_sigterm_mid_run_settles_the_batches_in_flight_gives_back_its_claims_and_exits_0(simrenew: Simrenew):
    simrenew.seed(count=400)
    worker = simrenew.start_worker("--batch-size", "50", "--in-flight", "2", latency_ms=500)
    assert worker.wait_for(BATCH_LINE.pattern)  # it is renewing

    code, seconds = worker.terminate()

    assert code == 0
    assert seconds < 5  # at most the batch in flight: its gateway answers, then its settlement
    assert re.search(r"event=worker\.stopped worker=\S+ released_claims=\d+", worker.log)
    status = simrenew.status()
    assert (status["renewals_claimed"], status["payments_unsettled"]) == (0, 0)
    assert 0 < status["renewals_due"] < 400  # it stopped part-way; the rest is left for the next worker
    books = simrenew.books()
    assert renewed(books) == sum(batch.succeeded for batch in batches(worker.log))
    assert no_period_charged_twice(books) == []
    assert nothing_left_open(books) == []

    simrenew.worker_once("--batch-size", "50")

    books = simrenew.books()
    assert renewed(books) == 400
    assert one_successful_charge_per_period_bought(books) == []
    assert money_problems(books) == []
