"""Webhook signing secrets are stored encrypted (kit.crypto, SIMRENEW_ENCRYPTION_KEYS):
the columns are renamed and widened for the ciphertext, and every plaintext secret is
encrypted. Backwards, they are decrypted again."""

from typing import Any

from django.db import migrations, models

from simrenew.kit import crypto


def encrypt_secrets(apps: Any, schema_editor: Any) -> None:
    WebhookEndpoint = apps.get_model("webhooks", "WebhookEndpoint")
    for endpoint in WebhookEndpoint.objects.all().iterator():
        changed = []
        for field in ("encrypted_secret", "encrypted_previous_secret"):
            value = getattr(endpoint, field)
            if value and not crypto.is_encrypted(value):
                setattr(endpoint, field, crypto.encrypt(value))
                changed.append(field)
        if changed:
            endpoint.save(update_fields=changed)


def decrypt_secrets(apps: Any, schema_editor: Any) -> None:
    WebhookEndpoint = apps.get_model("webhooks", "WebhookEndpoint")
    for endpoint in WebhookEndpoint.objects.all().iterator():
        changed = []
        for field in ("encrypted_secret", "encrypted_previous_secret"):
            value = getattr(endpoint, field)
            if value and crypto.is_encrypted(value):
                setattr(endpoint, field, crypto.decrypt(value))
                changed.append(field)
        if changed:
            endpoint.save(update_fields=changed)


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0002_endpoint_owner_rotation_failures_event_counter"),
    ]

    operations = [
        migrations.RenameField(model_name="webhookendpoint", old_name="secret", new_name="encrypted_secret"),
        migrations.RenameField(
            model_name="webhookendpoint", old_name="previous_secret", new_name="encrypted_previous_secret"
        ),
        migrations.AlterField(
            model_name="webhookendpoint", name="encrypted_secret", field=models.CharField(max_length=300)
        ),
        migrations.AlterField(
            model_name="webhookendpoint",
            name="encrypted_previous_secret",
            field=models.CharField(blank=True, max_length=300),
        ),
        migrations.RunPython(encrypt_secrets, decrypt_secrets, elidable=False),
    ]
