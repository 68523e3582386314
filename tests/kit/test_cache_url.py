"""SIMRENEW_CACHE_URL names the cache the processes share (or not), like the database URL."""

from __future__ import annotations

import importlib.util

import pytest
from django.core.exceptions import ImproperlyConfigured

from simrenew.kit.cache_url import cache_from_url


def test_without_a_url_each_process_keeps_its_own_cache():
    assert cache_from_url("") == {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    assert cache_from_url("locmem://")["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"


def test_a_table_in_the_main_database_is_shared_by_every_process_on_it():
    assert cache_from_url("db://simrenew_cache") == {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "simrenew_cache",
        "OPTIONS": {"MAX_ENTRIES": 1_000_000},  # not Django's 300: counters must not be culled
    }


def test_a_folder_is_shared_by_the_processes_of_one_machine():
    assert cache_from_url("file:///var/cache/simrenew") == {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": "/var/cache/simrenew",
        "OPTIONS": {"MAX_ENTRIES": 1_000_000},
    }


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mem://x", "the scheme must be one of"),
        ("db://", "wants a table name"),
        ("db://cache; DROP TABLE x", "wants a table name"),
        ("file://relative/dir", "wants an absolute folder"),
        ("file:///", "wants an absolute folder"),
        ("redis://", "wants a host"),
    ],
)
def test_a_url_it_cannot_use_is_refused_at_startup_with_the_reason(url: str, says: str):
    with pytest.raises(ImproperlyConfigured, match=says):
        cache_from_url(url)


@pytest.mark.skipif(importlib.util.find_spec("redis") is not None, reason="the redis package is installed here")
def test_redis_without_its_package_says_what_to_install_and_never_shows_the_password():
    with pytest.raises(ImproperlyConfigured) as refused:
        cache_from_url("redis://user:s3cret@cache.internal:6379/0")

    assert "pip install redis" in str(refused.value)
    assert "s3cret" not in str(refused.value)
