"""`simrenew reconcile`: settle payment attempts left pending or unknown by asking
the gateway about their idempotency keys (the worker runs the same on a schedule)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from simrenew.payments.charging import attempts_due_for_reconciliation, reconcile


class Command(BaseCommand):
    help = "Look up unanswered payment attempts at the gateway and settle them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=500, help="At most this many attempts (default 500).")

    def handle(self, *args: Any, **options: Any) -> None:
        settled: dict[str, int] = {}
        for attempt in attempts_due_for_reconciliation(limit=options["limit"]):
            outcome = reconcile(attempt)
            settled[outcome.status] = settled.get(outcome.status, 0) + 1
            self.stdout.write(f"attempt {outcome.pk}: {outcome.status} {outcome.failure_code}".rstrip())
        summary = ", ".join(f"{count} {status}" for status, count in sorted(settled.items())) or "nothing due"
        self.stdout.write(f"reconciled: {summary}")
