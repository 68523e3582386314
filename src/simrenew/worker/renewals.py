"""The auto-renew pipeline: claim a batch, write its attempts, send its charges to
the gateway in a background thread while the next batch is claimed and written,
then settle each batch in bulk as its answers come back (DESIGN.md §5).

Three kinds of thread, each with its own database connection: this one claims
and writes attempts (step 1), gateway threads wait on the gateway (step 2),
and two settlers apply the answers (step 3), so the database works on one batch
while Python prepares the next. Two batches never share a subscription, and a
settlement takes the one row all of them need, the invoice counter, last (see
`autorenew_settle.apply_paid_periods`): two settlements overlap everywhere else.
The counts are added up in batch order."""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, fields
from threading import Event, Lock

from django.db import DEFAULT_DB_ALIAS, close_old_connections, connections
from django.db.backends.base.base import BaseDatabaseWrapper

from simrenew.kit import metrics, tracing
from simrenew.payments.gateway import ChargeResult, ChargeStatus, gateway_named
from simrenew.payments.models import AttemptStatus
from simrenew.subscriptions import autorenew, autorenew_claims, autorenew_settle
from simrenew.subscriptions.autorenew import GatewayCharge
from simrenew.worker import logfmt

# Settlements running at once: the second overlaps the first's database work; a third
# would mostly wait for the invoice counter and the interpreter.
SETTLERS = 2


@dataclass(slots=True)
class RenewalCounts:
    claimed: int = 0
    succeeded: int = 0
    failed: int = 0
    unknown: int = 0
    spent: int = 0  # tries with every method failed: rescheduled or handed to the customer
    skipped: int = 0

    def add(self, other: RenewalCounts) -> None:
        for each in fields(self):
            setattr(self, each.name, getattr(self, each.name) + getattr(other, each.name))


@dataclass(slots=True)
class _Batch:
    subscription_ids: list[int]
    charges: list[GatewayCharge]
    answers: Future[list[ChargeResult]] | list[ChargeResult]
    counts: RenewalCounts
    started: float


def _charge(charges: Sequence[GatewayCharge]) -> list[ChargeResult]:
    """Step 2, outside any transaction."""
    results: list[ChargeResult] = [ChargeResult(ChargeStatus.UNKNOWN)] * len(charges)
    by_gateway: dict[str, list[int]] = {}
    for position, charge in enumerate(charges):  # each charge goes to the gateway its method is saved at
        by_gateway.setdefault(charge.gateway, []).append(position)
    for name, positions in by_gateway.items():
        # A batch of auto-renew charges at one gateway: one span (kit.tracing) with the count of each
        # outcome, timed as one call and counted charge by charge (kit.metrics).
        with (
            tracing.span("payment.charge_many", {"payment.provider": name, "payment.charges": len(positions)}) as span,
            metrics.timed(name, "charge_batch"),
        ):
            try:
                requests = autorenew_settle.charge_requests([charges[p] for p in positions])
                answers = gateway_named(name).charge_many(requests)
            except Exception:  # whatever happened, the outcome is unknown: reconciliation looks it up by key
                logfmt.log.exception("gateway %s batch failed; %d outcomes unknown", name, len(positions))
                metrics.record_gateway_outcomes(name, "charge", {"error": len(positions)})
                tracing.set_attributes(span, {"payment.outcome.unknown": len(positions)})
                continue
            outcomes = Counter(answer.status.value for answer in answers)
            metrics.record_gateway_outcomes(name, "charge", outcomes)
            if span is not None:
                tracing.set_attributes(span, {f"payment.outcome.{status}": n for status, n in outcomes.items()})
        for position, answer in zip(positions, answers, strict=True):
            results[position] = answer
    return results


def _count(counts: RenewalCounts) -> None:
    """A settled batch's renewals in the process's metrics (kit.metrics)."""
    metrics.record_renewal("auto_renew", "succeeded", counts.succeeded)
    metrics.record_renewal("auto_renew", "failed", counts.failed)
    metrics.record_renewal("auto_renew", "unknown", counts.unknown)
    if counts.spent:
        metrics.AUTORENEW_SPENT.inc(counts.spent)


class RenewalPipeline:
    def __init__(
        self,
        *,
        worker_id: str,
        batch_size: int,
        batches_in_flight: int,
        stop: Event,
        on_batch: Callable[[], None] | None = None,
    ):
        self.worker_id = worker_id
        # Called between batches (the worker's heartbeat: a long run must not look like a dead worker).
        self.on_batch = on_batch
        self.batch_size = batch_size
        self.batches_in_flight = max(1, batches_in_flight)
        self.stop = stop
        # With one batch in flight everything runs in this thread, so a test
        # inside one database transaction sees everything.
        threaded = self.batches_in_flight > 1
        self._gateway = ThreadPoolExecutor(self.batches_in_flight, "gateway") if threaded else None
        self._settler = ThreadPoolExecutor(SETTLERS, "settler") if threaded else None
        self._thread_connections: set[BaseDatabaseWrapper] = set()
        self._lock = Lock()

    def close(self) -> None:
        for pool in (self._gateway, self._settler):
            if pool is not None:
                pool.shutdown(wait=True)
        for wrapper in self._thread_connections:  # their threads have ended: close them from here
            wrapper.inc_thread_sharing()
            try:
                wrapper.close()
            finally:
                wrapper.dec_thread_sharing()
        self._thread_connections.clear()

    def run_until_idle(self) -> RenewalCounts:
        """Renew everything due now; on stop, settle what is in flight and return."""
        total = RenewalCounts()
        in_flight: deque[Future[RenewalCounts] | RenewalCounts] = deque()
        while True:
            while not self.stop.is_set() and len(in_flight) < self.batches_in_flight:
                batch = self._start()
                if batch is None:
                    break
                in_flight.append(self._settler.submit(self._finish, batch) if self._settler else self._finish(batch))
            if not in_flight:
                return total
            done = in_flight.popleft()
            counts = done.result() if isinstance(done, Future) else done
            total.add(counts)
            _count(counts)
            if self.on_batch is not None:
                self.on_batch()

    def _start(self) -> _Batch | None:
        started = time.perf_counter()
        claimed = autorenew_claims.claim_batch(worker_id=self.worker_id, limit=self.batch_size)
        if not claimed:
            return None
        ids = [due.subscription_id for due in claimed]
        counts = RenewalCounts(claimed=len(ids))
        prepared = autorenew.prepare_claimed_charges(claimed)
        counts.skipped = len(prepared.skipped)
        for subscription, tried in prepared.spent:
            autorenew.record_spent_try(subscription, tried)
            counts.spent += 1
        for charge in prepared.internal:
            attempt = autorenew.charge_internally(charge)
            if attempt.status == AttemptStatus.SUCCEEDED:
                counts.succeeded += 1
            else:
                counts.failed += 1
        charges = autorenew_settle.begin_charges(prepared.gateway)
        answers: Future[list[ChargeResult]] | list[ChargeResult]
        answers = self._gateway.submit(self._charge_in_thread, charges) if self._gateway else _charge(charges)
        return _Batch(ids, charges, answers, counts, started)

    def _charge_in_thread(self, charges: Sequence[GatewayCharge]) -> list[ChargeResult]:
        # The thread's own connection (the sandbox keeps its ledger in the database) is
        # kept from batch to batch, as a request's is: a new one per batch cost the server
        # as much as the batch's ledger. A broken or old one is replaced here, and
        # `close` closes them all.
        close_old_connections()
        self._keep_thread_connection()
        return _charge(charges)

    def _keep_thread_connection(self) -> None:
        with self._lock:
            self._thread_connections.add(connections[DEFAULT_DB_ALIAS])

    def _finish(self, batch: _Batch) -> RenewalCounts:
        if self._settler is not None:
            self._keep_thread_connection()
        results = batch.answers.result() if isinstance(batch.answers, Future) else batch.answers
        settled = autorenew_settle.settle_charges(batch.charges, results)
        # The renewed ones gave their claims back in the same write; the rest give them back now.
        released = set(settled.released)
        rest = [sid for sid in batch.subscription_ids if sid not in released]
        autorenew_claims.release_claims(worker_id=self.worker_id, subscription_ids=rest)
        counts = batch.counts
        counts.succeeded += settled.succeeded
        counts.failed += settled.failed
        counts.unknown += settled.unknown
        logfmt.info(
            "renewals.batch",
            worker=self.worker_id,
            claimed=counts.claimed,
            succeeded=counts.succeeded,
            failed=counts.failed,
            unknown=counts.unknown,
            spent=counts.spent,
            skipped=counts.skipped,
            seconds=time.perf_counter() - batch.started,
        )
        return counts
