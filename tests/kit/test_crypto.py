"""Secrets at rest are encrypted under SIMRENEW_ENCRYPTION_KEYS: recognisable as encrypted,
readable with any configured key, and never handed back as plaintext when a key is missing."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from simrenew.kit import crypto

OLD_KEY = crypto.new_key()
NEW_KEY = crypto.new_key()


def test_a_secret_is_stored_marked_and_unreadable_without_its_key(settings):
    settings.SIMRENEW_ENCRYPTION_KEYS = [OLD_KEY]

    stored = crypto.encrypt("whsec_hello")

    assert stored.startswith("enc1:") and "whsec_hello" not in stored
    assert crypto.decrypt(stored) == "whsec_hello"
    settings.SIMRENEW_ENCRYPTION_KEYS = [NEW_KEY]
    with pytest.raises(crypto.SecretUnreadable, match="No key in SIMRENEW_ENCRYPTION_KEYS decrypts"):
        crypto.decrypt(stored)


def test_plaintext_is_never_taken_for_a_secret(settings):
    with pytest.raises(crypto.SecretUnreadable, match="not encrypted"):
        crypto.decrypt("whsec_hello")


def test_no_key_or_a_malformed_key_is_a_clear_error(settings):
    settings.SIMRENEW_ENCRYPTION_KEYS = []
    with pytest.raises(crypto.SecretUnreadable, match="SIMRENEW_ENCRYPTION_KEYS is empty"):
        crypto.encrypt("x")
    settings.SIMRENEW_ENCRYPTION_KEYS = ["not-a-key"]
    with pytest.raises(crypto.SecretUnreadable, match="not a Fernet key"):
        crypto.encrypt("x")


def test_the_first_key_encrypts_and_every_key_decrypts_so_a_key_can_be_rotated(settings):
    settings.SIMRENEW_ENCRYPTION_KEYS = [OLD_KEY]
    stored = crypto.encrypt("seed")

    settings.SIMRENEW_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    assert crypto.decrypt(stored) == "seed"
    resealed = crypto.reencrypt(stored)

    settings.SIMRENEW_ENCRYPTION_KEYS = [NEW_KEY]
    assert crypto.decrypt(resealed) == "seed"


def test_new_key_prints_a_key_that_encrypts(settings, capsys):
    call_command("secrets", "new-key")

    key = capsys.readouterr().out.strip()
    settings.SIMRENEW_ENCRYPTION_KEYS = [key]
    assert crypto.decrypt(crypto.encrypt("x")) == "x"
