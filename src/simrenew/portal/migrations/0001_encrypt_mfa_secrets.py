"""TOTP seeds and recovery-code seeds (allauth's Authenticator.data) are stored encrypted
from now on (simrenew.portal.mfa.MFAAdapter): the ones stored in plaintext are encrypted.
Backwards, they are decrypted again."""

from typing import Any

from django.db import migrations

from simrenew.kit import crypto
from simrenew.portal.mfa import resealed_data


def _decrypt_marked(value: str) -> str:
    return crypto.decrypt(value) if crypto.is_encrypted(value) else value


def _reseal(apps: Any, seal: Any) -> None:
    Authenticator = apps.get_model("mfa", "Authenticator")
    for authenticator in Authenticator.objects.all().iterator():
        data = resealed_data(authenticator.type, authenticator.data, seal)
        if data is not None and data != authenticator.data:
            authenticator.data = data
            authenticator.save(update_fields=["data"])


def encrypt_secrets(apps: Any, schema_editor: Any) -> None:
    # Plaintext is encrypted; a value already encrypted is left as it is.
    _reseal(apps, lambda value: value if crypto.is_encrypted(value) else crypto.encrypt(value))


def decrypt_secrets(apps: Any, schema_editor: Any) -> None:
    _reseal(apps, _decrypt_marked)


class Migration(migrations.Migration):
    dependencies = [
        ("mfa", "0003_authenticator_type_uniq"),
    ]

    operations = [
        migrations.RunPython(encrypt_secrets, decrypt_secrets, elidable=False),
    ]
