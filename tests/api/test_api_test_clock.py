"""The sandbox test clock over the API."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pytest_django.fixtures import Settings

from simrenew.kit import clock as kit_clock
from tests.api.helpers import ApiClient, assert_problem, make_api_key
from tests.conftest import TestClock

pytestmark = pytest.mark.django_db


def test_reading_the_clock_shows_the_frozen_time(api: ApiClient, clock: TestClock) -> None:
    assert api.get("test-clock").json() == {
        "now": "2026-01-15T12:00:00+00:00",
        "frozen": True,
        "sandbox": True,
    }


def test_setting_the_clock_takes_an_offset_and_stores_utc(api: ApiClient) -> None:
    response = api.put("test-clock", {"now": "2026-03-08T01:30:00-05:00"})

    assert response.status_code == 200, response.content
    assert response.json()["now"] == "2026-03-08T06:30:00+00:00"
    assert kit_clock.now() == datetime(2026, 3, 8, 6, 30, tzinfo=UTC)


def test_a_time_without_offset_is_refused(api: ApiClient, clock: TestClock) -> None:
    response = api.put("test-clock", {"now": "2026-03-08T01:30:00"})

    assert_problem(response, status=422, type="/problems/validation-error", fields=["now"])
    assert kit_clock.now() == datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("value", ["yesterday", "2026-02-30T00:00:00+00:00", None])
def test_a_time_that_is_no_time_is_refused(api: ApiClient, value: object) -> None:
    assert_problem(api.put("test-clock", {"now": value}), status=422, type="/problems/validation-error", fields=["now"])


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        ("1d12h", datetime(2026, 1, 17, 0, 0, tzinfo=UTC)),
        ("90m", datetime(2026, 1, 15, 13, 30, tzinfo=UTC)),
        ("P3D", datetime(2026, 1, 18, 12, 0, tzinfo=UTC)),
        (3600, datetime(2026, 1, 15, 13, 0, tzinfo=UTC)),
    ],
)
def test_advancing_moves_time_forward(api: ApiClient, clock: TestClock, by: object, expected: datetime) -> None:
    response = api.post("test-clock/advance", {"by": by})

    assert response.status_code == 200, response.content
    assert kit_clock.now() == expected


@pytest.mark.parametrize("by", ["-1d", "0h", -60, "soon"])
def test_advancing_backwards_or_by_nothing_is_refused(api: ApiClient, clock: TestClock, by: object) -> None:
    assert_problem(
        api.post("test-clock/advance", {"by": by}),
        status=422,
        type="/problems/validation-error",
        fields=["by"],
    )
    assert kit_clock.now() == datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+00:00", "1999-12-31T23:59:59+00:00", "2200-01-01T00:00:00Z"])
def test_a_time_outside_2000_to_2199_is_refused_and_the_clock_stays(
    api: ApiClient, clock: TestClock, value: str
) -> None:
    before = clock.now()

    response = api.put("test-clock", {"now": value})

    assert response.status_code == 422
    assert "between 2000 and 2199" in response.json()["detail"]
    assert clock.now() == before


def test_advancing_past_the_range_is_refused(api: ApiClient, clock: TestClock) -> None:
    before = clock.now()

    response = api.post("test-clock/advance", {"by": "P100000D"})

    assert response.status_code == 422
    assert clock.now() == before


def test_resetting_returns_to_real_time(api: ApiClient, clock: TestClock) -> None:
    body = api.delete("test-clock").json()

    assert body["frozen"] is False
    assert abs((datetime.fromisoformat(body["now"]) - datetime.now(UTC)).total_seconds()) < 60


def test_outside_the_sandbox_moving_the_clock_is_forbidden(db: None, settings: Settings) -> None:
    settings.SIMRENEW_SANDBOX = False
    api = ApiClient(make_api_key(scopes=("write",)))  # a live key: a live server refuses sandbox keys

    response = api.put("test-clock", {"now": "2030-01-01T00:00:00+00:00"})

    body = assert_problem(response, status=403, type="/problems/sandbox-only")
    assert "SIMRENEW_SANDBOX=1" in body["detail"]
    assert_problem(api.post("test-clock/advance", {"by": "1d"}), status=403, type="/problems/sandbox-only")
    settings.SIMRENEW_SANDBOX = True
    assert kit_clock.now().year != 2030


def test_outside_the_sandbox_reading_shows_real_time(clock: TestClock, settings: Settings) -> None:
    settings.SIMRENEW_SANDBOX = False
    api = ApiClient(make_api_key(scopes=("read",)))

    body = api.get("test-clock").json()

    assert (body["frozen"], body["sandbox"]) == (False, False)
    assert datetime.fromisoformat(body["now"]).year >= 2026


def test_a_read_key_may_not_move_the_clock(clock: TestClock) -> None:
    reader = ApiClient(make_api_key(scopes=("read",)))

    assert_problem(
        reader.put("test-clock", {"now": "2030-01-01T00:00:00+00:00"}),
        status=403,
        type="/problems/insufficient-scope",
    )
    assert kit_clock.now() == datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
