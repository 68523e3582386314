"""Usage ingestion: a bulk path, deduplicated by (source, record_id), each record
charged to the period its moment falls in, however late or out of order it arrives."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q

from simrenew.esims.models import EsimProfile
from simrenew.kit import clock
from simrenew.subscriptions.models import Period
from simrenew.usage.models import UsageRecord

MAX_BATCH = 10_000
# Carriers' clocks drift; a record a little in the future is believed, far ahead is not.
FUTURE_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class IncomingUsage:
    source: str
    record_id: str
    iccid: str
    bytes: int
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class RejectedUsage:
    index: int
    record_id: str
    reason: str


@dataclass(slots=True)
class IngestReport:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[RejectedUsage] = field(default_factory=list)


def _check(record: IncomingUsage, now: datetime) -> str | None:
    if not record.source.strip() or not record.record_id.strip():
        return "source and record_id are required"
    if len(record.source) > 40 or len(record.record_id) > 100:
        return "source is at most 40 characters and record_id at most 100"
    if record.bytes < 0:
        return "bytes cannot be negative"
    if record.occurred_at.tzinfo is None:
        return "occurred_at needs a UTC offset"
    if record.occurred_at > now + FUTURE_TOLERANCE:
        return "occurred_at is in the future"
    return None


def ingest(records: list[IncomingUsage]) -> IngestReport:
    """Store new records and add their bytes to the periods they fall in. The
    caller's transaction makes the batch all-or-nothing."""
    now = clock.now()
    report = IngestReport()
    valid: list[tuple[int, IncomingUsage]] = []
    for index, record in enumerate(records):
        reason = _check(record, now)
        if reason:
            report.rejected.append(RejectedUsage(index, record.record_id, reason))
        else:
            valid.append((index, record))
    esims = dict(EsimProfile.objects.filter(iccid__in={r.iccid for _, r in valid}).values_list("iccid", "id"))
    known: list[tuple[int, IncomingUsage]] = []
    for index, record in valid:
        if record.iccid in esims:
            known.append((index, record))
        else:
            report.rejected.append(RejectedUsage(index, record.record_id, f"unknown ICCID {record.iccid}"))
    try:
        with transaction.atomic():
            fresh = _drop_duplicates(known, report)
            _store(fresh, esims, now)
    except IntegrityError:
        # A concurrent batch stored some of the same records first: count again.
        report.duplicates = 0
        fresh = _drop_duplicates(known, report)
        _store(fresh, esims, now)
    report.accepted = len(fresh)
    report.rejected.sort(key=lambda r: r.index)
    return report


def _drop_duplicates(known: list[tuple[int, IncomingUsage]], report: IngestReport) -> list[IncomingUsage]:
    keys = {(r.source, r.record_id) for _, r in known}
    stored: set[tuple[str, str]] = set()
    by_source: dict[str, list[str]] = defaultdict(list)
    for source, record_id in keys:
        by_source[source].append(record_id)
    for source, ids in by_source.items():
        for start in range(0, len(ids), 500):
            stored.update(
                UsageRecord.objects.filter(source=source, record_id__in=ids[start : start + 500]).values_list(
                    "source", "record_id"
                )
            )
    fresh: list[IncomingUsage] = []
    for _, record in known:
        key = (record.source, record.record_id)
        if key in stored:
            report.duplicates += 1
        else:
            stored.add(key)
            fresh.append(record)
    return fresh


def _store(records: list[IncomingUsage], esims: dict[str, int], now: datetime) -> None:
    if not records:
        return
    esim_ids = {esims[r.iccid] for r in records}
    earliest = min(r.occurred_at for r in records)
    periods_by_esim: dict[int, list[tuple[datetime, datetime, int]]] = defaultdict(list)
    for owner_esim_id, starts_at, ends_at, ended_at, known_period_id in (
        Period.objects.filter(subscription__esim_id__in=esim_ids, ends_at__gt=earliest)
        .order_by("-starts_at", "-id")
        .values_list("subscription__esim_id", "starts_at", "ends_at", "subscription__ended_at", "id")
    ):
        # A subscription cancelled "now" gave no service after `ended_at`, even though its period
        # ran on; the eSIM's usage from then on belongs to whatever plan it has next. Where two
        # periods cover a moment, the latest started one is the plan in service.
        periods_by_esim[owner_esim_id].append((starts_at, min(ends_at, ended_at or ends_at), known_period_id))
    added: dict[int, int] = defaultdict(int)
    rows = []
    for record in records:
        esim_id = esims[record.iccid]
        period_id: int | None = next(
            (pid for start, end, pid in periods_by_esim[esim_id] if start <= record.occurred_at < end), None
        )
        if period_id is not None:
            added[period_id] += record.bytes
        rows.append(
            UsageRecord(
                source=record.source,
                record_id=record.record_id,
                esim_id=esim_id,
                period_id=period_id,
                bytes=record.bytes,
                occurred_at=record.occurred_at,
                received_at=now,
            )
        )
    UsageRecord.objects.bulk_create(rows, batch_size=1000)
    for period_id, total in added.items():
        Period.objects.filter(pk=period_id).update(used_bytes=F("used_bytes") + total)


def usage_by_day(period: Period) -> list[dict[str, Any]]:
    """Bytes per day within a period, for charts and forecasts; days are those of the active time zone."""
    from django.db.models import Sum
    from django.db.models.functions import TruncDate

    return list(
        UsageRecord.objects.filter(Q(period=period))
        .annotate(day=TruncDate("occurred_at"))
        .values("day")
        .annotate(bytes=Sum("bytes"))
        .order_by("day")
    )
