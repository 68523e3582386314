"""Per-key rate limits for the partner API: reads and writes counted separately.

Each API key may make `SIMRENEW_API_RATE_LIMIT_READS` reads (GET, HEAD, OPTIONS)
and `SIMRENEW_API_RATE_LIMIT_WRITES` writes per `SIMRENEW_API_RATE_LIMIT_WINDOW`
seconds (0 turns a limit off). Over it, the request is refused with a 429
problem whose `Retry-After` says how many seconds to wait.

The count is a sliding window estimated from two fixed windows (the current and
the previous one, the previous weighted by how much of it still overlaps), as
Cloudflare and others do: no burst of twice the limit at a window boundary, and
only two cache operations per request. Refused requests are not counted, so a
client that backs off as told gets through when `Retry-After` has passed.

Counters live in Django's cache (`CACHES["default"]`, from `SIMRENEW_CACHE_URL`). The
default cache is per process (LocMem): with several server processes each counts on
its own, so a deployment of N processes lets a key make up to N times the limit. A
shared cache (db://, redis://) counts across processes. While the default cache
is LocMem, the counters are kept in a plain dictionary of the process instead
(`ProcessCounters`): the same per-process counting, without LocMem's pickling on
every request.

Every answer of an authenticated request carries the IETF draft headers
(draft-ietf-httpapi-ratelimit-headers-07): `RateLimit-Limit`,
`RateLimit-Remaining`, `RateLimit-Reset` (seconds) and `RateLimit-Policy`
(`6000;w=60`).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from simrenew.api.problems import TooManyRequestsError

READ = "read"
WRITE = "write"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DECISION_ATTR = "_simrenew_rate_limit"
_SETTINGS = frozenset(
    {
        "SIMRENEW_API_RATE_LIMIT_READS",
        "SIMRENEW_API_RATE_LIMIT_WRITES",
        "SIMRENEW_API_RATE_LIMIT_WINDOW",
        "CACHES",
    }
)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    # Refused: seconds until one more request fits. Allowed: until the current window ends.
    reset_seconds: int
    window_seconds: int

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
            "RateLimit-Policy": f"{self.limit};w={self.window_seconds}",
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset_seconds)
        return headers


class ProcessCounters:
    """The three cache calls the limiter makes (`get_many`, `add`, `incr`), on a dictionary of this
    process: what a LocMem cache would count, without pickling each value. Entries expire as a
    cache's would (by the system's monotonic clock), and expired ones are swept as the dictionary grows."""

    def __init__(self, *, max_entries: int = 100_000, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self.monotonic = monotonic
        self._counts: dict[str, tuple[int, float]] = {}  # key -> (count, expires at)
        self._lock = threading.Lock()

    def get_many(self, keys: list[str]) -> dict[str, int]:
        now = self.monotonic()
        found = {}
        for key in keys:
            entry = self._counts.get(key)
            if entry is not None and entry[1] > now:
                found[key] = entry[0]
        return found

    def add(self, key: str, value: int, timeout: float) -> bool:
        now = self.monotonic()
        with self._lock:
            entry = self._counts.get(key)
            if entry is not None and entry[1] > now:
                return False
            if len(self._counts) >= self.max_entries:
                self._sweep(now)
            self._counts[key] = (value, now + timeout)
            return True

    def incr(self, key: str, delta: int = 1) -> int:
        now = self.monotonic()
        with self._lock:
            entry = self._counts.get(key)
            if entry is None or entry[1] <= now:
                raise ValueError(f"Key {key!r} not found.")
            self._counts[key] = (entry[0] + delta, entry[1])
            return entry[0] + delta

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()

    def _sweep(self, now: float) -> None:
        self._counts = {key: entry for key, entry in self._counts.items() if entry[1] > now}
        if len(self._counts) >= self.max_entries:
            self._counts.clear()  # all live: start afresh rather than grow without bound


class RateLimiter:
    """Counts requests per (key, kind) in a cache; `now` is injectable so tests move time without sleeping."""

    def __init__(
        self,
        *,
        limits: dict[str, int],
        window_seconds: int,
        cache_backend: BaseCache | ProcessCounters,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.limits = limits
        self.window_seconds = max(1, window_seconds)
        self.cache = cache_backend
        self.now = now

    def hit(self, key_id: str, kind: str) -> Decision | None:
        """Count one request of `kind` by `key_id`, or refuse it; None when `kind` has no limit."""
        limit = self.limits.get(kind, 0)
        if limit <= 0:
            return None
        window = self.window_seconds
        moment = self.now()
        index = int(moment // window)
        into = moment - index * window  # seconds into the current window
        current_key = f"ratelimit:{key_id}:{kind}:{index}"
        previous_key = f"ratelimit:{key_id}:{kind}:{index - 1}"
        counts: dict[str, Any] = self.cache.get_many([current_key, previous_key])
        current = int(counts.get(current_key) or 0)
        previous = int(counts.get(previous_key) or 0)
        overlap = 1 - into / window  # share of the previous window still inside the sliding one
        used = previous * overlap + current
        if used + 1 > limit + 1e-9:  # a float hair over is not over
            return Decision(False, limit, 0, self._wait(limit, previous, current, into), window)
        # Kept two windows, the time it is read as the previous one.
        if not self.cache.add(current_key, 1, timeout=2 * window + 1):
            try:
                self.cache.incr(current_key)
            except ValueError:  # expired between add and incr
                self.cache.add(current_key, 1, timeout=2 * window + 1)
        remaining = max(0, math.floor(limit - used - 1))
        return Decision(True, limit, remaining, max(1, math.ceil(window - into)), window)

    def _wait(self, limit: int, previous: int, current: int, into: float) -> int:
        """Seconds until one more request fits under the limit."""
        window = self.window_seconds
        room = limit - 1 - current  # what the previous window's weight must fall to
        if room >= 0 and previous > 0:
            # previous * (1 - (into + s) / window) <= room
            wait = window * (1 - room / previous) - into
        else:
            # Only the next window helps: then the current count is the previous one.
            # current * (1 - s' / window) + 1 <= limit, with s' into the next window.
            later = window * max(0.0, 1 - (limit - 1) / current) if current > 0 else 0.0
            wait = (window - into) + later
        return max(1, math.ceil(wait - 1e-9))


def request_kind(request: HttpRequest) -> str:
    return READ if request.method in SAFE_METHODS else WRITE


def counter_store() -> BaseCache | ProcessCounters:
    """Where the counts are kept: the default cache, or this process's dictionary while that cache
    is LocMem (which counts per process too)."""
    backend = caches["default"]
    return ProcessCounters() if isinstance(backend, LocMemCache) else backend


@cache
def get_limiter() -> RateLimiter:
    return RateLimiter(
        limits={
            READ: int(getattr(settings, "SIMRENEW_API_RATE_LIMIT_READS", 0)),
            WRITE: int(getattr(settings, "SIMRENEW_API_RATE_LIMIT_WRITES", 0)),
        },
        window_seconds=int(getattr(settings, "SIMRENEW_API_RATE_LIMIT_WINDOW", 1)),
        cache_backend=counter_store(),
    )


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in _SETTINGS:
        get_limiter.cache_clear()


def enforce(request: HttpRequest, key_id: str) -> None:
    """Count this request against its key (once, however often it is asked); raise TooManyRequestsError when over."""
    if hasattr(request, _DECISION_ATTR):
        decision: Decision | None = getattr(request, _DECISION_ATTR)
    else:
        decision = get_limiter().hit(key_id, request_kind(request))
        setattr(request, _DECISION_ATTR, decision)
    if decision is not None and not decision.allowed:
        kind = request_kind(request)
        raise TooManyRequestsError(
            f"This API key made more than {decision.limit} {kind}s in {decision.window_seconds} s; "
            f"retry after {decision.reset_seconds} s (see `Retry-After`)."
        )


def add_headers(request: HttpRequest, response: HttpResponseBase) -> None:
    """The RateLimit headers (and Retry-After when refused) of this request's count, if it was counted."""
    decision = getattr(request, _DECISION_ATTR, None)
    if isinstance(decision, Decision):
        for name, value in decision.headers().items():
            response[name] = value
