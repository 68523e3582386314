"""Real `simrenew` processes against a database of their own, as an operator runs them.

Tests here never sleep to move business time: the test clock (one row in the
shared database) moves, and every process reads it. Real time passes only to let
workers run before one is killed, and for claims, which expire by the system clock.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SIMRENEW = str(Path(sys.executable).with_name("simrenew"))

# The moment every story starts: subscriptions end two days later, so their first
# auto-renew try (72 h before the end) is due, and the later ones are T-24h, T-6h, T-1h.
START = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
PAID_THROUGH = START + timedelta(days=2)

BATCH_LINE = re.compile(
    r"event=renewals\.batch worker=(?P<worker>\S+) claimed=(?P<claimed>\d+) succeeded=(?P<succeeded>\d+)"
    r" failed=(?P<failed>\d+) unknown=(?P<unknown>\d+) spent=(?P<spent>\d+) skipped=(?P<skipped>\d+)"
    r" seconds=(?P<seconds>[\d.]+)"
)


@dataclass(frozen=True)
class Database:
    url: str

    @property
    def is_postgresql(self) -> bool:
        return self.url.startswith(("postgresql://", "postgres://"))

    def set_clock(self, when: datetime) -> None:
        """Move the shared test clock (what `simrenew clock set` does, without a process start)."""
        when = when.astimezone(UTC)
        if self.is_postgresql:
            import psycopg

            with psycopg.connect(self.url, autocommit=True) as connection:
                connection.execute("UPDATE kit_testclock SET frozen_at = %s WHERE id = 1", [when])
            return
        import sqlite3

        connection = sqlite3.connect(self.url.removeprefix("sqlite:///"), timeout=30)
        try:
            with connection:
                # Django keeps aware times on SQLite as naive UTC text.
                connection.execute(
                    "UPDATE kit_testclock SET frozen_at = ? WHERE id = 1", [when.replace(tzinfo=None).isoformat(" ")]
                )
        finally:
            connection.close()


@dataclass
class Batch:
    worker: str
    claimed: int
    succeeded: int
    failed: int
    unknown: int
    spent: int
    skipped: int


def batches(log: str) -> list[Batch]:
    """The `event=renewals.batch` lines of a worker's log."""
    return [
        Batch(
            m["worker"], *(int(m[name]) for name in ("claimed", "succeeded", "failed", "unknown", "spent", "skipped"))
        )
        for m in BATCH_LINE.finditer(log)
    ]


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, pattern: str, *, timeout: float = 30) -> bool:
        """Whether `pattern` shows up in the log before the timeout (or the process's end)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.log):
                return True
            if self.process.poll() is not None:
                return bool(re.search(pattern, self.log))
            time.sleep(0.02)
        return False

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is finished or given back."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def terminate(self, *, timeout: float = 30) -> tuple[int, float]:
        """SIGTERM, then wait: the exit code and how long the process took to stop."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        return code, time.monotonic() - started


@dataclass
class Simrenew:
    """The `simrenew` executable (and the scenario helper) pointed at one database."""

    database: Database
    folder: Path
    started: list[WorkerProcess] = field(default_factory=list)

    def env(
        self, *, latency_ms: int = 0, fault_rate: float = 0.0, claim_seconds: int = 1, **settings: str
    ) -> dict[str, str]:
        """The environment of a `simrenew` process; `settings` are more SIMRENEW_* variables."""
        env = {name: value for name, value in os.environ.items() if not name.startswith(("SIMRENEW_", "DJANGO_"))}
        env.update(
            DJANGO_SETTINGS_MODULE="simrenew.settings",
            SIMRENEW_SANDBOX="1",
            SIMRENEW_DATABASE_URL=self.database.url,
            SIMRENEW_VAR_DIR=str(self.folder / "var"),
            SIMRENEW_SANDBOX_GATEWAY_LATENCY_MS=str(latency_ms),
            SIMRENEW_SANDBOX_GATEWAY_FAULT_RATE=str(fault_rate),
            # A killed worker's claims lapse after a second, so another takes its batch over.
            SIMRENEW_WORKER_CLAIM_SECONDS=str(claim_seconds),
        )
        env.update(settings)
        return env

    def run(self, *args: str, timeout: float = 120, **env: Any) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [SIMRENEW, *args], env=self.env(**env), cwd=REPO, capture_output=True, text=True, timeout=timeout
        )
        assert done.returncode == 0, f"simrenew {' '.join(args)} exited {done.returncode}:\n{done.stderr[-4000:]}"
        return done

    def worker_once(self, *args: str, **env: Any) -> str:
        """`simrenew worker --once`: does everything due now, exits 0; returns its log."""
        done = self.run("worker", "--once", *args, **env)
        return done.stderr

    def status(self) -> dict[str, int]:
        return dict(json.loads(self.run("worker", "--status", "--json").stdout))

    def start_worker(self, *args: str, **env: Any) -> WorkerProcess:
        """`simrenew worker` in forever mode, its output (log lines, console emails) to a file."""
        log_path = self.folder / f"worker-{len(self.started) + 1}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [SIMRENEW, "worker", *args], env=self.env(**env), cwd=REPO, stdout=log, stderr=subprocess.STDOUT
            )
        worker = WorkerProcess(process, log_path)
        self.started.append(worker)
        return worker

    def scenario(self, *args: str) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, "-m", "tests.worker.scenario", *args],
            env=self.env(),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"scenario {' '.join(args)} exited {done.returncode}:\n{done.stderr[-4000:]}"
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))

    def seed(self, *, count: int, cards: dict[str, int] | None = None, webhooks: str | None = None) -> dict[str, Any]:
        args = ["seed", "--at", START.isoformat(), "--count", str(count)]
        args += [f"--card={number}={how_many}" for number, how_many in (cards or {}).items()]
        if webhooks:
            args += ["--webhooks", webhooks]
        return self.scenario(*args)

    def books(self) -> dict[str, Any]:
        return self.scenario("report")

    def stop_all(self) -> None:
        """Whatever a failed test left running: only the processes this object started."""
        for worker in self.started:
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGKILL)
                worker.process.wait(timeout=30)


# After a run: the moments at which `simrenew worker --once` settles everything left.
# Lost answers are looked up 5 min, 1 h and 1 d after their charge; the retries of a
# failed renewal come at T-24h, T-6h and T-1h, and a try that never reached the gateway
# is made again 15 min later (so the last hour is walked in 6-minute steps); the last
# moment is still before expiry.
AFTERWARDS = (
    START + timedelta(minutes=6),
    START + timedelta(hours=1, minutes=1),
    PAID_THROUGH - timedelta(hours=24) + timedelta(minutes=1),
    PAID_THROUGH - timedelta(hours=24) + timedelta(minutes=7),
    PAID_THROUGH - timedelta(hours=6),
    PAID_THROUGH - timedelta(hours=6) + timedelta(minutes=6),
    PAID_THROUGH - timedelta(hours=1),
    *(PAID_THROUGH - timedelta(minutes=minutes) for minutes in range(54, 0, -6)),
)


def run_through_the_schedule(simrenew: Simrenew, **env: Any) -> dict[str, int]:
    """Move the test clock through reconciliation and the retry slots, running
    `simrenew worker --once` at each; returns `simrenew worker --status --json` after."""
    for moment in AFTERWARDS:
        simrenew.database.set_clock(moment)
        simrenew.worker_once(**env)
    return simrenew.status()
