"""The bar: requests racing with one Idempotency-Key never both run. Real concurrency: on PostgreSQL,
threads with their own connections released together (tests/concurrency.py); on SQLite and on
PostgreSQL, requests at once to `simrenew serve` (gunicorn, several worker processes)."""

from __future__ import annotations

import subprocess
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from django.db import connection
from django.http import HttpRequest

from simrenew.api.models import IdempotencyRecord
from simrenew.customers.models import Customer
from tests.api import idempotency_urls
from tests.api.helpers import ApiClient, make_api_key
from tests.concurrency import all_at_once
from tests.management.test_serve import first_health_check, free_port
from tests.worker.conftest import database, postgresql_template, sqlite_template
from tests.worker.processes import SIMRENEW, Database, Simrenew

__all__ = ["database", "postgresql_template", "sqlite_template"]  # fixtures, imported to be used here


@pytest.fixture
def real_database(db: None) -> None:
    # pytest-django's SQLite test database is shared in-memory: its table locks refuse a second
    # writer at once instead of waiting, which no deployment has. On SQLite the race runs between
    # server processes on a file instead (the last test here).
    if connection.vendor != "postgresql":
        pytest.skip("threads race on PostgreSQL; on SQLite, see the server-process race below")


THREADS = 8
ALICE = {"email": "alice@example.com", "name": "Alice"}


def post(raw_key: str, path: str, body: dict[str, Any], key: str) -> Callable[[], tuple[int, str, Any]]:
    def job() -> tuple[int, str, Any]:
        response = ApiClient(raw_key).post(path, body, headers={"Idempotency-Key": key})
        problem = response.json().get("type", "") if response.status_code >= 400 else ""
        return response.status_code, response.get("Idempotent-Replayed", ""), problem or response.json()

    return job


@pytest.mark.django_db(transaction=True)
def test_racing_creates_with_one_key_make_one_customer(real_database: None) -> None:
    raw_key = make_api_key(scopes=("write",))

    results = all_at_once([post(raw_key, "customers", ALICE, "create-alice") for _ in range(THREADS)])

    assert [r for r in results if isinstance(r, Exception)] == []
    answers = Counter((status, replayed, str(detail)[:40]) for status, replayed, detail in results)  # type: ignore[misc]
    ran = [r for r in results if r[0] == 201 and r[1] == ""]  # type: ignore[index]
    assert len(ran) == 1, answers
    others = {(status, problem if status == 409 else replayed) for status, replayed, problem in results[1:]}  # type: ignore[misc]
    assert others <= {(201, "true"), (201, ""), (409, "/problems/idempotency-key-in-use")}, answers
    assert Customer.objects.count() == 1
    record = IdempotencyRecord.objects.get()
    assert record.completed_at is not None and record.response_status == 201


@pytest.mark.urls("tests.api.idempotency_urls")
@pytest.mark.django_db(transaction=True)
def test_while_the_first_request_runs_the_others_are_told_it_is_in_progress(
    real_database: None,
) -> None:
    """The first request holds its handler open until every other one has its answer: all of those
    overlap it for certain, and each must be a 409, never a second run."""
    raw_key = make_api_key(scopes=("write",))
    idempotency_urls.runs.clear()
    everyone_else_answered = threading.Event()
    answered = Counter[str]()
    lock = threading.Lock()
    original = idempotency_urls._echo

    def slow_echo(request: HttpRequest, payload: Any) -> Any:
        assert everyone_else_answered.wait(timeout=60), "the other requests never answered"
        return original(request, payload)

    idempotency_urls._echo = slow_echo  # restored below; the route looks it up at call time
    try:

        def job() -> tuple[int, str, Any]:
            result = post(raw_key, "/t/charges", {"amount": 5}, "pay-1")()
            with lock:
                answered[str(result[0])] += 1
                if sum(answered.values()) == THREADS - 1:
                    everyone_else_answered.set()
            return result

        results = all_at_once([job for _ in range(THREADS)])
    finally:
        idempotency_urls._echo = original

    assert [r for r in results if isinstance(r, Exception)] == []
    statuses = Counter(r[0] for r in results)  # type: ignore[index]
    assert statuses == {201: 1, 409: THREADS - 1}, results
    assert {r[2] for r in results if r[0] == 409} == {"/problems/idempotency-key-in-use"}  # type: ignore[index]
    assert len(idempotency_urls.runs) == 1
    retry = ApiClient(raw_key).post("/t/charges", {"amount": 5}, headers={"Idempotency-Key": "pay-1"})
    assert (retry.status_code, retry["Idempotent-Replayed"]) == (201, "true")
    assert len(idempotency_urls.runs) == 1


@pytest.mark.django_db(transaction=True)
def test_racing_requests_with_one_key_and_different_bodies_run_at_most_one(real_database: None) -> None:
    raw_key = make_api_key(scopes=("write",))
    bodies = [{"email": f"user{i}@example.com", "name": f"User {i}"} for i in range(THREADS)]

    results = all_at_once([post(raw_key, "customers", body, "same-key") for body in bodies])

    assert [r for r in results if isinstance(r, Exception)] == []
    assert sum(1 for r in results if r[0] == 201) == 1, results  # type: ignore[index]
    refused = {r[2] for r in results if r[0] != 201}  # type: ignore[index]
    assert refused <= {"/problems/idempotency-key-reused", "/problems/idempotency-key-in-use"}, results
    assert Customer.objects.count() == 1


def test_racing_requests_to_server_processes_make_one_customer(database: Database, tmp_path) -> None:
    """Four gunicorn workers on the suite's kind of database (a SQLite file in WAL mode, or PostgreSQL)."""
    simrenew = Simrenew(database, tmp_path)
    raw_key = simrenew.run("apikey", "create", "--name", "race").stdout.strip().splitlines()[-1]
    port = free_port()
    server = subprocess.Popen(
        [SIMRENEW, "serve", "--port", str(port), "--workers", "4"],
        env=simrenew.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/api/v1"
    headers = {"Authorization": f"Bearer {raw_key}", "Idempotency-Key": "create-alice"}
    try:
        first_health_check(port)
        with httpx.Client(timeout=60) as client:
            client.get(f"{base}/plans", headers=headers)  # every worker has booted and answered once

            def job() -> httpx.Response:
                return client.post(f"{base}/customers", json=ALICE, headers=headers)

            results = all_at_once([job for _ in range(THREADS)])
            listed = client.get(f"{base}/customers", headers=headers).json()["items"]
    finally:
        server.terminate()
        server.wait(timeout=30)

    assert [r for r in results if isinstance(r, Exception)] == []
    answers = [(r.status_code, r.headers.get("Idempotent-Replayed", "")) for r in results]  # type: ignore[union-attr]
    assert answers.count((201, "")) == 1, answers
    assert set(answers) <= {(201, ""), (201, "true"), (409, "")}, answers
    for response in results:
        if response.status_code == 409:  # type: ignore[union-attr]
            assert response.json()["type"] == "/problems/idempotency-key-in-use"  # type: ignore[union-attr]
    assert [customer["email"] for customer in listed] == ["alice@example.com"]
