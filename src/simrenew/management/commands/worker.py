"""`simrenew worker [--once | --status]`: the process that does all scheduled work."""

from __future__ import annotations

import json
import os
import signal
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from simrenew.deploy_checks import preflight
from simrenew.kit.tracing import configure_tracing, stop_tracing
from simrenew.worker.metrics import serve_process_metrics
from simrenew.worker.runner import Worker, freeze_startup_heap
from simrenew.worker.status import worker_status


class Command(BaseCommand):
    help = "Run the worker: auto-renew, reconciliation, reminders, suspension, termination and outbox delivery."

    def add_arguments(self, parser: CommandParser) -> None:
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--once", action="store_true", help="Do everything due at the current clock time, then exit.")
        mode.add_argument("--status", action="store_true", help="Show what is due, claimed, retrying and dead.")
        parser.add_argument("--json", action="store_true", help="With --status: one JSON object.")
        parser.add_argument("--batch-size", type=int, default=None, help="Subscriptions claimed per batch.")
        parser.add_argument(
            "--in-flight", type=int, default=4, help="Batches whose gateway calls may be in flight at once."
        )
        parser.add_argument("--idle-seconds", type=float, default=1.0, help="Pause between ticks with nothing to do.")
        parser.add_argument(
            "--scan-seconds",
            type=float,
            default=60.0,
            help="How often the scans over all subscriptions run (reminders, suspension, termination).",
        )
        parser.add_argument(
            "--metrics-port",
            type=int,
            default=int(os.environ.get("SIMRENEW_WORKER_METRICS_PORT", "0")) or None,
            help="Serve this worker's Prometheus figures at http://HOST:PORT/metrics (with SIMRENEW_METRICS_TOKEN, "
            "a bearer token is asked for).",
        )
        parser.add_argument(
            "--metrics-host",
            default=os.environ.get("SIMRENEW_WORKER_METRICS_HOST", "127.0.0.1"),
            help="The address --metrics-port listens on (0.0.0.0 for a scraper on another machine).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["status"]:
            self._status(as_json=options["json"])
            return
        preflight(self.stdout)  # a live worker does not start beside the demo's open logins
        if options["metrics_port"]:
            self._serve_metrics(options["metrics_host"], options["metrics_port"])
        # Spans of outbox deliveries (continuing their events' traces), gateway calls and queries,
        # when the OTEL_* variables ask for them; exported before the process ends.
        configure_tracing()
        worker = Worker(batch_size=options["batch_size"], batches_in_flight=options["in_flight"])
        freeze_startup_heap()

        def stop(signum: int, frame: FrameType | None) -> None:
            # Finish the batches in flight, give back the claims, exit: no charge is left half-done.
            worker.stop.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            if options["once"]:
                try:
                    worker.run_once()
                    worker.beat(first=True)  # a worker run by cron each minute counts as alive too
                finally:
                    worker.close()
                return
            worker.run_forever(idle_seconds=options["idle_seconds"], scan_seconds=options["scan_seconds"])
        finally:
            stop_tracing()

    def _serve_metrics(self, host: str, port: int) -> None:
        # A port of its own (the scraper's network only): the token is asked for when one is set.
        try:
            serve_process_metrics(host=host, port=port, token=settings.SIMRENEW_METRICS_TOKEN)
        except OSError as exc:
            raise CommandError(f"Cannot serve metrics on {host}:{port}: {exc.strerror or exc}") from None
        self.stdout.write(f"Metrics at http://{host}:{port}/metrics")
        self.stdout.flush()

    def _status(self, *, as_json: bool) -> None:
        counts = worker_status()
        if as_json:
            self.stdout.write(json.dumps(counts, sort_keys=True))
            return
        width = max(len(name) for name in counts)
        for name, value in counts.items():
            self.stdout.write(f"{name.replace('_', ' '):<{width}}  {value}")
