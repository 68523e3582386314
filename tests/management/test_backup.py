"""An operator backs the database up with `simrenew backup` and brings it back with `simrenew
restore`, as real processes against real databases of the kind the suite runs on (SQLite, or
PostgreSQL under scripts/with_postgres.py): every customer, period, invoice, event and audit row
comes back with the same values, and a backup that is not intact, of the wrong kind, or aimed at a
database holding data is refused with a clear message, changing nothing."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder

from simrenew.audit.models import AuditEntry
from simrenew.billing.models import Invoice
from simrenew.customers.models import Customer
from simrenew.kit.actors import Actor, acting_as
from simrenew.kit.backups import DUMP_FILES
from simrenew.notifications.models import OutboxMessage
from simrenew.subscriptions.models import Period, Subscription
from tests.factories import make_customer, make_plan, make_subscription, renew

SIMRENEW = str(Path(sys.executable).with_name("simrenew"))
REPO = Path(__file__).resolve().parents[2]


def simrenew(*args: str, url: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """The real command, in sandbox mode, against the database at `url`."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("SIMRENEW_", "DJANGO_")) or name == "SIMRENEW_PG_BIN"
    }
    env.update(
        DJANGO_SETTINGS_MODULE="simrenew.settings",
        SIMRENEW_SANDBOX="1",
        SIMRENEW_DATABASE_URL=url,
        SIMRENEW_VAR_DIR=str(folder / "var"),
    )
    return subprocess.run([SIMRENEW, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=300)


class Databases:
    """Databases of the suite's kind that other processes can open."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.vendor = connection.vendor
        self.created: list[str] = []

    def of_this_test(self) -> str:
        """The database the factories wrote, as a URL. pytest-django keeps SQLite's in memory, which
        no other process can open: a file copy of it then (VACUUM INTO, not the code under test)."""
        settings = connection.settings_dict
        if self.vendor == "postgresql":
            return self.postgresql_url(settings["NAME"])
        path = self.folder / f"live-{uuid.uuid4().hex[:8]}.sqlite3"
        with connection.cursor() as cursor:
            cursor.execute("VACUUM INTO %s", [str(path)])
        return f"sqlite:///{path}"

    def fresh(self) -> str:
        """A new, empty database: a file not yet there, or a database made on the test server."""
        if self.vendor != "postgresql":
            return f"sqlite:///{self.folder / f'fresh-{uuid.uuid4().hex[:8]}.sqlite3'}"
        name = f"simrenew_restore_{uuid.uuid4().hex[:12]}"
        self._admin(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return self.postgresql_url(name)

    def rows(self, url: str, table: str) -> list[dict[str, Any]]:
        """Every row of `table`, by id, as the database hands it back."""
        statement = f'SELECT * FROM "{table}" ORDER BY id'
        if self.vendor == "postgresql":
            import psycopg
            from psycopg.rows import dict_row

            with psycopg.connect(url, row_factory=dict_row) as database:
                return list(database.execute(statement).fetchall())
        with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as database:
            database.row_factory = sqlite3.Row
            return [dict(row) for row in database.execute(statement)]

    def tables(self, url: str) -> list[str]:
        if self.vendor == "postgresql":
            import psycopg

            with psycopg.connect(url) as database:
                found = database.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
                return sorted(name for (name,) in found)
        path = Path(url.removeprefix("sqlite:///"))
        if not path.exists():
            return []
        with closing(sqlite3.connect(path)) as database:
            return sorted(name for (name,) in database.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))

    def drop_all(self) -> None:
        for name in self.created:
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def postgresql_url(self, name: str) -> str:
        settings = connection.settings_dict
        user = quote(settings["USER"] or "", safe="")
        password = f":{quote(settings['PASSWORD'], safe='')}" if settings["PASSWORD"] else ""
        port = f":{settings['PORT']}" if settings["PORT"] else ""
        return f"postgresql://{user}{password}@{settings['HOST'] or 'localhost'}{port}/{name}"

    def _admin(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(self.postgresql_url("postgres"), autocommit=True) as server:
            server.execute(statement)


@pytest.fixture
def databases(tmp_path: Path) -> Iterator[Databases]:
    handle = Databases(tmp_path)
    try:
        yield handle
    finally:
        if handle.vendor == "postgresql":
            handle.drop_all()


def backed_up(url: str, folder: Path) -> Path:
    backup = folder / f"backup-{uuid.uuid4().hex[:8]}"
    made = simrenew("backup", "--output", str(backup), url=url, folder=folder)
    assert made.returncode == 0, made.stderr
    assert made.stdout.splitlines()[-1] == str(backup)  # where it wrote, the last line
    return backup


def refused(answer: subprocess.CompletedProcess[str], says: str) -> None:
    assert answer.returncode == 1, answer.stdout
    assert says in answer.stderr
    assert "Traceback" not in answer.stderr


@pytest.mark.django_db(transaction=True)  # committed rows: other processes read them
def test_a_backup_restored_into_a_fresh_database_holds_every_customer_period_invoice_event_and_audit_row(
    clock, databases, tmp_path
):
    ada = make_customer(email="ada@example.com", name="Ada Lovelace", time_zone="America/New_York")
    li = make_customer(email="li@example.com", name="李雷", time_zone="Asia/Shanghai", locale="zh-hans")
    monthly = make_subscription(customer=ada, plan=make_plan(period_unit="month", price_minor=2500))
    renew(monthly)  # a second period, prepaid
    make_subscription(customer=li, plan=make_plan(carrier="tmobile", period_unit="day", period_count=7))
    with acting_as(Actor.for_cli()):
        clock.advance(hours=5)  # moving the test clock from the command line is audited
    kept = (Customer, Subscription, Period, Invoice, OutboxMessage, AuditEntry)
    made = {model: model.objects.count() for model in kept}
    assert made[Period] == 3 and made[Invoice] == 3 and made[OutboxMessage] > 0 and made[AuditEntry] > 0
    live = databases.of_this_test()

    backup = backed_up(live, tmp_path)
    target = databases.fresh()
    restore = simrenew("restore", str(backup), url=target, folder=tmp_path)

    assert restore.returncode == 0, restore.stderr
    assert "every table's row count matches the backup's" in restore.stdout
    for model in kept:
        table = model._meta.db_table
        restored = databases.rows(target, table)
        assert len(restored) == made[model]
        assert restored == databases.rows(live, table), table
    customers = databases.rows(target, Customer._meta.db_table)
    assert [(row["name"], row["time_zone"]) for row in customers] == [
        ("Ada Lovelace", "America/New_York"),
        ("李雷", "Asia/Shanghai"),
    ]
    manifest = json.loads((backup / "manifest.json").read_text())
    assert manifest["format_version"] == 1 and manifest["vendor"] == connection.vendor
    assert manifest["created_at"].endswith("Z")
    assert manifest["tables"][Period._meta.db_table] == 3
    assert manifest["tables"][Customer._meta.db_table] == 2
    applied = MigrationRecorder(connection).applied_migrations()
    assert manifest["migrations"]["billing"] == max(name for app, name in applied if app == "billing")
    assert manifest["dump"]["file"] in {path.name for path in backup.iterdir()}
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(".")) == []  # no partial left


def test_an_older_backup_restored_then_migrated_runs_the_newer_migrations(databases, tmp_path):
    older = databases.fresh()
    assert simrenew("migrate", "-v0", url=older, folder=tmp_path).returncode == 0
    assert simrenew("migrate", "-v0", "billing", "0003", url=older, folder=tmp_path).returncode == 0
    backup = backed_up(older, tmp_path)
    assert json.loads((backup / "manifest.json").read_text())["migrations"]["billing"] == "0003_invoice_fewer_indexes"
    target = databases.fresh()

    restore = simrenew("restore", str(backup), url=target, folder=tmp_path)
    migrate = simrenew("migrate", url=target, folder=tmp_path)

    assert restore.returncode == 0, restore.stderr
    assert migrate.returncode == 0, migrate.stderr
    assert "Applying billing.0004_refund_retry_backoff... OK" in migrate.stdout
    shown = simrenew("showmigrations", "billing", url=target, folder=tmp_path)
    assert "[X] 0004_refund_retry_backoff" in shown.stdout


class Writer(threading.Thread):
    """Another process's writes (the server's, the worker's): a row a moment into a table of its own,
    each committed, until told to stop."""

    TABLE = "story_writes"

    def __init__(self, databases: Databases, url: str) -> None:
        super().__init__(daemon=True)
        self.databases, self.url = databases, url
        self.stop = threading.Event()
        self.written = 0
        self.failure: BaseException | None = None
        key = "bigserial PRIMARY KEY" if databases.vendor == "postgresql" else "INTEGER PRIMARY KEY"
        self._execute(f"CREATE TABLE story_writes (id {key}, note TEXT NOT NULL)")
        self._execute("INSERT INTO story_writes (note) VALUES ('before the backup')")

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self._execute("INSERT INTO story_writes (note) VALUES ('while the backup runs')")
                self.written += 1
        except BaseException as exc:  # the test reports it
            self.failure = exc

    def drop(self) -> None:
        self._execute("DROP TABLE IF EXISTS story_writes")

    def _execute(self, statement: str) -> None:
        if self.databases.vendor == "postgresql":
            import psycopg

            with psycopg.connect(self.url, autocommit=True) as database:
                database.execute(statement)
            return
        with closing(sqlite3.connect(self.url.removeprefix("sqlite:///"), timeout=30, isolation_level=None)) as db:
            db.execute("PRAGMA journal_mode=WAL")  # as the server's and the worker's connections
            db.execute(statement)


@pytest.mark.django_db(transaction=True)
def test_a_backup_taken_while_others_write_is_one_consistent_moment(clock, databases, tmp_path):
    make_subscription()
    live = databases.of_this_test()
    writer = Writer(databases, live)
    try:
        writer.start()
        backup = backed_up(live, tmp_path)
        writer.stop.set()
        writer.join(timeout=30)
        assert writer.failure is None, writer.failure
        target = databases.fresh()
        restore = simrenew("restore", str(backup), url=target, folder=tmp_path)
        written = len(databases.rows(live, Writer.TABLE))
    finally:
        writer.stop.set()
        writer.join(timeout=30)
        writer.drop()

    # The manifest counts what the dump holds, not what the table held a moment before or after:
    # the restore finds exactly those rows, though writing went on through the backup.
    assert restore.returncode == 0, restore.stderr
    in_backup = json.loads((backup / "manifest.json").read_text())["tables"][Writer.TABLE]
    assert len(databases.rows(target, Writer.TABLE)) == in_backup
    assert 1 <= in_backup < written


@pytest.fixture
def backup(transactional_db, databases, tmp_path) -> Path:
    make_customer(email="ada@example.com")
    return backed_up(databases.of_this_test(), tmp_path)


@pytest.mark.parametrize("damage", ["one byte changed", "cut short"])
def test_a_tampered_or_truncated_dump_is_refused_and_nothing_is_restored(backup, databases, tmp_path, damage):
    manifest = json.loads((backup / "manifest.json").read_text())
    dump = backup / manifest["dump"]["file"]
    content = dump.read_bytes()
    if damage == "one byte changed":
        middle = len(content) // 2
        dump.write_bytes(content[:middle] + bytes([content[middle] ^ 0xFF]) + content[middle + 1 :])
    else:
        dump.write_bytes(content[: len(content) // 2])
    target = databases.fresh()

    answer = simrenew("restore", str(backup), url=target, folder=tmp_path)

    refused(answer, "is not the dump the manifest describes")
    assert ("SHA-256 differs" if damage == "one byte changed" else "cut short") in answer.stderr
    assert "Nothing was restored" in answer.stderr
    assert databases.tables(target) == []


def test_restoring_over_a_database_that_holds_data_is_refused_without_force(backup, databases, tmp_path):
    target = databases.fresh()
    assert simrenew("restore", str(backup), url=target, folder=tmp_path).returncode == 0
    make_customer(email="grace@example.com")  # the day goes on: a newer backup holds two customers
    newer = backed_up(databases.of_this_test(), tmp_path)

    without_force = simrenew("restore", str(newer), url=target, folder=tmp_path)
    untouched = databases.rows(target, Customer._meta.db_table)
    with_force = simrenew("restore", "--force", str(newer), url=target, folder=tmp_path)

    refused(without_force, "already holds data")
    assert "--force" in without_force.stderr
    assert [row["email"] for row in untouched] == ["ada@example.com"]
    assert with_force.returncode == 0, with_force.stderr
    restored = databases.rows(target, Customer._meta.db_table)
    assert [row["email"] for row in restored] == ["ada@example.com", "grace@example.com"]


def test_a_backup_of_another_kind_of_database_is_refused(backup, databases, tmp_path):
    # The same backup, relabelled as the other vendor's (its checksum still holds).
    other = "sqlite" if connection.vendor == "postgresql" else "postgresql"
    dump_name = DUMP_FILES[other]
    manifest = json.loads((backup / "manifest.json").read_text())
    (backup / manifest["dump"]["file"]).rename(backup / dump_name)
    manifest.update(vendor=other, dump={**manifest["dump"], "file": dump_name})
    (backup / "manifest.json").write_text(json.dumps(manifest))
    target = databases.fresh()

    answer = simrenew("restore", str(backup), url=target, folder=tmp_path)

    refused(answer, f"The backup is of a {other} database and SIMRENEW_DATABASE_URL points at a {connection.vendor}")
    assert databases.tables(target) == []


@pytest.mark.parametrize(
    ("what", "says"),
    [
        ("no folder", "There is no backup at"),
        ("a folder without a manifest", "holds no manifest.json"),
        ("a manifest that is not JSON", "manifest.json cannot be read"),
        ("another program's manifest", "The manifest is malformed"),
        ("a manifest without its dump", "holds no database.sqlite3"),
    ],
)
def test_something_that_is_not_a_backup_is_refused_with_a_clear_error(databases, tmp_path, what, says):
    path = tmp_path / "not-a-backup"
    if what != "no folder":
        path.mkdir()
    manifests = {
        "a manifest that is not JSON": "{half a manifest",
        "another program's manifest": json.dumps({"dump": "everything.tar", "version": 3}),
        "a manifest without its dump": json.dumps(
            {
                "format_version": 1,
                "simrenew_version": "0.1.0",
                "vendor": "sqlite",
                "created_at": "2026-12-05T21:00:00Z",
                "dump": {"file": "database.sqlite3", "bytes": 4096, "sha256": "0" * 64},
                "migrations": {},
                "tables": {},
            }
        ),
    }
    if what in manifests:
        (path / "manifest.json").write_text(manifests[what])

    answer = simrenew("restore", str(path), url=databases.fresh(), folder=tmp_path)

    refused(answer, says)


def test_a_backup_never_overwrites_and_leaves_nothing_behind_when_it_fails(backup, databases, tmp_path):
    before = {path.name for path in tmp_path.iterdir()}
    missing = (
        databases.postgresql_url(f"simrenew_missing_{uuid.uuid4().hex[:8]}")
        if databases.vendor == "postgresql"
        else f"sqlite:///{tmp_path / 'missing.sqlite3'}"
    )

    over_a_backup = simrenew("backup", "--output", str(backup), url=databases.of_this_test(), folder=tmp_path)
    of_nothing = simrenew("backup", "--output", str(tmp_path / "new"), url=missing, folder=tmp_path)

    refused(over_a_backup, "already exists: a backup never overwrites anything")
    refused(of_nothing, "No backup was written")
    assert ("does not exist" if databases.vendor == "postgresql" else "There is no database at") in of_nothing.stderr
    assert json.loads((backup / "manifest.json").read_text())["tables"][Customer._meta.db_table] == 1
    left = {path.name for path in tmp_path.iterdir()} - before
    assert not [name for name in left if name == "new" or ".partial-" in name]


def test_pg_dump_gets_the_password_from_the_environment_and_its_failure_is_reported(db, databases, tmp_path):
    if databases.vendor != "postgresql":
        pytest.skip("pg_dump backs up PostgreSQL only")
    # Stands in for pg_dump (SIMRENEW_PG_BIN): notes what it was given, then fails as a real one does.
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "pg_dump").write_text(
        "#!/bin/sh\n"
        'printf "%s\\n" "$@" > "$(dirname "$0")/arguments"\n'
        'printf "%s" "$PGPASSWORD" > "$(dirname "$0")/password"\n'
        'echo "pg_dump: error: query failed: ERROR:  permission denied for table customers_customer" >&2\n'
        "exit 1\n"
    )
    (tools / "pg_dump").chmod(0o755)
    if connection.settings_dict["PASSWORD"]:
        pytest.skip("the test server asks for its own password")
    url = databases.postgresql_url(connection.settings_dict["NAME"]).replace("@", ":s3cret-Pa55@", 1)
    before = {path.name for path in tmp_path.iterdir()}

    answer = subprocess.run(
        [SIMRENEW, "backup", "--output", str(tmp_path / "nightly")],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith(("SIMRENEW_", "DJANGO_"))},
            "DJANGO_SETTINGS_MODULE": "simrenew.settings",
            "SIMRENEW_SANDBOX": "1",
            "SIMRENEW_DATABASE_URL": url,
            "SIMRENEW_VAR_DIR": str(tmp_path / "var"),
            "SIMRENEW_PG_BIN": str(tools),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )

    refused(
        answer, "pg_dump failed: pg_dump: error: query failed: ERROR: permission denied for table customers_customer."
    )
    assert "No backup was written" in answer.stderr
    arguments = (tools / "arguments").read_text().splitlines()
    assert arguments[0] == "--format=custom" and any(argument.startswith("--snapshot=") for argument in arguments)
    assert not any("s3cret" in argument for argument in arguments)
    assert (tools / "password").read_text() == "s3cret-Pa55"
    left = {path.name for path in tmp_path.iterdir()} - before - {"bin", "var"}
    assert left == set()
