"""Webhook signing secrets are stored encrypted (SIMRENEW_ENCRYPTION_KEYS): a copy of the
database gives nobody a partner's secret, while partners still verify every request."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from standardwebhooks.webhooks import Webhook

from simrenew.kit import crypto
from simrenew.notifications.models import Delivery, DeliveryChannel, DeliveryStatus
from simrenew.webhooks.models import WebhookEndpoint
from simrenew.webhooks.services import create_endpoint, rotate_secret
from tests.factories import make_subscription, renew
from tests.notifications.helpers import run_worker

OTHER_KEY = crypto.new_key()


def stored_row(endpoint: WebhookEndpoint) -> dict:
    """The columns as a database dump shows them."""
    return WebhookEndpoint.objects.filter(pk=endpoint.pk).values().get()


def test_the_database_holds_only_encrypted_secrets_and_partners_still_verify(clock, receiver):
    endpoint = create_endpoint(url=receiver.url, event_types=["subscription.renewed"])
    first_secret = endpoint.secret
    rotate_secret(endpoint)
    endpoint.refresh_from_db()

    row = stored_row(endpoint)
    assert row["encrypted_secret"].startswith("enc1:") and row["encrypted_previous_secret"].startswith("enc1:")
    assert first_secret not in str(row) and endpoint.secret not in str(row)
    assert endpoint.previous_secret == first_secret

    renew(make_subscription())
    run_worker()

    (request,) = receiver.requests
    Webhook(first_secret).verify(request.body, request.headers)
    Webhook(endpoint.secret).verify(request.body, request.headers)


def test_a_batch_decrypts_each_endpoints_secret_once(clock, receiver, monkeypatch):
    create_endpoint(url=receiver.url)
    for _ in range(3):
        make_subscription()
    calls = []
    real_decrypt = crypto.decrypt
    monkeypatch.setattr(crypto, "decrypt", lambda value: calls.append(value) or real_decrypt(value))

    run_worker()

    assert len(receiver.requests) == 6  # customer.created and subscription.created, three times
    assert len(calls) == 1


def test_with_the_wrong_key_nothing_is_sent_unsigned_and_the_delivery_waits_for_the_right_key(
    clock, receiver, settings
):
    endpoint = create_endpoint(url=receiver.url)
    right_keys = settings.SIMRENEW_ENCRYPTION_KEYS
    make_subscription()

    settings.SIMRENEW_ENCRYPTION_KEYS = [OTHER_KEY]
    run_worker()

    assert receiver.requests == []
    waiting = Delivery.objects.filter(endpoint=endpoint, channel=DeliveryChannel.WEBHOOK)
    assert {d.status for d in waiting} == {DeliveryStatus.PENDING}
    tried = waiting.exclude(attempts=0).get()  # the endpoint's next event waits behind it (order kept)
    assert "cannot be decrypted" in tried.last_error and "SIMRENEW_ENCRYPTION_KEYS" in tried.last_error

    settings.SIMRENEW_ENCRYPTION_KEYS = right_keys
    clock.advance(hours=1)
    run_worker()
    assert len(receiver.requests) == 2


def test_rotate_reencrypts_every_endpoint_with_the_first_key_so_the_old_one_can_go(clock, settings, capsys):
    old_key = settings.SIMRENEW_ENCRYPTION_KEYS[0]
    endpoint = create_endpoint(url="https://partner.example.com/hooks")
    rotate_secret(endpoint)
    secret, previous = endpoint.secret, endpoint.previous_secret

    settings.SIMRENEW_ENCRYPTION_KEYS = [OTHER_KEY, old_key]
    call_command("secrets", "rotate")
    settings.SIMRENEW_ENCRYPTION_KEYS = [OTHER_KEY]

    endpoint.refresh_from_db()
    assert (endpoint.secret, endpoint.previous_secret) == (secret, previous)
    assert "1 webhook endpoint(s)" in capsys.readouterr().out


MIGRATED = ("webhooks", "0003_encrypt_signing_secrets")
BEFORE = ("webhooks", "0002_endpoint_owner_rotation_failures_event_counter")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("migrations_restored")
def test_the_migration_encrypts_the_secrets_stored_in_plaintext():
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    try:
        old_model = executor.loader.project_state([BEFORE]).apps.get_model("webhooks", "WebhookEndpoint")
        old_model.objects.create(
            url="https://partner.example.com/hooks",
            secret="whsec_current",
            previous_secret="whsec_previous",
            created_at=datetime(2026, 1, 15, tzinfo=UTC),
        )
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate([MIGRATED])

    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.encrypted_secret.startswith("enc1:") and "whsec_current" not in endpoint.encrypted_secret
    assert (endpoint.secret, endpoint.previous_secret) == ("whsec_current", "whsec_previous")
