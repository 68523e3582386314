"""`simrenew check --deploy` on a live server names each carrier connection that cannot work there:
an SM-DP+ reached through the sandbox twin or plain http, or whose certificate, key or CA file the
server can no longer read, and a network API over plain http. A carrier with no network connection
is a warning: its lines are switched only in the sandbox network."""

from __future__ import annotations

import os

import pytest

from simrenew.deploy_checks import carrier_connections
from simrenew.kit import clock as kit_clock
from simrenew.provisioning.models import NetworkConnection, SmdpConnection
from tests.factories import make_carrier
from tests.provisioning.servers import smdp_pki

TMF = "https://api.carrier.example/tmf-api/serviceOrdering/v4"


def make_smdp(carrier: str, **fields: object) -> SmdpConnection:
    now = kit_clock.now()
    values = {
        "base_url": "https://smdp.example.com",
        "requester_id": "simrenew.example",
        "smdp_id": "smdp.example.com",
        "profile_type": "consumer",
        **fields,
    }
    return SmdpConnection.objects.create(carrier=make_carrier(code=carrier), created_at=now, updated_at=now, **values)


def make_network(carrier: str, url: str = TMF) -> NetworkConnection:
    now = kit_clock.now()
    return NetworkConnection.objects.create(
        carrier=make_carrier(code=carrier), base_url=url, created_at=now, updated_at=now
    )


@pytest.fixture
def live(settings):
    settings.SIMRENEW_SANDBOX = False
    return settings


def by_id(found: list) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for message in found:
        grouped.setdefault(message.id, []).append(message.msg)
    return grouped


def test_carriers_connected_over_https_with_readable_files_pass(clock, live, tmp_path):
    pki = smdp_pki(tmp_path)
    make_smdp("att", ca_cert_path=pki.ca_path, client_cert_path=pki.client_chain_path)
    make_network("att")

    assert carrier_connections() == []


def test_the_sandbox_smdp_and_plain_http_are_errors_on_a_live_server(clock, live):
    make_smdp("att", base_url="sandbox:")
    make_smdp("tmobile", base_url="http://127.0.0.1:8443")
    make_smdp("verizon", base_url="sandbox:", enabled=False)  # not used: not checked
    for code in ("att", "tmobile", "verizon"):
        make_network(code)

    found = by_id(carrier_connections())

    assert list(found) == ["simrenew.E110"] and len(found["simrenew.E110"]) == 2
    att, tmobile = found["simrenew.E110"]
    assert att.startswith("att's SM-DP+ connection cannot work on a live server") and "sandbox:" in att
    assert tmobile.startswith("tmobile's") and "must use https://" in tmobile


def test_a_certificate_file_gone_since_it_was_connected_is_an_error(clock, live, tmp_path):
    pki = smdp_pki(tmp_path)
    make_smdp("att", client_cert_path=pki.client_cert_path, client_key_path=pki.client_key_path)
    make_network("att")
    os.remove(pki.client_key_path)

    [error] = carrier_connections()

    assert error.id == "simrenew.E110"
    assert f"The client key file {pki.client_key_path} cannot be read by the server" in error.msg


def test_a_network_api_over_plain_http_is_an_error(clock, live):
    make_network("att", url="http://api.carrier.example/tmf-api/serviceOrdering/v4")

    [error] = carrier_connections()

    assert error.id == "simrenew.E111" and "att's network connection" in error.msg and "https://" in error.msg


def test_each_carrier_without_a_network_connection_is_a_warning(clock, live):
    make_network("att")
    make_carrier(code="tmobile")
    make_carrier(code="verizon")

    found = carrier_connections()

    assert [(m.id, m.msg.split(" ")[0]) for m in found] == [("simrenew.W110", "tmobile"), ("simrenew.W110", "verizon")]
    assert "sandbox network" in found[0].msg and "simrenew network connect tmobile" in found[0].hint


def test_the_sandbox_checks_nothing(clock, settings):
    make_smdp("att", base_url="sandbox:")

    assert carrier_connections() == []
