"""A key's rate limit holds across server processes when they share a cache
(SIMRENEW_CACHE_URL), and is counted per process when they do not. Two `simrenew serve`
processes on the suite's kind of database, asked in turn."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.management.test_serve import first_health_check, free_port
from tests.worker.conftest import database, postgresql_template, sqlite_template
from tests.worker.processes import SIMRENEW, Database, Simrenew

__all__ = ["database", "postgresql_template", "sqlite_template"]  # fixtures, imported to be used here

READS = 4


@contextmanager
def two_servers(simrenew: Simrenew, env: dict[str, str]) -> Iterator[list[str]]:
    """Two one-worker servers, separate processes, on one database; their API base URLs."""
    ports = [free_port(), free_port()]
    servers = [
        subprocess.Popen(
            [SIMRENEW, "serve", "--port", str(port), "--workers", "1"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    try:
        for port in ports:
            first_health_check(port)
        yield [f"http://127.0.0.1:{port}/api/v1" for port in ports]
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)


def reads_in_turn(simrenew: Simrenew, *, cache_url: str, count: int) -> list[int]:
    env = simrenew.env(
        SIMRENEW_API_RATE_LIMIT_READS=str(READS),
        SIMRENEW_API_RATE_LIMIT_WINDOW="3600",  # nothing slides out of the window during the test
        SIMRENEW_CACHE_URL=cache_url,
    )
    if cache_url:
        simrenew.run("migrate", "--verbosity", "0", SIMRENEW_CACHE_URL=cache_url)  # creates the cache table
    raw_key = simrenew.run("apikey", "create", "--name", "limits").stdout.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {raw_key}"}
    with two_servers(simrenew, env) as bases:
        return [httpx.get(f"{bases[n % 2]}/plans", headers=headers, timeout=30).status_code for n in range(count)]


def test_servers_sharing_a_database_cache_hold_a_key_to_one_limit(database: Database, tmp_path: Path) -> None:
    statuses = reads_in_turn(Simrenew(database, tmp_path), cache_url="db://simrenew_cache", count=10)

    assert statuses == [200] * READS + [429] * (10 - READS)


def test_without_a_shared_cache_each_server_counts_on_its_own(database: Database, tmp_path: Path) -> None:
    statuses = reads_in_turn(Simrenew(database, tmp_path), cache_url="", count=10)

    # Asked in turn, each process lets its own four through: eight in all, as the README warns.
    assert statuses == [200] * (2 * READS) + [429] * (10 - 2 * READS)
