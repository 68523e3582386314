"""`simrenew reconcile`: settle payment attempts and refunds left without an
answer, by asking the gateway about their idempotency keys (the worker runs the
same on a schedule)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from simrenew.billing.refunds import execute_refund, refunds_due
from simrenew.payments.charging import attempts_due_for_reconciliation, reconcile


class Command(BaseCommand):
    help = "Look up unanswered payment attempts and refunds at the gateway and settle them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=500, help="At most this many of each (default 500).")

    def handle(self, *args: Any, **options: Any) -> None:
        attempts: Counter[str] = Counter()
        for attempt in attempts_due_for_reconciliation(limit=options["limit"]):
            try:
                outcome = reconcile(attempt)
            except Exception as exc:  # one broken attempt must not stop the others
                self.stderr.write(f"attempt {attempt.pk}: could not be settled: {exc.__class__.__name__}: {exc}")
                attempts["error"] += 1
                continue
            attempts[outcome.status] += 1
            self.stdout.write(f"attempt {outcome.pk}: {outcome.status} {outcome.failure_code}".rstrip())
        refunds: Counter[str] = Counter()
        for refund in refunds_due(limit=options["limit"]):
            refunded = execute_refund(refund)
            refunds[refunded.status] += 1
            self.stdout.write(f"refund {refunded.pk}: {refunded.status}")
        self.stdout.write(f"reconciled: {_summary(attempts)}; refunds: {_summary(refunds)}")


def _summary(counts: Counter[str]) -> str:
    return ", ".join(f"{count} {status}" for status, count in sorted(counts.items())) or "nothing due"
