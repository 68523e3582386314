"""API keys: created, checked and revoked here; only a key's SHA-256 is stored.

Scopes, from least to most: `read` (GET), `write` (everything that changes state,
including moving the sandbox test clock), `admin` (everything, and whatever is
later restricted to operators). A broader scope includes the narrower ones; a key
with no scope may do nothing.

Timestamps on keys are operational facts (when a real client really used a key),
so they come from the system clock, not the sandbox test clock.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings

from simrenew.api.models import ApiKey
from simrenew.kit import clock
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
    prefix = TEST_PREFIX if settings.SIMRENEW_SANDBOX else LIVE_PREFIX
    raw = prefix + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        name=name,
        prefix=raw[:PREFIX_LENGTH],
        key_hash=hash_key(raw),
        scopes=sorted(set(scopes), key=SCOPES.index),
        created_at=clock.system_now(),
    )
    return key, raw


def authenticate(raw: str) -> ApiKey | None:
    """The live key `raw` names, or None when it is unknown or revoked."""
    raw = raw.strip()
    if not raw.startswith((LIVE_PREFIX, TEST_PREFIX)) or len(raw) > 200:
        return None
    key = ApiKey.objects.filter(key_hash=hash_key(raw), revoked_at__isnull=True).first()
    if key is None:
        return None
    now = clock.system_now()
    if key.last_used_at is None or abs(now - key.last_used_at) >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


def revoke_api_key(key: ApiKey) -> ApiKey:
    """Revoke `key` from now on; revoking twice keeps the first time."""
    if key.revoked_at is None:
        key.revoked_at = clock.system_now()
        key.save(update_fields=["revoked_at"])
    return key


def granted(key: ApiKey) -> frozenset[str]:
    """Everything `key`'s scopes allow."""
    allowed: set[str] = set()
    for scope in key.scopes or []:
        allowed |= GRANTS.get(scope, frozenset())
    return frozenset(allowed)


def has_scope(key: ApiKey, scope: str) -> bool:
    return scope in granted(key)
