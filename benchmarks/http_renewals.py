"""Renewals one at a time through the HTTP API, with a keep-alive client,
against the production server (`simrenew serve`: gunicorn, 2 workers).

    python -m benchmarks.http_renewals [COUNT]      (prints one JSON line)

Seeds the database SIMRENEW_DATABASE_URL names (migrate it first), starts the
server on a free loopback port, renews each subscription with its own
Idempotency-Key, and stops the server.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from benchmarks.renewals import setup


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(base: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not come up")


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    setup()
    from django.db import connection

    from benchmarks.seed import seed_subscriptions
    from simrenew.api.keys import create_api_key

    ids = seed_subscriptions(count)
    _, api_key = create_api_key(name="bench", scopes=["write"])
    connection.close()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = Path(os.environ.get("SIMRENEW_VAR_DIR", "var")) / "bench" / "http-server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    simrenew = str(Path(sys.executable).with_name("simrenew"))
    with log.open("w") as server_log:
        # The per-key limiter stays on, with a limit this run cannot reach (it is not what is measured).
        env = {**os.environ, "SIMRENEW_API_RATE_LIMIT_WRITES": "10000000", "SIMRENEW_API_RATE_LIMIT_READS": "10000000"}
        server = subprocess.Popen(
            [simrenew, "serve", "--port", str(port), "--workers", "2"], stdout=server_log, stderr=server_log, env=env
        )
        try:
            wait_until_up(base, time.monotonic() + 60)
            headers = {"Authorization": f"Bearer {api_key}"}
            with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
                started = time.perf_counter()
                for subscription_id in ids:
                    response = client.post(
                        f"/api/v1/subscriptions/{subscription_id}/renewals",
                        json={},
                        headers={"Idempotency-Key": f"bench-http-{subscription_id}"},
                    )
                    if response.status_code != 201:
                        raise RuntimeError(f"renewal {subscription_id}: {response.status_code} {response.text[:300]}")
                elapsed = time.perf_counter() - started
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(
        json.dumps(
            {
                "database": connection.vendor,
                "count": count,
                "http_seconds": round(elapsed, 3),
                "http_rate": round(count / elapsed, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
