"""`simrenew serve --with-worker` (what `make run` runs): the server and the worker as one command,
tried as a real process on a free port with a database of its own. One Ctrl-C stops both and
leaves no process behind; a worker that dies takes the command down with a message."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from simrenew.management.commands.serve import serving_environment
from tests.management.test_serve import free_port

SIMRENEW = str(Path(sys.executable).with_name("simrenew"))


def children_of(pid: int) -> list[int]:
    """The processes `pid` started (Linux /proc), whatever they run."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # ended while we looked
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid:
            found.append(int(entry.name))
    return found


def environment_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for(condition, *, within: float, what: str):  # type: ignore[no-untyped-def]
    """Polls a real process's state (real time passes here: nothing to move with the test clock)."""
    deadline = time.monotonic() + within
    while True:
        try:
            found = condition()
        except httpx.TransportError:
            found = None
        if found:
            return found
        assert time.monotonic() < deadline, f"waited {within} s for {what}"
        time.sleep(0.2)


@pytest.fixture
def started(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    env = {key: value for key, value in os.environ.items() if key != "SIMRENEW_PUBLIC_URL"}
    env |= {
        "DJANGO_SETTINGS_MODULE": "simrenew.settings",
        "SIMRENEW_SANDBOX": "1",
        "SIMRENEW_DATABASE_URL": f"sqlite:///{tmp_path / 'run.sqlite3'}",
        "SIMRENEW_VAR_DIR": str(tmp_path / "var"),
    }
    subprocess.run([SIMRENEW, "migrate", "-v0"], check=True, env=env)
    port = free_port()
    command = subprocess.Popen(
        [SIMRENEW, "serve", "--with-worker", "--port", str(port), "--workers", "1", "--threads", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # signals in this test reach the command only, not a terminal's group
    )
    try:
        yield command, port
    finally:
        if command.poll() is None:
            os.killpg(command.pid, signal.SIGKILL)
            command.wait()


def ready(port: int) -> httpx.Response | None:
    answer = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
    return answer if answer.status_code == 200 else None


def test_one_command_serves_pages_runs_the_worker_and_one_ctrl_c_stops_both(started):
    command, port = started

    readiness = wait_for(lambda: ready(port), within=120, what="/readyz to report a worker tick")
    tick = datetime.fromisoformat(readiness.json()["last_worker_tick"])
    assert datetime.now(UTC) - tick < timedelta(minutes=1)
    assert readiness.json()["checks"] == {"database": "ok", "migrations": "ok", "worker": "ok", "cache": "ok"}
    assert "simrenew" in httpx.get(f"http://127.0.0.1:{port}/").text
    server, worker = sorted(children_of(command.pid))  # started in this order
    # Emails are written by the worker: their links lead where this server listens, not to :8000.
    for child in (server, worker):
        assert environment_of(child)["SIMRENEW_PUBLIC_URL"] == f"http://127.0.0.1:{port}"
    everyone = [command.pid, server, worker, *children_of(server)]  # gunicorn's own worker too

    command.send_signal(signal.SIGINT)
    output = command.communicate(timeout=60)[0]

    assert command.returncode == 0, output
    assert wait_for(lambda: not any(is_running(pid) for pid in everyone), within=10, what="every process to end")
    assert f"Serving on http://127.0.0.1:{port}/" in output
    assert "event=worker.started" in output and "event=worker.stopped" in output


def test_when_the_worker_dies_the_command_stops_the_server_and_says_why(started):
    command, port = started
    wait_for(lambda: ready(port), within=120, what="the worker's first tick")
    server, worker = sorted(children_of(command.pid))

    os.kill(worker, signal.SIGKILL)
    output = command.communicate(timeout=60)[0]

    assert command.returncode != 0
    assert "The worker stopped (exit status -9); stopping server too." in output
    assert wait_for(lambda: not is_running(server), within=10, what="the server to end")


def test_sandbox_links_lead_to_the_port_served_unless_a_public_url_is_set(settings, monkeypatch):
    settings.SIMRENEW_SANDBOX = True
    monkeypatch.delenv("SIMRENEW_PUBLIC_URL", raising=False)
    assert serving_environment(host="127.0.0.1", port=8123)["SIMRENEW_PUBLIC_URL"] == "http://127.0.0.1:8123"
    assert serving_environment(host="0.0.0.0", port=8123)["SIMRENEW_PUBLIC_URL"] == "http://127.0.0.1:8123"
    assert serving_environment(host="::1", port=8123)["SIMRENEW_PUBLIC_URL"] == "http://[::1]:8123"

    monkeypatch.setenv("SIMRENEW_PUBLIC_URL", "https://esim.example.com")
    assert serving_environment(host="127.0.0.1", port=8123)["SIMRENEW_PUBLIC_URL"] == "https://esim.example.com"
    settings.SIMRENEW_SANDBOX = False
    monkeypatch.delenv("SIMRENEW_PUBLIC_URL")
    assert "SIMRENEW_PUBLIC_URL" not in serving_environment(host="127.0.0.1", port=8123)
