"""Each worker story gets a database of its own that separate processes can share:
pytest-django's SQLite test database lives in memory, so these tests never use it.

SQLite: a file in the test's folder, copied from one migrated once per session.
PostgreSQL (when SIMRENEW_DATABASE_URL names one, as in `make test`'s second
pass): a database created on that server from a template migrated once per
session, and dropped after the test."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.worker.processes import REPO, SIMRENEW, Database, Simrenew


def _migrate(url: str, folder: Path) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith(("SIMRENEW_", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="simrenew.settings",
        SIMRENEW_SANDBOX="1",
        SIMRENEW_DATABASE_URL=url,
        SIMRENEW_VAR_DIR=str(folder / "var"),
    )
    subprocess.run([SIMRENEW, "migrate", "-v0", "--no-input"], env=env, cwd=REPO, check=True, timeout=300)


def _server_url() -> str | None:
    url = os.environ.get("SIMRENEW_DATABASE_URL", "")
    return url if url.startswith(("postgresql://", "postgres://")) else None


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _admin(url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(statement)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("worker-template")
    path = folder / "template.sqlite3"
    _migrate(f"sqlite:///{path}", folder)
    return path


@pytest.fixture(scope="session")
def postgresql_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = _server_url()
    assert server is not None
    name = f"simrenew_worker_template_{uuid.uuid4().hex[:8]}"
    _admin(server, f'CREATE DATABASE "{name}"')
    try:
        _migrate(_with_database(server, name), tmp_path_factory.mktemp("worker-template"))
        yield name
    finally:
        _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _sqlite_copy(template: Path, folder: Path) -> Database:
    path = folder / "simrenew.sqlite3"
    shutil.copyfile(template, path)
    return Database(f"sqlite:///{path}")


@pytest.fixture
def sqlite_database(sqlite_template: Path, tmp_path: Path) -> Database:
    """A migrated SQLite file of this test's own, whatever the suite runs on."""
    return _sqlite_copy(sqlite_template, tmp_path)


@pytest.fixture
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated database of this test's own, of the kind the suite runs on."""
    server = _server_url()
    if server is None:
        yield _sqlite_copy(request.getfixturevalue("sqlite_template"), tmp_path)
        return
    template = request.getfixturevalue("postgresql_template")
    name = f"simrenew_worker_{uuid.uuid4().hex[:12]}"
    _admin(server, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield Database(_with_database(server, name))
    finally:
        _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _simrenew(database: Database, folder: Path) -> Iterator[Simrenew]:
    simrenew = Simrenew(database, folder)
    try:
        yield simrenew
    finally:
        simrenew.stop_all()


@pytest.fixture
def simrenew(database: Database, tmp_path: Path) -> Iterator[Simrenew]:
    yield from _simrenew(database, tmp_path)


@pytest.fixture
def simrenew_on_sqlite(sqlite_database: Database, tmp_path: Path) -> Iterator[Simrenew]:
    yield from _simrenew(sqlite_database, tmp_path)
