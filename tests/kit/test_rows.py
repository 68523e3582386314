"""Bulk writes and reads of the worker's batches (kit.rows): a duplicate in a batch is the
same IntegrityError as after any INSERT and writes nothing, and rows read in binary on
PostgreSQL carry the timestamps that were stored, in UTC."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

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


# --- who may write around the ORM ---------------------------------------------------------------------------------

SOURCE = Path(__file__).resolve().parents[2] / "src" / "simrenew"

# The worker's bulk paths: where a batch writes thousands of rows at once. None = the whole module;
# else only these functions (their modules also hold single-request paths, which use the ORM).
BULK_PATHS: dict[str, frozenset[str] | None] = {
    "subscriptions/autorenew_settle.py": None,
    "subscriptions/autorenew_claims.py": frozenset({"claim_batch"}),
    # views_of reads (the dashboard's periods in plain SQL): rows.among only builds its IN list.
    "subscriptions/queries.py": frozenset({"last_periods", "lock_for_renewal", "views_of"}),
    "notifications/services.py": frozenset({"emit_many"}),
    "billing/services.py": frozenset({"issue_invoices"}),
    "payments/sandbox.py": frozenset({"charge_many"}),
    # The line outbox: the service changes of a batch (a worker's 500 suspensions; a request's one
    # start) and the worker's answers from the carrier, thousands at a time.
    "provisioning/lines.py": frozenset({"on_service_changes"}),
    "provisioning/line_orders.py": frozenset({"_apply", "_apply_completions"}),
}


def uses_of_rows(source: str, allowed: frozenset[str] | None = frozenset()) -> list[str]:
    """Where `source` reaches `kit.rows` outside the `allowed` functions, as 'line: code'. None
    allows the whole module; an empty set (a module off the bulk path) allows not even the import."""
    tree = ast.parse(source)
    imports = [
        node.lineno
        for node in ast.walk(tree)
        if (isinstance(node, ast.ImportFrom) and node.module == "simrenew.kit.rows")
        or (isinstance(node, ast.Import) and any(alias.name == "simrenew.kit.rows" for alias in node.names))
        or (
            isinstance(node, ast.ImportFrom)
            and node.module == "simrenew.kit"
            and any(alias.name == "rows" for alias in node.names)
        )
    ]
    if not imports or allowed is None:
        return []
    spans = [
        range(node.lineno, (node.end_lineno or node.lineno) + 1)
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in allowed
    ]
    found = [] if allowed else imports
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "simrenew.kit.rows" and allowed:
            found.append(node.lineno)  # `rows.…` only, so that every use is seen below
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "rows"
            and not any(node.lineno in span for span in spans)
        ):
            found.append(node.lineno)
    lines = source.splitlines()
    return [f"{line}: {lines[line - 1].strip()}" for line in sorted(found)]


def test_only_the_worker_bulk_paths_write_around_the_orm():
    """A single API or portal request writes through the ORM, so that a model's `save()`, its
    signals and `auto_now` fields are never skipped; kit.rows is for batches."""
    offenders = {}
    for path in sorted(SOURCE.rglob("*.py")):
        name = path.relative_to(SOURCE).as_posix()
        if name.startswith("kit/") or "/migrations/" in name:
            continue
        found = uses_of_rows(path.read_text(), BULK_PATHS.get(name, frozenset()))
        if found:
            offenders[name] = found

    assert offenders == {}


def test_the_check_sees_a_single_request_writing_around_the_orm():
    portal_view = "from simrenew.kit import clock, rows\n\ndef renew(request):\n    rows.insert_many(X, (), [])\n"
    outbox = (
        "from simrenew.kit import rows\n\n"
        "def emit_many(events):\n    rows.insert_many(X, (), events)\n\n"
        "def emit(event):\n    rows.insert_many(X, (), [event])\n"
    )

    assert uses_of_rows(portal_view) == ["1: from simrenew.kit import clock, rows", "4: rows.insert_many(X, (), [])"]
    assert uses_of_rows(outbox, frozenset({"emit_many"})) == ["7: rows.insert_many(X, (), [event])"]
    assert uses_of_rows(outbox, None) == []
