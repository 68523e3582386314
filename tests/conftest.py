from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import settings as hypothesis_settings

from simrenew.kit import clock as kit_clock

# CI runs the same examples every time (a failure there is reproducible);
# locally each run explores new ones.
hypothesis_settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
hypothesis_settings.register_profile("dev", deadline=None)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "dev")


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


class WallClock:
    """The system clock (`kit.clock.system_now`: claims, heartbeats, refund retries), moved by the
    test while the test clock stays where it is."""

    __test__ = False

    def __init__(self) -> None:
        self.now = datetime(2031, 6, 1, 9, 0, tzinfo=UTC)  # unrelated to the test clock, as in a demo

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def wall_clock() -> Iterator[WallClock]:
    handle = WallClock()
    # Its own patch, so that a test's `monkeypatch.undo()` (a gateway back up) leaves it in place.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kit_clock, "system_now", lambda: handle.now)
        yield handle


@pytest.fixture(autouse=True)
def _no_promotion_failures_from_earlier_tests() -> Iterator[None]:
    """Failed promotion codes are counted in the cache per customer and per IP (every test's
    client is 127.0.0.1, at the same frozen instant): each test starts with none counted."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _fresh_gateway_cache() -> Iterator[None]:
    from simrenew.payments.gateway import forget_gateways

    forget_gateways()
    yield
    forget_gateways()


@pytest.fixture
def migrations_restored(transactional_db: None) -> Iterator[None]:
    """For a story that migrates an app back: afterwards every app is migrated forward again.
    Migrating one app back also unapplies the migrations of the apps that depend on it (e.g.
    provisioning's tables go with esims' or subscriptions' older states), and a story that only
    returns its own app to its latest migration would leave them gone for the stories after it."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
