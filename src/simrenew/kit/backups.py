"""Backups of the database the settings point at, and their restore (`simrenew backup|restore`).

A backup is a folder holding the dump and `manifest.json`:

    simrenew-sqlite-20261205T214400Z/
        manifest.json      format version, simrenew version, vendor, created at (UTC), the last
                           applied migration of each app, every table's row count, the dump's SHA-256
        database.dump      PostgreSQL: `pg_dump --format=custom`
        database.sqlite3   SQLite: a copy made with SQLite's online backup API

It is written under a hidden temporary name beside its destination and renamed only once complete,
so a folder carrying the backup's name is always a whole backup. The row counts are taken from the
same snapshot as the dump (PostgreSQL: an exported snapshot that pg_dump joins; SQLite: the copy
itself), so they hold while the server and the worker go on writing, and a restore proves itself by
finding them again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from simrenew.kit.clock import system_now
from simrenew.kit.errors import SimrenewError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DUMP_FILES = {"postgresql": "database.dump", "sqlite": "database.sqlite3"}
# Where pg_dump and pg_restore are looked for after SIMRENEW_PG_BIN (when set) and PATH.
DEFAULT_PG_BIN = Path("/usr/lib/postgresql/15/bin")
# Connection settings handed to pg_dump/pg_restore as libpq variables, so that no password ever
# shows on a command line (`ps` shows those to every user of the machine).
LIBPQ_OPTIONS = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslcrl": "PGSSLCRL",
    "sslpassword": "PGSSLPASSWORD",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "application_name": "PGAPPNAME",
    "options": "PGOPTIONS",
    "passfile": "PGPASSFILE",
    "service": "PGSERVICE",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "channel_binding": "PGCHANNELBINDING",
    "gssencmode": "PGGSSENCMODE",
}


class BackupFailed(SimrenewError):
    slug = "backup-failed"
    title = "The backup or restore did not happen"


@dataclass(frozen=True)
class Manifest:
    format_version: int
    simrenew_version: str
    vendor: str
    created_at: str
    dump_file: str
    dump_bytes: int
    dump_sha256: str
    migrations: dict[str, str]
    tables: dict[str, int]

    def as_json(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "simrenew_version": self.simrenew_version,
            "vendor": self.vendor,
            "created_at": self.created_at,
            "dump": {"file": self.dump_file, "bytes": self.dump_bytes, "sha256": self.dump_sha256},
            "migrations": self.migrations,
            "tables": self.tables,
        }

    @classmethod
    def from_json(cls, data: Any) -> Manifest:
        """The manifest as written by `write_backup`, or BackupFailed naming what is wrong with it."""
        if not isinstance(data, dict) or not isinstance(data.get("dump"), dict):
            raise BackupFailed("The manifest is malformed: this is not a backup simrenew wrote.")
        try:
            dump = data["dump"]
            manifest = cls(
                format_version=data["format_version"],
                simrenew_version=data["simrenew_version"],
                vendor=data["vendor"],
                created_at=data["created_at"],
                dump_file=dump["file"],
                dump_bytes=dump["bytes"],
                dump_sha256=dump["sha256"],
                migrations=data["migrations"],
                tables=data["tables"],
            )
        except KeyError as exc:
            raise BackupFailed(f"The manifest is incomplete (no {exc}): this is not a whole simrenew backup.") from exc
        well_formed = (
            isinstance(manifest.format_version, int)
            and isinstance(manifest.dump_bytes, int)
            and isinstance(manifest.dump_sha256, str)
            and isinstance(manifest.migrations, dict)
            and isinstance(manifest.tables, dict)
            and all(isinstance(count, int) and count >= 0 for count in manifest.tables.values())
        )
        if not well_formed:
            raise BackupFailed("The manifest is malformed: this is not a backup simrenew wrote.")
        if manifest.format_version > FORMAT_VERSION:
            raise BackupFailed(
                f"The backup's format is version {manifest.format_version}, made by simrenew "
                f"{manifest.simrenew_version}; this simrenew reads up to version {FORMAT_VERSION}. Upgrade first."
            )
        if manifest.vendor not in DUMP_FILES or manifest.dump_file != DUMP_FILES[manifest.vendor]:
            # Never a path of the manifest's choosing: the dump is one known name inside the folder.
            raise BackupFailed(
                f"The manifest names an unknown database or dump ({manifest.vendor!r}, {manifest.dump_file!r})."
            )
        return manifest

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


@dataclass(frozen=True)
class Restored:
    manifest: Manifest
    target: str
    tables: dict[str, int]


def simrenew_version() -> str:
    try:
        return metadata.version("simrenew")
    except metadata.PackageNotFoundError:
        return "unknown"


def default_destination(vendor: str, at: datetime) -> Path:
    return Path(settings.VAR_DIR) / "backups" / f"simrenew-{vendor}-{at:%Y%m%dT%H%M%SZ}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


# ---- Backup ------------------------------------------------------------------------------------


def write_backup(destination: Path | None = None, *, alias: str = "default") -> tuple[Path, Manifest]:
    """Dump the database into a new backup folder at `destination` (a default under var/backups
    when None); returns the folder and its manifest. Nothing carries the destination's name unless
    the whole backup is there."""
    connection = connections[alias]
    vendor = connection.vendor
    if vendor not in DUMP_FILES:
        raise BackupFailed(f"simrenew backs up SQLite and PostgreSQL databases, not {vendor}.")
    created_at = system_now()
    destination = (destination or default_destination(vendor, created_at)).absolute()
    if destination.exists():
        raise BackupFailed(f"{destination} already exists: a backup never overwrites anything. Choose another path.")
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=f".{destination.name}.partial-", dir=destination.parent))
    except OSError as exc:
        raise BackupFailed(f"Cannot write in {destination.parent}: {exc.strerror or exc}.") from exc
    try:
        dump = partial / DUMP_FILES[vendor]
        if vendor == "postgresql":
            migrations, tables = _dump_postgresql(connection, dump)
        else:
            migrations, tables = _dump_sqlite(connection, dump)
        manifest = Manifest(
            format_version=FORMAT_VERSION,
            simrenew_version=simrenew_version(),
            vendor=vendor,
            created_at=created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            dump_file=dump.name,
            dump_bytes=dump.stat().st_size,
            dump_sha256=sha256_of(dump),
            migrations=migrations,
            tables=tables,
        )
        (partial / MANIFEST).write_text(json.dumps(manifest.as_json(), indent=2, sort_keys=True) + "\n")
        for written in (dump, partial / MANIFEST, partial):
            _sync(written)
        if destination.exists():  # made while we dumped; never replaced
            raise BackupFailed(f"{destination} appeared while the backup was written: it was left as it is.")
        partial.rename(destination)
        _sync(destination.parent)
    except BaseException as exc:
        shutil.rmtree(partial, ignore_errors=True)
        if isinstance(exc, OSError):
            raise BackupFailed(f"The backup could not be written: {exc.strerror or exc}.") from exc
        raise
    return destination, manifest


def _sync(path: Path) -> None:
    """Flush a file or folder to disk, so that a backup said to be written survives a power cut."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _dump_sqlite(connection: BaseDatabaseWrapper, dump: Path) -> tuple[dict[str, str], dict[str, int]]:
    source_path = _sqlite_path(connection)
    if not source_path.is_file():
        raise BackupFailed(f"There is no database at {source_path} (SIMRENEW_DATABASE_URL): nothing to back up.")
    try:
        with closing(sqlite3.connect(source_path, timeout=30)) as source, closing(sqlite3.connect(dump)) as copy:
            # One step (pages=-1): the copy is read in one read transaction, a consistent snapshot
            # that WAL lets the server and the worker keep writing beside.
            source.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            return _sqlite_migrations(copy), _sqlite_counts(copy)
    except sqlite3.Error as exc:
        raise BackupFailed(f"SQLite could not copy {source_path}: {exc}.") from exc


def _dump_postgresql(connection: BaseDatabaseWrapper, dump: Path) -> tuple[dict[str, str], dict[str, int]]:
    pg_dump = postgres_tool("pg_dump")
    try:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            # pg_dump joins this transaction's snapshot, so the counts below are the dump's counts
            # whatever is written meanwhile.
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SELECT pg_export_snapshot()")
            snapshot = cursor.fetchone()[0]
            _run(
                [pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--file={dump}"],
                env=libpq_environment(connection.settings_dict),
                what="pg_dump",
            )
            names = connection.introspection.table_names(cursor)
            return _migrations(cursor, names), _counts(cursor, names, connection.ops.quote_name)
    except BackupFailed:
        raise
    except Exception as exc:  # the driver's errors: a server that went away, a missing grant
        raise BackupFailed(f"PostgreSQL could not be backed up: {_sentence(str(exc))}") from exc


# ---- Restore -----------------------------------------------------------------------------------


def read_backup(folder: Path) -> tuple[Manifest, Path]:
    """The backup's manifest and dump, once the dump is proven to be the one the manifest describes."""
    if not folder.exists():
        raise BackupFailed(f"There is no backup at {folder}.")
    if not folder.is_dir():
        raise BackupFailed(f"{folder} is not a backup folder (a backup is a folder holding {MANIFEST} and the dump).")
    try:
        data = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError as exc:
        raise BackupFailed(f"{folder} holds no {MANIFEST}: it is not a whole simrenew backup.") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BackupFailed(f"{folder / MANIFEST} cannot be read: {exc}.") from exc
    manifest = Manifest.from_json(data)
    dump = folder / manifest.dump_file
    if not dump.is_file():
        raise BackupFailed(f"{folder} holds no {manifest.dump_file}: the backup is incomplete.")
    size = dump.stat().st_size
    if size != manifest.dump_bytes:
        why = f"it is {size} bytes, the manifest says {manifest.dump_bytes}: it was cut short or changed"
    elif sha256_of(dump) != manifest.dump_sha256:
        why = "its SHA-256 differs from the manifest's: it was changed"
    else:
        return manifest, dump
    raise BackupFailed(f"{dump} is not the dump the manifest describes ({why}). Nothing was restored.")


def restore_backup(folder: Path, *, force: bool = False, alias: str = "default") -> Restored:
    """Replace the database's contents with the backup's, then prove every table has the backup's
    rows. Refused, changing nothing, when the backup is not intact, is of another database kind,
    or when the database already holds data and `force` is not given."""
    manifest, dump = read_backup(folder)
    connection = connections[alias]
    if manifest.vendor != connection.vendor:
        raise BackupFailed(
            f"The backup is of a {manifest.vendor} database and SIMRENEW_DATABASE_URL points at a "
            f"{connection.vendor} one: restore it into a {manifest.vendor} database."
        )
    if manifest.vendor == "postgresql":
        target = _postgresql_label(connection.settings_dict)
        found = _restore_postgresql(connection, manifest, dump, force=force)
    else:
        target = str(_sqlite_path(connection))
        found = _restore_sqlite(connection, manifest, dump, force=force)
    differing = {name: (count, found.get(name)) for name, count in manifest.tables.items() if found.get(name) != count}
    if differing:
        lines = ", ".join(
            f"{name} has {now} rows, the backup {then}" for name, (then, now) in sorted(differing.items())
        )
        raise BackupFailed(f"Restored into {target}, but the row counts differ from the backup's: {lines}.")
    return Restored(manifest=manifest, target=target, tables=found)


def _refuse_unless_empty(holding: list[str], target: str, *, force: bool) -> None:
    if holding and not force:
        shown = ", ".join(holding[:5]) + (f" and {len(holding) - 5} more" if len(holding) > 5 else "")
        raise BackupFailed(
            f"{target} already holds data ({shown}): restoring would replace it. "
            "Restore into an empty database, or add --force to replace what is there."
        )


def _restore_sqlite(connection: BaseDatabaseWrapper, manifest: Manifest, dump: Path, *, force: bool) -> dict[str, int]:
    target = _sqlite_path(connection)
    connection.close()  # the copy below is the only writer this process has
    try:
        with closing(sqlite3.connect(target, timeout=30)) as database:
            holding = [name for name in _sqlite_tables(database) if _has_rows(database.cursor(), name, _quote_sqlite)]
            _refuse_unless_empty(holding, str(target), force=force)
            with closing(sqlite3.connect(f"{dump.as_uri()}?mode=ro", uri=True)) as backup:
                # One step, in one write transaction: the target is either all backup or untouched.
                backup.backup(database)
            return _sqlite_counts(database)
    except sqlite3.Error as exc:
        raise BackupFailed(f"SQLite could not restore into {target}: {exc}. Nothing was restored.") from exc


def _restore_postgresql(
    connection: BaseDatabaseWrapper, manifest: Manifest, dump: Path, *, force: bool
) -> dict[str, int]:
    pg_restore = postgres_tool("pg_restore")
    target = _postgresql_label(connection.settings_dict)
    quote = connection.ops.quote_name
    try:
        with connection.cursor() as cursor:
            names = connection.introspection.table_names(cursor)
            holding = [name for name in names if _has_rows(cursor, name, quote)]
        connection.close()
    except Exception as exc:  # the driver's errors: a server that went away, a missing grant
        raise BackupFailed(f"{target} cannot be read: {_sentence(str(exc))} Nothing was restored.") from exc
    _refuse_unless_empty(holding, target, force=force)
    # --clean drops only what the backup holds: a table it does not know (made by a newer
    # migration) would stay, and `simrenew migrate` would then fail to create it again.
    strangers = sorted(set(names) - set(manifest.tables))
    if strangers:
        raise BackupFailed(
            f"{target} holds tables the backup does not ({', '.join(strangers[:5])}"
            f"{' …' if len(strangers) > 5 else ''}): restore into an empty database instead. Nothing was restored."
        )
    # One transaction: should any statement fail, the database is left as it was.
    _run(
        [
            pg_restore,
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            f"--dbname={_conninfo_dbname(connection.settings_dict)}",
            str(dump),
        ],
        env=libpq_environment(connection.settings_dict),
        what="pg_restore",
        nothing_changed=True,
    )
    try:
        with connection.cursor() as cursor:
            return _counts(cursor, connection.introspection.table_names(cursor), quote)
    except Exception as exc:
        raise BackupFailed(f"Restored into {target}, but its rows cannot be counted: {_sentence(str(exc))}") from exc


# ---- PostgreSQL's tools ------------------------------------------------------------------------


def postgres_tool(name: str) -> str:
    """pg_dump or pg_restore: from SIMRENEW_PG_BIN when it is set (the operator's choice, e.g. the
    version of a newer server), else from PATH, else from PostgreSQL 15's Debian folder."""
    configured = os.environ.get("SIMRENEW_PG_BIN")
    if configured:
        tool = Path(configured) / name
        if not os.access(tool, os.X_OK):
            raise BackupFailed(f"SIMRENEW_PG_BIN is {configured}, which holds no {name}.")
        return str(tool)
    found = shutil.which(name)
    if found:
        return found
    tool = DEFAULT_PG_BIN / name
    if os.access(tool, os.X_OK):
        return str(tool)
    raise BackupFailed(
        f"{name} was not found on PATH nor in {DEFAULT_PG_BIN}: install PostgreSQL's client tools "
        "(Debian: postgresql-client-15) or set SIMRENEW_PG_BIN to the folder holding them."
    )


def libpq_environment(database: dict[str, Any]) -> dict[str, str]:
    """This process's environment with the settings' connection as libpq variables, which pg_dump
    and pg_restore read as psycopg does (anything the settings leave out comes from the same
    PG* variables for both)."""
    env = dict(os.environ)
    for key, variable in (("HOST", "PGHOST"), ("PORT", "PGPORT"), ("USER", "PGUSER"), ("NAME", "PGDATABASE")):
        if database.get(key):
            env[variable] = str(database[key])
    if database.get("PASSWORD"):
        env["PGPASSWORD"] = str(database["PASSWORD"])
    for option, variable in LIBPQ_OPTIONS.items():
        value = (database.get("OPTIONS") or {}).get(option)
        if value not in (None, ""):
            env[variable] = str(value)
    return env


def _conninfo_dbname(database: dict[str, Any]) -> str:
    """pg_restore restores into a database only when given --dbname: a conninfo naming just the
    database (host, user and password come from the environment)."""
    name = str(database.get("NAME") or "")
    return "dbname='" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _postgresql_label(database: dict[str, Any]) -> str:
    host = database.get("HOST") or "localhost"
    port = f":{database['PORT']}" if database.get("PORT") else ""
    return f"PostgreSQL database {database.get('NAME')} on {host}{port}"


def _run(command: list[str], *, env: dict[str, str], what: str, nothing_changed: bool = False) -> None:
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise BackupFailed(f"{what} could not be started: {exc.strerror or exc}.") from exc
    if done.returncode != 0:
        said = " ".join(done.stderr.split())[-1500:] or f"exit code {done.returncode}"
        after = " Nothing was restored." if nothing_changed else ""
        raise BackupFailed(f"{what} failed: {_sentence(said)}{after}")


def _sentence(text: str) -> str:
    """A driver's or tool's message, one line ending with a full stop, so ours can follow it."""
    text = " ".join(text.split())
    return text if text.endswith(".") else f"{text}."


# ---- Reading a database ------------------------------------------------------------------------


def _sqlite_path(connection: BaseDatabaseWrapper) -> Path:
    name = str(connection.settings_dict["NAME"])
    if name == ":memory:" or (name.startswith("file:") and "mode=memory" in name):
        raise BackupFailed("The database is in memory: there is no file to back up or restore into.")
    return Path(name).absolute()


def _quote_sqlite(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sqlite_tables(database: sqlite3.Connection) -> list[str]:
    rows = database.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    )
    return [name for (name,) in rows]


def _sqlite_counts(database: sqlite3.Connection) -> dict[str, int]:
    return _counts(database.cursor(), _sqlite_tables(database), _quote_sqlite)


def _sqlite_migrations(database: sqlite3.Connection) -> dict[str, str]:
    return _migrations(database.cursor(), _sqlite_tables(database))


def _has_rows(cursor: Any, table: str, quote: Any) -> bool:
    cursor.execute(f"SELECT 1 FROM {quote(table)} LIMIT 1")  # noqa: S608 - a quoted name the database itself listed
    return cursor.fetchone() is not None


def _counts(cursor: Any, tables: Iterable[str], quote: Any) -> dict[str, int]:
    counts = {}
    for table in sorted(tables):
        cursor.execute(f"SELECT COUNT(*) FROM {quote(table)}")  # noqa: S608 - as above
        counts[table] = int(cursor.fetchone()[0])
    return counts


def _migrations(cursor: Any, tables: Iterable[str]) -> dict[str, str]:
    """The last applied migration of each app (by name: they are numbered)."""
    if "django_migrations" not in set(tables):
        return {}
    cursor.execute("SELECT app, MAX(name) FROM django_migrations GROUP BY app ORDER BY app")
    return {app: name for app, name in cursor.fetchall()}
