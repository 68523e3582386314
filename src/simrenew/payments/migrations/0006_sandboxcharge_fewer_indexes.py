"""Drop the sandbox ledger's two `varchar_pattern_ops` index copies (PostgreSQL).

The sandbox gateway writes one ledger row per charge, in the worker's renewal batches;
its unique `idempotency_key` and `charge_id` each had a second index for
case-sensitive `LIKE 'prefix%'`, which no code runs (lookups are by the whole key or
id, through the unique indexes). Two index entries fewer per charge.
"""

from __future__ import annotations

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

from simrenew.kit.indexes import create_single_column_index, drop_single_column_index

TABLE = "payments_sandboxcharge"
COLUMNS = ("idempotency_key", "charge_id")


def drop_unread_indexes(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    for column in COLUMNS:
        drop_single_column_index(schema_editor, TABLE, column, "varchar_pattern_ops")


def restore_indexes(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    for column in COLUMNS:
        create_single_column_index(schema_editor, TABLE, column, "varchar_pattern_ops")


class Migration(migrations.Migration):
    dependencies = [("payments", "0005_paymentattempt_fewer_indexes")]

    operations = [migrations.RunPython(drop_unread_indexes, restore_indexes, elidable=False)]
