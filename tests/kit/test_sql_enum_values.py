"""Enum values in hand-written SQL come from their TextChoices (`SubscriptionState.LIVE.value`
in an f-string or a parameter), never as quoted literals: renaming a value then changes the SQL
with it, where a literal `'live'` would silently match nothing."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from django.apps import apps
from django.db.models import TextChoices

SOURCE = Path(__file__).resolve().parents[2] / "src" / "simrenew"

# Text that reads as SQL: one of its keywords, in capitals as the project writes them.
SQL = re.compile(r"\b(SELECT|UPDATE|INSERT|DELETE|WHERE|SET|VALUES|JOIN|CASE WHEN|RETURNING)\b")
QUOTED = re.compile(r"'([A-Za-z_][A-Za-z0-9_.-]*)'")


def _subclasses(kind: type[TextChoices]) -> Iterator[type[TextChoices]]:
    for sub in kind.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def enum_values() -> dict[str, list[str]]:
    """Every value of the project's TextChoices, with the members that hold it."""
    apps.check_models_ready()  # every models module imported: their TextChoices exist
    values: dict[str, list[str]] = {}
    for choices in _subclasses(TextChoices):
        if choices.__module__.startswith("simrenew."):
            for member in choices:
                values.setdefault(member.value, []).append(f"{choices.__name__}.{member.name}")
    return values


def enum_literals_in_sql(source: str, values: dict[str, list[str]]) -> list[str]:
    """The quoted enum values in the SQL-looking string constants of `source` (the literal
    parts of f-strings included), as 'line: 'value' (Members)'."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(node.value):
            for literal in QUOTED.findall(node.value):
                if literal in values:
                    found.append(f"{node.lineno}: '{literal}' ({', '.join(values[literal])})")
    return found


def test_no_sql_in_the_source_spells_an_enum_value_out():
    values = enum_values()
    offenders = {}
    for path in sorted(SOURCE.rglob("*.py")):
        if "migrations" in path.parts:
            continue  # a migration is a record of the past, written with the values of its day
        found = enum_literals_in_sql(path.read_text(), values)
        if found:
            offenders[path.relative_to(SOURCE).as_posix()] = found

    assert offenders == {}


def test_the_scan_sees_a_literal_in_plain_and_in_formatted_sql():
    values = enum_values()
    source = (
        "DUE = \"SELECT id FROM subscriptions_subscription WHERE state = 'live' AND auto_renew\"\n"
        "OPEN = f\"UPDATE payments_paymentattempt SET status = 'unknown' WHERE id = {attempt_id}\"\n"
        "FINE = f\"SELECT id FROM s WHERE state = '{SubscriptionState.LIVE.value}'\"\n"
        "WORDS = \"the subscription is 'live' again\"\n"
    )

    assert enum_literals_in_sql(source, values) == [
        "1: 'live' (SubscriptionState.LIVE)",
        "2: 'unknown' (AttemptStatus.UNKNOWN)",
    ]
