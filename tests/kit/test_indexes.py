"""The indexes the renewal path writes: Django's unread copies are gone on PostgreSQL,
and the migration helper that drops them puts them back on the way down."""

from __future__ import annotations

import pytest
from django.db import connection

from simrenew.kit.indexes import create_single_column_index, drop_single_column_index

pytestmark = pytest.mark.django_db


def indexes_of(table: str) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [table])
        return dict(cursor.fetchall())


@pytest.fixture
def postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the indexes are dropped on PostgreSQL only; SQLite keeps Django's")


def test_tables_each_renewal_writes_keep_only_indexes_someone_reads(postgresql):
    sandbox = indexes_of("payments_sandboxcharge").values()
    invoices = indexes_of("billing_invoice").values()
    subscriptions = indexes_of("subscriptions_subscription")
    periods = indexes_of("subscriptions_period")
    attempts = indexes_of("payments_paymentattempt").values()

    assert not [d for d in sandbox if "varchar_pattern_ops" in d]
    assert not [d for d in invoices if "varchar_pattern_ops" in d]
    for unread in ("(customer_id)", "(payment_method_id)", "(plan_id)"):
        assert not [d for d in subscriptions.values() if d.endswith(unread)]
    assert not [d for d in periods.values() if d.endswith(("(subscription_id)", "(plan_id)"))]
    assert not [d for d in attempts if d.endswith("(payment_method_id)")]
    # A period is still found by its subscription, through the number's unique index.
    assert periods["period_number_unique"].endswith("(subscription_id, number)")
    # What the lookups use is still there: the unique keys, and customer_id first in a pair.
    assert sum("UNIQUE" in d and "(idempotency_key)" in d for d in sandbox) == 1
    assert sum("UNIQUE" in d and "(number)" in d for d in invoices) == 1
    assert subscriptions["subscription_customer_state"].endswith("(customer_id, state)")


def test_dropping_takes_only_the_index_asked_for_and_restoring_puts_it_back(postgresql):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE scratch_codes (id int PRIMARY KEY, code varchar(20), owner int)")
        cursor.execute("CREATE UNIQUE INDEX scratch_codes_unique ON scratch_codes (code)")
        cursor.execute("CREATE INDEX scratch_codes_like ON scratch_codes (code varchar_pattern_ops)")
        cursor.execute("CREATE INDEX scratch_codes_owner ON scratch_codes (owner)")
    with connection.schema_editor() as editor:
        drop_single_column_index(editor, "scratch_codes", "code", "varchar_pattern_ops")
        drop_single_column_index(editor, "scratch_codes", "owner")

    assert set(indexes_of("scratch_codes")) == {"scratch_codes_pkey", "scratch_codes_unique"}

    with connection.schema_editor() as editor:
        create_single_column_index(editor, "scratch_codes", "code", "varchar_pattern_ops")
        create_single_column_index(editor, "scratch_codes", "owner")

    restored = indexes_of("scratch_codes")
    assert "varchar_pattern_ops" in restored["scratch_codes_code_like"]
    assert restored["scratch_codes_owner_idx"].endswith("(owner)")


def test_subscription_pages_leave_room_for_a_batch_of_claims(postgresql):
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'subscriptions_subscription'")
        (options,) = cursor.fetchone()

    assert "fillfactor=45" in options
