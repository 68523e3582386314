"""Dropping indexes Django makes that no query reads (PostgreSQL), for migrations.

Django gives every foreign key its own index, and every unique text column a second,
`varchar_pattern_ops` copy for case-sensitive `LIKE 'prefix%'`. On the tables each
renewal writes, every index is one more entry per row written; these helpers find such
an index by what it indexes (its name is a hash) and drop it. The model state is left
as it is (Django keeps believing in the index; schema changes find indexes by
introspection), so the reverse puts them back by hand.
"""

from __future__ import annotations

from typing import NamedTuple

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

# A non-unique index on one column, by table and column, optionally with an operator class.
_FIND = """
SELECT i.relname FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0]
WHERE t.relname = %s AND x.indnatts = 1 AND NOT x.indisunique AND NOT x.indisprimary
  AND a.attname = %s AND (%s = '' OR pg_get_indexdef(x.indexrelid) LIKE '%%' || %s || '%%')
"""


def drop_single_column_index(
    schema_editor: BaseDatabaseSchemaEditor, table: str, column: str, opclass: str = ""
) -> None:
    """Drop the non-unique one-column index on `table.column` (with `opclass`, only its
    `opclass` copy). Nothing on SQLite, whose tables keep Django's indexes."""
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(_FIND, [table, column, opclass, opclass])
        names = [row[0] for row in cursor.fetchall()]
    for name in names:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


def create_single_column_index(
    schema_editor: BaseDatabaseSchemaEditor, table: str, column: str, opclass: str = ""
) -> None:
    """The reverse of `drop_single_column_index` (PostgreSQL)."""
    if schema_editor.connection.vendor != "postgresql":
        return
    name = f"{table}_{column}_{'like' if opclass else 'idx'}"
    target = f'"{column}" {opclass}'.strip()
    schema_editor.execute(f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" ({target})')


class SingleColumnIndex(NamedTuple):
    table: str
    column: str
    opclass: str = ""  # e.g. varchar_pattern_ops: only that copy of the column's index


def drop_unread_indexes(*indexes: SingleColumnIndex) -> migrations.RunPython:
    """A migration's operation: drop these indexes (PostgreSQL); its reverse puts them back."""

    def drop(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        for index in indexes:
            drop_single_column_index(schema_editor, *index)

    def restore(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        for index in indexes:
            create_single_column_index(schema_editor, *index)

    return migrations.RunPython(drop, restore, elidable=False)
