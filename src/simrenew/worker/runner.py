"""One worker process: each tick does everything due at the clock's "now", in
this order, each job looping in bounded batches until nothing is left:

1. reconcile payment attempts whose answer was lost (they may pay a period), and ask
   again about refunds whose answer was lost,
2. auto-renew due subscriptions (the pipeline in worker.renewals),
3. suspend lapsed subscriptions, warn before termination, terminate; pseudonymize the billing
   details of erased customers' invoices past their legal retention (privacy.retention),
4. reminders (expiry, upcoming charge, card expiry, data used),
5. plan the outbox's deliveries, then deliver what is due.

`run_once` is `simrenew worker --once` (cron, tests); `run_forever` ticks until
asked to stop (SIGTERM), then finishes its batches and gives back its claims.
"""

from __future__ import annotations

import gc
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from threading import Event

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections, transaction

from simrenew.billing.refunds import execute_refund, refunds_due
from simrenew.kit import clock, metrics
from simrenew.kit.actors import WORKER, acting_as
from simrenew.notifications import delivery
from simrenew.payments.charging import attempts_due_for_reconciliation, reconcile
from simrenew.privacy.retention import pseudonymize_expired_invoices
from simrenew.provisioning import line_orders, profiles
from simrenew.subscriptions import autorenew_claims, lifecycle, reminders
from simrenew.worker import heartbeat, logfmt
from simrenew.worker.renewals import RenewalCounts, RenewalPipeline


def freeze_startup_heap() -> None:
    """Leave what the process loaded at startup (Django, the project, their caches) out of
    the cyclic garbage collector's scans: a full collection walked all of it again and
    again, once pausing a run of 20,000 renewals for 0.3 s with every thread waiting.
    The jobs' own objects are still collected; call it once, after startup."""
    gc.collect()
    gc.freeze()


def new_worker_id() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(slots=True)
class TickReport:
    reconciled: int = 0
    refunds_retried: int = 0
    renewals: RenewalCounts = field(default_factory=RenewalCounts)
    suspended: int = 0
    warned: int = 0
    terminated: int = 0
    invoices_pseudonymized: int = 0
    reminders: dict[str, int] = field(default_factory=dict)
    dispatched: int = 0
    delivered: int = 0
    retrying: int = 0
    dead: int = 0
    profile_orders_settled: int = 0
    downloads_reported: int = 0
    lines_stopped: int = 0
    network_sent: int = 0
    network_completed: int = 0
    network_failed: int = 0

    @property
    def did_something(self) -> bool:
        return bool(
            self.reconciled
            or self.refunds_retried
            or self.renewals.claimed
            or self.suspended
            or self.warned
            or self.terminated
            or self.invoices_pseudonymized
            or any(self.reminders.values())
            or self.dispatched
            or self.delivered
            or self.retrying
            or self.dead
            or self.profile_orders_settled
            or self.downloads_reported
            or self.lines_stopped
            or self.network_sent
            or self.network_completed
            or self.network_failed
        )


def _until_idle(step: Callable[[], int], between: Callable[[], None] = lambda: None) -> int:
    """`step` (one batch, in its own transaction) until it finds nothing; `between` runs after each batch."""
    done = 0
    while True:
        with transaction.atomic():
            count = step()
        done += count
        if not count:
            return done
        between()


class Worker:
    def __init__(
        self,
        *,
        worker_id: str | None = None,
        batch_size: int | None = None,
        batches_in_flight: int = 4,
        stop: Event | None = None,
    ):
        self.worker_id = worker_id or new_worker_id()
        self.batch_size = batch_size or settings.SIMRENEW_WORKER_BATCH_SIZE
        self.stop = stop or Event()
        self.renewals = RenewalPipeline(
            worker_id=self.worker_id,
            batch_size=self.batch_size,
            batches_in_flight=batches_in_flight,
            stop=self.stop,
            on_batch=self.keep_alive,
        )
        # The heartbeat is written in forever mode only (see `keep_alive`); None: not written yet.
        self._beating = False
        self._next_beat: float | None = None

    def close(self) -> None:
        """Finish the gateway calls in flight and give back every claim still held."""
        self.renewals.close()
        released = autorenew_claims.release_claims(worker_id=self.worker_id)
        released += delivery.release_claims(self.worker_id)
        released += line_orders.release_claims(self.worker_id)
        heartbeat.stopped(self.worker_id)
        logfmt.info("worker.stopped", worker=self.worker_id, released_claims=released)

    def beat(self, *, first: bool = False) -> None:
        """Tell the console and /readyz this worker is alive (worker.heartbeat)."""
        if first:
            heartbeat.started(self.worker_id)
        else:
            heartbeat.ticked(self.worker_id)

    def keep_alive(self) -> None:
        """In forever mode, beat when `BEAT_EVERY_SECONDS` have passed: after each tick, and between
        the batches of a long one (a large renewal batch, slow gateway refunds), so a busy worker
        never looks dead to /readyz (which would take every web process out of rotation)."""
        if not self._beating:
            return
        if self._next_beat is None or time.monotonic() >= self._next_beat:
            self.beat(first=self._next_beat is None)
            self._next_beat = time.monotonic() + heartbeat.BEAT_EVERY_SECONDS

    def run_once(self, *, scan: bool = True) -> TickReport:
        """Everything due now. `scan=False` skips the scans over all subscriptions
        (suspension, termination, reminders), which forever mode runs once a minute.
        The worker acts as `worker` in the audit trail (its administrative decisions only)."""
        with acting_as(WORKER):
            return self._run_once(scan=scan)

    def _run_once(self, *, scan: bool) -> TickReport:
        report = TickReport()
        report.reconciled = self._reconcile()
        if not self.stop.is_set():
            report.refunds_retried = self._retry_refunds()
        if not self.stop.is_set():
            report.profile_orders_settled = profiles.finish_unsettled_orders(limit=self.batch_size)
            if settings.SIMRENEW_SANDBOX:
                report.downloads_reported = profiles.record_sandbox_downloads(limit=self.batch_size)
        if not self.stop.is_set():
            report.renewals = self.renewals.run_until_idle()
        if scan and not self.stop.is_set():
            report.suspended = _until_idle(lambda: lifecycle.suspend_lapsed(limit=self.batch_size), self.keep_alive)
            report.warned = _until_idle(
                lambda: lifecycle.warn_before_termination(limit=self.batch_size), self.keep_alive
            )
            report.terminated = _until_idle(lambda: lifecycle.terminate_expired(limit=100), self.keep_alive)
            report.lines_stopped = _until_idle(
                lambda: lifecycle.stop_ended_cancellations(limit=self.batch_size), self.keep_alive
            )
            report.invoices_pseudonymized = _until_idle(
                lambda: pseudonymize_expired_invoices(limit=self.batch_size), self.keep_alive
            )
        if not self.stop.is_set():
            # Right after the scans: the suspensions they just wrote go to the carrier in this same run.
            network = line_orders.run_network(
                worker_id=self.worker_id,
                limit=line_orders.network_batch_size(self.batch_size),
                should_stop=self.stop.is_set,
                between=self.keep_alive,
            )
            report.network_sent = network.sent
            report.network_completed = network.completed
            report.network_failed = network.failed
            metrics.record_counts(
                metrics.NETWORK_ORDERS, sent=network.sent, completed=network.completed, failed=network.failed
            )
        if scan and not self.stop.is_set():
            report.reminders = self._reminders()
        if not self.stop.is_set():
            report.dispatched = _until_idle(lambda: delivery.dispatch_pending(limit=self.batch_size), self.keep_alive)
            self._deliver(report)
        metrics.record_worker_tick()
        if report.did_something:
            logfmt.info(
                "worker.tick",
                worker=self.worker_id,
                now=clock.now().isoformat(),
                reconciled=report.reconciled,
                renewed=report.renewals.succeeded,
                renewal_failures=report.renewals.failed,
                suspended=report.suspended,
                terminated=report.terminated,
                invoices_pseudonymized=report.invoices_pseudonymized,
                reminders=sum(report.reminders.values()),
                dispatched=report.dispatched,
                delivered=report.delivered,
                dead=report.dead,
                refunds_retried=report.refunds_retried,
                profile_orders_settled=report.profile_orders_settled,
                downloads_reported=report.downloads_reported,
                network_sent=report.network_sent,
                network_completed=report.network_completed,
                network_failed=report.network_failed,
            )
        return report

    def run_forever(self, *, idle_seconds: float = 1.0, scan_seconds: float = 60.0) -> None:
        """Tick until stopped: due charges and deliveries at once, the scans over
        every subscription (reminders, suspension, termination) every `scan_seconds`."""
        logfmt.info("worker.started", worker=self.worker_id, batch_size=self.batch_size)
        next_scan = 0.0
        self._beating = True
        try:
            while not self.stop.is_set():
                close_old_connections()
                scan = time.monotonic() >= next_scan
                if scan:
                    next_scan = time.monotonic() + scan_seconds
                try:
                    report = self.run_once(scan=scan)
                    self.keep_alive()
                except DatabaseError:
                    # A deadlock victim, a lost connection, a restarting database: every job
                    # is safe to run again, so log it, drop the connection and tick again.
                    logfmt.log.exception("worker tick failed; trying again")
                    connections.close_all()
                    self.stop.wait(idle_seconds)
                    continue
                if not report.did_something:
                    self.stop.wait(idle_seconds)
        finally:
            self.close()

    def _reconcile(self) -> int:
        done = 0
        while not self.stop.is_set():
            due = attempts_due_for_reconciliation(limit=100)
            for attempt in due:
                reconcile(attempt)
            done += len(due)
            self.keep_alive()
            if len(due) < 100:
                break
        return done

    def _retry_refunds(self) -> int:
        """Refunds whose gateway call was lost (a crash after a cancellation committed): the same key
        again, outside any transaction (execute_refund owns its own). Due by the system clock, so a
        frozen sandbox test clock does not hold them back (billing.refunds.RETRY_AFTER_SECONDS)."""
        asked = 0
        for refund in refunds_due(limit=100):
            if self.stop.is_set():
                break  # claimed but not asked: due again after its backoff
            execute_refund(refund)
            asked += 1
            self.keep_alive()
        return asked

    def _reminders(self) -> dict[str, int]:
        sent = reminders.send_all_due_reminders(limit=self.batch_size, should_stop=self.stop.is_set)
        metrics.record_counts(metrics.REMINDERS_SENT, **sent)
        return sent

    def _deliver(self, report: TickReport) -> None:
        while not self.stop.is_set():
            run = delivery.deliver_due(worker_id=self.worker_id, limit=200)
            report.delivered += run.sent
            report.retrying += run.retrying
            report.dead += run.dead
            if not (run.sent or run.retrying or run.dead):
                break
            self.keep_alive()
