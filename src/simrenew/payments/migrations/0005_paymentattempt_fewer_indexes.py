"""Drop two payment-attempt indexes nobody reads (PostgreSQL).

Every auto-renewal inserts an attempt and then settles it; the settle changes
`status`, which two indexes hold, so it can never be a HOT update and adds an
entry to every index of the table (eight of them). Two of those serve no query:

- the single-column index on `subscription_id` that Django makes for the
  foreign key: `attempt_subscription_status` (subscription_id, status) starts
  with the same column and serves every lookup by subscription (the due claim's
  NOT EXISTS, the subscription pages, the cascade checks);
- the `varchar_pattern_ops` copy of the unique `idempotency_key` index, which
  only a case-sensitive LIKE 'prefix%' could use: no code filters attempts by a
  key prefix (the admin's search is case-insensitive and cannot use it), and
  lookups by the whole key use the unique index.

Measured on a copy of the table (insert then settle, 500 rows a statement):
≈30 → ≈23 µs of server CPU per attempt. The settle cannot be made HOT instead
(a fillfactor as in subscriptions 0004 would not help): `status` is indexed and
must change. The model state is unchanged (Django keeps believing in the FK
index; schema changes find indexes by introspection); the reverse puts both back.
"""

from __future__ import annotations

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

TABLE = "payments_paymentattempt"
# Django's own index definitions, found by what they index rather than by their hashed names.
_FIND = """
SELECT i.relname FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0]
WHERE t.relname = %s AND x.indnatts = 1 AND NOT x.indisunique AND NOT x.indisprimary
  AND a.attname = %s AND (%s = '' OR pg_get_indexdef(x.indexrelid) LIKE '%%' || %s || '%%')
"""


def _drop(schema_editor: BaseDatabaseSchemaEditor, column: str, opclass: str) -> None:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(_FIND, [TABLE, column, opclass, opclass])
        names = [row[0] for row in cursor.fetchall()]
    for name in names:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


def drop_unread_indexes(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    _drop(schema_editor, "subscription_id", "")
    _drop(schema_editor, "idempotency_key", "varchar_pattern_ops")


def restore_indexes(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS payments_paymentattempt_subscription_id_idx ON {TABLE} (subscription_id)"
    )
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS payments_paymentattempt_idempotency_key_like"
        f" ON {TABLE} (idempotency_key varchar_pattern_ops)"
    )


class Migration(migrations.Migration):
    dependencies = [("payments", "0004_sandboxtoken_exp_month_sandboxtoken_exp_year")]

    operations = [migrations.RunPython(drop_unread_indexes, restore_indexes, elidable=False)]
