"""Usage records from carriers: ingested in bulk, deduplicated by (source, record_id)."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest
from ninja import Field, Router, Schema
from pydantic import ConfigDict

from simrenew.api.idempotency import idempotent
from simrenew.api.routers.common import StorableDatetime, Text
from simrenew.api.schemas import InputSchema
from simrenew.usage.services import MAX_BATCH, IncomingUsage, IngestReport, ingest

router = Router(tags=["usage"])

# One record of more than a tebibyte is a unit mistake, not usage; refusing it also keeps
# period counters far from the 64-bit limit.
MAX_RECORD_BYTES = 2**40


class UsageRecordIn(InputSchema):
    source: Text = Field(..., description="Who reports it, e.g. att-cdr; with record_id, unique.")
    record_id: Text = Field(..., description="The reporter's id of the record; a resend is a duplicate.")
    iccid: Text = Field(..., description="The eSIM that used the data.")
    bytes: int = Field(..., le=MAX_RECORD_BYTES, description="Bytes used; a negative count is rejected.")
    occurred_at: StorableDatetime = Field(..., description="When, ISO 8601 with a UTC offset.")


class UsageBatchIn(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "records": [
                        {
                            "source": "att-cdr",
                            "record_id": "cdr-2026-01-15-000123",
                            "iccid": "8901260000000012345",
                            "bytes": 52428800,
                            "occurred_at": "2026-01-15T12:00:00+00:00",
                        }
                    ]
                }
            ]
        }
    )

    records: list[UsageRecordIn] = Field(..., max_length=MAX_BATCH, description="At most 10,000.")


class RejectedUsageOut(Schema):
    index: int = Field(..., description="The record's position in `records`, from 0.")
    record_id: str
    reason: str


class IngestReportOut(Schema):
    accepted: int
    duplicates: int = Field(..., description="Records already received; they change nothing.")
    rejected: list[RejectedUsageOut]


@router.post("", response=IngestReportOut, summary="Report data usage")
@idempotent()
def report_usage(request: HttpRequest, payload: UsageBatchIn) -> IngestReport:
    """Each record counts against the period its moment falls in, however late or out of order it
    arrives. A record that cannot be used (unknown ICCID, negative bytes, no UTC offset, in the
    future) is listed in `rejected` with the reason; the others are stored. A body that is not this
    shape (wrong JSON types, over 10,000 records) is refused whole (422)."""
    records = [
        IncomingUsage(
            source=record.source,
            record_id=record.record_id,
            iccid=record.iccid,
            bytes=record.bytes,
            occurred_at=record.occurred_at,
        )
        for record in payload.records
    ]
    with transaction.atomic():
        return ingest(records)
