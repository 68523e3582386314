"""Drop the payment attempt's `payment_method_id` index (PostgreSQL).

Every auto-renewal inserts an attempt and settles it with a non-HOT update (`status`
is indexed), each writing an entry to every index of the table. Nothing reads this
one: payment methods are removed softly (`removed_at`), never deleted, so no cascade
check looks attempts up by method, and attempts are listed by customer or
subscription, never by method. Six indexes become five.
"""

from __future__ import annotations

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

from simrenew.kit.indexes import create_single_column_index, drop_single_column_index

TABLE = "payments_paymentattempt"


def drop_unread_index(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    drop_single_column_index(schema_editor, TABLE, "payment_method_id")


def restore_index(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    create_single_column_index(schema_editor, TABLE, "payment_method_id")


class Migration(migrations.Migration):
    dependencies = [("payments", "0006_sandboxcharge_fewer_indexes")]

    operations = [migrations.RunPython(drop_unread_index, restore_index, elidable=False)]
