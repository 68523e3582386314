"""Each API key has its own budget of reads and writes; over it, a 429 that says when to retry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import caches
from pytest_django.fixtures import Settings

from simrenew.api import ratelimit
from simrenew.api.models import IdempotencyRecord
from simrenew.customers.models import Customer
from tests.api.helpers import ApiClient, assert_problem, make_api_key

pytestmark = pytest.mark.django_db


class ManualTime:
    """The limiter's clock, moved by hand: tests never sleep."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.value = start

    def __call__(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += seconds


@pytest.fixture
def limits(settings: Settings) -> Iterator[ManualTime]:
    """Three reads and two writes per 60 s, counted by a clock the test moves."""
    settings.SIMRENEW_API_RATE_LIMIT_READS = 3
    settings.SIMRENEW_API_RATE_LIMIT_WRITES = 2
    settings.SIMRENEW_API_RATE_LIMIT_WINDOW = 60
    caches["default"].clear()
    time = ManualTime()
    ratelimit.get_limiter().now = time
    yield time
    caches["default"].clear()


def test_a_key_over_its_read_budget_gets_a_429_with_retry_after(limits: ManualTime, api: ApiClient) -> None:
    answers = [api.get("plans") for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a["RateLimit-Remaining"] for a in answers] == ["2", "1", "0"]
    assert answers[0]["RateLimit-Limit"] == "3"
    assert answers[0]["RateLimit-Policy"] == "3;w=60"
    assert answers[0]["RateLimit-Reset"] == "60"
    assert "Retry-After" not in answers[0]

    refused = api.get("plans")

    body = assert_problem(refused, status=429, type="/problems/rate-limited")
    # The sliding window: at 80 s the three reads weigh (1 - 20/60) * 3 = 2, so a fourth fits.
    assert refused["Retry-After"] == "80"
    assert refused["RateLimit-Remaining"] == "0"
    assert "Retry-After" in body["detail"]


def test_another_key_is_not_affected(limits: ManualTime, api: ApiClient) -> None:
    for _ in range(3):
        api.get("plans")
    other = ApiClient(make_api_key(scopes=("read",), name="another partner"))

    assert api.get("plans").status_code == 429
    assert other.get("plans").status_code == 200


def test_reads_and_writes_are_counted_apart(limits: ManualTime, api: ApiClient) -> None:
    for _ in range(3):
        api.get("customers")
    assert api.get("customers").status_code == 429

    created = api.post("customers", {"email": "ada@example.com", "name": "Ada"})

    assert created.status_code == 201
    assert created["RateLimit-Limit"] == "2"
    assert created["RateLimit-Remaining"] == "1"


def test_the_window_passing_lets_the_key_through_again(limits: ManualTime, api: ApiClient) -> None:
    for _ in range(3):
        api.get("plans")
    limits.advance(59)
    refused = api.get("plans")
    assert refused.status_code == 429
    wait = int(refused["Retry-After"])
    assert 1 <= wait <= 60

    limits.advance(wait - 1)
    assert api.get("plans").status_code == 429  # a second early is still too early

    limits.advance(1)
    assert api.get("plans").status_code == 200


def test_the_window_slides_rather_than_resetting_at_a_boundary(limits: ManualTime, api: ApiClient) -> None:
    """Three reads at the very end of one window do not allow three more at the start of the next."""
    limits.value = 1_800_000_000.0 - 1_800_000_000.0 % 60 + 59
    for _ in range(3):
        assert api.get("plans").status_code == 200

    limits.advance(2)  # one second into the next window: the last one still weighs 59/60

    refused = api.get("plans")
    assert refused.status_code == 429
    limits.advance(int(refused["Retry-After"]))
    assert api.get("plans").status_code == 200


def test_a_refused_write_does_nothing_and_claims_no_idempotency_key(limits: ManualTime, api: ApiClient) -> None:
    api.post("customers", {"email": "a@example.com", "name": "A"}, headers={"Idempotency-Key": "a"})
    api.post("customers", {"email": "b@example.com", "name": "B"}, headers={"Idempotency-Key": "b"})

    refused = api.post("customers", {"email": "c@example.com", "name": "C"}, headers={"Idempotency-Key": "c"})

    assert_problem(refused, status=429, type="/problems/rate-limited")
    assert int(refused["Retry-After"]) >= 1
    assert sorted(Customer.objects.values_list("email", flat=True)) == ["a@example.com", "b@example.com"]
    assert sorted(IdempotencyRecord.objects.values_list("key", flat=True)) == ["a", "b"]
    limits.advance(120)
    retried = api.post("customers", {"email": "c@example.com", "name": "C"}, headers={"Idempotency-Key": "c"})
    assert retried.status_code == 201


def test_refused_requests_do_not_use_up_the_budget(limits: ManualTime, api: ApiClient) -> None:
    for _ in range(3):
        api.get("plans")
    for _ in range(20):
        api.get("plans")

    limits.advance(120)  # two whole windows: only counted requests would still weigh

    assert [api.get("plans").status_code for _ in range(3)] == [200, 200, 200]


def test_a_limit_of_zero_turns_limiting_off(settings: Settings, api: ApiClient) -> None:
    settings.SIMRENEW_API_RATE_LIMIT_READS = 0

    response = api.get("plans")

    assert response.status_code == 200
    assert "RateLimit-Limit" not in response


def test_requests_without_a_valid_key_are_not_counted(limits: ManualTime) -> None:
    stranger = ApiClient("sr_test_unknown")

    answers = [stranger.get("plans") for _ in range(5)]

    assert {a.status_code for a in answers} == {401}
    assert all("RateLimit-Limit" not in a for a in answers)
