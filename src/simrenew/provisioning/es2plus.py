"""ES2+ (GSMA SGP.22 v2.5 §5.3 and §6.5): the typed border to an SM-DP+.

The domain asks for a profile through `SmdpClient` and gets neutral results back (`Ordered`,
`Confirmed`); the SGP.22 words (functionExecutionStatus, statusCodeData, F-padded ICCIDs) stop
here and in the two implementations beside it: `es2plus_http.HttpSmdpClient` (HTTPS with mutual
TLS) and `sandbox_smdp.SandboxSmdp` (the twin sandbox mode and the demo use). `smdp_client()`
picks one from the carrier's `SmdpConnection`.

This module also reads what an SM-DP+ sends us (HandleDownloadProgressInfo,
`parse_download_progress`) and writes the ES2+ `Failed` answer (`failed_response_body`), so the
inbound endpoint and the sandbox's reports share one codec.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

from simrenew.esims.identifiers import canonical_iccid, validate_eid
from simrenew.kit.errors import ValidationFailed

if TYPE_CHECKING:
    from simrenew.provisioning.models import SmdpConnection

# Sent on every request and answer; an SM-DP+'s answer must name some v2.x (§6.5.1).
X_ADMIN_PROTOCOL: Final = "gsma/rsp/v2.5.0"
X_ADMIN_PROTOCOL_FAMILY: Final = "gsma/rsp/v2."
JSON_CONTENT_TYPE: Final = "application/json"
# A connection whose base URL starts with this talks to `SandboxSmdp` (sandbox mode only).
SANDBOX_SCHEME: Final = "sandbox:"

EXECUTED_SUCCESS: Final = "Executed-Success"
EXECUTED_WITH_WARNING: Final = "Executed-WithWarning"
FAILED: Final = "Failed"
EXPIRED: Final = "Expired"
SUCCESS_STATUSES: Final = frozenset({EXECUTED_SUCCESS, EXECUTED_WITH_WARNING})
EXECUTION_STATUSES: Final = frozenset({EXECUTED_SUCCESS, EXECUTED_WITH_WARNING, FAILED, EXPIRED})

FinalProfileStatus = Literal["Available", "Unavailable"]


class Es2Function(enum.StrEnum):
    """The ES2+ functions by their SGP.22 names; the path is the name under /gsma/rsp2/es2plus/."""

    DOWNLOAD_ORDER = "downloadOrder"
    CONFIRM_ORDER = "confirmOrder"
    CANCEL_ORDER = "cancelOrder"
    RELEASE_PROFILE = "releaseProfile"
    HANDLE_DOWNLOAD_PROGRESS_INFO = "handleDownloadProgressInfo"

    @property
    def path(self) -> str:
        return f"/gsma/rsp2/es2plus/{self.value}"


# The notification points of HandleDownloadProgressInfo (SGP.22 §5.3.5; ostelco's SimInventory
# callback names the same four). Later points report profile operations we only record.
POINT_ELIGIBILITY: Final = 1
POINT_CONFIRMATION_FAILURE: Final = 2
POINT_BPP_DOWNLOAD: Final = 3
POINT_BPP_INSTALLATION: Final = 4


@dataclass(frozen=True, slots=True)
class StatusCodeData:
    """Why a function did not simply succeed: SGP.22's subject code (what) and reason code (why)."""

    subject_code: str
    reason_code: str
    subject_identifier: str | None = None
    message: str | None = None

    @property
    def code(self) -> str:
        """Both codes as one short string, e.g. ``8.2.5/3.7``."""
        return f"{self.subject_code}/{self.reason_code}"

    def as_wire(self) -> dict[str, str]:
        data = {"subjectCode": self.subject_code, "reasonCode": self.reason_code}
        if self.subject_identifier:
            data["subjectIdentifier"] = self.subject_identifier
        if self.message:
            data["message"] = self.message
        return data

    @classmethod
    def from_wire(cls, data: object) -> StatusCodeData | None:
        """Read a statusCodeData object; None when there is none or it is not one."""
        if not isinstance(data, Mapping):
            return None
        subject, reason = data.get("subjectCode"), data.get("reasonCode")
        if not isinstance(subject, str) or not isinstance(reason, str):
            return None
        identifier, message = data.get("subjectIdentifier"), data.get("message")
        return cls(
            subject_code=subject,
            reason_code=reason,
            subject_identifier=identifier if isinstance(identifier, str) else None,
            message=message if isinstance(message, str) else None,
        )

    def describe(self) -> str:
        """The code with its meaning when we know it, for logs, the console and problem details."""
        known = Es2Status.lookup(self.subject_code, self.reason_code)
        words = self.message or (known.meaning if known is not None else "")
        return f"{self.code} {words}".strip()


class Es2Status(enum.Enum):
    """The SGP.22 status codes we send or recognise, with their meaning (one catalogue, STYLE §17).

    Checked 2026-12-05 against, besides the SGP.22 tables as remembered:
    [P] osmocom/pysim pySim/esim/es2plus_commons.py (its ES2+ SM-DP+: "SGP.22 Table: Profile
        ICCID - Unknown" 8.2.1/3.9, "Not Allowed (Authorization)" 8.2.1/1.2, EID missing 8.1.1/2.2);
    [T] a public table of SGP.22 subject/reason codes with the function-specific ES2+/ES9+ rows
        (subject 8.2.5 "Profile Type" 3.7 "No more Profile available for the requested Profile Type",
        8.2.5/3.9 unknown, 8.1.1/3.9 EID unknown, 8.2.1/3.3, 3.5, 3.10, 8.8.5/6.4) and an es9p
        error table in C listing the same rows (8.1.1/3.8 "EID doesn't match the expected value");
    [G] the GSMA common codes as published by ConnectedYou's eUICC docs ("GSMA codes and
        descriptions"): 1.1/1.2 function requester not allowed, 1.2/4.2 execution error,
        1.6/2.1 invalid input, 1.6/2.2 mandatory element missing (the message names the element);
    [C] CancelSession reason loadBppExecutionError mapped to 8.2.10/4.2 ("Bound Profile Package"
        / "Execution Error") in the same table as [T].
    """

    subject_code: str
    reason_code: str
    meaning: str

    # Generic [G]
    REQUESTER_NOT_ALLOWED = ("1.1", "1.2", "Function requester not allowed (authorisation)")
    EXECUTION_ERROR = ("1.2", "4.2", "Function provider execution error")
    INVALID_ELEMENT = ("1.6", "2.1", "Function input invalid")
    MANDATORY_ELEMENT_MISSING = ("1.6", "2.2", "Function mandatory element missing")
    # EID [P][T]
    EID_MISSING = ("8.1.1", "2.2", "EID missing")
    EID_REFUSED = ("8.1.1", "3.8", "EID refused")
    EID_UNKNOWN = ("8.1.1", "3.9", "EID unknown to the SM-DP+")
    # Profile ICCID [P][T]
    ICCID_NOT_ALLOWED = ("8.2.1", "1.2", "Profile ICCID not allowed (authorisation)")
    ICCID_NOT_AVAILABLE = ("8.2.1", "3.3", "Profile ICCID not available (already in use)")
    ICCID_INVALID_TRANSITION = ("8.2.1", "3.5", "Profile ICCID invalid transition")
    ICCID_UNKNOWN = ("8.2.1", "3.9", "Profile ICCID unknown")
    ICCID_OTHER_EID = ("8.2.1", "3.10", "Profile ICCID associated with a different EID")
    # Profile Type [T]
    PROFILE_TYPE_NOT_ALLOWED = ("8.2.5", "1.2", "Profile Type not allowed (authorisation)")
    PROFILE_TYPE_UNAVAILABLE = ("8.2.5", "3.7", "Profile Type unavailable: no profile of this type left")
    PROFILE_TYPE_UNKNOWN = ("8.2.5", "3.9", "Profile Type unknown to the SM-DP+")
    # Download [T][C]
    MATCHING_ID_CONFLICT = ("8.2.6", "3.3", "Matching ID already in use")
    BPP_EXECUTION_ERROR = ("8.2.10", "4.2", "Bound Profile Package execution error")
    DOWNLOAD_RETRIES_EXCEEDED = ("8.8.5", "6.4", "Download order: maximum number of attempts exceeded")

    def __init__(self, subject_code: str, reason_code: str, meaning: str) -> None:
        self.subject_code = subject_code
        self.reason_code = reason_code
        self.meaning = meaning

    @property
    def code(self) -> str:
        return f"{self.subject_code}/{self.reason_code}"

    def data(self, *, subject_identifier: str | None = None, message: str | None = None) -> StatusCodeData:
        return StatusCodeData(
            subject_code=self.subject_code,
            reason_code=self.reason_code,
            subject_identifier=subject_identifier,
            message=message or self.meaning,
        )

    @classmethod
    def lookup(cls, subject_code: str, reason_code: str) -> Es2Status | None:
        for status in cls:
            if status.subject_code == subject_code and status.reason_code == reason_code:
                return status
        return None


# --- What the domain sees ---------------------------------------------------------------------


class Es2FunctionFailed(Exception):
    """The SM-DP+ answered and the function did not execute: status Failed or Expired."""

    def __init__(self, function: str, status: Literal["Failed", "Expired"], code: StatusCodeData | None) -> None:
        self.function = function
        self.status = status
        self.code = code
        words = code.describe() if code is not None else "no statusCodeData"
        super().__init__(f"ES2+ {function}: {status} ({words})")


class SmdpUnreachable(Exception):
    """No usable answer. `reached` False: the request certainly never executed (no connection, TLS
    refused, not sent whole); True: it may have (answer lost or unreadable, 5xx), so whatever it
    may have reserved must be given back."""

    def __init__(self, function: str, *, reached: bool, detail: str = "", http_status: int | None = None) -> None:
        self.function = function
        self.reached = reached
        self.detail = detail
        self.http_status = http_status
        where = "after sending" if reached else "before it executed"
        super().__init__(f"ES2+ {function}: SM-DP+ unreachable {where}" + (f": {detail}" if detail else ""))


@dataclass(frozen=True, slots=True)
class Ordered:
    """DownloadOrder's answer: the profile reserved. `iccid_wire` is echoed in later calls."""

    iccid: str
    iccid_wire: str


@dataclass(frozen=True, slots=True)
class Confirmed:
    """ConfirmOrder's answer: what the activation code is made of (`1$<smdp_address>$<matching_id>`)."""

    matching_id: str
    smdp_address: str | None
    eid: str | None


class SmdpClient(Protocol):
    """One SM-DP+ as the operator side of ES2+ sees it. `call_id` is the functionCallIdentifier:
    unique per call, chosen by the caller so it can be recorded before the call goes out."""

    def download_order(self, *, call_id: str, profile_type: str, eid: str | None) -> Ordered:
        """Reserve a profile of the type (linked to the EID when given)."""
        ...

    def confirm_order(self, *, call_id: str, iccid_wire: str, eid: str | None, release: bool = True) -> Confirmed:
        """Confirm the reserved profile; with `release` it may be downloaded at once."""
        ...

    def cancel_order(
        self,
        *,
        call_id: str,
        iccid_wire: str,
        eid: str | None,
        matching_id: str | None,
        final_status: FinalProfileStatus,
    ) -> None:
        """Give a reserved or released profile back (Available) or retire it (Unavailable)."""
        ...


def smdp_client(connection: SmdpConnection) -> SmdpClient:
    """The client for a carrier's SM-DP+: the sandbox twin for a ``sandbox:`` base URL, else HTTPS."""
    # Imported here: each implementation pulls in what the other does not need (httpx and TLS
    # files, or the sandbox ledger).
    if connection.base_url.startswith(SANDBOX_SCHEME):
        from simrenew.provisioning.sandbox_smdp import SandboxSmdp

        return SandboxSmdp(connection)
    from simrenew.provisioning.es2plus_http import http_smdp_client

    return http_smdp_client(connection)


# --- Wire codec ---------------------------------------------------------------------------------


def request_header(requester_id: str, call_id: str) -> dict[str, str]:
    return {"functionRequesterIdentifier": requester_id, "functionCallIdentifier": call_id}


def response_header(status: str = EXECUTED_SUCCESS, code: StatusCodeData | None = None) -> dict[str, Any]:
    execution: dict[str, Any] = {"status": status}
    if code is not None:
        execution["statusCodeData"] = code.as_wire()
    return {"functionExecutionStatus": execution}


def failed_response_body(code: StatusCodeData) -> dict[str, Any]:
    """The JSON body that answers an SM-DP+'s call with status Failed (sent as HTTP 200 with
    ``X-Admin-Protocol``, as SGP.22 answers a function that did not execute)."""
    return {"header": response_header(FAILED, code)}


class Es2Refusal(Exception):
    """We refuse an SM-DP+'s call; `code` goes back in a Failed answer (`failed_response_body`)."""

    def __init__(self, code: StatusCodeData) -> None:
        self.code = code
        super().__init__(code.describe())

    @classmethod
    def of(cls, status: Es2Status, message: str, *, subject_identifier: str | None = None) -> Es2Refusal:
        return cls(status.data(subject_identifier=subject_identifier, message=message))


@dataclass(frozen=True, slots=True)
class DownloadProgressReport:
    """One HandleDownloadProgressInfo call, read and checked: what the service records."""

    requester_id: str
    call_id: str
    iccid: str  # canonical: bare digits
    iccid_wire: str  # as the SM-DP+ wrote it
    eid: str | None
    profile_type: str
    timestamp: datetime  # the SM-DP+'s, timezone-aware
    point: int
    status: str  # one of EXECUTION_STATUSES
    code: StatusCodeData | None

    @property
    def succeeded(self) -> bool:
        return self.status in SUCCESS_STATUSES


def _missing(name: str) -> Es2Refusal:
    return Es2Refusal.of(Es2Status.MANDATORY_ELEMENT_MISSING, f"{name} is missing")


def _invalid(name: str, why: str) -> Es2Refusal:
    return Es2Refusal.of(Es2Status.INVALID_ELEMENT, f"{name} is invalid: {why}")


def _text(container: Mapping[str, Any], key: str, name: str) -> str:
    value = container.get(key)
    if value is None or value == "":
        raise _missing(name)
    if not isinstance(value, str):
        raise _invalid(name, "not a string")
    return value


def _timestamp(value: str) -> datetime:
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise _invalid("timestamp", "not a W3C date-time such as 2026-12-05T12:00:00Z") from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise _invalid("timestamp", "no time zone (end it with Z or an offset)")
    return when


def parse_download_progress(body: object) -> DownloadProgressReport:
    """Read a HandleDownloadProgressInfo request body (SGP.22 §5.3.5).

    Raises `Es2Refusal` with the code to answer: a missing element is 1.6/2.2, a malformed one
    1.6/2.1, each naming the element. Unknown extra members are ignored (later SGP.22 versions
    add some, e.g. resultData's siblings).
    """
    if not isinstance(body, Mapping):
        raise _invalid("body", "not a JSON object")
    header = body.get("header")
    if header is None:
        raise _missing("header")
    if not isinstance(header, Mapping):
        raise _invalid("header", "not an object")
    requester_id = _text(header, "functionRequesterIdentifier", "header.functionRequesterIdentifier")
    call_id = _text(header, "functionCallIdentifier", "header.functionCallIdentifier")

    iccid_wire = _text(body, "iccid", "iccid")
    try:
        iccid = canonical_iccid(iccid_wire)
    except ValidationFailed as refused:
        raise Es2Refusal.of(
            Es2Status.INVALID_ELEMENT, f"iccid is invalid: {refused.detail}", subject_identifier=iccid_wire
        ) from None

    profile_type = _text(body, "profileType", "profileType")
    timestamp = _timestamp(_text(body, "timestamp", "timestamp"))

    point = body.get("notificationPointId")
    if point is None:
        raise _missing("notificationPointId")
    if isinstance(point, bool) or not isinstance(point, int) or point < 0:
        raise _invalid("notificationPointId", "not a whole number")

    point_status = body.get("notificationPointStatus")
    if point_status is None:
        raise _missing("notificationPointStatus")
    if not isinstance(point_status, Mapping):
        raise _invalid("notificationPointStatus", "not an object")
    status = _text(point_status, "status", "notificationPointStatus.status")
    if status not in EXECUTION_STATUSES:
        raise _invalid("notificationPointStatus.status", f"{status!r} is not one of {sorted(EXECUTION_STATUSES)}")
    raw_code = point_status.get("statusCodeData")
    code = StatusCodeData.from_wire(raw_code)
    if raw_code is not None and code is None:
        raise _invalid("notificationPointStatus.statusCodeData", "needs subjectCode and reasonCode strings")

    eid: str | None = None
    raw_eid = body.get("eid")
    if raw_eid is not None and raw_eid != "":
        if not isinstance(raw_eid, str):
            raise _invalid("eid", "not a string")
        try:
            eid = validate_eid(raw_eid)
        except ValidationFailed as refused:
            raise _invalid("eid", refused.detail) from None

    return DownloadProgressReport(
        requester_id=requester_id,
        call_id=call_id,
        iccid=iccid,
        iccid_wire=iccid_wire,
        eid=eid,
        profile_type=profile_type,
        timestamp=timestamp,
        point=point,
        status=status,
        code=code,
    )
