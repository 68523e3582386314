"""Reading an SM-DP+'s HandleDownloadProgressInfo and writing our ES2+ Failed answer: what the
inbound endpoint and the sandbox's reports share."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from simrenew.provisioning.es2plus import (
    Es2Refusal,
    Es2Status,
    StatusCodeData,
    failed_response_body,
    parse_download_progress,
)
from tests.provisioning.es2plus_schemas import request_errors

EID = "89049032123451234512345678901235"


def progress_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "header": {"functionRequesterIdentifier": "smdp-test", "functionCallIdentifier": "call-77"},
        "eid": EID,
        "iccid": "8949440000001155314F",
        "profileType": "test-profile",
        "timestamp": "2026-12-05T12:00:05Z",
        "notificationPointId": 4,
        "notificationPointStatus": {"status": "Executed-Success"},
    }
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def test_a_good_report_is_read_into_a_typed_record() -> None:
    body = progress_body()
    assert request_errors("handleDownloadProgressInfo", body) == []  # the test's body is itself valid ES2+

    report = parse_download_progress(body)

    assert report.requester_id == "smdp-test"
    assert report.call_id == "call-77"
    assert report.iccid == "8949440000001155314"
    assert report.iccid_wire == "8949440000001155314F"
    assert report.eid == EID
    assert report.profile_type == "test-profile"
    assert report.timestamp == datetime(2026, 12, 5, 12, 0, 5, tzinfo=UTC)
    assert report.point == 4
    assert report.status == "Executed-Success"
    assert report.code is None
    assert report.succeeded


def test_a_failed_point_carries_its_status_code_data() -> None:
    report = parse_download_progress(
        progress_body(
            notificationPointId=3,
            notificationPointStatus={
                "status": "Failed",
                "statusCodeData": {"subjectCode": "8.2.10", "reasonCode": "4.2", "message": "load failed"},
            },
        )
    )

    assert not report.succeeded
    assert report.code == StatusCodeData("8.2.10", "4.2", None, "load failed")
    assert report.code.describe() == "8.2.10/4.2 load failed"


def test_the_eid_is_optional_and_a_timestamp_with_an_offset_is_kept_aware() -> None:
    report = parse_download_progress(progress_body(eid=None, timestamp="2026-12-05T20:00:05+08:00"))

    assert report.eid is None
    assert report.timestamp == datetime(2026, 12, 5, 20, 0, 5, tzinfo=timezone(timedelta(hours=8)))
    assert report.timestamp == datetime(2026, 12, 5, 12, 0, 5, tzinfo=UTC)


def test_unknown_extra_members_are_ignored() -> None:
    report = parse_download_progress(progress_body(resultData="MAo=", futureMember={"x": 1}))
    assert report.point == 4


def _without(path: str) -> dict[str, Any]:
    body = progress_body()
    *parents, last = path.split(".")
    target = body
    for parent in parents:
        target = target[parent]
    del target[last]
    return body


@pytest.mark.parametrize(
    "path",
    [
        "header",
        "header.functionRequesterIdentifier",
        "header.functionCallIdentifier",
        "iccid",
        "profileType",
        "timestamp",
        "notificationPointId",
        "notificationPointStatus",
        "notificationPointStatus.status",
    ],
)
def test_a_missing_mandatory_element_is_refused_as_missing_naming_it(path: str) -> None:
    with pytest.raises(Es2Refusal) as refused:
        parse_download_progress(_without(path))

    assert refused.value.code.code == Es2Status.MANDATORY_ELEMENT_MISSING.code == "1.6/2.2"
    assert refused.value.code.message == f"{path} is missing"


@pytest.mark.parametrize(
    ("changes", "named", "why"),
    [
        pytest.param({"iccid": "8949440000001155315F"}, "iccid", "Luhn", id="iccid-check-digit"),
        pytest.param({"iccid": "89494400000011553"}, "iccid", "19 or 20 digits", id="iccid-short"),
        pytest.param({"iccid": 8949440000001155314}, "iccid", "not a string", id="iccid-number"),
        pytest.param({"eid": "89049032123451234512345678901234"}, "eid", "check digits", id="eid-check"),
        pytest.param({"timestamp": "yesterday"}, "timestamp", "W3C date-time", id="timestamp-words"),
        pytest.param({"timestamp": "2026-12-05T12:00:05"}, "timestamp", "time zone", id="timestamp-naive"),
        pytest.param({"notificationPointId": "4"}, "notificationPointId", "whole number", id="point-string"),
        pytest.param({"notificationPointId": True}, "notificationPointId", "whole number", id="point-bool"),
        pytest.param({"notificationPointId": -1}, "notificationPointId", "whole number", id="point-negative"),
        pytest.param(
            {"notificationPointStatus": {"status": "Done"}}, "notificationPointStatus.status", "not one of", id="status"
        ),
        pytest.param(
            {"notificationPointStatus": {"status": "Failed", "statusCodeData": {"subjectCode": "8.2.10"}}},
            "notificationPointStatus.statusCodeData",
            "reasonCode",
            id="code-half",
        ),
        pytest.param({"notificationPointStatus": "Failed"}, "notificationPointStatus", "object", id="status-text"),
        pytest.param({"header": ["smdp"]}, "header", "object", id="header-list"),
        pytest.param({"profileType": 7}, "profileType", "not a string", id="profile-type-number"),
    ],
)
def test_a_malformed_element_is_refused_as_invalid_naming_it(changes: dict[str, Any], named: str, why: str) -> None:
    with pytest.raises(Es2Refusal) as refused:
        parse_download_progress(progress_body(**changes))

    assert refused.value.code.code == Es2Status.INVALID_ELEMENT.code == "1.6/2.1"
    message = refused.value.code.message or ""
    assert message.startswith(f"{named} is invalid")
    assert why in message


def test_a_body_that_is_not_an_object_is_refused() -> None:
    bodies: list[object] = [None, [], "x", 3]
    for body in bodies:
        with pytest.raises(Es2Refusal) as refused:
            parse_download_progress(body)
        assert refused.value.code.code == "1.6/2.1"


def test_parsing_never_changes_the_body() -> None:
    body = progress_body()
    before = copy.deepcopy(body)
    parse_download_progress(body)
    assert body == before


def test_the_failed_answer_carries_the_status_code_data() -> None:
    code = Es2Status.ICCID_UNKNOWN.data(subject_identifier="8949440000001155314F", message="Unknown ICCID")

    assert failed_response_body(code) == {
        "header": {
            "functionExecutionStatus": {
                "status": "Failed",
                "statusCodeData": {
                    "subjectCode": "8.2.1",
                    "reasonCode": "3.9",
                    "subjectIdentifier": "8949440000001155314F",
                    "message": "Unknown ICCID",
                },
            }
        }
    }


def test_the_catalogue_names_each_code_once_and_finds_it_back() -> None:
    codes = [status.code for status in Es2Status]
    assert len(codes) == len(set(codes))
    assert Es2Status.lookup("8.2.5", "3.7") is Es2Status.PROFILE_TYPE_UNAVAILABLE
    assert Es2Status.lookup("9.9", "9.9") is None
    assert (
        StatusCodeData("8.2.5", "3.7").describe() == "8.2.5/3.7 Profile Type unavailable: no profile of this type left"
    )
    # The wrong requester and the unknown ICCID the endpoint answers with (plan §e).
    assert Es2Status.ICCID_UNKNOWN.code == "8.2.1/3.9"
    assert Es2Status.ICCID_NOT_ALLOWED.code == "8.2.1/1.2"
