"""API keys: created, checked and revoked here; only a key's SHA-256 is stored.

Scopes, from least to most: `read` (GET), `write` (everything that changes state,
including moving the sandbox test clock), `admin` (everything, and whatever is
later restricted to operators). A broader scope includes the narrower ones; a key
with no scope may do nothing.

Timestamps on keys are operational facts (when a real client really used a key),
so they come from the system clock, not the sandbox test clock.

Requests authenticate through `authenticate_cached`: each server process keeps a
key it has checked for KEY_CACHE_SECONDS (keyed by the key's SHA-256), so the
API's hot reads do not each cost a key lookup. A key revoked or saved in this
process is dropped from its cache at once (and again when the change commits);
a revoke or scope change made in another process (the CLI, another server, a
direct UPDATE) takes effect there within KEY_CACHE_SECONDS.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from simrenew.api.models import ApiKey
from simrenew.kit import clock
from simrenew.kit.audit import record_change, snapshot
from simrenew.kit.errors import FieldError, ValidationFailed

SCOPES = ("read", "write", "admin")
# What each scope lets a key do: a broader scope includes the narrower ones.
GRANTS: dict[str, frozenset[str]] = {
    "read": frozenset({"read"}),
    "write": frozenset({"read", "write"}),
    "admin": frozenset({"read", "write", "admin"}),
}
LIVE_PREFIX = "sr_live_"
TEST_PREFIX = "sr_test_"
PREFIX_LENGTH = 12
# Record a key's use at most this often, so that reads do not each cost a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# How long a server process trusts a key it has checked (a revoke elsewhere takes this long to apply).
KEY_CACHE_SECONDS = 5.0
# A process remembers at most this many keys; past it the cache starts afresh.
KEY_CACHE_SIZE = 10_000


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create_api_key(*, name: str, scopes: list[str]) -> tuple[ApiKey, str]:
    """Make a key; returns the row and the raw key, which is never stored and cannot be shown again."""
    name = name.strip()
    errors: list[FieldError] = []
    if not name:
        errors.append(FieldError("name", "A key needs a name, to tell it apart from others."))
    elif len(name) > 100:
        errors.append(FieldError("name", "The name may be at most 100 characters."))
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        errors.append(FieldError("scopes", f"Unknown scope {unknown[0]!r}; use read, write or admin."))
    if not scopes:
        errors.append(FieldError("scopes", "Give the key at least one scope: read, write or admin."))
    if errors:
        raise ValidationFailed(errors[0].message, errors=errors)
    raw = mode_prefix() + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        name=name,
        prefix=raw[:PREFIX_LENGTH],
        key_hash=hash_key(raw),
        scopes=sorted(set(scopes), key=SCOPES.index),
        created_at=clock.system_now(),
    )
    record_change(action="add", target=key, after=snapshot(key))
    return key, raw


def mode_prefix() -> str:
    """The prefix of the keys this server accepts and makes: `sr_test_` in the sandbox, `sr_live_`
    outside it, so that a sandbox key (the README's demo key, say) never opens a live server and a
    live key is never spent against the sandbox."""
    return TEST_PREFIX if settings.SIMRENEW_SANDBOX else LIVE_PREFIX


def _well_formed(raw: str) -> bool:
    return raw.startswith(mode_prefix()) and len(raw) <= 200


def _live_key(key_hash: str) -> ApiKey | None:
    return ApiKey.objects.filter(key_hash=key_hash, revoked_at__isnull=True).first()


def _record_use(key: ApiKey) -> None:
    now = clock.system_now()
    if key.last_used_at is None or abs(now - key.last_used_at) >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now


def authenticate(raw: str) -> ApiKey | None:
    """The live key `raw` names, or None when it is unknown or revoked, read from the database."""
    raw = raw.strip()
    if not _well_formed(raw):
        return None
    key = _live_key(hash_key(raw))
    if key is not None:
        _record_use(key)
    return key


@dataclass(frozen=True, slots=True)
class _Checked:
    key: ApiKey
    until: float  # on KeyCache.monotonic's scale


class KeyCache:
    """Live keys this process has checked, by SHA-256, each trusted for `seconds`.

    Unknown and revoked keys are never kept, so a new key works at once everywhere.
    `forget` (on a revoke or save in this process) bumps a generation, so a lookup
    that read the row before the change does not put the old row back.
    """

    def __init__(
        self, *, seconds: float, size: int = KEY_CACHE_SIZE, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.seconds = seconds
        self.size = size
        self.monotonic = monotonic
        self._keys: dict[str, _Checked] = {}
        self._generation = 0
        self._lock = threading.Lock()

    def get(self, key_hash: str) -> ApiKey | None:
        checked = self._keys.get(key_hash)
        if checked is None:
            return None
        if checked.until <= self.monotonic():
            self._keys.pop(key_hash, None)
            return None
        return checked.key

    def generation(self) -> int:
        return self._generation

    def put(self, key: ApiKey, *, read_in_generation: int) -> None:
        with self._lock:
            if self._generation != read_in_generation:
                return  # a revoke or save happened while the row was read: it may be stale
            if len(self._keys) >= self.size:
                self._keys.clear()
            self._keys[key.key_hash] = _Checked(key, self.monotonic() + self.seconds)

    def forget(self, key_hash: str) -> None:
        with self._lock:
            self._generation += 1
            self._keys.pop(key_hash, None)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._keys.clear()


key_cache = KeyCache(seconds=KEY_CACHE_SECONDS)


def authenticate_cached(raw: str) -> ApiKey | None:
    """`authenticate`, trusting a key this process checked within KEY_CACHE_SECONDS.

    The returned row is shared by the requests of this process: read it, do not change it.
    """
    raw = raw.strip()
    if not _well_formed(raw):
        return None
    key_hash = hash_key(raw)
    key = key_cache.get(key_hash)
    if key is None:
        generation = key_cache.generation()
        key = _live_key(key_hash)
        if key is None:
            return None
        key_cache.put(key, read_in_generation=generation)
    _record_use(key)
    return key


def forget_key(key_hash: str) -> None:
    """Drop a key from this process's cache now and again once the current transaction commits
    (a request that read the row in between would otherwise keep the old one)."""
    key_cache.forget(key_hash)
    transaction.on_commit(lambda: key_cache.forget(key_hash))


@receiver(post_save, sender=ApiKey)
@receiver(post_delete, sender=ApiKey)
def _key_changed(*, instance: ApiKey, **kwargs: Any) -> None:
    forget_key(instance.key_hash)


def revoke_api_key(key: ApiKey, *, reason: str = "") -> ApiKey:
    """Revoke `key` from now on; revoking twice keeps the first time. This process stops
    accepting it at once, other processes within KEY_CACHE_SECONDS."""
    if key.revoked_at is None:
        key.revoked_at = clock.system_now()
        key.save(update_fields=["revoked_at"])
        record_change(
            action="revoke",
            target=key,
            before={"revoked_at": None},
            after={"revoked_at": key.revoked_at},
            reason=reason,
        )
    forget_key(key.key_hash)
    return key


def granted(key: ApiKey) -> frozenset[str]:
    """Everything `key`'s scopes allow."""
    allowed: set[str] = set()
    for scope in key.scopes or []:
        allowed |= GRANTS.get(scope, frozenset())
    return frozenset(allowed)


def has_scope(key: ApiKey, scope: str) -> bool:
    return scope in granted(key)
