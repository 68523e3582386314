"""The TMF641 adapter against a local carrier over real HTTP: orders go out in the standard's shape
with the carrier's token, a retry reuses the externalId, a lost answer is found again, refusals
and outages are told apart, and a thousand orders travel at once."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import trustme

from simrenew.kit import crypto
from simrenew.provisioning.models import NetworkConnection
from simrenew.provisioning.sandbox_network import SandboxNetwork
from simrenew.provisioning.tmf641 import (
    LineChangeOrder,
    NetworkUnavailable,
    OrderRefused,
    OrderSnapshot,
    PortIn,
    close_shared,
    order_body,
    service_ordering,
)
from simrenew.provisioning.tmf641_http import HttpServiceOrdering, snapshot_from
from tests.notifications.servers import free_port
from tests.provisioning.tmf_server import TmfServer

ICCID = "8901260882310000017"


def add_body(external_id: str = "simrenew-1-1", **fields: object) -> dict[str, object]:
    change = {"action": "add", "target_state": "active", "iccid": ICCID, "plan_code": "att-month-10gb", **fields}
    return order_body(LineChangeOrder(external_id=external_id, **change))  # type: ignore[arg-type]


@pytest.fixture
def carrier() -> Iterator[TmfServer]:
    with TmfServer() as server:
        yield server
    assert server.violations == []


@pytest.fixture
def network(carrier: TmfServer) -> Iterator[HttpServiceOrdering]:
    with HttpServiceOrdering(carrier.url, timeout_seconds=5) as client:
        yield client


def one(results: list[OrderSnapshot | Exception]) -> OrderSnapshot | Exception:
    (result,) = results
    return result


def test_an_order_is_posted_in_the_standard_shape_and_acknowledged(carrier, network):
    (snapshot,) = network.create_many([add_body()])

    assert isinstance(snapshot, OrderSnapshot)
    assert snapshot.state == "acknowledged"
    assert snapshot.external_id == "simrenew-1-1"
    assert snapshot.service_id  # the carrier names the new line's service
    assert snapshot.characteristics["iccid"] == ICCID
    assert snapshot.characteristics["plan"] == "att-month-10gb"
    assert carrier.requests == [("POST", "/tmf-api/serviceOrdering/v4/serviceOrder")]
    assert list(carrier.posted_bodies()) == [add_body()]
    assert carrier.authorizations == [None]  # no token configured: none sent


def test_the_carriers_token_is_sent_as_a_bearer_and_a_wrong_one_is_refused():
    with TmfServer(token="s3cret") as carrier:
        with HttpServiceOrdering(carrier.url, "s3cret") as network:
            assert isinstance(one(network.create_many([add_body()])), OrderSnapshot)
        with HttpServiceOrdering(carrier.url, "stale") as network:
            refused = one(network.create_many([add_body("simrenew-1-2")]))

    assert carrier.authorizations == ["Bearer s3cret", "Bearer stale"]
    assert isinstance(refused, OrderRefused)
    assert (refused.status, refused.code) == (401, "401")
    assert len(carrier.orders) == 1


def test_a_503_twice_then_success_makes_one_order_under_one_external_id(carrier, network):
    carrier.fail_with(503, times=2, retry_after="7")

    first = one(network.create_many([add_body()]))
    second = one(network.create_many([add_body()]))
    third = one(network.create_many([add_body()]))

    assert isinstance(first, NetworkUnavailable) and isinstance(second, NetworkUnavailable)
    assert (first.reached, first.status, first.retry_after) == (True, 503, 7.0)
    assert isinstance(third, OrderSnapshot)
    assert carrier.posts["simrenew-1-1"] == 3
    assert len(carrier.orders) == 1


def test_a_lost_answer_is_found_by_external_id_and_a_resend_lands_on_the_same_order(carrier, network):
    carrier.lose_answer(1)

    lost = one(network.create_many([add_body()]))
    found = network.find_by_external_id("simrenew-1-1")
    resent = one(network.create_many([add_body()]))  # the carrier answers 409: the adapter looks it up

    assert isinstance(lost, NetworkUnavailable) and lost.reached
    assert isinstance(found, OrderSnapshot) and found.external_id == "simrenew-1-1"
    assert isinstance(resent, OrderSnapshot) and resent.order_id == found.order_id
    assert len(carrier.orders) == 1
    assert network.find_by_external_id("simrenew-never-sent") is None


def test_a_body_the_carrier_cannot_accept_is_refused_not_retried(carrier, network):
    body = add_body()
    body["serviceOrderItem"][0]["action"] = "suspend"  # type: ignore[index]

    refused = one(network.create_many([body]))

    assert isinstance(refused, OrderRefused)
    assert refused.status == 400
    assert "Invalid ServiceOrder_Create" in refused.reason
    assert carrier.orders == {}
    carrier.violations.clear()  # the carrier saw it, as it should


def test_a_422_is_a_refusal_with_the_carriers_words(carrier, network):
    carrier.fail_with(422)

    refused = one(network.create_many([add_body()]))

    assert isinstance(refused, OrderRefused)
    assert (refused.status, refused.code) == (422, "422")


def test_a_carrier_not_listening_was_never_reached():
    with HttpServiceOrdering(f"http://127.0.0.1:{free_port()}/tmf-api/serviceOrdering/v4") as network:
        unreachable = one(network.create_many([add_body()]))
        with pytest.raises(NetworkUnavailable) as lookup:
            network.find_by_external_id("simrenew-1-1")

    assert isinstance(unreachable, NetworkUnavailable)
    assert unreachable.reached is False
    assert lookup.value.reached is False


def test_over_https_the_carrier_is_reached_when_its_ca_is_trusted_and_never_otherwise(tmp_path):
    ca, stranger = trustme.CA(), trustme.CA()
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_side)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    stranger.cert_pem.write_to_path(str(tmp_path / "stranger.pem"))

    with TmfServer(tls=server_side) as carrier:
        with HttpServiceOrdering(carrier.url, ca_file=str(tmp_path / "ca.pem")) as network:
            trusted = one(network.create_many([add_body()]))
        with HttpServiceOrdering(carrier.url, ca_file=str(tmp_path / "stranger.pem")) as network:
            untrusted = one(network.create_many([add_body("simrenew-1-2")]))

    assert carrier.url.startswith("https://")
    assert isinstance(trusted, OrderSnapshot) and trusted.external_id == "simrenew-1-1"
    assert isinstance(untrusted, NetworkUnavailable)
    assert untrusted.reached is False  # the handshake failed: nothing was sent
    assert set(carrier.posts) == {"simrenew-1-1"}


def test_a_carrier_too_slow_to_answer_may_have_the_order():
    with TmfServer(latency_ms=400) as carrier, HttpServiceOrdering(carrier.url, timeout_seconds=0.1) as network:
        late = one(network.create_many([add_body()]))

    assert isinstance(late, NetworkUnavailable)
    assert late.reached is True


def test_an_order_is_followed_to_completed_and_the_new_line_gets_its_number(carrier, network):
    (created,) = network.create_many([add_body()])
    assert isinstance(created, OrderSnapshot)

    states = []
    for _ in range(3):
        (polled,) = network.get_many([created.order_id])
        assert isinstance(polled, OrderSnapshot)
        states.append(polled.state)

    assert states == ["inProgress", "completed", "completed"]
    assert polled.succeeded and polled.final
    assert polled.msisdn is not None and polled.msisdn.startswith("+1")
    (unknown,) = network.get_many(["so-missing"])
    assert isinstance(unknown, OrderRefused) and unknown.status == 404


def test_a_failed_order_carries_the_carriers_reason(carrier, network):
    carrier.fail_order("simrenew-1-1", "failed", "Number not portable")
    (created,) = network.create_many([add_body(port=PortIn(msisdn="+12015550188", account="A-1", pin="9876"))])
    assert isinstance(created, OrderSnapshot)

    (polled,) = network.get_many([created.order_id])
    (last,) = network.get_many([created.order_id])

    assert (polled.state, last.state) == ("inProgress", "failed")  # type: ignore[union-attr]
    assert last.errors == ["FAILED: Number not portable"]  # type: ignore[union-attr]
    assert "portInPin" not in last.characteristics  # type: ignore[union-attr]


def test_a_rejected_order_is_final_at_once(carrier, network):
    carrier.fail_order("simrenew-1-1", "rejected", "Unknown ICCID")

    rejected = one(network.create_many([add_body()]))

    assert isinstance(rejected, OrderSnapshot)
    assert (rejected.state, rejected.final, rejected.succeeded) == ("rejected", True, False)
    assert rejected.errors == ["REJECTED: Unknown ICCID"]


def test_a_thousand_orders_at_200_ms_each_travel_together():
    with TmfServer(latency_ms=200) as carrier, HttpServiceOrdering(carrier.url, concurrency=256) as network:
        bodies = [add_body(f"simrenew-{n}-1") for n in range(1000)]

        created = network.create_many(bodies)
        polled = network.get_many([snapshot.order_id for snapshot in created if isinstance(snapshot, OrderSnapshot)])

    assert [snapshot.external_id for snapshot in created] == [body["externalId"] for body in bodies]  # type: ignore[union-attr]
    assert all(isinstance(snapshot, OrderSnapshot) and snapshot.state == "inProgress" for snapshot in polled)
    # One at a time this would take 400 s; in flight together, the carrier sees them at once.
    assert carrier.max_in_flight > 50
    assert carrier.violations == []


def test_events_go_to_the_registered_hub(carrier, network):
    hub_id = network.register_hub("https://simrenew.example/tmf-api/serviceOrdering/v4")

    assert carrier.hubs == {hub_id: "https://simrenew.example/tmf-api/serviceOrdering/v4"}
    network.unregister_hub(hub_id)
    network.unregister_hub(hub_id)  # already gone: nothing to do
    assert carrier.hubs == {}


def test_the_carrier_tells_the_listener_of_each_state_change(carrier, network):
    received: list[dict[str, object]] = []
    done = threading.Event()

    class Listener(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()
            if len(received) == 2:
                done.set()

        def log_message(self, format: str, *args: object) -> None:
            pass

    listener = ThreadingHTTPServer(("127.0.0.1", 0), Listener)
    threading.Thread(target=listener.serve_forever, daemon=True).start()
    try:
        carrier.send_events_to(f"http://127.0.0.1:{listener.server_address[1]}/listener/serviceOrderStateChangeEvent")
        network.create_many([add_body()])
        carrier.advance("simrenew-1-1")
        assert done.wait(timeout=10)
    finally:
        listener.shutdown()
        listener.server_close()

    states = sorted(event["event"]["serviceOrder"]["state"] for event in received)  # type: ignore[index]
    assert states == ["acknowledged", "inProgress"]
    assert all(event["eventType"] == "ServiceOrderStateChangeEvent" for event in received)


def test_a_carrier_explaining_a_failure_in_a_note_is_heard():
    snapshot = snapshot_from(
        {"id": "so-1", "state": "failed", "note": [{"text": "Port-out PIN does not match"}], "serviceOrderItem": []}
    )

    assert (snapshot.state, snapshot.errors, snapshot.service_id) == ("failed", ["Port-out PIN does not match"], None)
    with pytest.raises(ValueError):
        snapshot_from({"state": "completed"})


def test_a_connected_carrier_gets_one_shared_http_adapter_and_an_unconnected_one_the_sandbox(carrier):
    connection = NetworkConnection(pk=991, base_url=carrier.url, token=crypto.encrypt("s3cret"))
    try:
        adapter = service_ordering(connection)
        assert isinstance(adapter, HttpServiceOrdering)
        assert service_ordering(connection) is adapter
        assert adapter._headers["Authorization"] == "Bearer s3cret"
        connection.base_url = carrier.url + "/"
        assert service_ordering(connection) is not adapter  # edited: a fresh adapter
    finally:
        close_shared()
    assert isinstance(service_ordering(None), SandboxNetwork)
