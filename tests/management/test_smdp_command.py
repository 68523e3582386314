"""`simrenew smdp`: an operator connects a carrier to its SM-DP+ from the command line. The URL and
every file are checked before anything is saved (a refusal names the problem and writes nothing),
the certificate may carry its key, only paths are ever stored or shown, and every change is in the
audit trail."""

from __future__ import annotations

import getpass
import os
from io import StringIO
from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from django.core.management import CommandError, call_command

from simrenew.audit.models import AuditEntry
from simrenew.provisioning.models import SmdpConnection
from tests.factories import make_carrier
from tests.provisioning.servers import SmdpPki, smdp_pki

CLI_USER = f"cli:{getpass.getuser()}"
URL = "https://smdp.example.com/es2plus"


def smdp(*args: str) -> str:
    out = StringIO()
    call_command("smdp", *args, stdout=out)
    return out.getvalue()


def connect_args(carrier: str = "att", **given: str) -> list[str]:
    options = {
        "--url": URL,
        "--requester-id": "simrenew.example",
        "--smdp-id": "smdp.example.com",
        "--profile-type": "att-consumer",
        **given,
    }
    return ["connect", carrier, *(part for option, value in options.items() for part in (option, value))]


@pytest.fixture
def pki(tmp_path: Path) -> SmdpPki:
    return smdp_pki(tmp_path)


@pytest.fixture
def att(clock):
    return make_carrier(code="att")


def test_an_operator_connects_a_carrier_with_a_certificate_its_key_and_a_ca(att, pki):
    out = smdp(
        *connect_args(
            **{
                "--ca-cert": pki.ca_path,
                "--client-cert": pki.client_cert_path,
                "--client-key": pki.client_key_path,
                "--client-subject": "CN=smdp.example.com,O=Example SM-DP+",
                "--timeout": "7.5",
            }
        )
    )

    connection = SmdpConnection.objects.get(carrier=att)
    assert connection.base_url == URL and connection.enabled
    assert (connection.requester_id, connection.smdp_id, connection.profile_type) == (
        "simrenew.example",
        "smdp.example.com",
        "att-consumer",
    )
    assert (connection.ca_cert_path, connection.client_cert_path, connection.client_key_path) == (
        pki.ca_path,
        pki.client_cert_path,
        pki.client_key_path,
    )
    assert connection.client_subject == "CN=smdp.example.com,O=Example SM-DP+"
    assert connection.timeout_seconds == 7.5
    assert f"Connected att to the SM-DP+ at {URL}" in out and pki.client_key_path in out
    assert "PRIVATE KEY" not in out
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.actor_label, entry.target_id) == ("add", CLI_USER, str(connection.pk))
    assert entry.after["base_url"] == URL and entry.after["client_key_path"] == pki.client_key_path


def test_a_certificate_file_that_holds_its_key_is_enough(att, pki):
    out = smdp(*connect_args(**{"--client-cert": pki.client_chain_path}))

    connection = SmdpConnection.objects.get(carrier=att)
    assert (connection.client_cert_path, connection.client_key_path) == (pki.client_chain_path, "")
    assert "in the certificate file" in out


def test_files_named_from_where_the_command_runs_are_stored_by_their_full_path(att, pki, monkeypatch):
    monkeypatch.chdir(Path(pki.client_chain_path).parent)

    smdp(*connect_args(**{"--client-cert": Path(pki.client_chain_path).name}))

    assert SmdpConnection.objects.get(carrier=att).client_cert_path == pki.client_chain_path


def test_the_sandbox_smdp_and_a_local_test_server_are_accepted_in_sandbox_mode(clock):
    make_carrier(code="att")
    make_carrier(code="tmobile")

    smdp(*connect_args("att", **{"--url": "sandbox:"}))
    smdp(*connect_args("tmobile", **{"--url": "http://127.0.0.1:8443/"}))

    assert dict(SmdpConnection.objects.values_list("carrier__code", "base_url")) == {
        "att": "sandbox:",
        "tmobile": "http://127.0.0.1:8443",  # no trailing slash: the function paths are appended
    }


def test_connecting_again_replaces_the_settings_and_audits_only_what_changed(att, pki):
    smdp(*connect_args(**{"--client-cert": pki.client_chain_path, "--ca-cert": pki.ca_path}))

    out = smdp(*connect_args(**{"--client-cert": pki.client_chain_path, "--profile-type": "att-business"}))

    connection = SmdpConnection.objects.get(carrier=att)
    assert connection.profile_type == "att-business"
    assert connection.ca_cert_path == ""  # not given again: the system's CA bundle
    assert "Updated the connection of att" in out
    change = AuditEntry.objects.get(action="change")
    assert change.before == {"profile_type": "att-consumer", "ca_cert_path": pki.ca_path}
    assert change.after == {"profile_type": "att-business", "ca_cert_path": ""}


def test_connecting_again_with_the_same_settings_changes_nothing(att):
    smdp(*connect_args())

    out = smdp(*connect_args())

    assert "nothing was changed" in out
    assert AuditEntry.objects.count() == 1


def other_key(folder: Path) -> str:
    path = folder / "other-key.pem"
    trustme.CA().issue_cert("elsewhere.test").private_key_pem.write_to_path(str(path))
    return str(path)


def passphrase_key(pki: SmdpPki, folder: Path) -> str:
    key = serialization.load_pem_private_key(Path(pki.client_key_path).read_bytes(), password=None)
    path = folder / "locked-key.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"s3cret"),
        )
    )
    return str(path)


def not_pem(folder: Path) -> str:
    path = folder / "notes.txt"
    path.write_text("this is not a certificate\n")
    return str(path)


# Each: the options changed from a good connection, and what the refusal says.
REFUSED = {
    "an unknown carrier": (lambda pki, tmp: {"carrier": "vodafone"}, "No carrier has the code 'vodafone'"),
    "a plain-http URL elsewhere than 127.0.0.1": (
        lambda pki, tmp: {"--url": "http://smdp.example.com"},
        "must use https://",
    ),
    "a URL that is no URL": (lambda pki, tmp: {"--url": "smdp.example.com"}, "Give a full https:// address"),
    "a URL with a query": (lambda pki, tmp: {"--url": "https://smdp.example.com/?x=1"}, "may not have a query"),
    "a missing client certificate": (
        lambda pki, tmp: {"--client-cert": str(tmp / "missing.pem")},
        "cannot be read by the server: No such file or directory",
    ),
    "a path too long to store": (
        lambda pki, tmp: {"--ca-cert": "/" + "p" * 600},
        "path may be at most 500 characters",
    ),
    "a folder for the CA file": (lambda pki, tmp: {"--ca-cert": str(tmp)}, "is a folder, not a file"),
    "a CA file with no certificate": (
        lambda pki, tmp: {"--ca-cert": not_pem(tmp)},
        "holds no PEM certificate that TLS can use",
    ),
    "a client certificate file with no certificate": (
        lambda pki, tmp: {"--client-cert": pki.client_key_path},
        "holds no PEM certificate",
    ),
    "a client certificate without a key anywhere": (
        lambda pki, tmp: {"--client-cert": pki.client_cert_path},
        "holds no private key: give the key's file too",
    ),
    "a key that belongs to another certificate": (
        lambda pki, tmp: {"--client-cert": pki.client_cert_path, "--client-key": other_key(tmp)},
        "does not belong to the certificate",
    ),
    "a key protected by a passphrase": (
        lambda pki, tmp: {"--client-cert": pki.client_cert_path, "--client-key": passphrase_key(pki, tmp)},
        "protected by a passphrase",
    ),
    "a key that is not a key": (
        lambda pki, tmp: {"--client-cert": pki.client_cert_path, "--client-key": not_pem(tmp)},
        "cannot be loaded",
    ),
    "a key without its certificate": (
        lambda pki, tmp: {"--client-key": pki.client_key_path},
        "give the certificate's file too",
    ),
    "an empty requester id": (lambda pki, tmp: {"--requester-id": "  "}, "Give the requester id"),
    "a requester id over 64 characters": (
        lambda pki, tmp: {"--requester-id": "r" * 65},
        "at most 64 characters (it has 65)",
    ),
    "an empty SM-DP+ id": (lambda pki, tmp: {"--smdp-id": ""}, "Give the SM-DP+ id"),
    "an SM-DP+ id over 64 characters": (lambda pki, tmp: {"--smdp-id": "s" * 65}, "at most 64 characters"),
    "an empty profile type": (lambda pki, tmp: {"--profile-type": ""}, "Give the profile type"),
    "a zero timeout": (lambda pki, tmp: {"--timeout": "0"}, "The timeout is more than 0"),
    "a timeout that is no number": (lambda pki, tmp: {"--timeout": "soon"}, "invalid float value"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_each_refusal_says_why_and_writes_nothing(att, pki, tmp_path, case):
    change, says = REFUSED[case]
    given = change(pki, tmp_path)
    carrier = given.pop("carrier", "att")

    with pytest.raises(CommandError) as refused:
        smdp(*connect_args(carrier, **given))

    assert says in str(refused.value)
    assert not SmdpConnection.objects.exists() and not AuditEntry.objects.exists()


def test_every_problem_is_named_at_once(att, pki):
    with pytest.raises(CommandError) as refused:
        smdp(*connect_args(**{"--url": "http://smdp.example.com", "--requester-id": "", "--profile-type": ""}))

    message = str(refused.value)
    assert "must use https://" in message and "Give the requester id" in message and "profile type" in message


def test_a_refused_change_leaves_the_stored_connection_as_it_was(att, pki):
    smdp(*connect_args(**{"--client-cert": pki.client_chain_path}))

    with pytest.raises(CommandError):
        smdp(*connect_args(**{"--client-cert": pki.client_cert_path, "--profile-type": "att-business"}))

    connection = SmdpConnection.objects.get(carrier=att)
    assert (connection.client_cert_path, connection.profile_type) == (pki.client_chain_path, "att-consumer")
    assert AuditEntry.objects.count() == 1


@pytest.mark.parametrize("url", ["sandbox:", "http://127.0.0.1:8443", "http://smdp.example.com"])
def test_outside_sandbox_mode_only_https_is_accepted(att, settings, url):
    settings.SIMRENEW_SANDBOX = False

    with pytest.raises(CommandError, match="https"):
        smdp(*connect_args(**{"--url": url}))

    assert not SmdpConnection.objects.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_a_file_the_server_may_not_read_is_refused(att, pki):
    os.chmod(pki.client_chain_path, 0)

    with pytest.raises(CommandError, match="cannot be read by the server: Permission denied"):
        smdp(*connect_args(**{"--client-cert": pki.client_chain_path}))


def test_show_lists_paths_and_never_what_the_files_hold(att, pki, clock):
    make_carrier(code="tmobile")
    smdp(*connect_args(**{"--client-cert": pki.client_cert_path, "--client-key": pki.client_key_path}))
    smdp(*connect_args("tmobile", **{"--url": "sandbox:", "--profile-type": "tmo"}))

    everything = smdp("show")
    one = smdp("show", "att")

    assert "att: https://smdp.example.com/es2plus (enabled)" in everything and "tmobile: sandbox:" in everything
    assert pki.client_cert_path in one and pki.client_key_path in one and "the system's CA bundle" in one
    assert "tmobile" not in one
    for secret in (Path(pki.client_key_path).read_text(), Path(pki.client_cert_path).read_text()):
        body = secret.splitlines()[1]  # a line of base64 from inside the PEM
        assert body not in everything and body not in one


def test_show_says_where_an_unconnected_carriers_esims_come_from(att):
    assert "No carrier is connected to an SM-DP+" in smdp("show")
    assert "att has no SM-DP+ connection: its eSIMs come from inventory" in smdp("show", "att")


def test_disconnect_removes_the_connection_and_keeps_its_settings_in_the_trail(att):
    smdp(*connect_args())

    out = smdp("disconnect", "att")

    assert not SmdpConnection.objects.exists()
    assert "Disconnected att" in out and "from inventory again" in out
    entry = AuditEntry.objects.get(action="delete")
    assert entry.actor_label == CLI_USER and entry.before["base_url"] == URL


def test_disconnecting_a_carrier_that_is_not_connected_is_an_error(att):
    with pytest.raises(CommandError) as refused:
        smdp("disconnect", "att")

    assert "att has no SM-DP+ connection; nothing was changed" in str(refused.value)
