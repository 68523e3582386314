"""`Subscription.sequence` leaves Django's state in one release and the PostgreSQL table in the
next (expand/contract, migration 0008): during a rolling deploy the old processes, which still
name the column, and the new ones, which do not, both write subscriptions. SQLite, which is
never deployed while running, drops the column at once."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from simrenew.subscriptions import service_changes
from simrenew.subscriptions.models import Subscription
from tests.factories import make_subscription

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("migrations_restored")]

BEFORE = [("subscriptions", "0007_periods_running_low")]
AFTER = [("subscriptions", "0008_remove_subscription_sequence")]


def migrate(targets: list[tuple[str, str]]) -> None:
    MigrationExecutor(connection).migrate(targets)


def sequence_column() -> tuple[bool, str | None]:
    """Whether the table has the column, and its database default (PostgreSQL only)."""
    with connection.cursor() as cursor:
        columns = [c.name for c in connection.introspection.get_table_description(cursor, "subscriptions_subscription")]
        if "sequence" not in columns or connection.vendor != "postgresql":
            return "sequence" in columns, None
        cursor.execute(
            "SELECT column_default FROM information_schema.columns"
            " WHERE table_name = 'subscriptions_subscription' AND column_name = 'sequence'"
        )
        return True, cursor.fetchone()[0]


def test_the_column_outlives_the_release_on_postgresql_and_goes_at_once_on_sqlite(clock, monkeypatch):
    # Going back to 0007 takes provisioning's tables (they depend on 0009): no line orders here.
    monkeypatch.setattr(service_changes, "_listeners", [])
    existing = make_subscription()
    migrate(BEFORE)
    assert sequence_column() == (True, None)  # as 0001 made it: Django keeps defaults in Python
    with connection.cursor() as cursor:
        cursor.execute("SELECT sequence FROM subscriptions_subscription WHERE id = %s", [existing.pk])
        assert cursor.fetchone()[0] == 0

    migrate(AFTER)

    if connection.vendor == "postgresql":
        assert sequence_column() == (True, "0")
        # An old process, still running during the deploy, bumps it as it always did.
        with connection.cursor() as cursor:
            cursor.execute("UPDATE subscriptions_subscription SET sequence = sequence + 1 WHERE id = %s", [existing.pk])
            assert cursor.rowcount == 1
    else:
        assert sequence_column() == (False, None)
    # A new process inserts without naming the column.
    added = make_subscription()
    assert Subscription.objects.filter(pk__in=[existing.pk, added.pk]).count() == 2


def test_going_back_restores_the_column_as_it_was():
    migrate(BEFORE)
    migrate(AFTER)
    migrate(BEFORE)
    assert sequence_column() == (True, None)
    migrate(AFTER)
    assert sequence_column() == ((True, "0") if connection.vendor == "postgresql" else (False, None))
