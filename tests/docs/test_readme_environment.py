"""README's "Running in production" has one table of every environment variable simrenew reads. These
stories keep it true: a variable read in src/ and missing from the table, or a row nobody reads any
more, fails here with the rows to add or remove; so does a secret read around `config.env_value`
(its NAME_FILE would silently not work) or a row that says a secret may come from a file when it
cannot.

A variable is read where src/ calls `os.environ.get(NAME)`, `os.getenv(NAME)`, `os.environ[NAME]`,
`os.environ.setdefault(NAME, …)`, `env.get(NAME)` (kit.config's rules and serve's environment),
`_flag(NAME)` (settings.py) or `env_value(NAME)` (kit.config, for secrets) with NAME written out.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from simrenew.kit.config import SECRET_VARIABLES

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
README = ROOT / "README.md"

VARIABLE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|[A-Z][A-Z0-9]+")
# Calls whose first argument names an environment variable: f(NAME) or receiver.f(NAME).
READERS = {"getenv", "_flag", "env_value"}
MAPPING_READERS = {"get", "setdefault", "pop"}
ENVIRONMENTS = {"environ", "env"}  # os.environ, and the Mapping kit.config's rules are given
# Names that end like a secret and are not one: read without env_value on purpose.
NOT_SECRETS = {"SIMRENEW_STRIPE_PUBLISHABLE_KEY"}  # shown in every card page
SECRET_NAME = re.compile(r"(SECRET|TOKEN|PASSWORD|_KEY|_KEYS)$|(SECRET|TOKEN|PASSWORD)")


@dataclass(frozen=True)
class Read:
    name: str
    where: str  # src/simrenew/settings.py:42
    through_env_value: bool


def _receiver(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def _first_name(call: ast.Call) -> str | None:
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        name = call.args[0].value
        return name if VARIABLE.fullmatch(name) else None
    return None


@cache
def reads() -> tuple[Read, ...]:
    """Every environment variable src/ reads, where, and whether through config.env_value."""
    found: list[Read] = []
    for path in sorted(SRC.rglob("*.py")):
        where = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), filename=where)):
            name, through = None, False
            if isinstance(node, ast.Call):
                function = node.func
                called = _receiver(function)
                if called in READERS:
                    name, through = _first_name(node), called == "env_value"
                elif (
                    called in MAPPING_READERS
                    and isinstance(function, ast.Attribute)
                    and _receiver(function.value) in ENVIRONMENTS
                ):
                    name = _first_name(node)
            elif (
                isinstance(node, ast.Subscript)
                and isinstance(node.ctx, ast.Load)
                and _receiver(node.value) == "environ"
                and isinstance(node.slice, ast.Constant)
            ):
                value = node.slice.value
                name = value if isinstance(value, str) and VARIABLE.fullmatch(value) else None
            if name:
                found.append(Read(name, f"{where}:{node.lineno}", through))
    return tuple(found)


@dataclass(frozen=True)
class Row:
    names: tuple[str, ...]
    from_file: bool  # the row says `_FILE`: the secret may come from a file
    line: str


def table_rows() -> list[Row]:
    """The rows of the table under "## Running in production" whose header starts `| variable |`."""
    text = README.read_text()
    section = text.split("\n## Running in production\n", 1)[1].split("\n## ", 1)[0]
    lines = section.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| variable |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        first = line.split("|")[1]
        names = tuple(n for n in re.findall(r"`([^`]+)`", first) if VARIABLE.fullmatch(n))
        rows.append(Row(names, "`_FILE`" in first, line))
    return rows


def documented() -> dict[str, Row]:
    return {name: row for row in table_rows() for name in row.names}


def test_the_scan_finds_reads_in_each_way_src_reads_them():
    by_name = {read.name: read for read in reads()}

    assert by_name["SIMRENEW_SANDBOX"].where.startswith("src/simrenew/settings.py")  # _flag
    assert by_name["SIMRENEW_SECRET_KEY"].through_env_value  # env_value
    assert "SIMRENEW_PORT" in by_name  # os.environ.get in a command
    assert "DJANGO_SETTINGS_MODULE" in by_name  # os.environ.setdefault
    assert "SIMRENEW_STAFF_MFA" in by_name and "SIMRENEW_PAYPAL_ENVIRONMENT" in by_name  # env.get
    assert "SIMRENEW_WEBHOOK_RESOLVER" not in by_name  # a Django setting read with getattr, not a variable


def test_every_variable_src_reads_has_a_row_in_the_table():
    rows = documented()
    missing: dict[str, list[str]] = {}
    for read in reads():
        if read.name not in rows:
            missing.setdefault(read.name, []).append(read.where)

    assert not missing, (
        "README.md's table in 'Running in production' lacks these variables; add the rows (default, "
        "required outside the sandbox, what it is for):\n"
        + "\n".join(
            f"| `{name}`{' (or `_FILE`)' if name in SECRET_VARIABLES else ''} | … | … | … |   <- read at "
            + ", ".join(places)
            for name, places in sorted(missing.items())
        )
    )


def test_the_table_names_no_variable_nobody_reads():
    read = {r.name for r in reads()}
    stale = [row.line for row in table_rows() for name in row.names if name not in read]

    assert not stale, "README.md's table has rows for variables src/ no longer reads; remove:\n" + "\n".join(stale)


def test_each_row_names_its_variable_and_each_variable_has_one_row():
    rows = table_rows()
    names = [name for row in rows for name in row.names]

    assert all(len(row.names) == 1 for row in rows), [row.line for row in rows if len(row.names) != 1]
    assert len(names) == len(set(names)), sorted({n for n in names if names.count(n) > 1})


def test_every_secret_is_read_through_env_value_so_that_its_file_works():
    around = [f"{r.name} at {r.where}" for r in reads() if r.name in SECRET_VARIABLES and not r.through_env_value]
    unread = sorted(set(SECRET_VARIABLES) - {r.name for r in reads() if r.through_env_value})

    assert not around, "read without config.env_value (its NAME_FILE would be ignored): " + "; ".join(around)
    assert not unread, f"in kit.config.SECRET_VARIABLES but never read with config.env_value: {unread}"


def test_a_variable_named_like_a_secret_is_one_of_the_secrets():
    named = sorted(
        {
            r.name
            for r in reads()
            if SECRET_NAME.search(r.name) and r.name not in SECRET_VARIABLES and r.name not in NOT_SECRETS
        }
    )

    assert not named, (
        f"{named} look like secrets: add them to kit.config.SECRET_VARIABLES and read them with "
        "config.env_value(NAME), so that NAME_FILE works (compose secrets, systemd credentials); their README "
        "rows then say `(or `_FILE`)`. If one is not a secret, add it to NOT_SECRETS here, saying why."
    )


@pytest.mark.parametrize("name", SECRET_VARIABLES)
def test_the_table_says_which_secrets_may_come_from_a_file(name: str):
    rows = documented()

    assert name in rows and rows[name].from_file, f"{name}'s row should say (or `_FILE`)"


def test_no_row_offers_a_file_for_a_variable_that_cannot_come_from_one():
    wrong = [row.line for row in table_rows() if row.from_file and not set(row.names) <= set(SECRET_VARIABLES)]

    assert not wrong, wrong
