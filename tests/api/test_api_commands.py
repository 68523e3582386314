"""`simrenew apikey …` and `simrenew clock …`."""

from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from pytest_django.fixtures import Settings

from simrenew.api.keys import authenticate
from simrenew.api.models import ApiKey
from simrenew.kit import clock as kit_clock
from tests.api.helpers import ApiClient
from tests.conftest import TestClock

pytestmark = pytest.mark.django_db


def run(*args: str) -> list[str]:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().splitlines()


def test_apikey_create_prints_the_key_last_and_the_key_works() -> None:
    lines = run("apikey", "create", "--name", "Acme Mobile")

    raw = lines[-1]
    key = authenticate(raw)
    assert key is not None
    assert (key.name, key.scopes) == ("Acme Mobile", ["write"])
    assert key.prefix in lines[0] and "Acme Mobile" in lines[0]
    assert raw not in lines[0]
    assert ApiClient(raw).post("customers", {"email": "a@example.com", "name": "A"}).status_code == 201


def test_apikey_create_takes_several_scopes() -> None:
    raw = run("apikey", "create", "--name", "ops", "--scope", "read", "--scope", "admin")[-1]

    key = authenticate(raw)
    assert key is not None and key.scopes == ["read", "admin"]


def test_apikey_create_refuses_an_unknown_scope() -> None:
    with pytest.raises(CommandError):
        run("apikey", "create", "--name", "ops", "--scope", "root")
    assert ApiKey.objects.count() == 0


def test_apikey_list_shows_prefixes_never_keys() -> None:
    raw = run("apikey", "create", "--name", "Acme")[-1]

    lines = run("apikey", "list")

    assert len(lines) == 2
    assert raw[:12] in lines[1] and "Acme" in lines[1] and "active" in lines[1] and "never" in lines[1]
    assert raw not in "\n".join(lines)


def test_apikey_revoke_by_prefix_stops_the_key() -> None:
    raw = run("apikey", "create", "--name", "Acme")[-1]

    lines = run("apikey", "revoke", raw[:12])

    assert "Revoked" in lines[-1]
    assert authenticate(raw) is None
    assert "revoked" in run("apikey", "list")[1]
    assert ApiClient(raw).get("plans").status_code == 401


def test_apikey_revoke_of_an_unknown_prefix_says_so() -> None:
    with pytest.raises(CommandError, match="No active API key"):
        run("apikey", "revoke", "sr_test_zzzz")


def test_clock_set_then_show(clock: TestClock) -> None:
    lines = run("clock", "set", "2026-02-28T21:00:00-08:00")

    assert lines == ["2026-03-01T05:00:00+00:00  [frozen test clock]"]
    assert run("clock", "show") == lines
    assert kit_clock.now() == datetime(2026, 3, 1, 5, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        ("3d", datetime(2026, 1, 18, 12, 0, tzinfo=UTC)),
        ("36h", datetime(2026, 1, 17, 0, 0, tzinfo=UTC)),
        ("90m", datetime(2026, 1, 15, 13, 30, tzinfo=UTC)),
        ("1d12h", datetime(2026, 1, 17, 0, 0, tzinfo=UTC)),
    ],
)
def test_clock_advance_takes_compact_durations(clock: TestClock, duration: str, expected: datetime) -> None:
    lines = run("clock", "advance", duration)

    assert kit_clock.now() == expected
    assert lines[-1].startswith(expected.isoformat())


@pytest.mark.parametrize("duration", ["3 days", "-1d", "1.5h", ""])
def test_clock_advance_refuses_what_is_not_a_duration(clock: TestClock, duration: str) -> None:
    with pytest.raises(CommandError, match="duration"):
        run("clock", "advance", duration)
    assert kit_clock.now() == datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def test_clock_set_refuses_a_time_without_offset(clock: TestClock) -> None:
    with pytest.raises(CommandError, match="offset"):
        run("clock", "set", "2026-03-01T00:00:00")


def test_clock_reset_returns_to_real_time(clock: TestClock) -> None:
    lines = run("clock", "reset")

    assert "real time" in lines[-1]
    assert not kit_clock.is_frozen()


def test_clock_moves_only_in_the_sandbox(clock: TestClock, settings: Settings) -> None:
    settings.SIMRENEW_SANDBOX = False

    for args in (("set", "2030-01-01T00:00:00+00:00"), ("advance", "1d"), ("reset",)):
        with pytest.raises(CommandError, match="SIMRENEW_SANDBOX=1"):
            run("clock", *args)
    assert "not sandbox" in run("clock", "show")[-1]
    settings.SIMRENEW_SANDBOX = True
    assert kit_clock.now() == datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
