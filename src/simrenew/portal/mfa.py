"""Second factors (allauth MFA): their secrets are stored encrypted (kit.crypto).

allauth keeps a TOTP authenticator's seed in `data["secret"]` and the recovery codes'
seed in `data["seed"]` (and codes carried over from django-allauth's old format in
`data["migrated_codes"]`), each passed through the adapter's `encrypt`/`decrypt`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.models import Authenticator

from simrenew.kit import crypto


class MFAAdapter(DefaultMFAAdapter):
    def encrypt(self, text: str) -> str:
        return crypto.encrypt(text)

    def decrypt(self, encrypted_text: str) -> str:
        return crypto.decrypt(encrypted_text)


# Per authenticator type, the keys of `data` that hold one secret, and those that hold a list of them.
SECRET_KEYS = {"totp": ("secret",), "recovery_codes": ("seed",)}
SECRET_LIST_KEYS = {"recovery_codes": ("migrated_codes",)}


def resealed_data(kind: str, data: Any, seal: Callable[[str], str]) -> dict[str, Any] | None:
    """`data` with each secret passed through `seal` (e.g. `crypto.reencrypt`), or None when
    the type holds no secret (passkeys hold only public keys)."""
    if not isinstance(data, dict) or kind not in SECRET_KEYS:
        return None
    sealed = dict(data)
    for key in SECRET_KEYS[kind]:
        if isinstance(sealed.get(key), str):
            sealed[key] = seal(sealed[key])
    for key in SECRET_LIST_KEYS.get(kind, ()):
        if isinstance(sealed.get(key), list):
            sealed[key] = [seal(value) if isinstance(value, str) else value for value in sealed[key]]
    return sealed


def reencrypt_authenticators() -> int:
    """Every second factor's secrets encrypted again with the first of SIMRENEW_ENCRYPTION_KEYS
    (`simrenew secrets rotate`), rows locked; returns how many were rewritten."""
    count = 0
    for authenticator in Authenticator.objects.select_for_update().order_by("pk"):
        data = resealed_data(authenticator.type, authenticator.data, crypto.reencrypt)
        if data is not None:
            authenticator.data = data
            authenticator.save(update_fields=["data"])
            count += 1
    return count
