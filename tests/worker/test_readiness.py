"""`/readyz` of a real server on a real PostgreSQL that stops and starts again: 503 (and why)
while no worker has ticked, 200 once one has, 503 while the database is down, and 200 again when
it is back, without restarting the server. Its own PostgreSQL cluster (this test stops it), so it
runs in the SQLite suite only (`database_independent`)."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scripts import with_postgres
from tests.management.test_serve import first_health_check, free_port
from tests.worker.processes import REPO, SIMRENEW

pytestmark = [pytest.mark.database_independent, pytest.mark.timeout(300)]


class OwnPostgres:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        with_postgres.new_cluster(folder)
        self.start()
        self.url = with_postgres.create_database(self.port, "simrenew")

    def start(self) -> None:
        with_postgres.start(self.folder, self.port, settings="-c fsync=off")

    def stop(self) -> None:
        with_postgres.stop(self.folder)


@pytest.fixture
def postgres() -> Iterator[OwnPostgres]:
    # Outside pytest's tmp_path: the `postgres` user must be able to reach the folder.
    folder = Path(tempfile.mkdtemp(prefix="simrenew-readyz-"))
    server = OwnPostgres(folder)
    try:
        yield server
    finally:
        server.stop()
        subprocess.run(["rm", "-rf", str(folder)], check=False)


def readiness(base: str) -> httpx.Response:
    return httpx.get(f"{base}/readyz", timeout=30)


def test_readyz_follows_the_worker_and_the_database(postgres: OwnPostgres, tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "SIMRENEW_SANDBOX": "1",
        "SIMRENEW_DATABASE_URL": postgres.url,
        "SIMRENEW_VAR_DIR": str(tmp_path / "var"),
    }
    subprocess.run([SIMRENEW, "migrate", "-v0"], env=env, cwd=REPO, check=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [SIMRENEW, "serve", "--port", str(port), "--workers", "1", "--threads", "2"],
            env=env,
            cwd=REPO,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        first_health_check(port)

        no_worker = readiness(base)
        assert no_worker.status_code == 503
        assert no_worker.json()["checks"] == {
            "database": "ok",
            "migrations": "ok",
            "worker": "no tick for 5 minutes",
            "cache": "ok",
        }

        subprocess.run([SIMRENEW, "worker", "--once"], env=env, cwd=REPO, check=True, capture_output=True)
        ready = readiness(base)
        assert ready.status_code == 200 and ready.json()["status"] == "ready"

        postgres.stop()
        down = readiness(base)
        assert down.status_code == 503
        assert down.json()["status"] == "unavailable"
        assert down.json()["checks"]["database"] == "unavailable"
        assert str(postgres.port) not in down.text and "connection" not in down.text.lower()
        # The log says what kind of failure it was, never the driver's message (host, port, user).
        said = [line for line in log.read_text().splitlines() if "readyz: the database" in line]
        assert said and all("OperationalError" in line and str(postgres.port) not in line for line in said)
        # The process itself is fine: the liveness probe must not get it restarted.
        assert httpx.get(f"{base}/healthz", timeout=30).status_code == 200

        postgres.start()
        back = readiness(base)
        assert back.status_code == 200, back.text
    finally:
        server.terminate()
        server.wait(timeout=30)
