"""Retrying a write with the same Idempotency-Key never does it twice."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.http import HttpRequest

from simrenew.api.idempotency import LEASE, RETENTION, purge_expired_records, scope_key
from simrenew.api.models import IdempotencyRecord
from simrenew.customers.models import Customer
from tests.api import idempotency_urls
from tests.api.helpers import ApiClient, assert_problem, make_api_key, make_pending_idempotency_record

pytestmark = pytest.mark.django_db

ALICE = {"email": "alice@example.com", "name": "Alice", "time_zone": "Europe/Paris"}


@pytest.fixture
def echo(api_key: str) -> ApiClient:
    """A client of the throwaway echo API in tests/api/idempotency_urls.py."""
    idempotency_urls.runs.clear()
    return ApiClient(api_key)


# --- through a real route -----------------------------------------------------------------------


def test_a_retried_create_replays_the_first_answer_and_creates_one_customer(api: ApiClient) -> None:
    first = api.post("customers", ALICE, headers={"Idempotency-Key": "create-alice"})
    again = api.post("customers", ALICE, headers={"Idempotency-Key": "create-alice"})

    assert first.status_code == 201
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Customer.objects.count() == 1
    record = IdempotencyRecord.objects.get()
    assert (record.method, record.path, record.response_status) == ("POST", "/api/v1/customers", 201)
    assert json.loads(bytes(record.response_body or b""))["email"] == "alice@example.com"


def test_the_same_body_with_other_key_order_and_spacing_is_the_same_request(api: ApiClient) -> None:
    api.post("customers", ALICE, headers={"Idempotency-Key": "k"})
    reordered = json.dumps(dict(reversed(list(ALICE.items()))), indent=4)

    again = api.post("customers", raw=reordered, headers={"Idempotency-Key": "k"})

    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert Customer.objects.count() == 1


def test_reusing_a_key_with_a_different_body_is_refused(api: ApiClient) -> None:
    api.post("customers", ALICE, headers={"Idempotency-Key": "k"})

    other = api.post("customers", {**ALICE, "email": "bob@example.com"}, headers={"Idempotency-Key": "k"})

    body = assert_problem(other, status=409, type="/problems/idempotency-key-reused")
    assert "'k'" in body["detail"]
    assert list(Customer.objects.values_list("email", flat=True)) == ["alice@example.com"]


def test_reusing_a_key_on_another_path_is_refused(api: ApiClient) -> None:
    api.post("customers", ALICE, headers={"Idempotency-Key": "k"})

    response = api.put("test-clock", {"now": "2026-03-01T00:00:00+00:00"}, headers={"Idempotency-Key": "k"})

    assert_problem(response, status=409, type="/problems/idempotency-key-reused")


def test_a_request_whose_key_is_still_in_progress_is_told_to_wait(api: ApiClient, api_key: str) -> None:
    make_pending_idempotency_record(raw_key=api_key, key="busy", method="POST", path="/api/v1/customers")
    # The pending record's fingerprint is unknown, so use the same fingerprint as the request.
    from simrenew.api.idempotency import request_fingerprint

    IdempotencyRecord.objects.filter(key="busy").update(
        request_hash=request_fingerprint("POST", "/api/v1/customers", json.dumps(ALICE).encode())
    )

    response = api.post("customers", ALICE, headers={"Idempotency-Key": "busy"})

    assert_problem(response, status=409, type="/problems/idempotency-key-in-use")
    assert Customer.objects.count() == 0


def test_a_refused_request_is_remembered_too(api: ApiClient) -> None:
    """A domain refusal (409 duplicate email) is an answer: the retry gets the same one."""
    api.post("customers", ALICE)

    first = api.post("customers", {**ALICE, "email": "ALICE@example.com"}, headers={"Idempotency-Key": "dup"})
    again = api.post("customers", {**ALICE, "email": "ALICE@example.com"}, headers={"Idempotency-Key": "dup"})

    assert_problem(first, status=409, type="/problems/conflict")
    assert_problem(again, status=409, type="/problems/conflict")
    assert again["Idempotent-Replayed"] == "true"


def test_a_body_that_fails_validation_is_not_remembered_so_the_fixed_retry_works(api: ApiClient) -> None:
    bad = api.post("customers", {**ALICE, "email": 42}, headers={"Idempotency-Key": "fix-me"})
    fixed = api.post("customers", ALICE, headers={"Idempotency-Key": "fix-me"})

    assert_problem(bad, status=422, type="/problems/validation-error", fields=["email"])
    assert fixed.status_code == 201
    assert "Idempotent-Replayed" not in fixed


def test_keys_belong_to_one_api_key(api: ApiClient) -> None:
    other = ApiClient(make_api_key(scopes=("write",), name="another partner"))
    api.post("customers", ALICE, headers={"Idempotency-Key": "shared"})

    response = other.post("customers", {**ALICE, "email": "bob@example.com"}, headers={"Idempotency-Key": "shared"})

    assert response.status_code == 201
    assert Customer.objects.count() == 2


def test_an_unauthenticated_request_never_touches_the_records(db: None) -> None:
    response = ApiClient("sr_test_not-a-key").post("customers", ALICE, headers={"Idempotency-Key": "k"})

    assert_problem(response, status=401, type="/problems/unauthorized")
    assert IdempotencyRecord.objects.count() == 0


def test_an_over_long_key_is_refused(api: ApiClient) -> None:
    response = api.post("customers", ALICE, headers={"Idempotency-Key": "x" * 256})

    assert_problem(response, status=400, type="/problems/idempotency-key-invalid")
    assert Customer.objects.count() == 0


def test_records_expire_after_thirty_days(api: ApiClient) -> None:
    api.post("customers", ALICE, headers={"Idempotency-Key": "old"})
    IdempotencyRecord.objects.update(created_at=IdempotencyRecord.objects.get().created_at - RETENTION)

    reused = api.post("customers", {**ALICE, "email": "bob@example.com"}, headers={"Idempotency-Key": "old"})

    assert reused.status_code == 201
    assert IdempotencyRecord.objects.get().path == "/api/v1/customers"
    IdempotencyRecord.objects.update(created_at=IdempotencyRecord.objects.get().created_at - RETENTION)
    assert purge_expired_records() == 1
    assert IdempotencyRecord.objects.count() == 0


# --- through the echo API (tests/api/idempotency_urls.py) ----------------------------------------


@pytest.mark.urls("tests.api.idempotency_urls")
def test_a_route_that_requires_a_key_refuses_a_request_without_one(echo: ApiClient) -> None:
    response = echo.post("/t/charges", {"amount": 5})

    body = assert_problem(response, status=400, type="/problems/idempotency-key-missing")
    assert "Idempotency-Key" in body["detail"]
    assert idempotency_urls.runs == []


@pytest.mark.urls("tests.api.idempotency_urls")
def test_the_handler_sees_the_key_and_a_gateway_key_scoped_to_the_api_key(echo: ApiClient, api_key: str) -> None:
    response = echo.post("/t/charges", {"amount": 5}, headers={"Idempotency-Key": "pay-1"})

    assert response.status_code == 201, response.content
    from simrenew.api.keys import authenticate

    key = authenticate(api_key)
    assert key is not None
    assert response.json() == {"run": 1, "amount": 5, "key": "pay-1", "gateway_key": scope_key(key.pk, "pay-1")}


@pytest.mark.urls("tests.api.idempotency_urls")
def test_the_handler_runs_once_however_often_the_client_retries(echo: ApiClient) -> None:
    answers = [echo.post("/t/charges", {"amount": 5}, headers={"Idempotency-Key": "pay-1"}) for _ in range(3)]

    assert [a.status_code for a in answers] == [201, 201, 201]
    assert len(idempotency_urls.runs) == 1
    assert {a.json()["run"] for a in answers} == {1}


@pytest.mark.urls("tests.api.idempotency_urls")
def test_a_server_error_is_not_remembered_so_the_retry_runs_again(echo: ApiClient) -> None:
    failed = echo.post("/t/charges", {"amount": 5, "note": "explode"}, headers={"Idempotency-Key": "pay-1"})

    body = assert_problem(failed, status=500, type="/problems/internal-error")
    assert "fire" not in body["detail"]
    assert IdempotencyRecord.objects.count() == 0
    retried = echo.post("/t/charges", {"amount": 5, "note": "explode"}, headers={"Idempotency-Key": "pay-1"})
    assert retried.status_code == 500
    assert len(idempotency_urls.runs) == 2


@pytest.mark.urls("tests.api.idempotency_urls")
def test_a_request_without_a_key_on_an_optional_route_runs_every_time(echo: ApiClient) -> None:
    echo.post("/t/notes", {"amount": 1})
    echo.post("/t/notes", {"amount": 1})

    assert len(idempotency_urls.runs) == 2
    assert [r["key"] for r in idempotency_urls.runs] == [None, None]
    assert IdempotencyRecord.objects.count() == 0


@pytest.mark.urls("tests.api.idempotency_urls")
def test_a_claim_abandoned_by_a_crashed_request_is_taken_over_after_the_lease(echo: ApiClient, api_key: str) -> None:
    from simrenew.api.idempotency import request_fingerprint

    record = make_pending_idempotency_record(raw_key=api_key, key="crashed", method="POST", path="/t/charges")
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        request_hash=request_fingerprint("POST", "/t/charges", b'{"amount": 5}'),
        created_at=record.created_at - LEASE - timedelta(seconds=1),
    )

    response = echo.post("/t/charges", {"amount": 5}, headers={"Idempotency-Key": "crashed"})

    assert response.status_code == 201
    assert len(idempotency_urls.runs) == 1
    assert IdempotencyRecord.objects.get().response_status == 201


@pytest.mark.urls("tests.api.idempotency_urls")
@pytest.mark.django_db(transaction=True)
def test_the_claim_is_committed_before_the_handler_runs(api_key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process (here: another thread with its own connection) sees the claim at once."""
    seen: list[tuple[bool, bool]] = []

    def look_from_elsewhere() -> None:
        try:
            record = IdempotencyRecord.objects.filter(key="pay-1").first()
            seen.append((record is not None, record is not None and record.completed_at is None))
        finally:
            connection.close()

    original = idempotency_urls._echo

    def echo_and_look(request: HttpRequest, payload: Any) -> Any:
        thread = threading.Thread(target=look_from_elsewhere)
        thread.start()
        thread.join()
        return original(request, payload)

    monkeypatch.setattr(idempotency_urls, "_echo", echo_and_look)
    idempotency_urls.runs.clear()

    response = ApiClient(api_key).post("/t/charges", {"amount": 5}, headers={"Idempotency-Key": "pay-1"})

    assert response.status_code == 201
    assert seen == [(True, True)]
    assert IdempotencyRecord.objects.get().completed_at is not None
