"""API read throughput against the production server, beside a bare Django view in the same run.

    python -m benchmarks.api_throughput [SECONDS] [SUBSCRIPTIONS]      (prints one JSON line)

Seeds SUBSCRIPTIONS live subscriptions (default 5,000) in the database
SIMRENEW_DATABASE_URL names (migrate it first), starts the production server as
an operator does (`simrenew serve --workers 2`: gunicorn, 2 gthread workers of
4 threads, keep-alive) with SIMRENEW_BENCH_ROUTES=1, and from a second process,
`wrk` with CONNECTIONS keep-alive connections, drives for SECONDS (default 30) each:

1. `GET /bench/constant`: a bare Django view returning a constant, through the same
   server, middleware and URL routing (the baseline);
2. `GET /api/v1/subscriptions/{id}` with a `read` API key, the id drawn at random
   from the seeded set for every request.

wrk (C, event loop, HdrHistogram-style latency records) rather than a Python
client: on a 2-core machine an asyncio/httpx client spends more CPU per request
than the bare view does, so it would cap the baseline and flatter the ratio.

The rate limiter stays on (its counting is part of every API request) with a read
limit no run can reach, so no request is refused.

Prometheus metrics (kit.metrics: every request counted and timed, in gunicorn's shared folder)
cost something per request: the server runs six times, metrics off and on three times each, and
the report gives the API's ratio to the bare view with metrics on over the same with them off
(bar: under 10 % cost), and the API's rates. With metrics on, /metrics is read after each round
and must have counted every API request.

The server runs in production mode, as the bar asks ("the production server
setup"): SIMRENEW_SANDBOX=0 with a secret key of its own, so "now" is the system
clock and no request reads the sandbox's test clock. Production mode refuses the
sandbox payment gateway and SMS provider, so the server is configured with the
Stripe and Twilio adapters and placeholder credentials: neither is called by a
read. The seeding before it runs in sandbox mode (test cards).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.renewals import setup

CONNECTIONS = int(os.environ.get("SIMRENEW_BENCH_API_CONNECTIONS", "8"))
WRK_THREADS = 2
WARM_UP_SECONDS = 3
WORKERS = 2
# `simrenew serve`'s default, which SIMRENEW_WEB_THREADS changes (for the server as for this report).
THREADS = int(os.environ.get("SIMRENEW_WEB_THREADS", "4"))
# Reads per key and window no run reaches: the limiter counts every request but refuses none.
UNREACHABLE_READ_LIMIT = 1_000_000_000
# The server's environment beyond the secret key: production mode, whose real adapters a read never calls.
PRODUCTION_MODE = {
    "SIMRENEW_SANDBOX": "0",
    "SIMRENEW_PAYMENT_GATEWAY": "stripe",
    "SIMRENEW_STRIPE_API_KEY": "sk_test_placeholder_never_called",
    "SIMRENEW_STRIPE_PUBLISHABLE_KEY": "pk_test_placeholder_never_used",
    "SIMRENEW_STRIPE_WEBHOOK_SECRET": "whsec_placeholder_never_used",
    "SIMRENEW_SMS_PROVIDER": "twilio",
    "SIMRENEW_TWILIO_ACCOUNT_SID": "AC_placeholder_never_called",
    "SIMRENEW_TWILIO_AUTH_TOKEN": "placeholder",
    "SIMRENEW_TWILIO_FROM": "+15005550006",
    # What live mode's preflight asks of every server (issue 13): links never built from the Host
    # header, a mail server (never spoken to by a read), keys for secrets at rest, and a cache all
    # processes share. The cache is a table in the same PostgreSQL: the API's per-key rate limiter
    # counts there, as it would in a deployment without Redis.
    "SIMRENEW_PUBLIC_URL": "https://bench.invalid",
    "SIMRENEW_EMAIL_URL": "smtp://127.0.0.1:9",
    "SIMRENEW_CACHE_URL": "db://simrenew_cache",
    "SIMRENEW_ALLOWED_HOSTS": "127.0.0.1",  # wrk asks the server by address, not by the public name
    # As deployed, behind a TLS proxy: every request says it came over https (see PROXY_HEADERS).
    "SIMRENEW_BEHIND_TLS_PROXY": "1",
}
PROXY_HEADERS = {"X-Forwarded-Proto": "https"}
METRICS_TOKEN = secrets.token_urlsafe(32)
API_ROUTE = "/api/v1/subscriptions/<subscription_id>"

# A wrk script: every request draws an id, `done` prints the figures as one JSON line.
WRK_SCRIPT = """
local ids = {%(ids)s}
local headers = {["Authorization"] = "Bearer %(key)s", ["Accept"] = "application/json", ["X-Forwarded-Proto"] = "https"}
local path_of = %(path_of)s
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("seed", threads)
end

function init(args)
  math.randomseed(os.time() * 100 + seed)
end

function request()
  return wrk.format("GET", path_of(ids[math.random(#ids)]), headers)
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %%d, "duration_us": %%d, "non_2xx_3xx": %%d, "socket_errors": %%d, '
    .. '"timeouts": %%d, "p50_us": %%d, "p90_us": %%d, "p99_us": %%d, "max_us": %%d, "mean_us": %%.1f}\\n',
    summary.requests, summary.duration, errors.status, errors.connect + errors.read + errors.write,
    errors.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
"""
API_PATH = 'function(id) return "/api/v1/subscriptions/" .. id end'
CONSTANT_PATH = 'function(id) return "/bench/constant" end'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(base: str, server: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not come up")


def wrk(base: str, script: Path, seconds: int) -> dict[str, Any]:
    done = subprocess.run(
        [
            "wrk",
            f"--threads={WRK_THREADS}",
            f"--connections={CONNECTIONS}",
            f"--duration={seconds}s",
            "--timeout=10s",
            f"--script={script}",
            base,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    line = next(line for line in done.stdout.splitlines() if line.startswith("WRK_JSON "))
    raw = json.loads(line.removeprefix("WRK_JSON "))
    if raw["non_2xx_3xx"] or raw["socket_errors"] or raw["timeouts"]:
        raise RuntimeError(f"{script.stem}: requests failed: {raw}\n{done.stdout}")
    seconds_run = raw["duration_us"] / 1e6
    return {
        "requests": raw["requests"],
        "seconds": round(seconds_run, 2),
        "rate": round(raw["requests"] / seconds_run, 1),
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p90_ms": round(raw["p90_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "max_ms": round(raw["max_us"] / 1000, 2),
    }


def check_answers(base: str, api_key: str, subscription_id: int) -> None:
    """Both routes answer what the benchmark expects before it is timed."""
    bare = httpx.get(f"{base}/bench/constant", headers=PROXY_HEADERS, timeout=10)
    if bare.status_code != 200:
        raise RuntimeError(f"/bench/constant answered {bare.status_code}: is SIMRENEW_BENCH_ROUTES on?")
    api = httpx.get(
        f"{base}/api/v1/subscriptions/{subscription_id}",
        headers={"Authorization": f"Bearer {api_key}", **PROXY_HEADERS},
        timeout=10,
    )
    if api.status_code != 200 or api.json().get("id") != subscription_id:
        raise RuntimeError(f"GET /api/v1/subscriptions/{subscription_id}: {api.status_code} {api.text[:300]}")


def main() -> None:
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 5_000
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: `make bench-deps` (apt-get install wrk)")
    setup()
    from django.db import connection

    from benchmarks.seed import seed_subscriptions

    ids = seed_subscriptions(count)
    vendor = connection.vendor
    connection.close()

    port = free_port()
    log = Path(os.environ.get("SIMRENEW_VAR_DIR", "var")) / "bench" / "api-server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(
        os.environ,
        SIMRENEW_BENCH_ROUTES="1",
        SIMRENEW_API_RATE_LIMIT_READS=str(UNREACHABLE_READ_LIMIT),
        **PRODUCTION_MODE,
        SIMRENEW_SECRET_KEY=secrets.token_urlsafe(50),
        SIMRENEW_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
    )
    simrenew = str(Path(sys.executable).with_name("simrenew"))
    subprocess.run([simrenew, "createcachetable"], env=env, check=True)
    # A live server takes only live keys (`sr_live_`), so the key is made in the server's mode.
    made = subprocess.run(
        [simrenew, "apikey", "create", "--name", "bench", "--scope", "read"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    api_key = made.stdout.strip().splitlines()[-1]
    with tempfile.TemporaryDirectory(prefix="simrenew-wrk-") as folder, log.open("w") as server_log:
        scripts = {}
        for name, path_of in (("constant", CONSTANT_PATH), ("subscription", API_PATH)):
            script = Path(folder) / f"{name}.lua"
            script.write_text(WRK_SCRIPT % {"ids": ",".join(map(str, ids)), "key": api_key, "path_of": path_of})
            scripts[name] = script
        runs: dict[str, list[dict[str, dict[str, Any]]]] = {"off": [], "on": []}
        # Metrics off and on, three rounds each in the order off on on off off on (each mode as
        # often early as late in the run), each in a server of its own whose API and bare view are
        # measured back to back: what the machine's other work does to a round, it does to both.
        for mode in ("off", "on", "on", "off", "off", "on"):
            serving = dict(env, SIMRENEW_METRICS="1" if mode == "on" else "0", SIMRENEW_METRICS_TOKEN=METRICS_TOKEN)
            runs[mode].append(serve_and_drive(simrenew, serving, port, server_log, scripts, api_key, ids[0], seconds))
    on, off = combined(runs["on"]), combined(runs["off"])
    ratio_on, ratio_off = mean_ratio(runs["on"]), mean_ratio(runs["off"])
    print(
        json.dumps(
            {
                "database": vendor,
                "subscriptions": count,
                "seconds": seconds,
                "rounds": len(runs["on"]),
                "connections": CONNECTIONS,
                "server": f"simrenew serve --workers {WORKERS} (gunicorn gthread, {THREADS} threads each)",
                "mode": "production (SIMRENEW_SANDBOX=0)",
                "api": on["api"],
                "bare": on["bare"],
                "ratio": round(ratio_on, 3),
                "metrics_off": {"api": off["api"], "bare": off["bare"], "ratio": round(ratio_off, 3)},
                # What counting and timing every request costs: the API's ratio to the bare view
                # with metrics on over the same with them off (1.0: nothing), and the API's rates.
                "ratio_on_over_off": round(ratio_on / ratio_off, 3),
                "api_metrics_on_over_off": round(on["api"]["rate"] / off["api"]["rate"], 3),
            }
        )
    )


def serve_and_drive(
    simrenew: str,
    env: dict[str, str],
    port: int,
    server_log: Any,
    scripts: dict[str, Path],
    api_key: str,
    subscription_id: int,
    seconds: int,
) -> dict[str, dict[str, Any]]:
    """One server: warmed up, then the bare view and the API, `seconds` each."""
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [simrenew, "serve", "--port", str(port), "--workers", str(WORKERS)],
        env=env,
        stdout=server_log,
        stderr=server_log,
    )
    try:
        wait_until_up(base, server, time.monotonic() + 60)
        check_answers(base, api_key, subscription_id)
        # Both workers import everything, open their database connection and fill caches.
        wrk(base, scripts["subscription"], WARM_UP_SECONDS)
        wrk(base, scripts["constant"], WARM_UP_SECONDS)
        bare = wrk(base, scripts["constant"], seconds)
        api = wrk(base, scripts["subscription"], seconds)
        if env["SIMRENEW_METRICS"] == "1":
            check_counted(base, api["requests"])
        return {"bare": bare, "api": api}
    finally:
        server.terminate()
        server.wait(timeout=30)


def check_counted(base: str, api_requests: int) -> None:
    """With metrics on, the server did count: its /metrics has the API's requests (and more: the warm-up)."""
    answer = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}", **PROXY_HEADERS})
    counted = sum(
        sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
        if sample.name == "simrenew_http_requests_total" and sample.labels["route"] == API_ROUTE
    )
    if counted < api_requests:
        raise RuntimeError(f"/metrics counted {counted} API requests of at least {api_requests}")


def mean_ratio(rounds: list[dict[str, dict[str, Any]]]) -> float:
    """The API's rate over the bare view's, each round in its own server, averaged over the rounds."""
    return sum(one["api"]["rate"] / one["bare"]["rate"] for one in rounds) / len(rounds)


def combined(rounds: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """The rounds of one mode as one: the rate over all their requests, the worst latencies."""
    figures: dict[str, dict[str, Any]] = {}
    for route in ("bare", "api"):
        each = [one[route] for one in rounds]
        requests = sum(one["requests"] for one in each)
        elapsed = sum(one["seconds"] for one in each)
        figures[route] = {
            "requests": requests,
            "seconds": round(elapsed, 2),
            "rate": round(requests / elapsed, 1),
            **{name: max(one[name] for one in each) for name in ("p50_ms", "p90_ms", "p99_ms", "max_ms")},
        }
    return figures


if __name__ == "__main__":
    main()
