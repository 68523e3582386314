"""A carrier's SM-DP+ and network connections in the console: an admin adds and edits them with the
same checks as `simrenew smdp|network connect`, the network's token is typed in but never shown
again (stored encrypted, kept when left blank), every change is in the audit trail, and support
staff cannot change either."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from simrenew.audit.models import AuditEntry
from simrenew.kit import crypto
from simrenew.provisioning.connections import NetworkConfig, SmdpConfig, connect_network, connect_smdp
from simrenew.provisioning.models import NetworkConnection, SmdpConnection
from tests.customers.console_helpers import staff_client
from tests.factories import make_carrier
from tests.provisioning.servers import SmdpPki, smdp_pki

SMDP_PAGES = "/admin/provisioning/smdpconnection/"
NETWORK_PAGES = "/admin/provisioning/networkconnection/"
TMF = "https://api.carrier.example/tmf-api/serviceOrdering/v4"
TOKEN = "first-token-abc123"


@pytest.fixture
def pki(tmp_path: Path) -> SmdpPki:
    return smdp_pki(tmp_path)


def smdp_form(**changes: Any) -> dict[str, Any]:
    return {
        "base_url": "https://smdp.example.com/es2plus",
        "requester_id": "simrenew.example",
        "smdp_id": "smdp.example.com",
        "profile_type": "att-consumer",
        "ca_cert_path": "",
        "client_cert_path": "",
        "client_key_path": "",
        "client_subject": "",
        "timeout_seconds": "10",
        "enabled": "on",
        **changes,
    }


def test_an_admin_connects_a_carrier_to_its_smdp_in_the_console(clock, pki):
    att = make_carrier(code="att")
    admin = staff_client("admin")

    added = admin.post(f"{SMDP_PAGES}add/", smdp_form(carrier=att.pk, client_cert_path=pki.client_chain_path))

    assert added.status_code == 302
    connection = SmdpConnection.objects.get(carrier=att)
    assert connection.client_cert_path == pki.client_chain_path and connection.created_at == clock.now()
    entry = AuditEntry.objects.get(action="add")
    assert entry.actor_label.startswith("admin") and entry.after["client_cert_path"] == pki.client_chain_path


def test_the_console_refuses_what_the_command_refuses_and_names_each_problem(clock, pki):
    att = make_carrier(code="att")
    admin = staff_client("admin")

    page = admin.post(
        f"{SMDP_PAGES}add/",
        smdp_form(carrier=att.pk, base_url="http://smdp.example.com", client_cert_path=pki.client_cert_path),
    )

    assert page.status_code == 200 and not SmdpConnection.objects.exists()
    errors = page.context["adminform"].form.errors
    assert "must use https://" in errors["base_url"][0]
    assert "holds no private key" in errors["client_key_path"][0]
    assert not AuditEntry.objects.exists()


def test_an_admin_edits_an_smdp_connection_and_the_trail_keeps_what_changed(clock, pki):
    att = make_carrier(code="att")
    connection, _ = connect_smdp(
        att,
        SmdpConfig(base_url="https://smdp.example.com", requester_id="r", smdp_id="s", profile_type="consumer"),
    )
    admin = staff_client("admin")
    page = f"{SMDP_PAGES}{connection.pk}/change/"
    assert admin.get(page).status_code == 200

    changed = admin.post(
        page,
        smdp_form(
            base_url="https://smdp.example.com",
            requester_id="r",
            smdp_id="s",
            profile_type="business",
            client_cert_path=pki.client_cert_path,
            client_key_path=pki.client_key_path,
        ),
    )

    assert changed.status_code == 302
    connection.refresh_from_db()
    assert (connection.profile_type, connection.client_key_path) == ("business", pki.client_key_path)
    entry = AuditEntry.objects.get(action="change")
    assert entry.before == {"profile_type": "consumer", "client_cert_path": "", "client_key_path": ""}
    assert entry.after["profile_type"] == "business"


def network_form(**changes: Any) -> dict[str, Any]:
    return {"base_url": TMF, "new_token": "", "enabled": "on", **changes}


def stored_token() -> str:
    return NetworkConnection.objects.values_list("token", flat=True).get()


def test_the_token_is_typed_in_never_shown_and_kept_when_left_blank(clock):
    att = make_carrier(code="att")
    admin = staff_client("admin")

    admin.post(f"{NETWORK_PAGES}add/", network_form(carrier=att.pk, new_token=TOKEN))
    connection = NetworkConnection.objects.get()
    sealed = stored_token()
    page = admin.get(f"{NETWORK_PAGES}{connection.pk}/change/").content.decode()
    listed = admin.get(NETWORK_PAGES).content.decode()
    admin.post(f"{NETWORK_PAGES}{connection.pk}/change/", network_form(base_url=TMF.replace("api.", "orders.")))

    assert sealed.startswith("enc1:") and crypto.decrypt(sealed) == TOKEN
    for html in (page, listed):
        assert TOKEN not in html and sealed not in html
    assert 'type="password"' in page and "A token is stored; it is never shown" in page
    assert stored_token() == sealed  # left blank: kept as it was
    assert NetworkConnection.objects.get().base_url == TMF.replace("api.", "orders.")
    for entry in AuditEntry.objects.all():
        assert TOKEN not in str(entry.before) + str(entry.after) and sealed not in str(entry.after)


def test_an_admin_replaces_then_removes_the_token(clock):
    connection, _ = connect_network(make_carrier(code="att"), NetworkConfig(base_url=TMF, token=TOKEN))
    admin = staff_client("admin")
    page = f"{NETWORK_PAGES}{connection.pk}/change/"

    admin.post(page, network_form(new_token="second-token"))
    replaced = stored_token()
    both = admin.post(page, network_form(new_token="third-token", remove_token="on"))
    admin.post(page, network_form(remove_token="on"))

    assert crypto.decrypt(replaced) == "second-token"
    assert both.status_code == 200 and "not both" in both.content.decode()
    assert stored_token() == ""
    trail = [(e.before, e.after) for e in AuditEntry.objects.filter(action="change").order_by("pk")]
    assert trail == [({"token": "set"}, {"token": "replaced"}), ({"token": "set"}, {"token": "not set"})]


def test_a_bad_token_or_url_is_refused_under_its_field(clock):
    att = make_carrier(code="att")
    admin = staff_client("admin")

    page = admin.post(
        f"{NETWORK_PAGES}add/", network_form(carrier=att.pk, base_url=TMF + "/serviceOrder", new_token="Bearer x")
    )

    errors = page.context["adminform"].form.errors
    assert "must end in /tmf-api/serviceOrdering/v4" in errors["base_url"][0]
    assert "without 'Bearer '" in errors["new_token"][0]
    assert not NetworkConnection.objects.exists()


@pytest.mark.parametrize("role", ["support", "finance"])
def test_other_staff_cannot_change_a_connection(clock, role):
    att = make_carrier(code="att")
    smdp, _ = connect_smdp(
        att, SmdpConfig(base_url="https://smdp.example.com", requester_id="r", smdp_id="s", profile_type="consumer")
    )
    network, _ = connect_network(att, NetworkConfig(base_url=TMF, token=TOKEN))
    staff: Client = staff_client(role)

    pages = [
        staff.post(f"{SMDP_PAGES}{smdp.pk}/change/", smdp_form(base_url="https://evil.example.com")),
        staff.post(f"{NETWORK_PAGES}{network.pk}/change/", network_form(new_token="stolen")),
        staff.post(f"{NETWORK_PAGES}add/", network_form(carrier=att.pk)),
        staff.post(f"{SMDP_PAGES}{smdp.pk}/delete/", {"post": "yes"}),
    ]

    assert [page.status_code for page in pages] == [403, 403, 403, 403]
    smdp.refresh_from_db()
    assert smdp.base_url == "https://smdp.example.com"
    assert crypto.decrypt(stored_token()) == TOKEN
    assert AuditEntry.objects.filter(action="change").count() == 0
