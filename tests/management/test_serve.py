"""`simrenew serve` runs the production server (gunicorn), reachable over real HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def first_health_check(port: int, *, within: float = 60) -> httpx.Response:
    """The server's first answer to /healthz, waited for while it boots (at most `within` seconds)."""
    deadline = time.monotonic() + within
    while True:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_serve_answers_health_checks_api_and_static_files_through_gunicorn(tmp_path: Path):
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="simrenew.settings",
        SIMRENEW_SANDBOX="1",
        SIMRENEW_DATABASE_URL=f"sqlite:///{tmp_path / 'serve.sqlite3'}",
    )
    simrenew = str(Path(sys.executable).with_name("simrenew"))
    subprocess.run([simrenew, "migrate", "-v0"], check=True, env=env)
    port = free_port()
    server = subprocess.Popen(
        [simrenew, "serve", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        health = first_health_check(port, within=30)
        assert health is not None and health.status_code == 200
        assert health.json() == {"status": "ok"}
        assert httpx.get(f"{base}/api/v1/plans").status_code == 401
        assert httpx.get(f"{base}/static/admin/css/base.css").status_code == 200
        assert "simrenew" in httpx.get(f"{base}/").text
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0].decode()
    assert "gunicorn" in output.lower() or "Booting worker" in output
