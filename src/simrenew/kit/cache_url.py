"""`SIMRENEW_CACHE_URL`: which Django cache the processes use (API rate-limit counters
and other short-lived shared state), as one URL like the database's.

    (unset), locmem://     this process's memory: each server process counts on its own
    db://TABLE             a table in the main database: shared by every process on it
                           (`simrenew migrate` creates the table)
    file:///ABSOLUTE/DIR   files in a folder: shared by the processes of one machine
    redis://HOST:PORT/DB   Redis (rediss:// with TLS), shared by every machine; needs
                           the `redis` package installed

Nothing here needs Django set up: settings.py calls it while settings are being read.
"""

from __future__ import annotations

import importlib.util
import re
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
# Django's database and file caches drop a third of their entries once they hold 300 by
# default, live or not: rate-limit counters would be forgotten under load. Expired ones
# still go first.
_ROOMY = {"MAX_ENTRIES": 1_000_000}
SCHEMES = ("locmem", "db", "file", "redis", "rediss")


def cache_from_url(url: str) -> dict[str, Any]:
    """The `CACHES["default"]` entry for `url` (see the module's doc)."""
    url = url.strip()
    if not url:
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "locmem":
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": parts.netloc}
    if scheme == "db":
        table = parts.netloc or parts.path.lstrip("/")
        if not _TABLE.fullmatch(table):
            raise _bad(url, "db://TABLE wants a table name of letters, digits and _ (e.g. db://simrenew_cache)")
        return {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": table, "OPTIONS": dict(_ROOMY)}
    if scheme == "file":
        if parts.netloc or not parts.path.startswith("/") or parts.path == "/":
            raise _bad(url, "file:// wants an absolute folder, e.g. file:///var/cache/simrenew")
        return {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": parts.path,
            "OPTIONS": dict(_ROOMY),
        }
    if scheme in ("redis", "rediss"):
        if not parts.hostname:
            raise _bad(url, "redis:// wants a host, e.g. redis://127.0.0.1:6379/0")
        if importlib.util.find_spec("redis") is None:
            raise _bad(url, "Redis needs the redis package: pip install redis")
        return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    raise _bad(url, f"the scheme must be one of {', '.join(s + '://' for s in SCHEMES)}")


def _bad(url: str, why: str) -> ImproperlyConfigured:
    shown = re.sub(r"//[^@/]*@", "//***@", url)  # never echo a password
    return ImproperlyConfigured(f"SIMRENEW_CACHE_URL={shown!r}: {why}.")
