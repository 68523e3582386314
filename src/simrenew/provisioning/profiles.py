"""Giving a customer an eSIM: from inventory, or ordered from the carrier's SM-DP+ over ES2+.

Every way a customer gets an eSIM (the API, the portal's Add an eSIM, a carrier switch) comes
through `obtain_esim`. For a carrier connected to an SM-DP+ it runs like a charge, in steps with
no transaction held across a call out: (1) a `ProfileOrder` row is written, so a crash leaves a
trace the worker can finish; (2) DownloadOrder reserves a profile and ConfirmOrder releases it;
(3) the eSIM is written from the answers. Nothing is left half-done: a refusal creates no eSIM,
and a profile reserved whose confirmation failed is cancelled at once ("Available", back into the
SM-DP+'s pool), or by the worker when the SM-DP+ cannot be reached (`finish_unsettled_orders`).

The SM-DP+ in turn reports each step of the download (`record_download_progress`): installation
makes the eSIM `installed`, a failure `download_failed`, and the customer is told.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction

from simrenew.catalog.models import Carrier
from simrenew.customers.models import Customer
from simrenew.esims import services as esims
from simrenew.esims.identifiers import ActivationCode, parse_activation_code, validate_eid
from simrenew.esims.models import EsimProfile, ProfileSource, ProfileStatus
from simrenew.kit import clock, metrics
from simrenew.kit.errors import Conflict, ServiceUnavailable, ValidationFailed
from simrenew.notifications import payloads
from simrenew.notifications.events import EventType
from simrenew.notifications.services import emit
from simrenew.provisioning import lines
from simrenew.provisioning.es2plus import (
    DownloadProgressReport,
    Es2FunctionFailed,
    Es2Refusal,
    Es2Status,
    FinalProfileStatus,
    SmdpClient,
    SmdpUnreachable,
    StatusCodeData,
    smdp_client,
)
from simrenew.provisioning.models import DownloadProgress, ProfileOrder, ProfileOrderStatus, SmdpConnection
from simrenew.subscriptions import esim_moves

log = logging.getLogger("simrenew.provisioning")

BPP_INSTALLATION = 4  # SGP.22 notification point: the profile is installed on the eUICC
# A profile order still `ordering` this long after it began was abandoned (a crash between steps).
ABANDONED_AFTER = timedelta(minutes=10)
# Cancelling retries back off to at most this, on the system clock (a frozen demo clock must not
# hold back giving a profile back).
CANCEL_RETRY_MAX = timedelta(hours=1)


class SmdpRefused(Conflict):
    slug = "smdp-refused"
    title = "The SM-DP+ refused to provide an eSIM profile"


class SmdpUnavailable(ServiceUnavailable):
    slug = "smdp-unavailable"
    title = "The carrier's SM-DP+ is not answering"


def carrier_by_code(code: str) -> Carrier:
    carrier = Carrier.objects.filter(code=code.strip().lower()).first()
    if carrier is None:
        known = ", ".join(Carrier.objects.order_by("code").values_list("code", flat=True)) or "none yet"
        raise ValidationFailed.on("carrier", f"Unknown carrier {code!r}; known carriers: {known}.")
    return carrier


def smdp_connection(carrier: Carrier) -> SmdpConnection | None:
    """The carrier's SM-DP+ when its eSIMs are ordered over ES2+; None when they come from inventory."""
    return SmdpConnection.objects.filter(carrier=carrier, enabled=True).first()


def obtain_esim(*, customer: Customer, carrier_code: str, eid: str | None = None) -> EsimProfile:
    """Give the customer an eSIM of the carrier. Called with no transaction open: for a connected
    carrier the SM-DP+ is called between short transactions of our own.

    Raises `NoProfileAvailable` (inventory empty), `SmdpRefused` (409, the SM-DP+'s reason),
    `SmdpUnavailable` (503 with Retry-After: nothing was kept, the same request may be sent again)."""
    carrier = carrier_by_code(carrier_code)
    eid = validate_eid(eid) if eid else None
    connection = smdp_connection(carrier)
    if connection is None:
        with transaction.atomic():
            return esims.assign_profile(customer=customer, carrier_code=carrier.code)
    return order_profile(connection, customer=customer, eid=eid)


def order_profile(connection: SmdpConnection, *, customer: Customer, eid: str | None) -> EsimProfile:
    """DownloadOrder then ConfirmOrder (releaseFlag true) at the SM-DP+, then the eSIM, ready to download."""
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("order_profile calls the SM-DP+: it must not run inside a transaction")
    client = smdp_client(connection)
    now = clock.now()
    with transaction.atomic():
        order = ProfileOrder.objects.create(
            carrier=connection.carrier,
            customer=customer,
            eid=eid or "",
            profile_type=connection.profile_type,
            status=ProfileOrderStatus.ORDERING,
            attempts=1,
            created_at=now,
            updated_at=now,
        )
    try:
        ordered = client.download_order(call_id=_next_call(order), profile_type=connection.profile_type, eid=eid)
    except Es2FunctionFailed as exc:
        _settle(order, ProfileOrderStatus.REFUSED, exc.code)
        raise _refused(connection, exc) from None
    except SmdpUnreachable as exc:
        # Sent but unanswered: a profile may be reserved that we cannot name. An operator looks.
        status = ProfileOrderStatus.LOST if exc.reached else ProfileOrderStatus.UNREACHABLE
        _settle(order, status, None, message=str(exc))
        raise _unavailable(connection) from None
    _update(order, iccid=ordered.iccid, iccid_wire=ordered.iccid_wire)

    try:
        confirmed = client.confirm_order(call_id=_next_call(order), iccid_wire=ordered.iccid_wire, eid=eid)
    except (Es2FunctionFailed, SmdpUnreachable) as exc:
        code = exc.code if isinstance(exc, Es2FunctionFailed) else None
        _settle(order, ProfileOrderStatus.CANCELLING, code, message=str(exc))
        cancel_reserved(order, client=client)
        if isinstance(exc, Es2FunctionFailed):
            raise _refused(connection, exc) from None
        raise _unavailable(connection) from None

    # ConfirmOrder's smdpAddress is optional: without it the profile is fetched from the SM-DP+ we called.
    smdp_address = confirmed.smdp_address or urlsplit(connection.base_url).hostname or ""
    try:
        activation_code = parse_activation_code(
            ActivationCode(smdp_address=smdp_address, matching_id=confirmed.matching_id).as_string()
        ).as_string()
    except ValidationFailed as exc:  # an answer no phone could use: give the profile back
        _settle(order, ProfileOrderStatus.CANCELLING, None, message=f"Unusable ConfirmOrder answer: {exc.detail}")
        cancel_reserved(order, client=client)
        raise SmdpRefused(f"The {connection.carrier.name} SM-DP+ answered with an unusable activation code.") from None
    with transaction.atomic():
        profile = esims.record_released_profile(
            carrier=connection.carrier,
            customer=customer,
            iccid=ordered.iccid,
            activation_code=activation_code,
            eid=confirmed.eid or eid or "",
            profile_type=connection.profile_type,
        )
        _update(
            order,
            status=ProfileOrderStatus.DONE,
            esim=profile,
            matching_id=confirmed.matching_id,
            smdp_address=smdp_address,
        )
    return profile


def _refused(connection: SmdpConnection, exc: Es2FunctionFailed) -> SmdpRefused:
    code = exc.code
    known = Es2Status.lookup(code.subject_code, code.reason_code) if code is not None else None
    if known is Es2Status.PROFILE_TYPE_UNAVAILABLE:
        detail = (
            f"The {connection.carrier.name} SM-DP+ has no {connection.profile_type} profile left "
            f"({known.code} {known.meaning}). Please try again later or choose another carrier."
        )
    else:
        words = code.describe() if code is not None else f"status {exc.status}, no reason given"
        detail = f"The {connection.carrier.name} SM-DP+ refused the eSIM order ({exc.function}: {words})."
    return SmdpRefused(detail, code=code.code if code is not None else exc.status)


def _unavailable(connection: SmdpConnection) -> SmdpUnavailable:
    seconds = settings.SIMRENEW_SMDP_RETRY_AFTER_SECONDS
    return SmdpUnavailable(
        f"The {connection.carrier.name} SM-DP+ is not answering, so no eSIM was created. "
        f"Please try again in {seconds} seconds.",
        retry_after=seconds,
    )


# --- the order's own record ---------------------------------------------------------------------


def _next_call(order: ProfileOrder) -> str:
    """A new functionCallIdentifier, recorded before the call goes out."""
    call_id = uuid.uuid4().hex
    _update(order, call_ids=[*order.call_ids, call_id])
    return call_id


# How an order can end; each end is counted once, when the order reaches it (kit.metrics).
_ENDS = frozenset(
    {
        ProfileOrderStatus.DONE,
        ProfileOrderStatus.REFUSED,
        ProfileOrderStatus.UNREACHABLE,
        ProfileOrderStatus.LOST,
        ProfileOrderStatus.CANCELLED,
    }
)


def _update(order: ProfileOrder, **changes: object) -> None:
    for name, value in changes.items():
        setattr(order, name, value)
    order.updated_at = clock.now()
    with transaction.atomic():
        order.save(update_fields=[*changes, "updated_at"])
    ended = changes.get("status")
    if ended in _ENDS:
        outcome = str(ended)
        transaction.on_commit(lambda: metrics.SMDP_ORDERS.labels(outcome).inc())


def _settle(order: ProfileOrder, status: str, code: StatusCodeData | None, *, message: str = "") -> None:
    _update(
        order,
        status=status,
        subject_code=code.subject_code if code else "",
        reason_code=code.reason_code if code else "",
        message=((code.message or "") if code else message)[:500],
    )


# --- giving a profile back ----------------------------------------------------------------------


def _send_cancel(order: ProfileOrder, client: SmdpClient, final_status: FinalProfileStatus) -> None:
    client.cancel_order(
        call_id=_next_call(order),
        iccid_wire=order.iccid_wire or order.iccid,
        eid=order.eid or None,
        matching_id=order.matching_id or None,
        final_status=final_status,
    )


def cancel_reserved(order: ProfileOrder, *, client: SmdpClient | None = None) -> bool:
    """CancelOrder ("Available": back into the SM-DP+'s pool) for a profile reserved by an order that
    did not finish; True when the SM-DP+ confirmed. Unreachable: the order stays `cancelling` and the
    worker tries again later (`finish_unsettled_orders`); refused: an operator looks (`lost`)."""
    if client is None:
        connection = smdp_connection(order.carrier)
        if connection is None:
            _settle(order, ProfileOrderStatus.LOST, None, message="The carrier has no SM-DP+ connection any more.")
            return False
        client = smdp_client(connection)
    try:
        _send_cancel(order, client, "Available")
    except SmdpUnreachable as exc:
        delay = min(timedelta(seconds=30 * 2 ** min(order.attempts, 10)), CANCEL_RETRY_MAX)
        _update(order, attempts=order.attempts + 1, next_attempt_at=clock.system_now() + delay, message=str(exc)[:500])
        log.warning("CancelOrder for %s not answered; retrying in %s", order.iccid, delay)
        return False
    except Es2FunctionFailed as exc:
        _settle(order, ProfileOrderStatus.LOST, exc.code, message=str(exc))
        log.error("CancelOrder for %s refused: %s", order.iccid, exc)
        return False
    _update(order, status=ProfileOrderStatus.CANCELLED)
    return True


def cancel_esim_order(esim: EsimProfile) -> EsimProfile:
    """Take an eSIM out of a customer's hands: an SM-DP+ eSIM not installed yet is cancelled at the
    SM-DP+ (CancelOrder, "Unavailable": that profile is never handed out again) and marked
    `cancelled`; any other is retired. Refused with 409 while a live subscription uses it. Called
    with no transaction open; an unreachable SM-DP+ changes nothing (503)."""
    if esim.source != ProfileSource.SMDP or esim.status == ProfileStatus.INSTALLED:
        with transaction.atomic():
            return esims.retire_profile(esim)
    if esim.status == ProfileStatus.CANCELLED:
        return esim
    esims.refuse_if_in_use(esim)
    order = ProfileOrder.objects.filter(esim=esim).order_by("-id").first()
    connection = smdp_connection(esim.carrier)
    if order is None or connection is None:
        raise Conflict(f"eSIM {esim.iccid} has no SM-DP+ order to cancel.")
    try:
        _send_cancel(order, smdp_client(connection), "Unavailable")
    except SmdpUnreachable:
        raise _unavailable(connection) from None
    except Es2FunctionFailed as exc:
        words = exc.code.describe() if exc.code is not None else exc.status
        raise SmdpRefused(f"The SM-DP+ refused to cancel eSIM {esim.iccid} ({words}).") from None
    with transaction.atomic():
        _update(order, status=ProfileOrderStatus.CANCELLED)
        return esims.mark_cancelled(esim)


def order_replacement(esim: EsimProfile) -> EsimProfile:
    """Support's answer to a failed download: a new profile from the carrier's SM-DP+ for the same
    customer, the plans holding the old eSIM moved to it, and the old order cancelled at the SM-DP+
    ("Unavailable": a profile that failed is not handed out again). Called with no transaction open;
    the caller records who asked (audit)."""
    if esim.source != ProfileSource.SMDP or esim.status not in (
        ProfileStatus.DOWNLOAD_FAILED,
        ProfileStatus.RELEASED,
    ):
        raise Conflict(f"eSIM {esim.iccid} is {esim.status}; only an SM-DP+ eSIM not installed is replaced.")
    connection = smdp_connection(esim.carrier)
    if connection is None or esim.customer is None:
        raise Conflict(f"The carrier of eSIM {esim.iccid} has no SM-DP+ connection to order from.")
    replacement = order_profile(connection, customer=esim.customer, eid=None)
    with transaction.atomic():
        esim_moves.move_to_esim(esim, replacement)
        if esim.msisdn:  # the carrier's number stays with the customer's line
            EsimProfile.objects.filter(pk=replacement.pk).update(msisdn=esim.msisdn)
            replacement.msisdn = esim.msisdn
        lines.swap_esim(esim, replacement)
        esims.mark_cancelled(esim)
    order = ProfileOrder.objects.filter(esim=esim).order_by("-id").first()
    if order is not None:
        try:
            _send_cancel(order, smdp_client(connection), "Unavailable")
        except (SmdpUnreachable, Es2FunctionFailed) as exc:
            # The worker gives it back later (as Available: the order does not keep the indicator).
            _settle(order, ProfileOrderStatus.CANCELLING, None, message=str(exc))
        else:
            _update(order, status=ProfileOrderStatus.CANCELLED)
    return replacement


def give_back_unused(esim: EsimProfile) -> None:
    """A new eSIM whose first payment failed: the customer never saw its activation code, so an
    inventory profile goes back to stock and an SM-DP+ profile goes back to the SM-DP+'s pool
    (CancelOrder "Available"; retried by the worker if the SM-DP+ does not answer now). Called with
    no transaction open."""
    if esim.source != ProfileSource.SMDP:
        with transaction.atomic():
            esims.return_unused_profile(esim)
        return
    with transaction.atomic():
        esims.mark_cancelled(esim)
    order = ProfileOrder.objects.filter(esim=esim, status=ProfileOrderStatus.DONE).select_related("carrier").first()
    if order is not None:
        _update(order, status=ProfileOrderStatus.CANCELLING)
        cancel_reserved(order)


def finish_unsettled_orders(*, limit: int = 100) -> int:
    """The worker's step: give back profiles whose CancelOrder could not be sent, and settle orders
    abandoned between steps (a crash): with an ICCID they are cancelled, without one an operator
    must look (`lost`). Returns how many orders were settled."""
    settled = 0
    now = clock.system_now()
    due = ProfileOrder.objects.filter(status=ProfileOrderStatus.CANCELLING).exclude(next_attempt_at__gt=now)
    for order in due.select_related("carrier").order_by("id")[:limit]:
        settled += cancel_reserved(order)
    abandoned = ProfileOrder.objects.filter(
        status=ProfileOrderStatus.ORDERING, updated_at__lt=clock.now() - ABANDONED_AFTER
    ).select_related("carrier")
    for order in abandoned.order_by("id")[:limit]:
        if order.iccid:
            _update(order, status=ProfileOrderStatus.CANCELLING)
            settled += cancel_reserved(order)
        else:
            _settle(order, ProfileOrderStatus.LOST, None, message="Abandoned before DownloadOrder answered.")
            settled += 1
    return settled


# --- what the SM-DP+ tells us -------------------------------------------------------------------


def record_download_progress(
    report: DownloadProgressReport, *, verified_subject: str | None = None
) -> DownloadProgress:
    """Record one HandleDownloadProgressInfo call from the SM-DP+ holding the ICCID (a replay of the
    same call changes nothing) and move the eSIM: installed at point 4 with success, download_failed
    on a failure at any point before installation. Raises `Es2Refusal` for an unknown ICCID or a
    caller that is not the SM-DP+ of the eSIM's carrier (its requester id and, when the connection names
    one, the client certificate subject `verified_subject` the proxy checked). Runs inside the caller's
    transaction."""
    esim = EsimProfile.objects.select_related("carrier", "customer").filter(iccid=report.iccid).first()
    if esim is None or esim.source != ProfileSource.SMDP:
        raise Es2Refusal.of(Es2Status.ICCID_UNKNOWN, "Unknown ICCID", subject_identifier=report.iccid_wire)
    connection = SmdpConnection.objects.filter(carrier_id=esim.carrier_id).first()
    # Behind the proxy, the certificate it verified must be this SM-DP+'s too (when one is configured).
    wrong_certificate = (
        connection is not None and bool(connection.client_subject) and (verified_subject != connection.client_subject)
    )
    if connection is None or connection.smdp_id != report.requester_id or wrong_certificate:
        raise Es2Refusal.of(
            Es2Status.ICCID_NOT_ALLOWED,
            "This ICCID is not held by the calling SM-DP+",
            subject_identifier=report.iccid_wire,
        )
    progress, created = DownloadProgress.objects.get_or_create(
        iccid=report.iccid,
        call_id=report.call_id,
        defaults={
            "esim": esim,
            "point": report.point,
            "status": report.status,
            "subject_code": report.code.subject_code if report.code else "",
            "reason_code": report.code.reason_code if report.code else "",
            "message": ((report.code.message or "") if report.code else "")[:500],
            "eid": report.eid or "",
            "profile_type": report.profile_type,
            "reported_at": report.timestamp,
            "received_at": clock.now(),
        },
    )
    if not created:
        return progress
    if report.succeeded and report.point == BPP_INSTALLATION:
        if report.eid and not esim.eid:
            EsimProfile.objects.filter(pk=esim.pk).update(eid=report.eid)
        esims.mark_installed(esim)
    elif not report.succeeded and esims.mark_download_failed(esim):
        emit(
            EventType.ESIM_DOWNLOAD_FAILED,
            customer=esim.customer,
            data=payloads.esim_download_failed(
                esim_id=esim.pk,
                customer_id=esim.customer_id,
                carrier=esim.carrier.code,
                iccid=esim.iccid,
                status=esim.status,
                point=report.point,
                reason=report.code.describe() if report.code else report.status,
            ),
        )
    return progress


def record_sandbox_downloads(*, limit: int = 500) -> int:
    """Sandbox only (the worker's step): what the sandbox SM-DP+ would have POSTed to
    handleDownloadProgressInfo by now, fed to the same service the endpoint calls."""
    from simrenew.provisioning import sandbox_smdp  # the sandbox twin is loaded only in sandbox mode

    reports = sandbox_smdp.due_download_reports(clock.now(), limit=limit)
    for report in reports:
        try:
            with transaction.atomic():
                record_download_progress(report)
        except Es2Refusal as refusal:  # e.g. an eSIM deleted meanwhile: the SM-DP+ would be told so
            log.info("sandbox download report for %s refused: %s", report.iccid, refusal)
    return len(reports)
