"""The sandbox SM-DP+ behaves like one: profiles with real-looking identifiers, the same answer to
the same call, refusals with SGP.22 codes, and download reports on the project clock."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from pytest_django.fixtures import Settings
from stdnum import luhn

from simrenew.esims.identifiers import parse_activation_code, validate_eid
from simrenew.provisioning.es2plus import (
    Es2FunctionFailed,
    SmdpUnreachable,
    smdp_client,
)
from simrenew.provisioning.models import SandboxProfile, SmdpConnection
from simrenew.provisioning.sandbox_smdp import (
    DOWNLOAD_FAILS_EID,
    REFUSED_EID,
    SMDP_ADDRESS,
    SandboxSmdp,
    due_download_reports,
)
from tests.conftest import TestClock

pytestmark = pytest.mark.django_db

EID = "89049032123451234512345678901235"


def sandbox(**knobs: float) -> SandboxSmdp:
    connection = SmdpConnection(base_url="sandbox:", requester_id="simrenew", smdp_id="sandbox-att", profile_type="x")
    client = smdp_client(connection)
    assert isinstance(client, SandboxSmdp)
    if knobs:
        return SandboxSmdp(connection, **knobs)  # type: ignore[arg-type]
    return client


def released(smdp: SandboxSmdp, *, eid: str | None = None, profile_type: str = "sandbox-1gb") -> tuple[str, str]:
    ordered = smdp.download_order(call_id=f"d-{eid}-{profile_type}", profile_type=profile_type, eid=eid)
    confirmed = smdp.confirm_order(call_id=f"c-{eid}-{profile_type}", iccid_wire=ordered.iccid_wire, eid=eid)
    return ordered.iccid, confirmed.matching_id


def test_the_test_eids_are_real_looking_eids() -> None:
    assert validate_eid(REFUSED_EID) == REFUSED_EID == "89049032000000000000000000000066"
    assert validate_eid(DOWNLOAD_FAILS_EID) == DOWNLOAD_FAILS_EID == "89049032000000000000000000000163"


def test_an_order_gives_an_iccid_and_an_activation_code_like_a_real_smdp(clock: TestClock) -> None:
    smdp = sandbox()

    ordered = smdp.download_order(call_id="d1", profile_type="sandbox-1gb", eid=None)
    confirmed = smdp.confirm_order(call_id="c1", iccid_wire=ordered.iccid_wire, eid=None)

    assert ordered.iccid.startswith("8901") and len(ordered.iccid) == 19 and luhn.is_valid(ordered.iccid)
    assert ordered.iccid_wire == ordered.iccid + "F"
    assert re.fullmatch(r"[A-Z0-9]{5}(-[A-Z0-9]{5}){4}", confirmed.matching_id)
    assert confirmed.smdp_address == SMDP_ADDRESS
    code = parse_activation_code(f"1${confirmed.smdp_address}${confirmed.matching_id}")
    assert code.matching_id == confirmed.matching_id
    profile = SandboxProfile.objects.get(iccid=ordered.iccid)
    assert (profile.state, profile.profile_type, profile.matching_id) == ("released", "sandbox-1gb", code.matching_id)


def test_the_same_call_gets_the_same_answer(clock: TestClock) -> None:
    smdp = sandbox()

    first = smdp.download_order(call_id="d1", profile_type="sandbox-1gb", eid=None)
    again = smdp.download_order(call_id="d1", profile_type="sandbox-1gb", eid=None)
    confirmed = smdp.confirm_order(call_id="c1", iccid_wire=first.iccid_wire, eid=None)
    confirmed_again = smdp.confirm_order(call_id="c1", iccid_wire=first.iccid_wire, eid=None)

    assert again == first and confirmed_again == confirmed
    assert SandboxProfile.objects.count() == 1


def test_another_call_gets_another_profile(clock: TestClock) -> None:
    smdp = sandbox()

    one = smdp.download_order(call_id="d1", profile_type="sandbox-1gb", eid=None)
    two = smdp.download_order(call_id="d2", profile_type="sandbox-1gb", eid=None)

    assert one.iccid != two.iccid


def test_the_empty_profile_type_has_no_profile_left(clock: TestClock) -> None:
    with pytest.raises(Es2FunctionFailed) as failed:
        sandbox().download_order(call_id="d1", profile_type="sandbox-empty", eid=None)

    assert failed.value.function == "downloadOrder"
    assert failed.value.code is not None and failed.value.code.code == "8.2.5/3.7"
    assert not SandboxProfile.objects.exists()


def test_the_refused_eid_fails_confirm_order_and_the_profile_can_be_given_back(clock: TestClock) -> None:
    smdp = sandbox()
    ordered = smdp.download_order(call_id="d1", profile_type="sandbox-1gb", eid=REFUSED_EID)

    with pytest.raises(Es2FunctionFailed) as failed:
        smdp.confirm_order(call_id="c1", iccid_wire=ordered.iccid_wire, eid=REFUSED_EID)
    with pytest.raises(Es2FunctionFailed) as failed_again:
        smdp.confirm_order(call_id="c1", iccid_wire=ordered.iccid_wire, eid=REFUSED_EID)

    assert failed.value.code is not None and failed.value.code.code == "8.1.1/3.8"
    assert failed_again.value.code == failed.value.code
    smdp.cancel_order(
        call_id="x1", iccid_wire=ordered.iccid_wire, eid=REFUSED_EID, matching_id=None, final_status="Available"
    )
    # Given back as Available, it is the next one handed out.
    assert smdp.download_order(call_id="d2", profile_type="sandbox-1gb", eid=None).iccid == ordered.iccid


def test_a_profile_cancelled_as_unavailable_is_never_handed_out_again(clock: TestClock) -> None:
    smdp = sandbox()
    ordered = smdp.download_order(call_id="d1", profile_type="sandbox-1gb", eid=None)

    smdp.cancel_order(
        call_id="x1", iccid_wire=ordered.iccid_wire, eid=None, matching_id=None, final_status="Unavailable"
    )

    assert SandboxProfile.objects.get(iccid=ordered.iccid).state == "unavailable"
    assert smdp.download_order(call_id="d2", profile_type="sandbox-1gb", eid=None).iccid != ordered.iccid


def test_an_unknown_iccid_is_failed_8_2_1_3_9(clock: TestClock) -> None:
    with pytest.raises(Es2FunctionFailed) as failed:
        sandbox().confirm_order(call_id="c1", iccid_wire="8901999000000000004F", eid=None)

    assert failed.value.code is not None and failed.value.code.code == "8.2.1/3.9"


def test_a_malformed_iccid_is_failed_as_invalid_input(clock: TestClock) -> None:
    with pytest.raises(Es2FunctionFailed) as failed:
        sandbox().confirm_order(call_id="c1", iccid_wire="8901999000000000006F", eid=None)

    assert failed.value.code is not None and failed.value.code.code == "1.6/2.1"
    assert "Luhn" in (failed.value.code.message or "")


def test_an_installed_profile_cannot_be_cancelled(clock: TestClock) -> None:
    smdp = sandbox()
    iccid, _ = released(smdp)
    clock.advance(seconds=20)
    due_download_reports(clock.now())

    with pytest.raises(Es2FunctionFailed) as failed:
        smdp.cancel_order(call_id="x1", iccid_wire=iccid + "F", eid=None, matching_id=None, final_status="Available")

    assert failed.value.code is not None and failed.value.code.code == "8.2.1/3.5"


# --- Download reports ------------------------------------------------------------------------


def test_after_a_release_points_1_3_and_4_are_reported_at_5_10_and_20_seconds(clock: TestClock) -> None:
    smdp = sandbox()
    release_time = clock.now()
    iccid, matching_id = released(smdp, eid=EID)

    clock.advance(seconds=4)
    assert due_download_reports(clock.now()) == []
    clock.advance(seconds=1)
    (point_1,) = due_download_reports(clock.now())
    clock.advance(seconds=5)
    (point_3,) = due_download_reports(clock.now())
    clock.advance(seconds=9)
    assert due_download_reports(clock.now()) == []
    clock.advance(seconds=1)
    (point_4,) = due_download_reports(clock.now())
    clock.advance(minutes=5)
    assert due_download_reports(clock.now()) == []

    assert [report.point for report in (point_1, point_3, point_4)] == [1, 3, 4]
    assert [report.timestamp - release_time for report in (point_1, point_3, point_4)] == [
        timedelta(seconds=5),
        timedelta(seconds=10),
        timedelta(seconds=20),
    ]
    assert all(report.status == "Executed-Success" and report.code is None for report in (point_1, point_3, point_4))
    assert point_4.iccid == iccid and point_4.iccid_wire == iccid + "F"
    assert point_4.eid == EID and point_4.profile_type == "sandbox-1gb"
    # The SM-DP+ names itself as the connection knows it, so the endpoint's requester check holds.
    assert point_4.requester_id == "sandbox-att"
    assert len({report.call_id for report in (point_1, point_3, point_4)}) == 3
    assert matching_id in point_4.call_id
    assert SandboxProfile.objects.get(iccid=iccid).state == "installed"


def test_a_late_worker_gets_every_point_due_at_once_in_order(clock: TestClock) -> None:
    smdp = sandbox()
    released(smdp)

    clock.advance(minutes=1)
    reports = due_download_reports(clock.now())

    assert [report.point for report in reports] == [1, 3, 4]
    assert due_download_reports(clock.now()) == []


def test_the_download_fails_eid_fails_at_point_3_and_goes_no_further(clock: TestClock) -> None:
    smdp = sandbox()
    iccid, _ = released(smdp, eid=DOWNLOAD_FAILS_EID)

    clock.advance(minutes=1)
    reports = due_download_reports(clock.now())

    assert [(report.point, report.status) for report in reports] == [(1, "Executed-Success"), (3, "Failed")]
    assert reports[-1].code is not None and reports[-1].code.code == "8.2.10/4.2"
    assert SandboxProfile.objects.get(iccid=iccid).state == "failed"


def test_nothing_is_reported_for_a_profile_confirmed_without_release(clock: TestClock) -> None:
    smdp = sandbox()
    ordered = smdp.download_order(call_id="d1", profile_type="sandbox-1gb", eid=None)
    smdp.confirm_order(call_id="c1", iccid_wire=ordered.iccid_wire, eid=None, release=False)

    clock.advance(minutes=1)

    assert due_download_reports(clock.now()) == []


def test_a_cancelled_release_stops_its_reports(clock: TestClock) -> None:
    smdp = sandbox()
    iccid, matching_id = released(smdp)

    smdp.cancel_order(call_id="x1", iccid_wire=iccid + "F", eid=None, matching_id=matching_id, final_status="Available")
    clock.advance(minutes=1)

    assert due_download_reports(clock.now()) == []


# --- Knobs ----------------------------------------------------------------------------------------


def test_a_fault_never_reaches_the_smdp_and_changes_nothing(clock: TestClock) -> None:
    with pytest.raises(SmdpUnreachable) as unreachable:
        sandbox(fault_rate=1.0).download_order(call_id="d1", profile_type="sandbox-1gb", eid=None)

    assert unreachable.value.reached is False
    assert not SandboxProfile.objects.exists()


def test_the_fault_rate_and_latency_come_from_settings(
    clock: TestClock, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []
    monkeypatch.setattr("simrenew.provisioning.sandbox_smdp.time.sleep", waits.append)
    settings.SIMRENEW_SANDBOX_SMDP_LATENCY_MS = 250
    settings.SIMRENEW_SANDBOX_SMDP_FAULT_RATE = 1.0

    with pytest.raises(SmdpUnreachable):
        sandbox().download_order(call_id="d1", profile_type="sandbox-1gb", eid=None)

    assert waits == [0.25]
