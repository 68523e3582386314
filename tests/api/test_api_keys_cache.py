"""A server process trusts an API key it has checked for a few seconds (keys.KEY_CACHE_SECONDS), so
the API's reads do not each look the key up. A revoke in the same process applies at once; one made
elsewhere (another server, the CLI of another machine, a direct UPDATE) within those seconds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from simrenew.api import keys
from simrenew.api.keys import KEY_CACHE_SECONDS, KeyCache, authenticate_cached, create_api_key, revoke_api_key
from simrenew.api.models import ApiKey
from simrenew.kit import clock
from tests.api.helpers import ApiClient, assert_problem
from tests.customers.console_helpers import staff_client

pytestmark = pytest.mark.django_db


class ManualMonotonic:
    """The cache's clock, moved by hand: tests never sleep."""

    def __init__(self) -> None:
        self.value = 1_000.0

    def __call__(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += seconds


@pytest.fixture
def cache_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[ManualMonotonic]:
    """A fresh key cache for the test, on a clock the test moves."""
    moment = ManualMonotonic()
    monkeypatch.setattr(keys, "key_cache", KeyCache(seconds=KEY_CACHE_SECONDS, monotonic=moment))
    yield moment


def apikey_selects(queries: list[dict[str, str]]) -> int:
    return sum(1 for q in queries if q["sql"].lstrip().upper().startswith("SELECT") and '"api_apikey"' in q["sql"])


def test_a_checked_key_is_not_looked_up_again_within_the_cache_time(cache_clock: ManualMonotonic) -> None:
    _, raw = create_api_key(name="partner", scopes=["read"])
    reader = ApiClient(raw)

    with CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            assert reader.get("plans").status_code == 200
    assert apikey_selects(queries.captured_queries) == 1

    cache_clock.advance(KEY_CACHE_SECONDS + 0.1)
    with CaptureQueriesContext(connection) as queries:
        assert reader.get("plans").status_code == 200
    assert apikey_selects(queries.captured_queries) == 1  # looked up afresh once the time passed


def test_a_revoke_in_this_process_applies_at_once(cache_clock: ManualMonotonic) -> None:
    key, raw = create_api_key(name="old partner", scopes=["read"])
    assert ApiClient(raw).get("plans").status_code == 200  # now in the cache

    revoke_api_key(ApiKey.objects.get(pk=key.pk))  # another instance of the row, as the CLI has

    assert_problem(ApiClient(raw).get("plans"), status=401, type="/problems/unauthorized")


def test_a_revoke_in_the_console_applies_at_once(cache_clock: ManualMonotonic, clock: object) -> None:
    key, raw = create_api_key(name="partner", scopes=["read"])
    assert ApiClient(raw).get("plans").status_code == 200

    staff_client("admin").post("/admin/api/apikey/", {"action": "revoke_selected", "_selected_action": [key.pk]})

    assert ApiKey.objects.get().revoked_at is not None
    assert_problem(ApiClient(raw).get("plans"), status=401, type="/problems/unauthorized")


def test_a_revoke_elsewhere_applies_within_the_cache_time(cache_clock: ManualMonotonic) -> None:
    _, raw = create_api_key(name="partner", scopes=["read"])
    assert ApiClient(raw).get("plans").status_code == 200

    # What another process's revoke does to the row: this process's cache is not told.
    ApiKey.objects.update(revoked_at=clock.system_now())

    cache_clock.advance(KEY_CACHE_SECONDS - 0.5)
    assert ApiClient(raw).get("plans").status_code == 200  # still trusted, for at most KEY_CACHE_SECONDS
    cache_clock.advance(1)
    assert_problem(ApiClient(raw).get("plans"), status=401, type="/problems/unauthorized")


def test_a_scope_change_saved_in_this_process_applies_at_once(cache_clock: ManualMonotonic) -> None:
    key, raw = create_api_key(name="partner", scopes=["read"])
    assert ApiClient(raw).get("plans").status_code == 200

    key.scopes = []
    key.save(update_fields=["scopes"])

    assert_problem(ApiClient(raw).get("plans"), status=403, type="/problems/insufficient-scope")


def test_unknown_keys_are_never_cached_so_a_new_key_works_at_once(cache_clock: ManualMonotonic) -> None:
    assert authenticate_cached("sr_test_" + "x" * 43) is None

    key, raw = create_api_key(name="new partner", scopes=["read"])

    assert authenticate_cached(raw) == key


def test_a_row_read_before_a_revoke_is_not_put_back_after_it(cache_clock: ManualMonotonic) -> None:
    key, _ = create_api_key(name="partner", scopes=["read"])
    cache = keys.key_cache
    generation = cache.generation()  # a request starts reading the row …

    cache.forget(key.key_hash)  # … a revoke in another thread drops it …
    cache.put(key, read_in_generation=generation)  # … and the request's stale row is not kept

    assert cache.get(key.key_hash) is None


def test_use_is_still_recorded_at_most_once_a_minute(cache_clock: ManualMonotonic) -> None:
    key, raw = create_api_key(name="partner", scopes=["read"])
    reader = ApiClient(raw)

    assert reader.get("plans").status_code == 200
    stamped = ApiKey.objects.get().last_used_at
    assert stamped is not None
    for _ in range(3):
        reader.get("plans")
    assert ApiKey.objects.get().last_used_at == stamped

    cached = keys.key_cache.get(key.key_hash)
    assert cached is not None
    cached.last_used_at = stamped - timedelta(minutes=2)  # as if the last write were two minutes ago
    reader.get("plans")
    assert ApiKey.objects.get().last_used_at > stamped  # type: ignore[operator]


def test_the_cache_stays_bounded(cache_clock: ManualMonotonic) -> None:
    cache = KeyCache(seconds=5, size=3, monotonic=cache_clock)
    made = [create_api_key(name=f"partner {i}", scopes=["read"])[0] for i in range(4)]

    for key in made:
        cache.put(key, read_in_generation=cache.generation())

    assert sum(cache.get(key.key_hash) is not None for key in made) <= 3
    assert cache.get(made[-1].key_hash) == made[-1]
