"""A change to a subscription (a paid period appended) first locks its row, so two payments
never both read the same last period: PostgreSQL with a row lock, SQLite with its single
writer lock, which the lock takes whatever mode the transaction was opened in."""

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.db import OperationalError, connection, connections, transaction

from simrenew.subscriptions import queries
from simrenew.subscriptions.models import SubscriptionState
from simrenew.subscriptions.queries import LockedSubscription, lock_for_change
from tests.factories import make_subscription


@pytest.mark.django_db
def test_the_lock_answers_the_rows_fresh_state(clock):
    subscription = make_subscription()
    with transaction.atomic():
        assert lock_for_change(subscription.pk) == LockedSubscription(
            SubscriptionState.LIVE, None, subscription.plan_id
        )


def test_on_sqlite_the_lock_holds_the_writer_lock_in_a_deferred_transaction(tmp_path: Path):
    database = tmp_path / "lock.sqlite3"
    setup = sqlite3.connect(database)
    setup.execute(
        "CREATE TABLE subscriptions_subscription (id INTEGER PRIMARY KEY, state TEXT, ended_at TEXT, plan_id INTEGER)"
    )
    setup.execute("INSERT INTO subscriptions_subscription VALUES (7, 'live', NULL, 3)")
    setup.commit()
    setup.close()
    first = sqlite3.connect(database, timeout=0, isolation_level=None)
    second = sqlite3.connect(database, timeout=0, isolation_level=None)

    first.execute("BEGIN DEFERRED")
    assert first.execute(queries._LOCK_FOR_CHANGE_SQLITE.replace("%s", "?"), [7]).fetchall() == [("live", None, 3)]

    with pytest.raises(sqlite3.OperationalError, match="locked"):
        second.execute("BEGIN IMMEDIATE")  # what the other payment's change would begin with
    first.execute("COMMIT")
    second.execute("BEGIN IMMEDIATE")
    second.execute("COMMIT")


@pytest.mark.django_db(transaction=True)
def test_on_postgresql_a_second_change_waits_for_the_first(clock):
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's")
    subscription = make_subscription()
    locked, release = threading.Event(), threading.Event()

    def first_change() -> None:
        try:
            with transaction.atomic():
                lock_for_change(subscription.pk)
                locked.set()
                release.wait(10)
        finally:
            connections.close_all()

    def second_change() -> object:
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '200ms'")
                return lock_for_change(subscription.pk)
        except OperationalError as error:
            return error
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=2) as pool:
        holding = pool.submit(first_change)
        assert locked.wait(10)
        waited = pool.submit(second_change).result()
        release.set()
        holding.result()
    assert isinstance(waited, OperationalError) and "lock timeout" in str(waited)
    # Rows that only refer to the subscription (its periods, invoices) are not kept out: the
    # lock is FOR NO KEY UPDATE, not FOR UPDATE.
    assert queries._LOCK_FOR_CHANGE_POSTGRESQL.endswith("FOR NO KEY UPDATE")
