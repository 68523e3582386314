"""The carrier-side secrets (a network API's bearer token, a pending port's old-carrier account
number and PIN) are stored encrypted, and `simrenew secrets rotate` seals them again with the
first key like every other secret, so the old key can go."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from simrenew.kit import clock as kit_clock
from simrenew.kit import crypto
from simrenew.provisioning.connections import NetworkConfig, connect_network
from simrenew.provisioning.models import NetworkConnection, PortRequest, PortStatus
from tests.factories import make_carrier, make_esim

NEW_KEY = crypto.new_key()
TOKEN = "carrier-api-token"


def connect_with_token() -> NetworkConnection:
    url = "https://api.tmo.example/tmf-api/serviceOrdering/v4"
    connection, _ = connect_network(make_carrier(code="tmobile"), NetworkConfig(base_url=url, token=TOKEN))
    return connection


def make_port(*, status: str = PortStatus.REQUESTED, account: str = "ACC-991", pin: str = "4321") -> PortRequest:
    return PortRequest.objects.create(
        new_esim=make_esim(carrier="tmobile"),
        msisdn="+12015550147",
        account_number=crypto.encrypt(account) if account else "",
        pin=crypto.encrypt(pin) if pin else "",
        status=status,
        created_at=kit_clock.now(),
    )


def test_rotate_reencrypts_network_tokens_and_port_secrets_so_the_old_key_can_go(clock, settings, capsys):
    old_key = settings.SIMRENEW_ENCRYPTION_KEYS[0]
    connect_with_token()
    pending = make_port()
    finished = make_port(status=PortStatus.COMPLETED, account="", pin="")
    sealed_before = NetworkConnection.objects.get().token

    settings.SIMRENEW_ENCRYPTION_KEYS = [NEW_KEY, old_key]
    call_command("secrets", "rotate")
    settings.SIMRENEW_ENCRYPTION_KEYS = [NEW_KEY]

    connection = NetworkConnection.objects.get()
    assert connection.token != sealed_before and crypto.decrypt(connection.token) == TOKEN
    pending.refresh_from_db()
    assert (crypto.decrypt(pending.account_number), crypto.decrypt(pending.pin)) == ("ACC-991", "4321")
    finished.refresh_from_db()
    assert (finished.account_number, finished.pin) == ("", "")  # nothing to seal once the port is over
    assert "1 network token(s), 1 number port(s)" in capsys.readouterr().out


def test_rotate_without_the_key_a_token_needs_changes_nothing(clock, settings):
    connect_with_token()
    before = NetworkConnection.objects.get().token

    settings.SIMRENEW_ENCRYPTION_KEYS = [NEW_KEY]
    with pytest.raises(CommandError, match=r"No key in SIMRENEW_ENCRYPTION_KEYS decrypts.*Nothing was changed"):
        call_command("secrets", "rotate")

    assert NetworkConnection.objects.get().token == before
