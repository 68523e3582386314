from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

os.environ.setdefault("SIMRENEW_SANDBOX", "1")

from simrenew.kit import clock as kit_clock  # noqa: E402


class TestClock:
    """Moves the sandbox test clock; tests never sleep."""

    __test__ = False

    def set(self, when: datetime) -> datetime:
        return kit_clock.set_now(when)

    def advance(self, **delta: float) -> datetime:
        return kit_clock.advance(timedelta(**delta))

    def now(self) -> datetime:
        return kit_clock.now()


@pytest.fixture
def clock(db: None) -> Iterator[TestClock]:
    """The test clock, frozen at a known winter instant."""
    handle = TestClock()
    handle.set(datetime(2026, 1, 15, 12, 0, tzinfo=UTC))
    yield handle


@pytest.fixture(autouse=True)
def _fresh_gateway_cache() -> Iterator[None]:
    from simrenew.payments.gateway import get_gateway

    get_gateway.cache_clear()
    yield
    get_gateway.cache_clear()
