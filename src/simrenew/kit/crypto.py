"""Secrets at rest (TOTP seeds, webhook signing secrets): encrypted with Fernet
(AES-128-CBC + HMAC-SHA256) under the keys in `settings.SIMRENEW_ENCRYPTION_KEYS`.

The first key encrypts; every key decrypts (MultiFernet), so a key is rotated by
putting a new one first, running `simrenew secrets rotate` (which re-encrypts every
stored secret with it), then removing the old one.

An encrypted value is marked with `PREFIX`, so it is never mistaken for plaintext:
decrypting an unmarked value, or one that no configured key opens, raises
`SecretUnreadable` with what to do; nothing ever falls back to the plaintext.
"""

from __future__ import annotations

import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

PREFIX = "enc1:"


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted: not encrypted, or no configured key opens it."""


def new_key() -> str:
    """A fresh Fernet key (url-safe base64 of 32 random bytes), for SIMRENEW_ENCRYPTION_KEYS."""
    return Fernet.generate_key().decode()


@functools.lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise SecretUnreadable(
            "SIMRENEW_ENCRYPTION_KEYS is empty: set it to one or more Fernet keys, comma-separated "
            "(make one with `simrenew secrets new-key`)."
        )
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, TypeError) as exc:
        raise SecretUnreadable(
            "SIMRENEW_ENCRYPTION_KEYS holds a value that is not a Fernet key (32 url-safe base64-encoded "
            "bytes); make one with `simrenew secrets new-key`."
        ) from exc


def _keys() -> MultiFernet:
    return _fernet(tuple(settings.SIMRENEW_ENCRYPTION_KEYS))


def is_encrypted(value: str) -> bool:
    return value.startswith(PREFIX)


def encrypt(text: str) -> str:
    """`text` encrypted with the first key, marked with `PREFIX`."""
    return PREFIX + _keys().encrypt(text.encode()).decode()


def decrypt(value: str) -> str:
    """The text inside `value` (made by `encrypt`), or `SecretUnreadable` saying why not."""
    if not is_encrypted(value):
        raise SecretUnreadable(
            "The stored secret is not encrypted (it lacks the 'enc1:' mark); run `simrenew migrate`, "
            "or `simrenew secrets rotate`, which encrypts it."
        )
    try:
        return _keys().decrypt(value.removeprefix(PREFIX).encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "No key in SIMRENEW_ENCRYPTION_KEYS decrypts this stored secret (it was encrypted with a key "
            "that is not configured, or it was altered); add the key it was encrypted with."
        ) from None


def reencrypt(value: str) -> str:
    """`value` encrypted with the first key: an encrypted value is opened with whichever key
    fits and sealed again, an unmarked (plaintext) one is encrypted."""
    if not is_encrypted(value):
        return encrypt(value)
    try:
        return PREFIX + _keys().rotate(value.removeprefix(PREFIX).encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "No key in SIMRENEW_ENCRYPTION_KEYS decrypts a stored secret; add the key it was encrypted with "
            "(after the new one) and rotate again."
        ) from None
