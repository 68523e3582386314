"""Every line change becomes a TMF641 v4.1.0 `ServiceOrder_Create` the standard accepts, in the
words issue 16 asks for, and the port-out secrets never reach a log or a stored copy."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simrenew.provisioning.tmf641 import (
    LineChangeOrder,
    PortIn,
    characteristics_of,
    order_body,
    redacted,
    with_port_secrets,
)
from tests.provisioning.tmf_server import SPECS, schema_errors

ICCID = "8901260882310000017"
SHARED_SPECS = Path(__file__).resolve().parents[2].parent / "shared" / "specs"


def _item(body):
    (item,) = body["serviceOrderItem"]
    return item


def test_a_plan_starting_on_a_new_line_is_an_add_to_active_with_the_plan():
    body = order_body(
        LineChangeOrder(
            external_id="simrenew-7-1",
            action="add",
            target_state="active",
            iccid=ICCID,
            msisdn="+12015550123",
            plan_code="att-month-10gb",
        )
    )

    assert body["externalId"] == "simrenew-7-1"
    assert body["category"] == "mobileLine"
    assert _item(body) == {
        "id": "1",
        "action": "add",
        "service": {
            "state": "active",
            "serviceCharacteristic": [
                {"name": "iccid", "valueType": "string", "value": ICCID},
                {"name": "msisdn", "valueType": "string", "value": "+12015550123"},
                {"name": "plan", "valueType": "string", "value": "att-month-10gb"},
            ],
        },
    }
    assert "requestedStartDate" not in body
    assert schema_errors(body, "ServiceOrder_Create") == []


@pytest.mark.parametrize(
    ("target_state", "plan_code", "words"),
    [
        ("inactive", None, "Suspend the line"),
        ("active", None, "Restore the line"),
        ("active", "att-month-20gb", "Restore the line on plan att-month-20gb"),
        (None, "att-year-100gb", "Change the line's plan to att-year-100gb"),
    ],
)
def test_suspend_restore_and_plan_change_modify_the_known_service(target_state, plan_code, words):
    body = order_body(
        LineChangeOrder(
            external_id="simrenew-7-2",
            action="modify",
            target_state=target_state,
            iccid=ICCID,
            msisdn="+12015550123",
            plan_code=plan_code,
            service_id="svc-42",
        )
    )

    service = _item(body)["service"]
    assert _item(body)["action"] == "modify"
    assert service["id"] == "svc-42"
    assert service.get("state") == target_state
    assert characteristics_of(body).get("plan") == plan_code
    assert body["description"].startswith(words)
    assert schema_errors(body, "ServiceOrder_Create") == []


def test_termination_deletes_the_service_and_names_no_state():
    body = order_body(
        LineChangeOrder(
            external_id="simrenew-7-9", action="delete", iccid=ICCID, msisdn="+12015550123", service_id="svc-42"
        )
    )

    assert _item(body)["action"] == "delete"
    assert "state" not in _item(body)["service"]
    assert schema_errors(body, "ServiceOrder_Create") == []


def test_a_plan_change_at_the_boundary_asks_to_start_then_in_utc():
    boundary = datetime(2026, 3, 1, 0, 0, 30, 123456, tzinfo=timezone(timedelta(hours=-8)))
    body = order_body(
        LineChangeOrder(
            external_id="simrenew-7-3",
            action="modify",
            iccid=ICCID,
            plan_code="att-month-20gb",
            service_id="svc-42",
            requested_start=boundary,
        )
    )

    assert body["requestedStartDate"] == "2026-03-01T08:00:30Z"


def test_a_port_in_carries_the_three_port_characteristics_and_redaction_hides_the_secrets():
    port = PortIn(msisdn="+12015550199", account="ACCT-778812", pin="4321")
    body = order_body(
        LineChangeOrder(external_id="simrenew-8-1", action="add", target_state="active", iccid=ICCID, port=port)
    )

    sent = characteristics_of(body)
    assert (sent["portInMsisdn"], sent["portInAccount"], sent["portInPin"]) == ("+12015550199", "ACCT-778812", "4321")
    assert "msisdn" not in sent  # the carrier gives the line its (ported) number

    stored = redacted(body)
    kept = characteristics_of(stored)
    assert kept["portInPin"] == kept["portInAccount"] == "[redacted]"
    assert kept["portInMsisdn"] == "+12015550199"
    assert "4321" not in json.dumps(stored) and "ACCT-778812" not in json.dumps(stored)
    assert characteristics_of(body)["portInPin"] == "4321"  # the body to send is untouched
    assert with_port_secrets(stored, port) == body  # and comes back whole at send time


@pytest.mark.parametrize(
    "mistake",
    [
        {"action": "add", "target_state": "suspended"},
        {"action": "delete", "target_state": "inactive"},
        {"action": "modify", "port": PortIn(msisdn="+12015550199", account="A", pin="1234")},
        {"action": "add", "requested_start": datetime(2026, 3, 1)},  # naive: the mistake under test
        {"action": "noChange"},
        {"action": "add", "external_id": ""},
    ],
)
def test_a_change_the_network_cannot_read_is_refused_before_any_body_exists(mistake):
    fields = {"external_id": "simrenew-1-1", "iccid": ICCID, **mistake}

    with pytest.raises(ValueError):
        LineChangeOrder(**fields)


def test_the_strict_schema_catches_a_misspelt_field_the_published_one_lets_through():
    body = order_body(LineChangeOrder(external_id="simrenew-7-1", action="add", target_state="active", iccid=ICCID))
    service = _item(body)["service"]
    service["serviceCharacteristics"] = service.pop("serviceCharacteristic")

    errors = schema_errors(body, "ServiceOrder_Create")

    assert errors
    assert all("(strict)" in error for error in errors)


def test_the_published_schema_catches_an_unknown_action_and_a_bad_date():
    body = order_body(LineChangeOrder(external_id="simrenew-7-1", action="add", target_state="active", iccid=ICCID))
    _item(body)["action"] = "suspend"
    body["requestedStartDate"] = "next tuesday"

    published = [error for error in schema_errors(body, "ServiceOrder_Create") if "(published)" in error]

    assert any("serviceOrderItem/0/action" in error for error in published)
    assert any("requestedStartDate" in error for error in published)


numbers = st.from_regex(r"\+1[2-9][0-9]{2}555[0-9]{4}", fullmatch=True)
plans = st.from_regex(r"[a-z]{2,8}-(day|month|year)-[0-9]{1,3}gb", fullmatch=True)
offsets = st.integers(-12 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
starts = st.datetimes(min_value=datetime(2020, 1, 2), max_value=datetime(2099, 12, 31), timezones=offsets)
ports = st.builds(
    PortIn,
    msisdn=numbers,
    account=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FFF), min_size=1, max_size=40),
    pin=st.from_regex(r"[0-9]{4,10}", fullmatch=True),
)


@st.composite
def line_changes(draw: st.DrawFn) -> LineChangeOrder:
    action = draw(st.sampled_from(["add", "modify", "delete"]))
    target_state = None if action == "delete" else draw(st.sampled_from(["active", "inactive", None]))
    return LineChangeOrder(
        external_id=f"simrenew-{draw(st.integers(1, 10**9))}-{draw(st.integers(1, 10**4))}",
        action=action,
        target_state=target_state,
        iccid=draw(st.from_regex(r"89[0-9]{17,18}", fullmatch=True)),
        msisdn=draw(st.none() | numbers),
        plan_code=draw(st.none() | plans),
        service_id=None if action == "add" else draw(st.none() | st.from_regex(r"svc-[0-9a-f]{6}", fullmatch=True)),
        requested_start=draw(st.none() | starts),
        port=draw(st.none() | ports) if action == "add" else None,
    )


@given(line_changes())
def test_every_line_change_is_a_valid_service_order_and_keeps_its_secrets_out_of_the_stored_copy(change):
    body = order_body(change)

    assert schema_errors(body, "ServiceOrder_Create") == []
    assert schema_errors(redacted(body), "ServiceOrder_Create") == []
    sent = characteristics_of(body)
    assert sent["iccid"] == change.iccid
    assert sent.get("msisdn") == change.msisdn
    assert sent.get("plan") == change.plan_code
    assert ("portInPin" in sent) == (change.port is not None)
    if change.port is not None:
        stored = json.dumps(redacted(body))
        assert json.dumps(change.port.pin) not in stored
        assert characteristics_of(redacted(body))["portInPin"] == "[redacted]"
    else:
        assert redacted(body) == body
    assert len(body["serviceOrderItem"]) == 1


def test_the_copied_tmf641_file_is_the_published_one():
    """tests/provisioning/specs holds a copy of ../shared/specs (plan H12): it must not drift."""
    if not SHARED_SPECS.is_dir():
        pytest.skip("../shared/specs is not beside this checkout")
    for name in ("TMF641-ServiceOrdering-v4.1.0.swagger.json", "LICENSE-tmforum-specs.txt"):
        assert (SPECS / name).read_bytes() == (SHARED_SPECS / name).read_bytes(), name
