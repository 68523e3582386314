"""Drop the invoice number's `varchar_pattern_ops` index copy (PostgreSQL).

Every renewal writes an invoice. Its unique `number` had a second index for
case-sensitive `LIKE 'prefix%'`, which no code runs: invoices are found by the whole
number (the unique index) and the admin's search is case-insensitive.
"""

from __future__ import annotations

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

from simrenew.kit.indexes import create_single_column_index, drop_single_column_index

TABLE = "billing_invoice"


def drop_unread_index(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    drop_single_column_index(schema_editor, TABLE, "number", "varchar_pattern_ops")


def restore_index(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    create_single_column_index(schema_editor, TABLE, "number", "varchar_pattern_ops")


class Migration(migrations.Migration):
    dependencies = [("billing", "0002_initial")]

    operations = [migrations.RunPython(drop_unread_index, restore_index, elidable=False)]
