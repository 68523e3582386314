"""Bulk writes and reads of the worker's batches (kit.rows): a duplicate in a batch is the
same IntegrityError as after any INSERT and writes nothing, and rows read in binary on
PostgreSQL carry the timestamps that were stored, in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import IntegrityError, connection, transaction

from simrenew.kit import rows
from simrenew.payments.models import SandboxCharge
from simrenew.payments.sandbox import LEDGER_COLUMNS

pytestmark = pytest.mark.django_db

AT = datetime(2026, 3, 1, 9, 30, 15, 250000, tzinfo=UTC)


def ledger_row(key: str, at: datetime = AT) -> tuple[object, ...]:
    return (key, f"ch_{key}", "tok_visa", 900, "USD", "succeeded", "", 0, at)


def test_a_batch_with_a_key_already_written_raises_integrity_error_and_writes_none_of_it():
    rows.insert_many(SandboxCharge, LEDGER_COLUMNS, [ledger_row("first")], returning=False)

    with pytest.raises(IntegrityError), transaction.atomic():
        rows.insert_many(SandboxCharge, LEDGER_COLUMNS, [ledger_row("second"), ledger_row("first")])

    assert list(SandboxCharge.objects.values_list("idempotency_key", flat=True)) == ["first"]


def test_rows_read_in_binary_carry_the_stored_instants_in_utc():
    if connection.vendor != "postgresql":
        pytest.skip("binary results are PostgreSQL's (SQLite has no such wire format)")
    tokyo = timezone(timedelta(hours=9))
    ids = rows.insert_many(SandboxCharge, LEDGER_COLUMNS, [ledger_row("a"), ledger_row("b", AT.astimezone(tokyo))])

    found = rows.fetch_binary(
        "SELECT id, idempotency_key, amount_minor, created_at FROM payments_sandboxcharge WHERE id = ANY(%s)"
        " ORDER BY id",
        [ids],
    )

    assert [(key, amount) for _, key, amount, _ in found] == [("a", 900), ("b", 900)]
    assert [at for *_, at in found] == [AT, AT]
    assert all(at.utcoffset() == timedelta(0) for *_, at in found)
