"""The sandbox SM-DP+: an `SmdpClient` that behaves like one, for sandbox mode and the demo.

It keeps its side in `SandboxProfile` (what a real SM-DP+ keeps), so every process sees the same
profiles. Like a real one it:

- hands out Luhn-valid ICCIDs starting 8901 (written F-padded, as SM-DP+s often do), from a pool
  without end for any profile type except ``sandbox-empty``, which answers Failed 8.2.5/3.7
  (no profile of this type left); a profile cancelled as Available is handed out again first;
- confirms with a Matching ID shaped like real ones and the address
  ``smdp.sandbox.simrenew.localhost``;
- gives the same answer to the same functionCallIdentifier (a retry never reserves twice);
- refuses, or fails later, for the test EIDs below;
- after a release reports the download through HandleDownloadProgressInfo: points 1, 3 and 4
  at 5, 10 and 20 seconds on the project clock (`due_download_reports`, run by the worker in
  sandbox mode and fed to the same service the HTTP endpoint calls).

Latency and faults come from SIMRENEW_SANDBOX_SMDP_LATENCY_MS / _FAULT_RATE. A fault is a call
that never reached the SM-DP+ (`SmdpUnreachable(reached=False)`), decided before anything changes.
"""

from __future__ import annotations

import random
import secrets
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from django.conf import settings
from django.db import IntegrityError, transaction
from stdnum import luhn
from stdnum.iso7064 import mod_97_10

from simrenew.esims.identifiers import canonical_iccid, iccid_wire_form
from simrenew.kit import clock
from simrenew.kit.errors import ValidationFailed
from simrenew.provisioning.es2plus import (
    EXECUTED_SUCCESS,
    FAILED,
    POINT_BPP_DOWNLOAD,
    POINT_BPP_INSTALLATION,
    POINT_ELIGIBILITY,
    Confirmed,
    DownloadProgressReport,
    Es2Function,
    Es2FunctionFailed,
    Es2Status,
    FinalProfileStatus,
    Ordered,
    SmdpUnreachable,
    StatusCodeData,
)
from simrenew.provisioning.models import SandboxProfile

if TYPE_CHECKING:
    from simrenew.provisioning.models import SmdpConnection

SMDP_ADDRESS: Final = "smdp.sandbox.simrenew.localhost"
EMPTY_PROFILE_TYPE: Final = "sandbox-empty"
# How the sandbox SM-DP+ names itself when it calls us, unless the connection says otherwise.
SANDBOX_SMDP_ID: Final = "sandbox-smdp"
# 89 (telecom) 01 (country code 1) 999 (no real issuer), then a 10-digit serial and the Luhn digit.
ICCID_PREFIX: Final = "8901999"


def _eid(body: str) -> str:
    return body + mod_97_10.calc_check_digits(body)


# Test EIDs (32 digits, valid ISO 7064 check digits, under the unassigned EUM prefix 89049032 000):
# ConfirmOrder with this one is refused: Failed 8.1.1/3.8 (EID refused).
REFUSED_EID: Final = _eid("890490320000000000000000000000")  # 89049032000000000000000000000066
# A download to this one fails at notification point 3: Failed 8.2.10/4.2 (BPP execution error).
DOWNLOAD_FAILS_EID: Final = _eid("890490320000000000000000000001")  # 89049032000000000000000000000163

# When each point is reported, counted from the release (ConfirmOrder with releaseFlag).
REPORT_SCHEDULE: Final = {
    POINT_ELIGIBILITY: timedelta(seconds=5),
    POINT_BPP_DOWNLOAD: timedelta(seconds=10),
    POINT_BPP_INSTALLATION: timedelta(seconds=20),
}
_NEXT_POINT: Final = {POINT_ELIGIBILITY: POINT_BPP_DOWNLOAD, POINT_BPP_DOWNLOAD: POINT_BPP_INSTALLATION}

# SandboxProfile.state values
AVAILABLE, ALLOCATED, RELEASED = "available", "allocated", "released"
DOWNLOADED, INSTALLED, FAILED_STATE, UNAVAILABLE = "downloaded", "installed", "failed", "unavailable"

_MATCHING_ID_ALPHABET: Final = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud safely


def matching_id() -> str:
    """A Matching ID shaped like an SM-DP+'s: five groups of five, e.g. ``K7QX2-M9RTA-...``."""
    groups = ("".join(secrets.choice(_MATCHING_ID_ALPHABET) for _ in range(5)) for _ in range(5))
    return "-".join(groups)


def new_iccid() -> str:
    body = ICCID_PREFIX + f"{secrets.randbelow(10**11):011d}"  # 18 digits
    return body + luhn.calc_check_digit(body)


def _failed(function: Es2Function, status: Es2Status, message: str, *, subject: str | None = None) -> dict[str, Any]:
    return {
        "status": FAILED,
        "function": str(function),
        "code": status.data(subject_identifier=subject, message=message).as_wire(),
    }


class SandboxSmdp:
    """`SmdpClient` over the sandbox ledger."""

    def __init__(
        self,
        connection: SmdpConnection | None = None,
        *,
        latency_ms: int | None = None,
        fault_rate: float | None = None,
    ) -> None:
        self.smdp_id = (connection.smdp_id if connection is not None else "") or SANDBOX_SMDP_ID
        self._latency_ms = latency_ms
        self._fault_rate = fault_rate

    # -- knobs ---------------------------------------------------------------------------------

    def _arrive(self, function: Es2Function) -> None:
        ms = settings.SIMRENEW_SANDBOX_SMDP_LATENCY_MS if self._latency_ms is None else self._latency_ms
        if ms:
            time.sleep(ms / 1000)
        rate = settings.SIMRENEW_SANDBOX_SMDP_FAULT_RATE if self._fault_rate is None else self._fault_rate
        if rate and random.random() < rate:
            raise SmdpUnreachable(function, reached=False, detail="sandbox fault (SIMRENEW_SANDBOX_SMDP_FAULT_RATE)")

    @staticmethod
    def _replay(call_id: str) -> dict[str, Any] | None:
        """The answer already given to this functionCallIdentifier, if any."""
        profile = SandboxProfile.objects.filter(answers__has_key=call_id).first()
        return profile.answers[call_id] if profile is not None else None

    @staticmethod
    def _raise_if_failed(answer: dict[str, Any]) -> None:
        if answer.get("status") == FAILED:
            raise Es2FunctionFailed(answer["function"], FAILED, StatusCodeData.from_wire(answer.get("code")))

    @staticmethod
    def _find(function: Es2Function, iccid_wire: str) -> SandboxProfile:
        try:
            iccid = canonical_iccid(iccid_wire)
        except ValidationFailed as refused:
            raise Es2FunctionFailed(
                function, FAILED, Es2Status.INVALID_ELEMENT.data(subject_identifier=iccid_wire, message=refused.detail)
            ) from None
        profile = SandboxProfile.objects.select_for_update().filter(iccid=iccid).first()
        if profile is None:
            raise Es2FunctionFailed(
                function, FAILED, Es2Status.ICCID_UNKNOWN.data(subject_identifier=iccid_wire, message="Unknown ICCID")
            )
        return profile

    @staticmethod
    def _remember(profile: SandboxProfile, call_id: str, answer: dict[str, Any]) -> None:
        profile.answers = {**profile.answers, call_id: answer}

    # -- DownloadOrder -------------------------------------------------------------------------

    def download_order(self, *, call_id: str, profile_type: str, eid: str | None) -> Ordered:
        function = Es2Function.DOWNLOAD_ORDER
        self._arrive(function)
        previous = self._replay(call_id)
        if previous is not None:
            self._raise_if_failed(previous)
            return Ordered(iccid=canonical_iccid(previous["iccid"]), iccid_wire=previous["iccid"])
        if profile_type == EMPTY_PROFILE_TYPE:
            raise Es2FunctionFailed(
                function,
                FAILED,
                Es2Status.PROFILE_TYPE_UNAVAILABLE.data(
                    subject_identifier=profile_type, message=f"No more profile available of type {profile_type}"
                ),
            )
        with transaction.atomic():
            profile = (
                SandboxProfile.objects.select_for_update()
                .filter(profile_type=profile_type, state=AVAILABLE)
                .order_by("id")
                .first()
            )
            if profile is None:
                profile = self._create(profile_type)
            wire = iccid_wire_form(profile.iccid)
            profile.state = ALLOCATED
            profile.eid = eid or ""
            profile.matching_id = ""
            self._remember(profile, call_id, {"function": str(function), "status": EXECUTED_SUCCESS, "iccid": wire})
            profile.save(update_fields=["state", "eid", "matching_id", "answers"])
        return Ordered(iccid=profile.iccid, iccid_wire=wire)

    @staticmethod
    def _create(profile_type: str) -> SandboxProfile:
        for _ in range(5):
            try:
                with transaction.atomic():
                    return SandboxProfile.objects.create(
                        iccid=new_iccid(), profile_type=profile_type, state=AVAILABLE, created_at=clock.now()
                    )
            except IntegrityError:  # the same random serial twice: draw again
                continue
        raise SmdpUnreachable(Es2Function.DOWNLOAD_ORDER, reached=False, detail="sandbox ICCID space exhausted")

    # -- ConfirmOrder --------------------------------------------------------------------------

    def confirm_order(self, *, call_id: str, iccid_wire: str, eid: str | None, release: bool = True) -> Confirmed:
        function = Es2Function.CONFIRM_ORDER
        self._arrive(function)
        previous = self._replay(call_id)
        if previous is not None:
            self._raise_if_failed(previous)
            return Confirmed(matching_id=previous["matchingId"], smdp_address=SMDP_ADDRESS, eid=previous.get("eid"))
        with transaction.atomic():
            profile = self._find(function, iccid_wire)
            refusal: dict[str, Any] | None = None
            if profile.state != ALLOCATED:
                refusal = _failed(
                    function, Es2Status.ICCID_INVALID_TRANSITION, f"The profile is {profile.state}", subject=iccid_wire
                )
            elif eid and profile.eid and eid != profile.eid:
                refusal = _failed(function, Es2Status.ICCID_OTHER_EID, "A different EID is linked", subject=iccid_wire)
            elif (eid or profile.eid) == REFUSED_EID:
                refusal = _failed(function, Es2Status.EID_REFUSED, "This test EID is refused", subject=REFUSED_EID)
            if refusal is not None:
                self._remember(profile, call_id, refusal)
                profile.save(update_fields=["answers"])
            else:
                profile.eid = eid or profile.eid
                profile.matching_id = matching_id()
                answer: dict[str, Any] = {
                    "function": str(function),
                    "status": EXECUTED_SUCCESS,
                    "matchingId": profile.matching_id,
                    "eid": profile.eid or None,
                    "smdp": self.smdp_id,
                }
                self._remember(profile, call_id, answer)
                if release:
                    profile.state = RELEASED
                    profile.next_point = POINT_ELIGIBILITY
                    profile.next_point_at = clock.now() + REPORT_SCHEDULE[POINT_ELIGIBILITY]
                profile.save(update_fields=["state", "eid", "matching_id", "answers", "next_point", "next_point_at"])
        if refusal is not None:
            self._raise_if_failed(refusal)
        return Confirmed(matching_id=profile.matching_id, smdp_address=SMDP_ADDRESS, eid=profile.eid or None)

    # -- CancelOrder ---------------------------------------------------------------------------

    def cancel_order(
        self,
        *,
        call_id: str,
        iccid_wire: str,
        eid: str | None,
        matching_id: str | None,
        final_status: FinalProfileStatus,
    ) -> None:
        function = Es2Function.CANCEL_ORDER
        self._arrive(function)
        previous = self._replay(call_id)
        if previous is not None:
            self._raise_if_failed(previous)
            return
        with transaction.atomic():
            profile = self._find(function, iccid_wire)
            if profile.state in (DOWNLOADED, INSTALLED):
                refusal = _failed(
                    function,
                    Es2Status.ICCID_INVALID_TRANSITION,
                    f"The profile is already {profile.state}",
                    subject=iccid_wire,
                )
                self._remember(profile, call_id, refusal)
                profile.save(update_fields=["answers"])
            else:
                refusal = None
                self._remember(profile, call_id, {"function": str(function), "status": EXECUTED_SUCCESS})
                profile.state = AVAILABLE if final_status == "Available" else UNAVAILABLE
                profile.eid = ""
                profile.matching_id = ""
                profile.next_point = 0
                profile.next_point_at = None
                profile.save(update_fields=["state", "eid", "matching_id", "answers", "next_point", "next_point_at"])
        if refusal is not None:
            self._raise_if_failed(refusal)


# --- HandleDownloadProgressInfo, the sandbox SM-DP+'s side -------------------------------------


def _requester(profile: SandboxProfile) -> str:
    for answer in reversed(list(profile.answers.values())):
        if isinstance(answer, dict) and answer.get("smdp"):
            return str(answer["smdp"])
    return SANDBOX_SMDP_ID


def _report(profile: SandboxProfile, point: int, at: datetime) -> DownloadProgressReport:
    failed = point == POINT_BPP_DOWNLOAD and profile.eid == DOWNLOAD_FAILS_EID
    wire = iccid_wire_form(profile.iccid)
    return DownloadProgressReport(
        requester_id=_requester(profile),
        # One id per profile, release and point: a report given twice is the same call.
        call_id=f"sandbox-{profile.iccid}-{profile.matching_id}-{point}",
        iccid=profile.iccid,
        iccid_wire=wire,
        eid=profile.eid or None,
        profile_type=profile.profile_type,
        timestamp=at,
        point=point,
        status=FAILED if failed else EXECUTED_SUCCESS,
        code=(
            Es2Status.BPP_EXECUTION_ERROR.data(subject_identifier=wire, message="The eUICC could not load the profile")
            if failed
            else None
        ),
    )


def due_download_reports(now: datetime | None = None, *, limit: int = 500) -> list[DownloadProgressReport]:
    """The notifications the sandbox SM-DP+ sends by `now` (project clock): points 1, 3, 4 at
    +5/+10/+20 s after a release; the DOWNLOAD_FAILS_EID download fails at point 3. Each report is
    handed out once (a conditional update claims it), in time order per profile."""
    now = now or clock.now()
    reports: list[DownloadProgressReport] = []
    due = list(
        SandboxProfile.objects.filter(next_point__gt=0, next_point_at__lte=now).order_by("next_point_at", "id")[:limit]
    )
    for profile in due:
        released_at = profile.next_point_at - REPORT_SCHEDULE[profile.next_point] if profile.next_point_at else now
        point = profile.next_point
        batch: list[DownloadProgressReport] = []
        state = profile.state
        while point and released_at + REPORT_SCHEDULE[point] <= now:
            report = _report(profile, point, released_at + REPORT_SCHEDULE[point])
            batch.append(report)
            if not report.succeeded:
                state, point = FAILED_STATE, 0
            else:
                state = {POINT_ELIGIBILITY: state, POINT_BPP_DOWNLOAD: DOWNLOADED, POINT_BPP_INSTALLATION: INSTALLED}[
                    point
                ]
                point = _NEXT_POINT.get(point, 0)
        next_at = released_at + REPORT_SCHEDULE[point] if point else None
        claimed = SandboxProfile.objects.filter(
            pk=profile.pk, next_point=profile.next_point, next_point_at=profile.next_point_at
        ).update(next_point=point, next_point_at=next_at, state=state)
        if claimed:
            reports.extend(batch)
    return reports
