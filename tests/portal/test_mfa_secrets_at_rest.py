"""Second-factor secrets (TOTP seeds, recovery-code seeds) are stored encrypted: a copy of the
database does not let anyone make a customer's codes, and the codes still work."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import reverse

from simrenew.kit import crypto
from tests.portal.test_accounts import PASSWORD, log_in, make_login
from tests.portal.test_accounts_mfa import _fresh_cache, activate_totp, current_code

__all__ = ["_fresh_cache"]


def test_an_authenticator_apps_secret_is_stored_encrypted_and_still_signs_in(clock):
    customer = make_login(email="mei@example.com")
    client = Client()
    log_in(client, email="mei@example.com")

    secret = activate_totp(client)

    totp = Authenticator.objects.get(user=customer.user, type=Authenticator.Type.TOTP)
    assert totp.data["secret"].startswith("enc1:") and secret not in str(totp.data)
    for other in Authenticator.objects.filter(user=customer.user, type=Authenticator.Type.RECOVERY_CODES):
        assert other.data["seed"].startswith("enc1:")
    again = Client()
    again.post(reverse("account_login"), {"login": "mei@example.com", "password": PASSWORD})
    done = again.post(reverse("mfa_authenticate"), {"code": current_code(secret)}, follow=True)
    assert done.redirect_chain[-1][0] == reverse("portal:dashboard")


def test_rotate_reencrypts_second_factors_with_the_first_key_so_the_old_one_can_go(clock, settings):
    customer = make_login(email="mei@example.com")
    old_key, new_key = settings.SIMRENEW_ENCRYPTION_KEYS[0], crypto.new_key()
    totp = TOTP.activate(customer.user, "JBSWY3DPEHPK3PXP")
    codes = RecoveryCodes.activate(customer.user).generate_codes()

    settings.SIMRENEW_ENCRYPTION_KEYS = [new_key, old_key]
    call_command("secrets", "rotate")
    settings.SIMRENEW_ENCRYPTION_KEYS = [new_key]

    totp.instance.refresh_from_db()
    assert TOTP(totp.instance).validate_code(current_code("JBSWY3DPEHPK3PXP"))
    recovery = Authenticator.objects.get(user=customer.user, type=Authenticator.Type.RECOVERY_CODES)
    assert RecoveryCodes(recovery).generate_codes() == codes


def test_rotate_with_a_key_missing_changes_nothing_and_says_why(clock, settings):
    customer = make_login(email="mei@example.com")
    TOTP.activate(customer.user, "JBSWY3DPEHPK3PXP")
    before = Authenticator.objects.get(user=customer.user).data

    settings.SIMRENEW_ENCRYPTION_KEYS = [crypto.new_key()]
    with pytest.raises(CommandError, match=r"No key in SIMRENEW_ENCRYPTION_KEYS decrypts.*Nothing was changed"):
        call_command("secrets", "rotate")

    assert Authenticator.objects.get(user=customer.user).data == before


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("migrations_restored")
def test_the_migration_encrypts_second_factor_secrets_stored_in_plaintext():
    customer = make_login(email="mei@example.com")
    executor = MigrationExecutor(connection)
    executor.migrate([("portal", None)])
    try:
        now = datetime(2026, 1, 15, tzinfo=UTC)
        for kind, data in (
            ("totp", {"secret": "JBSWY3DPEHPK3PXP"}),
            ("recovery_codes", {"seed": "abc123", "used_mask": 0, "migrated_codes": ["11111111"]}),
        ):
            Authenticator.objects.create(user=customer.user, type=kind, data=data, created_at=now)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate([("portal", "0001_encrypt_mfa_secrets")])

    totp = Authenticator.objects.get(type="totp")
    recovery = Authenticator.objects.get(type="recovery_codes")
    assert totp.data["secret"].startswith("enc1:") and recovery.data["seed"].startswith("enc1:")
    assert TOTP(totp).validate_code(current_code("JBSWY3DPEHPK3PXP"))
    assert RecoveryCodes(recovery).generate_codes() == ["11111111"]
    assert recovery.data["used_mask"] == 0
