"""`simrenew network`: an operator connects a carrier's lines to its TMF641 Service Ordering API.
The URL is the API's v4 base, the bearer token is stored encrypted and never shown or audited in
clear, a refusal writes nothing, and a carrier without a connection uses the sandbox network."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from simrenew.audit.models import AuditEntry
from simrenew.kit import crypto
from simrenew.provisioning.models import NetworkConnection
from tests.factories import make_carrier

URL = "https://api.carrier.example/tmf-api/serviceOrdering/v4"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.c2ltcmVuZXc.dG9rZW4-_sig"


def network(*args: str) -> str:
    out = StringIO()
    call_command("network", *args, stdout=out)
    return out.getvalue()


def stored_row() -> dict:
    """The columns as a database dump shows them."""
    return NetworkConnection.objects.values().get()


@pytest.fixture
def att(clock):
    return make_carrier(code="att")


def test_a_carrier_is_connected_and_its_token_is_stored_encrypted(att):
    out = network("connect", "att", "--url", URL + "/", "--token", TOKEN)

    row = stored_row()
    assert row["base_url"] == URL  # without the trailing slash: paths are appended
    assert row["token"].startswith("enc1:") and TOKEN not in str(row)
    assert crypto.decrypt(row["token"]) == TOKEN
    assert f"Connected att: its line changes are ordered at {URL} (token set)" in out and TOKEN not in out
    entry = AuditEntry.objects.get()
    assert entry.action == "add" and entry.after["token"] == "set"
    assert TOKEN not in str(entry.after) and row["token"] not in str(entry.after)


def test_the_token_can_come_from_a_file(att, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")

    network("connect", "att", "--url", URL, "--token-file", str(token_file))

    assert crypto.decrypt(stored_row()["token"]) == TOKEN


def test_a_connection_needs_no_token(att):
    out = network("connect", "att", "--url", URL)

    assert stored_row()["token"] == "" and "(token not set)" in out


def test_connecting_again_keeps_the_token_unless_told_otherwise(att):
    network("connect", "att", "--url", URL, "--token", TOKEN)
    moved = URL.replace("api.", "orders.")

    network("connect", "att", "--url", moved)
    kept = stored_row()
    network("connect", "att", "--url", moved, "--token", "another-token")
    replaced = stored_row()
    network("connect", "att", "--url", moved, "--no-token")
    removed = stored_row()

    assert kept["base_url"] == moved and crypto.decrypt(kept["token"]) == TOKEN
    assert crypto.decrypt(replaced["token"]) == "another-token"
    assert removed["token"] == ""
    changes = [(e.before, e.after) for e in AuditEntry.objects.filter(action="change").order_by("pk")]
    assert changes == [
        ({"base_url": URL}, {"base_url": moved}),
        ({"token": "set"}, {"token": "replaced"}),
        ({"token": "set"}, {"token": "not set"}),
    ]


def test_the_same_settings_again_change_nothing(att):
    network("connect", "att", "--url", URL, "--token", TOKEN)

    out = network("connect", "att", "--url", URL, "--token", TOKEN)

    assert "nothing was changed" in out and AuditEntry.objects.count() == 1


REFUSED = {
    "an unknown carrier": (["vodafone", "--url", URL], "No carrier has the code 'vodafone'"),
    "a URL that is not the v4 base": (
        ["att", "--url", "https://api.carrier.example/tmf-api/serviceOrdering/v4/serviceOrder"],
        "must end in /tmf-api/serviceOrdering/v4",
    ),
    "a URL of another API": (
        ["att", "--url", "https://api.carrier.example/tmf-api/productOrdering/v4"],
        "must end in /tmf-api/serviceOrdering/v4",
    ),
    "a URL that is no URL": (["att", "--url", "carrier/tmf-api/serviceOrdering/v4"], "Give a full https://"),
    "a URL with a password": (
        ["att", "--url", "https://me:pw@api.carrier.example/tmf-api/serviceOrdering/v4"],
        "may not carry a user name or password",
    ),
    "a token with its scheme": (["att", "--url", URL, "--token", "Bearer abc"], "without 'Bearer '"),
    "an empty token": (["att", "--url", URL, "--token", " "], "use --no-token"),
    "a token too long to store": (["att", "--url", URL, "--token", "t" * 400], "too long to be stored"),
    "two tokens": (["att", "--url", URL, "--token", TOKEN, "--no-token"], "not allowed with argument"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_each_refusal_says_why_and_writes_nothing(att, case):
    args, says = REFUSED[case]

    with pytest.raises(CommandError) as refused:
        network("connect", *args)

    assert says in str(refused.value)
    assert not NetworkConnection.objects.exists() and not AuditEntry.objects.exists()


def test_an_unreadable_or_empty_token_file_is_refused(att, tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("\n")

    with pytest.raises(CommandError, match="is empty"):
        network("connect", "att", "--url", URL, "--token-file", str(empty))
    with pytest.raises(CommandError, match="cannot be read"):
        network("connect", "att", "--url", URL, "--token-file", str(tmp_path / "missing"))

    assert not NetworkConnection.objects.exists()


def test_plain_http_is_for_the_sandbox_only(att, settings):
    local = "http://127.0.0.1:8080/tmf-api/serviceOrdering/v4"
    network("connect", "att", "--url", local)
    assert stored_row()["base_url"] == local

    settings.SIMRENEW_SANDBOX = False
    with pytest.raises(CommandError, match="must use https://"):
        network("connect", "att", "--url", "http://api.carrier.example/tmf-api/serviceOrdering/v4")
    assert stored_row()["base_url"] == local


def test_show_says_whether_a_token_is_set_never_what_it_is(att, clock):
    make_carrier(code="tmobile")
    make_carrier(code="verizon")
    network("connect", "att", "--url", URL, "--token", TOKEN)
    network("connect", "verizon", "--url", URL.replace("carrier", "verizon"))

    everything = network("show")
    one = network("show", "att")
    unconnected = network("show", "tmobile")

    assert f"att: {URL} (token set, enabled)" in everything
    assert "verizon: https://api.verizon.example/tmf-api/serviceOrdering/v4 (token not set, enabled)" in everything
    assert "Using the sandbox network (no connection): tmobile." in everything
    assert one.strip() == f"att: {URL} (token set, enabled)"
    assert "tmobile has no network connection: its lines use the sandbox network" in unconnected
    for out in (everything, one):
        assert TOKEN not in out and "enc1:" not in out


def test_disconnect_sends_the_lines_back_to_the_sandbox_network(att):
    network("connect", "att", "--url", URL, "--token", TOKEN)

    out = network("disconnect", "att")

    assert not NetworkConnection.objects.exists()
    assert "go to the sandbox network" in out
    entry = AuditEntry.objects.get(action="delete")
    assert entry.before["base_url"] == URL and entry.before["token"] == "set"
    assert TOKEN not in str(entry.before)
    with pytest.raises(CommandError, match="att has no network connection; nothing was changed"):
        network("disconnect", "att")


@pytest.mark.django_db(transaction=True)
def test_the_carriers_order_events_are_subscribed_to_and_unsubscribed_on_disconnect(clock, settings):
    from simrenew.provisioning.tmf641 import close_shared
    from tests.provisioning.tmf_server import TmfServer

    make_carrier(code="att")
    settings.SIMRENEW_PUBLIC_URL = "https://simrenew.example.com"
    with TmfServer(token=TOKEN) as carrier:
        said = network("connect", "att", "--url", carrier.url, "--token", TOKEN, "--register-hub")

        [(hub_id, callback)] = carrier.hubs.items()
        assert callback == "https://simrenew.example.com/tmf-api/serviceOrdering/v4"
        assert stored_row()["hub_id"] == hub_id and hub_id in said
        assert AuditEntry.objects.filter(action="network hub registered").count() == 1

        network("disconnect", "att")
        assert carrier.hubs == {}
        assert not NetworkConnection.objects.exists()
    close_shared()
