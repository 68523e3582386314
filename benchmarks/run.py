"""`make bench`: run each benchmark in its own process on a fresh database and
write the figures to benchmarks/report.md.

Figures are measured as ratios against a baseline run in the same process
(plain SQL doing the same writes), because these machines are shared and noisy.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "benchmarks" / "report.md"
VAR = ROOT / "var" / "bench"
COUNT = int(os.environ.get("SIMRENEW_BENCH_COUNT", "20000"))


def fresh_sqlite(name: str) -> str:
    path = VAR / f"{name}.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


def run_entry(module: str, database_url: str, *args: str) -> dict[str, object]:
    env = dict(os.environ, SIMRENEW_SANDBOX="1", SIMRENEW_DATABASE_URL=database_url, PYTHONPATH=str(ROOT))
    simrenew = str(Path(sys.executable).with_name("simrenew"))
    if database_url.startswith("postgresql"):
        reset = "DROP SCHEMA public CASCADE; CREATE SCHEMA public;"
        subprocess.run(["psql", database_url, "-q", "-c", reset], check=True, env=env)
    subprocess.run([simrenew, "migrate", "-v0"], check=True, env=env, cwd=ROOT)
    output = subprocess.run(
        [sys.executable, "-m", module, *args], check=True, env=env, cwd=ROOT, capture_output=True, text=True
    ).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


def git_commit() -> str:
    git = shutil.which("git")
    if git is None:
        return "unknown"
    done = subprocess.run([git, "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def main() -> None:
    VAR.mkdir(parents=True, exist_ok=True)
    postgres_url = os.environ.get("SIMRENEW_DATABASE_URL", "")
    rows: list[str] = []

    print(f"1. {COUNT} renewals through the service layer on SQLite …", flush=True)
    sqlite = run_entry("benchmarks.renewals", fresh_sqlite("renewals"), str(COUNT))
    print(json.dumps(sqlite), flush=True)
    rows.append(
        f"| 1 | {COUNT:,} renewals, one at a time, service layer + sandbox gateway (0 ms) | SQLite | "
        f"**{sqlite['service_rate']:,} /s** | plain SQL, same writes: {sqlite['sql_rate']:,} /s | "
        f"**{sqlite['ratio']}** | ≥ 500 /s and ≥ 0.10 |"
    )

    print(f"2. {COUNT} renewals through the HTTP API on SQLite …", flush=True)
    http = run_entry("benchmarks.http_renewals", fresh_sqlite("http"), str(COUNT))
    print(json.dumps(http), flush=True)
    http_ratio = round(float(str(http["http_rate"])) / float(str(sqlite["service_rate"])), 3)
    rows.append(
        f"| 2 | {COUNT:,} renewals, one at a time, `POST /api/v1/subscriptions/{{id}}/renewals` (keep-alive, "
        f"gunicorn 2 workers) | SQLite | **{http['http_rate']:,} /s** | entry 1's service-layer rate | "
        f"{http_ratio} | (reported) |"
    )

    if postgres_url.startswith("postgresql"):
        print(f"3. {COUNT} renewals through the service layer on PostgreSQL …", flush=True)
        postgres = run_entry("benchmarks.renewals", postgres_url, str(COUNT))
        print(json.dumps(postgres), flush=True)
        rows.append(
            f"| 3 | {COUNT:,} renewals, one at a time, service layer + sandbox gateway (0 ms) | PostgreSQL 15 | "
            f"**{postgres['service_rate']:,} /s** | plain SQL, same writes: {postgres['sql_rate']:,} /s | "
            f"**{postgres['ratio']}** | (reported) |"
        )

    REPORT.write_text(
        "# Benchmarks\n\n"
        f"Run by `make bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit `{git_commit()}`, "
        f"{platform.machine()} with {os.cpu_count()} cores, Python {platform.python_version()}.\n\n"
        "Each entry runs in its own process on a fresh database. The baseline is measured in the same "
        "process and run, so the ratio (entry rate ÷ baseline rate) is what to compare across machines.\n\n"
        "| # | what | database | rate | baseline | ratio | bar |\n|---|---|---|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n\nThe plain-SQL baseline writes the same rows (attempt, gateway ledger, attempt outcome, gapless "
        "invoice number, invoice, period, subscription, outbox message) in the same three transactions per "
        "renewal, with hand-written statements and no domain checks. Subscriptions are read in pages of 500 in "
        "both, as the worker claims them.\n"
    )
    print(f"wrote {REPORT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
