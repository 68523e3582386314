"""The clock: the system's outside the sandbox; in the sandbox a test clock that can be set and advanced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from simrenew.kit import clock as kit_clock
from simrenew.kit.clock import SandboxOnly
from simrenew.kit.errors import ValidationFailed


def test_the_test_clock_stands_still_until_moved(clock):
    assert kit_clock.now() == datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    assert kit_clock.now() == kit_clock.now()
    assert kit_clock.is_frozen()


def test_setting_the_clock_stores_utc_whatever_the_offset_given(clock):
    tokyo = timezone(timedelta(hours=9))

    stored = kit_clock.set_now(datetime(2026, 3, 1, 9, 0, tzinfo=tokyo))

    assert stored == datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
    assert kit_clock.now() == stored
    assert kit_clock.now().utcoffset() == timedelta(0)


def test_advancing_moves_forward_by_exactly_the_step(clock):
    moved = kit_clock.advance(timedelta(days=2, hours=3))

    assert moved == datetime(2026, 1, 17, 15, 0, tzinfo=UTC)
    assert kit_clock.now() == moved


def test_the_clock_refuses_to_run_backwards_and_naive_times(clock):
    with pytest.raises(ValidationFailed) as backwards:
        kit_clock.advance(timedelta(seconds=-1))
    with pytest.raises(ValidationFailed) as naive:
        kit_clock.set_now(datetime(2026, 1, 1, 0, 0))

    assert backwards.value.errors[0].field == "by"
    assert naive.value.errors[0].field == "now"
    assert kit_clock.now() == datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def test_setting_an_earlier_time_is_how_the_clock_goes_back(clock):
    kit_clock.set_now(datetime(2025, 6, 1, tzinfo=UTC))

    assert kit_clock.now() == datetime(2025, 6, 1, tzinfo=UTC)


def test_reset_returns_to_the_system_clock(clock):
    kit_clock.reset()

    before = datetime.now(UTC)
    now = kit_clock.now()
    assert before - timedelta(seconds=5) <= now <= datetime.now(UTC)
    assert not kit_clock.is_frozen()


def test_outside_the_sandbox_the_test_clock_is_refused_and_ignored(clock, settings):
    settings.SIMRENEW_SANDBOX = False

    with pytest.raises(SandboxOnly) as refused:
        kit_clock.set_now(datetime(2030, 1, 1, tzinfo=UTC))
    with pytest.raises(SandboxOnly):
        kit_clock.advance(timedelta(days=1))
    with pytest.raises(SandboxOnly):
        kit_clock.reset()

    assert refused.value.status == 403
    # The frozen row is still there, but outside the sandbox "now" is the system's.
    assert abs(kit_clock.now() - datetime.now(UTC)) < timedelta(seconds=5)
    assert not kit_clock.is_frozen()
    settings.SIMRENEW_SANDBOX = True
    assert kit_clock.now() == datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
