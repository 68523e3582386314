"""Drop the subscription's single-column `customer_id` index (PostgreSQL).

Each renewal moves `paid_through` and `renewal_due_at`, both indexed, so its update
adds an entry to every index of the table. Django's foreign-key index on `customer_id`
serves nothing that `subscription_customer_state` (customer_id, state) does not: that
index starts with the same column.
"""

from __future__ import annotations

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

from simrenew.kit.indexes import create_single_column_index, drop_single_column_index

TABLE = "subscriptions_subscription"


def drop_covered_index(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    drop_single_column_index(schema_editor, TABLE, "customer_id")


def restore_index(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    create_single_column_index(schema_editor, TABLE, "customer_id")


class Migration(migrations.Migration):
    dependencies = [("subscriptions", "0004_subscription_fillfactor")]

    operations = [migrations.RunPython(drop_covered_index, restore_index, elidable=False)]
