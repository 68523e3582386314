"""Use cases for eSIM profiles: inventory import, assignment, installation, release.

Services change state but never commit: the caller (request, task or command)
wraps them in ``transaction.atomic()``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.core import checks, signing

from simrenew.catalog.models import Carrier
from simrenew.customers.models import Customer
from simrenew.esims.identifiers import (
    normalize_msisdn,
    parse_activation_code,
    validate_eid,
    validate_iccid,
)
from simrenew.esims.models import USABLE_STATUSES, EsimProfile, ProfileSource, ProfileStatus
from simrenew.kit import clock
from simrenew.kit.audit import record_change
from simrenew.kit.errors import Conflict, NotFound, ValidationFailed
from simrenew.notifications import payloads
from simrenew.notifications.events import EventType
from simrenew.notifications.services import emit

# ---------------------------------------------------------------------------
# Errors


class NoProfileAvailable(Conflict):
    slug = "no-profile-available"
    title = "No eSIM profile available"


class ProfileStateConflict(Conflict):
    slug = "profile-state-conflict"
    title = "The eSIM profile is not in a state that allows this"


class ProfileInUse(ProfileStateConflict):
    slug = "profile-in-use"
    title = "The eSIM profile serves a subscription"


class ImportFileInvalid(ValidationFailed):
    """The file as a whole cannot be imported (empty, or a wrong header); nothing was imported."""

    slug = "import-file-invalid"
    title = "The import file cannot be used"


# ---------------------------------------------------------------------------
# CSV inventory import

REQUIRED_COLUMNS = ("iccid", "carrier", "msisdn", "activation_code")
OPTIONAL_COLUMNS = ("eid",)
HEADER_SHAPE = "iccid,carrier,msisdn,activation_code[,eid]"
# Compared between a file row and the profile already stored under the same ICCID.
_COMPARED_FIELDS = ("carrier_id", "msisdn", "activation_code", "eid")
# Well under SQLite's 32,766 and PostgreSQL's 65,535 bound parameters per query.
_EXISTING_LOOKUP_CHUNK = 10_000
_BULK_CREATE_BATCH = 1_000


@dataclass(frozen=True)
class ImportRowError:
    line: int  # 1-based line number in the file; the header is line 1
    iccid: str  # as written in the file (may be empty or malformed)
    reason: str


@dataclass
class ImportReport:
    imported: int = 0
    unchanged: int = 0
    errors: list[ImportRowError] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len(self.errors)


@dataclass(frozen=True)
class _GoodRow:
    line: int
    values: dict[str, Any]


def _read_header(reader: Iterator[list[str]]) -> dict[str, int]:
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileInvalid.on("file", f"The file is empty; its first line must be {HEADER_SHAPE}.") from None
    names = [name.strip().lower() for name in header]
    allowed = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS)
    unknown = [name for name in names if name not in allowed]
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if unknown or missing or repeated:
        details = []
        if missing:
            details.append("missing " + ", ".join(missing))
        if unknown:
            details.append("unknown " + ", ".join(repr(name) for name in unknown))
        if repeated:
            details.append("repeated " + ", ".join(repeated))
        raise ImportFileInvalid.on(
            "header", f"The header must be {HEADER_SHAPE} (found {','.join(header)!r}: {'; '.join(details)})."
        )
    return {name: index for index, name in enumerate(names)}


def _parse_row(
    cells: Sequence[str], columns: dict[str, int], carriers: dict[str, Carrier]
) -> tuple[dict[str, Any], list[str]]:
    """Validate one row; return its model values and the problems found (all of them, not just the first)."""
    problems: list[str] = []
    values: dict[str, Any] = {}

    def cell(name: str) -> str:
        return cells[columns[name]].strip() if name in columns else ""

    try:
        values["iccid"] = validate_iccid(cell("iccid"))
    except ValidationFailed as exc:
        problems.append(exc.detail)
    carrier_code = cell("carrier").lower()
    carrier = carriers.get(carrier_code)
    if carrier is None:
        known = ", ".join(sorted(carriers)) or "none defined"
        problems.append(
            f"Unknown carrier {carrier_code!r} (known: {known})." if carrier_code else f"No carrier (known: {known})."
        )
    else:
        values["carrier_id"] = carrier.pk
    try:
        values["msisdn"] = normalize_msisdn(cell("msisdn"))
    except ValidationFailed as exc:
        problems.append(exc.detail)
    try:
        values["activation_code"] = parse_activation_code(cell("activation_code")).as_string()
    except ValidationFailed as exc:
        problems.append(exc.detail)
    eid = cell("eid")
    try:
        values["eid"] = validate_eid(eid) if eid else ""
    except ValidationFailed as exc:
        problems.append(exc.detail)
    return values, problems


def _existing_profiles(iccids: list[str]) -> dict[str, dict[str, Any]]:
    existing: dict[str, dict[str, Any]] = {}
    for start in range(0, len(iccids), _EXISTING_LOOKUP_CHUNK):
        chunk = iccids[start : start + _EXISTING_LOOKUP_CHUNK]
        for row in EsimProfile.objects.filter(iccid__in=chunk).values("iccid", *_COMPARED_FIELDS):
            existing[row["iccid"]] = row
    return existing


def import_profiles_csv(text: str, *, file_name: str = "") -> ImportReport:
    """Add the file's profiles to inventory as ``available``.

    Good rows are inserted and bad rows reported with their line number; a
    row already in inventory with identical data counts as ``unchanged``, so
    importing the same file twice changes nothing. A file that is empty or
    has a wrong header raises ``ImportFileInvalid`` before anything is written.
    The import is one audit entry (`file_name`, the counts and the ICCIDs it added).
    """
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    columns = _read_header(reader)
    carriers = {carrier.code: carrier for carrier in Carrier.objects.all()}
    report = ImportReport()
    first_line_of: dict[str, int] = {}
    good_rows: list[_GoodRow] = []

    for cells in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue  # blank line, e.g. at the end of the file
        raw_iccid = cells[columns["iccid"]].strip() if columns["iccid"] < len(cells) else ""
        if len(cells) != len(columns):
            report.errors.append(
                ImportRowError(line, raw_iccid, f"Expected {len(columns)} columns, found {len(cells)}.")
            )
            continue
        values, problems = _parse_row(cells, columns, carriers)
        iccid = values.get("iccid")
        if iccid is not None:
            if iccid in first_line_of:
                problems.append(f"Duplicate ICCID: already on line {first_line_of[iccid]} of this file.")
            else:
                first_line_of[iccid] = line
        if problems:
            report.errors.append(ImportRowError(line, raw_iccid, " ".join(problems)))
        else:
            good_rows.append(_GoodRow(line, values))

    existing = _existing_profiles([row.values["iccid"] for row in good_rows])
    now = clock.now()
    new_profiles: list[EsimProfile] = []
    for row in good_rows:
        stored = existing.get(row.values["iccid"])
        if stored is None:
            new_profiles.append(EsimProfile(**row.values, status=ProfileStatus.AVAILABLE, created_at=now))
            continue
        differing = [name.removesuffix("_id") for name in _COMPARED_FIELDS if stored[name] != row.values[name]]
        if differing:
            report.errors.append(
                ImportRowError(
                    row.line,
                    row.values["iccid"],
                    f"already in inventory with different data ({', '.join(differing)}).",
                )
            )
        else:
            report.unchanged += 1
    EsimProfile.objects.bulk_create(new_profiles, batch_size=_BULK_CREATE_BATCH)
    report.imported = len(new_profiles)
    report.errors.sort(key=lambda error: error.line)
    name = file_name or "upload.csv"
    record_change(
        action="inventory_import",
        target_type="esims.esimprofile",
        after={
            "file": name,
            "imported": report.imported,
            "unchanged": report.unchanged,
            "rejected": report.rejected,
            "imported_iccids": sorted(profile.iccid for profile in new_profiles),
        },
        reason=f"CSV import of {name}",
    )
    return report


# ---------------------------------------------------------------------------
# Assignment and life cycle


def assign_profile(*, customer: Customer, carrier_code: str) -> EsimProfile:
    """Give the customer an available profile of the carrier.

    The row is locked with ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL
    so concurrent assignments take different profiles; on SQLite the lock is
    a no-op and the database serializes writers instead.
    """
    carrier = Carrier.objects.filter(code=carrier_code.strip().lower()).first()
    if carrier is None:
        known = ", ".join(Carrier.objects.order_by("code").values_list("code", flat=True))
        raise ValidationFailed.on("carrier", f"Unknown carrier {carrier_code!r}; choose one of: {known}.")
    profile = (
        EsimProfile.objects.select_for_update(skip_locked=True)
        .filter(carrier=carrier, status=ProfileStatus.AVAILABLE)
        .order_by("id")
        .first()
    )
    if profile is None:
        raise NoProfileAvailable(
            f"No {carrier.name} eSIM is available right now. Please try again later or choose another carrier."
        )
    profile.status = ProfileStatus.ASSIGNED
    profile.customer = customer
    profile.assigned_at = clock.now()
    profile.save(update_fields=["status", "customer", "assigned_at"])
    emit(EventType.ESIM_ASSIGNED, customer=customer, data=_esim_event_data(profile))
    return profile


def _esim_event_data(profile: EsimProfile) -> payloads.EsimChanged:
    """What partners are told about an eSIM (never its activation code: that is the customer's)."""
    return payloads.esim_changed(
        esim_id=profile.pk,
        customer_id=profile.customer_id,
        carrier=profile.carrier.code,
        iccid=profile.iccid,
        msisdn=profile.msisdn,
        status=profile.status,
        assigned_at=profile.assigned_at,
        installed_at=profile.installed_at,
    )


def _transition(profile: EsimProfile, *, allowed_from: Sequence[str], changes: dict[str, Any]) -> bool:
    """Apply ``changes`` only if the stored status is still one of ``allowed_from``; refresh ``profile``."""
    updated = EsimProfile.objects.filter(pk=profile.pk, status__in=allowed_from).update(**changes)
    profile.refresh_from_db()
    return updated == 1


def record_released_profile(
    *, carrier: Carrier, customer: Customer, iccid: str, activation_code: str, eid: str, profile_type: str
) -> EsimProfile:
    """The customer's new eSIM, ordered and confirmed at the carrier's SM-DP+ (ES2+ DownloadOrder and
    ConfirmOrder with releaseFlag): ready to download with its activation code, number to come from
    the carrier. An ICCID cancelled earlier with "Available" went back to the SM-DP+'s pool and may
    come back: its row is reused, as ICCIDs are unique; any other existing row is a conflict."""
    now = clock.now()
    values = {
        "carrier": carrier,
        "customer": customer,
        "eid": eid,
        "msisdn": "",
        "activation_code": activation_code,
        "status": ProfileStatus.RELEASED,
        "source": ProfileSource.SMDP,
        "profile_type": profile_type,
        "network_state": "",
        "assigned_at": now,
        "installed_at": None,
        "retired_at": None,
        "download_failed_at": None,
        "cancelled_at": None,
        "label": "",
    }
    earlier = EsimProfile.objects.select_for_update().filter(iccid=iccid).first()
    if earlier is None:
        profile = EsimProfile.objects.create(iccid=iccid, created_at=now, **values)
    elif earlier.source == ProfileSource.SMDP and earlier.status == ProfileStatus.CANCELLED:
        for name, value in values.items():
            setattr(earlier, name, value)
        earlier.save(update_fields=list(values))
        profile = earlier
    else:
        raise ProfileStateConflict(
            f"The SM-DP+ gave ICCID {iccid}, which is already eSIM {earlier.pk} ({earlier.status})."
        )
    emit(EventType.ESIM_ASSIGNED, customer=customer, data=_esim_event_data(profile))
    return profile


def mark_download_failed(profile: EsimProfile) -> bool:
    """The SM-DP+ reported that the profile could not be downloaded or installed. Only a profile not
    installed yet fails (a late report after installation changes nothing); True when it changed."""
    return _transition(
        profile,
        allowed_from=[ProfileStatus.RELEASED],
        changes={"status": ProfileStatus.DOWNLOAD_FAILED, "download_failed_at": clock.now()},
    )


def mark_cancelled(profile: EsimProfile) -> EsimProfile:
    """The order of an SM-DP+ profile not installed was cancelled at the SM-DP+ (CancelOrder).
    Repeating it changes nothing."""
    refuse_if_in_use(profile)
    if _transition(
        profile,
        allowed_from=[ProfileStatus.RELEASED, ProfileStatus.DOWNLOAD_FAILED],
        changes={"status": ProfileStatus.CANCELLED, "cancelled_at": clock.now()},
    ):
        return profile
    if profile.status == ProfileStatus.CANCELLED:
        return profile
    raise ProfileStateConflict(f"eSIM {profile.iccid} is {profile.status}; only an eSIM not installed is cancelled.")


def mark_installed(profile: EsimProfile) -> EsimProfile:
    """Record that the customer installed the profile on a device. Repeating it changes nothing."""
    if _transition(
        profile,
        allowed_from=[ProfileStatus.ASSIGNED, ProfileStatus.RELEASED, ProfileStatus.DOWNLOAD_FAILED],
        changes={"status": ProfileStatus.INSTALLED, "installed_at": clock.now()},
    ):
        emit(EventType.ESIM_INSTALLED, customer=profile.customer, data=_esim_event_data(profile))
        return profile
    if profile.status == ProfileStatus.INSTALLED:
        return profile
    raise ProfileStateConflict(
        f"eSIM {profile.iccid} is {profile.status}; only an eSIM in a customer's hands can be marked installed."
    )


def retire_profile(profile: EsimProfile) -> EsimProfile:
    """Take the profile out of service for good: it is never handed out again.

    Refused while a subscription still uses it (live or incomplete, or cancelled
    but running to the end of its paid time): the customer would lose service they
    paid for. Repeating it changes nothing.
    """
    refuse_if_in_use(profile)
    if _transition(
        profile,
        allowed_from=[
            ProfileStatus.AVAILABLE,
            ProfileStatus.RESERVED,
            ProfileStatus.ASSIGNED,
            ProfileStatus.INSTALLED,
        ],
        changes={"status": ProfileStatus.RETIRED, "retired_at": clock.now()},
    ):
        return profile
    if profile.status == ProfileStatus.RETIRED:
        return profile
    raise ProfileStateConflict(f"eSIM {profile.iccid} is {profile.status} and cannot be retired.")


# What may still hold a profile. Subscriptions depend on eSIMs, not the reverse, so they
# register their check here (SubscriptionsConfig.ready); each check answers why the profile
# must stay, or None.
HoldCheck = Callable[[EsimProfile], str | None]
_hold_checks: list[HoldCheck] = []


def register_hold_check(check: HoldCheck) -> None:
    if check not in _hold_checks:
        _hold_checks.append(check)


def hold_checks_registered(**kwargs: object) -> list[checks.CheckMessage]:
    """System check (EsimsConfig.ready): with no hold check, `refuse_if_in_use` refuses
    nothing, and a profile a live subscription still uses could be released."""
    if _hold_checks:
        return []
    return [
        checks.Error(
            "No eSIM hold check is registered: profiles in use could be released.",
            hint="SubscriptionsConfig.ready registers subscriptions.esim_holds; is the app installed?",
            id="esims.E001",
        )
    ]


def refuse_if_in_use(profile: EsimProfile) -> None:
    for check in _hold_checks:
        why = check(profile)
        if why is not None:
            raise ProfileInUse(why)


def return_unused_profile(profile: EsimProfile) -> EsimProfile:
    """Put back in stock a profile assigned but never paid for nor installed (its
    activation code was never shown): the next customer may have it."""
    if _transition(
        profile,
        allowed_from=[ProfileStatus.RESERVED, ProfileStatus.ASSIGNED],
        changes={"status": ProfileStatus.AVAILABLE, "customer": None, "assigned_at": None},
    ):
        return profile
    raise ProfileStateConflict(f"eSIM {profile.iccid} is {profile.status} and cannot go back to stock.")


# ---------------------------------------------------------------------------
# QR links: an <img> can fetch the QR code without an API key, but nobody can
# forge a link for another profile. The token binds the profile to its current
# holder, so a link stops working if the profile ever changes hands, and it is
# timestamped: a link found later (a forwarded email, a log, a browser history)
# stops working after QR_TOKEN_MAX_AGE. Every page and API answer that shows a
# link signs a fresh one. The age is wall-clock time (Django's signer), not the
# sandbox's test clock: it bounds how long a leaked link is worth anything.

QR_TOKEN_SALT = "esim-qr"
QR_TOKEN_MAX_AGE = timedelta(hours=24)
_QR_VISIBLE_STATUSES = USABLE_STATUSES


def qr_token(profile: EsimProfile) -> str:
    if profile.customer_id is None or profile.status not in _QR_VISIBLE_STATUSES:
        raise ProfileStateConflict(f"eSIM {profile.iccid} is not assigned to a customer, so it has no QR code.")
    return signing.TimestampSigner(salt=QR_TOKEN_SALT).sign_object([profile.pk, profile.customer_id])


def profile_from_qr_token(token: str) -> EsimProfile:
    """The assigned or installed profile the token was made for, within QR_TOKEN_MAX_AGE of signing;
    ``NotFound`` otherwise (forged, tampered with, expired: one answer, saying nothing of which)."""
    not_found = NotFound("This eSIM QR code link is not valid.")
    try:
        payload = signing.TimestampSigner(salt=QR_TOKEN_SALT).unsign_object(token, max_age=QR_TOKEN_MAX_AGE)
    except (signing.BadSignature, ValueError):  # SignatureExpired is a BadSignature
        raise not_found from None
    if not (isinstance(payload, list) and len(payload) == 2 and all(isinstance(item, int) for item in payload)):
        raise not_found
    profile_id, customer_id = payload
    profile = (
        EsimProfile.objects.select_related("carrier")
        .filter(pk=profile_id, customer_id=customer_id, status__in=_QR_VISIBLE_STATUSES)
        .first()
    )
    if profile is None:
        raise not_found
    return profile
