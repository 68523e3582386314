"""The ES2+ client against a local SM-DP+ over HTTPS with mutual TLS: each function, each way an
SM-DP+ says no, and each way it cannot be reached. The server checks every request it gets
(schema, headers, unique call ids); `server.violations` must stay empty."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from simrenew.provisioning.es2plus import (
    Confirmed,
    Es2FunctionFailed,
    Es2Status,
    Ordered,
    SmdpUnreachable,
    parse_download_progress,
    smdp_client,
)
from simrenew.provisioning.es2plus_http import HttpSmdpClient, http_smdp_client
from simrenew.provisioning.sandbox_smdp import SandboxSmdp
from tests.notifications.servers import http_receiver
from tests.provisioning.servers import (
    REQUESTER_ID,
    Es2PlusServer,
    SmdpPki,
    connection_for,
    es2plus_server,
    smdp_pki,
)

EID = "89049032123451234512345678901235"


@pytest.fixture
def pki(tmp_path: Path) -> SmdpPki:
    return smdp_pki(tmp_path)


@pytest.fixture
def server(pki: SmdpPki) -> Iterator[Es2PlusServer]:
    with es2plus_server(pki) as running:
        yield running
        assert running.violations == []


@pytest.fixture
def client(server: Es2PlusServer, pki: SmdpPki) -> Iterator[HttpSmdpClient]:
    http = HttpSmdpClient(connection_for(server, pki))
    yield http
    http.close()


def call_id() -> str:
    return uuid.uuid4().hex


# --- The three functions, as they should go -------------------------------------------------------


def test_download_order_reserves_a_profile_and_keeps_the_iccid_as_the_smdp_wrote_it(
    server: Es2PlusServer, client: HttpSmdpClient
) -> None:
    ordered = client.download_order(call_id="order-1", profile_type="test-profile", eid=None)

    # The SM-DP+ writes a 19-digit ICCID padded with F: we store bare digits and keep its spelling.
    assert ordered == Ordered(iccid=ordered.iccid_wire[:-1], iccid_wire=ordered.iccid_wire)
    assert ordered.iccid_wire.endswith("F") and len(ordered.iccid) == 19
    (request,) = server.calls("downloadOrder")
    assert request.body == {
        "header": {"functionRequesterIdentifier": REQUESTER_ID, "functionCallIdentifier": "order-1"},
        "profileType": "test-profile",
    }
    assert request.headers["x-admin-protocol"] == "gsma/rsp/v2.5.0"
    assert request.headers["content-type"] == "application/json"
    assert request.client_subject is not None and "simrenew-test-operator" in request.client_subject


def test_confirm_order_echoes_the_wire_iccid_and_returns_what_the_activation_code_needs(
    server: Es2PlusServer, client: HttpSmdpClient
) -> None:
    ordered = client.download_order(call_id=call_id(), profile_type="test-profile", eid=None)

    confirmed = client.confirm_order(call_id=call_id(), iccid_wire=ordered.iccid_wire, eid=None)

    order = server.order(ordered.iccid)
    assert confirmed == Confirmed(matching_id=order.matching_id or "", smdp_address="smdp.test.example", eid=None)
    assert order.state == "released"
    (request,) = server.calls("confirmOrder")
    assert request.body["iccid"] == ordered.iccid_wire
    assert request.body["releaseFlag"] is True


def test_an_eid_goes_with_both_calls_and_comes_back_confirmed(server: Es2PlusServer, client: HttpSmdpClient) -> None:
    ordered = client.download_order(call_id=call_id(), profile_type="test-profile", eid=EID)
    confirmed = client.confirm_order(call_id=call_id(), iccid_wire=ordered.iccid_wire, eid=EID)

    assert confirmed.eid == EID
    assert [call.body["eid"] for call in server.requests] == [EID, EID]


def test_confirm_without_release_leaves_the_profile_confirmed(server: Es2PlusServer, client: HttpSmdpClient) -> None:
    ordered = client.download_order(call_id=call_id(), profile_type="test-profile", eid=None)
    client.confirm_order(call_id=call_id(), iccid_wire=ordered.iccid_wire, eid=None, release=False)

    assert server.order(ordered.iccid).state == "confirmed"
    assert server.calls("confirmOrder")[0].body["releaseFlag"] is False


def test_cancel_order_available_puts_the_profile_back_in_the_pool(
    server: Es2PlusServer, client: HttpSmdpClient
) -> None:
    ordered = client.download_order(call_id=call_id(), profile_type="test-profile", eid=None)
    confirmed = client.confirm_order(call_id=call_id(), iccid_wire=ordered.iccid_wire, eid=None)

    client.cancel_order(
        call_id=call_id(),
        iccid_wire=ordered.iccid_wire,
        eid=None,
        matching_id=confirmed.matching_id,
        final_status="Available",
    )

    assert server.order(ordered.iccid).state == "cancelled"
    assert server.pools["test-profile"][-1] == ordered.iccid
    (request,) = server.calls("cancelOrder")
    assert request.body["finalProfileStatusIndicator"] == "Available"
    assert request.body["matchingId"] == confirmed.matching_id


def test_cancel_order_unavailable_retires_the_profile(server: Es2PlusServer, client: HttpSmdpClient) -> None:
    ordered = client.download_order(call_id=call_id(), profile_type="test-profile", eid=None)

    client.cancel_order(
        call_id=call_id(), iccid_wire=ordered.iccid_wire, eid=None, matching_id=None, final_status="Unavailable"
    )

    assert server.order(ordered.iccid).state == "unavailable"
    assert ordered.iccid not in server.pools["test-profile"]


def test_a_20_digit_iccid_travels_as_it_is(pki: SmdpPki) -> None:
    with es2plus_server(pki, iccid_style="digits") as server:
        http = HttpSmdpClient(connection_for(server, pki))
        ordered = http.download_order(call_id=call_id(), profile_type="test-profile", eid=None)
        http.confirm_order(call_id=call_id(), iccid_wire=ordered.iccid_wire, eid=None)
        http.close()
        assert server.violations == []

    assert len(ordered.iccid) == 20 and ordered.iccid == ordered.iccid_wire
    assert server.calls("confirmOrder")[0].body["iccid"] == ordered.iccid


def test_a_client_certificate_file_holding_its_key_works_too(server: Es2PlusServer, pki: SmdpPki) -> None:
    http = HttpSmdpClient(connection_for(server, pki, client="chain"))

    ordered = http.download_order(call_id=call_id(), profile_type="test-profile", eid=None)
    http.close()

    assert ordered.iccid in {order.iccid for order in server.orders.values()}
    assert server.handshake_failures == []


def test_the_server_would_notice_a_reused_call_id(server: Es2PlusServer, client: HttpSmdpClient) -> None:
    client.download_order(call_id="same", profile_type="test-profile", eid=None)
    with pytest.raises(Es2FunctionFailed):
        client.download_order(call_id="same", profile_type="test-profile", eid=None)

    assert server.violations == ["downloadOrder: functionCallIdentifier 'same' reused"]
    server.violations.clear()  # the fixture's check is about the other stories


# --- The SM-DP+ answers, and says no ------------------------------------------------------------


def test_no_profile_of_the_type_left_is_a_failed_function_with_its_code(pki: SmdpPki) -> None:
    with es2plus_server(pki, profiles={"test-profile": 0}) as server:
        http = HttpSmdpClient(connection_for(server, pki))
        with pytest.raises(Es2FunctionFailed) as failed:
            http.download_order(call_id=call_id(), profile_type="test-profile", eid=None)
        http.close()

    assert failed.value.function == "downloadOrder"
    assert failed.value.status == "Failed"
    assert failed.value.code is not None
    assert failed.value.code.code == "8.2.5/3.7"
    assert failed.value.code.subject_identifier == "test-profile"


def test_an_unknown_profile_type_is_refused_with_its_code(client: HttpSmdpClient) -> None:
    with pytest.raises(Es2FunctionFailed) as failed:
        client.download_order(call_id=call_id(), profile_type="no-such-type", eid=None)

    assert failed.value.code is not None and failed.value.code.code == "8.2.5/3.9"


def test_confirming_an_unknown_iccid_fails_with_8_2_1_3_9(client: HttpSmdpClient) -> None:
    with pytest.raises(Es2FunctionFailed) as failed:
        client.confirm_order(call_id=call_id(), iccid_wire="8988999000000009990F", eid=None)

    assert failed.value.function == "confirmOrder"
    assert failed.value.code is not None and failed.value.code.code == "8.2.1/3.9"


def test_an_expired_function_is_a_failure_too(server: Es2PlusServer, client: HttpSmdpClient) -> None:
    server.fail_next("downloadOrder", "8.8.5", "4.10", status="Expired", message="Time to live expired")

    with pytest.raises(Es2FunctionFailed) as failed:
        client.download_order(call_id=call_id(), profile_type="test-profile", eid=None)

    assert failed.value.status == "Expired"
    assert failed.value.code is not None
    assert (failed.value.code.subject_code, failed.value.code.reason_code) == ("8.8.5", "4.10")
    assert "Time to live expired" in str(failed.value)


def test_executed_with_warning_is_a_success(server: Es2PlusServer, client: HttpSmdpClient) -> None:
    server.warn_next("downloadOrder", "8.2.5", "4.3", message="Profile type nearly exhausted")

    ordered = client.download_order(call_id=call_id(), profile_type="test-profile", eid=None)

    assert server.order(ordered.iccid).state == "allocated"


# --- It cannot be reached: did the function run? ---------------------------------------------


def test_without_a_client_certificate_the_handshake_is_refused_and_nothing_ran(
    server: Es2PlusServer, pki: SmdpPki
) -> None:
    http = HttpSmdpClient(connection_for(server, pki, client="none"))

    with pytest.raises(SmdpUnreachable) as unreachable:
        http.download_order(call_id=call_id(), profile_type="test-profile", eid=None)
    http.close()

    assert unreachable.value.reached is False
    assert "handshake refused" in unreachable.value.detail
    assert server.requests == [] and server.orders == {}
    assert server.refused_handshakes()


def test_a_client_certificate_from_a_foreign_ca_is_refused_and_nothing_ran(server: Es2PlusServer, pki: SmdpPki) -> None:
    http = HttpSmdpClient(connection_for(server, pki, client="foreign"))

    with pytest.raises(SmdpUnreachable) as unreachable:
        http.download_order(call_id=call_id(), profile_type="test-profile", eid=None)
    http.close()

    assert unreachable.value.reached is False
    assert "UNKNOWN_CA" in unreachable.value.detail.upper()
    assert server.requests == []
    assert server.refused_handshakes()


def test_an_smdp_certificate_we_do_not_trust_is_refused_before_sending(
    server: Es2PlusServer, pki: SmdpPki, tmp_path: Path
) -> None:
    foreign_bundle = tmp_path / "foreign-ca.pem"
    pki.foreign_ca.cert_pem.write_to_path(str(foreign_bundle))
    http = HttpSmdpClient(connection_for(server, pki, ca_cert_path=str(foreign_bundle)))

    with pytest.raises(SmdpUnreachable) as unreachable:
        http.download_order(call_id=call_id(), profile_type="test-profile", eid=None)
    http.close()

    assert unreachable.value.reached is False
    assert "CERTIFICATE_VERIFY_FAILED" in unreachable.value.detail.upper()
    assert server.requests == []


def test_a_certificate_file_that_cannot_be_read_means_nothing_was_sent(
    server: Es2PlusServer, pki: SmdpPki, tmp_path: Path
) -> None:
    http = smdp_client(connection_for(server, pki, client_cert_path=str(tmp_path / "gone.pem")))

    with pytest.raises(SmdpUnreachable) as unreachable:
        http.download_order(call_id=call_id(), profile_type="test-profile", eid=None)

    assert unreachable.value.reached is False
    assert "cannot load the TLS files" in unreachable.value.detail
    assert server.requests == []


def test_a_stopped_smdp_refuses_the_connection(server: Es2PlusServer, client: HttpSmdpClient) -> None:
    server.stop()

    with pytest.raises(SmdpUnreachable) as unreachable:
        client.download_order(call_id=call_id(), profile_type="test-profile", eid=None)

    assert unreachable.value.reached is False
    assert unreachable.value.function == "downloadOrder"


def test_a_lost_answer_means_the_function_may_have_run(server: Es2PlusServer, client: HttpSmdpClient) -> None:
    server.lose_next("downloadOrder")

    with pytest.raises(SmdpUnreachable) as unreachable:
        client.download_order(call_id=call_id(), profile_type="test-profile", eid=None)

    assert unreachable.value.reached is True
    # It did run: a profile is reserved that only a CancelOrder gives back.
    assert [order.state for order in server.orders.values()] == ["allocated"]


def test_a_server_error_means_the_function_may_have_run(server: Es2PlusServer, client: HttpSmdpClient) -> None:
    server.answer_next("confirmOrder", http_status=503, body=b"busy", content_type="text/plain")
    ordered = client.download_order(call_id=call_id(), profile_type="test-profile", eid=None)

    with pytest.raises(SmdpUnreachable) as unreachable:
        client.confirm_order(call_id=call_id(), iccid_wire=ordered.iccid_wire, eid=None)

    assert unreachable.value.reached is True
    assert unreachable.value.http_status == 503


def test_an_answer_without_x_admin_protocol_is_not_believed(server: Es2PlusServer, client: HttpSmdpClient) -> None:
    server.answer_next("downloadOrder", admin_protocol=None, executed=True)

    with pytest.raises(SmdpUnreachable) as unreachable:
        client.download_order(call_id=call_id(), profile_type="test-profile", eid=None)

    assert unreachable.value.reached is True
    assert "X-Admin-Protocol" in unreachable.value.detail


def test_an_answer_in_another_protocol_version_is_not_believed(server: Es2PlusServer, client: HttpSmdpClient) -> None:
    server.answer_next("downloadOrder", admin_protocol="gsma/rsp/v3.1.0", executed=True)

    with pytest.raises(SmdpUnreachable) as unreachable:
        client.download_order(call_id=call_id(), profile_type="test-profile", eid=None)

    assert unreachable.value.reached is True


def test_an_answer_that_is_not_json_is_not_believed(server: Es2PlusServer, client: HttpSmdpClient) -> None:
    server.answer_next("downloadOrder", body=b"<html>oops</html>", content_type="text/html")

    with pytest.raises(SmdpUnreachable) as unreachable:
        client.download_order(call_id=call_id(), profile_type="test-profile", eid=None)

    assert unreachable.value.reached is True
    assert "not JSON" in unreachable.value.detail


def test_an_answer_with_an_invalid_iccid_is_not_believed(server: Es2PlusServer, client: HttpSmdpClient) -> None:
    server.answer_next(
        "downloadOrder",
        body=b'{"header": {"functionExecutionStatus": {"status": "Executed-Success"}},'
        b' "iccid": "8988999000000000002F"}',
    )

    with pytest.raises(SmdpUnreachable) as unreachable:
        client.download_order(call_id=call_id(), profile_type="test-profile", eid=None)

    assert unreachable.value.reached is True
    assert "Luhn" in unreachable.value.detail


def test_a_refusal_at_the_door_means_nothing_ran(server: Es2PlusServer, client: HttpSmdpClient) -> None:
    server.answer_next("downloadOrder", http_status=403, body=b"", content_type="text/plain")

    with pytest.raises(SmdpUnreachable) as unreachable:
        client.download_order(call_id=call_id(), profile_type="test-profile", eid=None)

    assert unreachable.value.reached is False
    assert unreachable.value.http_status == 403


# --- Choosing the client -------------------------------------------------------------------------


def test_a_sandbox_connection_gets_the_sandbox_smdp_and_an_https_one_the_real_client(
    server: Es2PlusServer, pki: SmdpPki
) -> None:
    assert isinstance(smdp_client(connection_for("sandbox:", pki)), SandboxSmdp)
    real = smdp_client(connection_for(server, pki))
    assert isinstance(real, HttpSmdpClient)
    real.close()


def test_a_saved_connection_keeps_its_client_until_it_changes(server: Es2PlusServer, pki: SmdpPki) -> None:
    first_saved = datetime(2026, 12, 1, tzinfo=UTC)
    connection = connection_for(server, pki, id=9001, updated_at=first_saved)

    first = http_smdp_client(connection)
    assert http_smdp_client(connection) is first

    connection.updated_at = datetime(2026, 12, 2, tzinfo=UTC)
    second = http_smdp_client(connection)
    assert second is not first
    second.close()


# --- The SM-DP+ calling us -------------------------------------------------------------------------


def test_the_harness_notifies_in_the_form_our_codec_reads(server: Es2PlusServer, client: HttpSmdpClient) -> None:
    ordered = client.download_order(call_id=call_id(), profile_type="test-profile", eid=EID)
    client.confirm_order(call_id=call_id(), iccid_wire=ordered.iccid_wire, eid=EID)

    with http_receiver() as receiver:
        receiver.default = 204
        receiver.body = b""
        server.notify(receiver.url, ordered.iccid, 4)
        server.notify(
            receiver.url, ordered.iccid, 3, "Failed", code=Es2Status.BPP_EXECUTION_ERROR.data(), requester_id="other"
        )

    success, failure = (parse_download_progress(json.loads(request.body)) for request in receiver.requests)
    assert receiver.requests[0].headers["x-admin-protocol"] == "gsma/rsp/v2.5.0"
    # Written the way the SM-DP+ wrote the ICCID (F-padded), read back as bare digits.
    assert (success.iccid, success.iccid_wire) == (ordered.iccid, ordered.iccid_wire)
    assert (success.point, success.status, success.eid, success.requester_id) == (
        4,
        "Executed-Success",
        EID,
        "smdp-test",
    )
    assert (failure.point, failure.status, failure.requester_id) == (3, "Failed", "other")
    assert failure.code is not None and failure.code.code == "8.2.10/4.2"
    assert success.call_id != failure.call_id
