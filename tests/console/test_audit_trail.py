"""The audit trail is append-only: the model, the console and the database itself refuse
to rewrite an entry (and PostgreSQL refuses to delete one)."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from simrenew.audit.models import AuditEntry, AuditEntryIsFinal
from simrenew.console.audit import record_change, snapshot
from tests.factories import make_customer


def an_entry() -> AuditEntry:
    customer = make_customer(name="Grace Hopper")
    return record_change(
        actor=None,
        actor_name="cli",
        action="change",
        target=customer,
        before={"name": "Grace"},
        after=snapshot(customer),
    )


def test_an_entry_says_who_what_before_after_and_about_whom(clock):
    entry = an_entry()

    assert entry.actor_label == "cli" and entry.actor is None
    assert entry.target_type == "customers.customer" and entry.customer_id == int(entry.target_id)
    assert entry.before == {"name": "Grace"} and entry.after["name"] == "Grace Hopper"
    assert "password" not in entry.after


def test_the_model_refuses_to_change_or_delete_an_entry(clock):
    entry = an_entry()
    entry.reason = "rewritten"

    with pytest.raises(AuditEntryIsFinal):
        entry.save()
    with pytest.raises(AuditEntryIsFinal):
        entry.delete()


def test_the_database_refuses_an_update_even_from_raw_sql(clock):
    entry = an_entry()

    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(reason="rewritten")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE console_auditentry SET actor_label = %s WHERE id = %s", ["someone", entry.pk])

    entry.refresh_from_db()
    assert entry.reason == "" and entry.actor_label == "cli"


@pytest.mark.postgres_only
def test_postgresql_refuses_a_delete_too(clock):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite keeps DELETE for the test runner's table flush (see console migration 0002)")
    entry = an_entry()

    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()

    assert AuditEntry.objects.filter(pk=entry.pk).exists()
