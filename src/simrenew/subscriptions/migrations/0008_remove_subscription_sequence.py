"""`Subscription.sequence` goes: it was bumped on every change a partner might be told about,
and read by nobody once events took their numbers from `webhooks.EventCounter` (the
`sequence` of an outbox message and of a webhook payload, which stays). The changes that
relied on the bump to lock the row lock it with `SELECT … FOR NO KEY UPDATE` instead.

Expand/contract: this release removes the field from Django's state only.

- PostgreSQL keeps the column and gives it `DEFAULT 0`. During a rolling deploy the old web
  processes and workers still name `sequence` in their statements (their inserts, their
  `sequence = sequence + 1`), so the column must outlive them; the default lets the new code
  insert without naming it. Setting a default touches no rows, so the ACCESS EXCLUSIVE lock
  it takes is held only for a moment (a `DROP COLUMN` would queue every query on the table
  behind the worker's row locks).
- SQLite has no rolling deploys (one machine, stopped to upgrade), and its NOT NULL column has
  no default (Django keeps defaults out of the schema), so new inserts would fail: the column
  goes now.

Follow-up (the next release, once no process of this one's predecessor runs): a PostgreSQL-only
migration that runs `SET LOCAL lock_timeout = '2s'` and then
`ALTER TABLE subscriptions_subscription DROP COLUMN sequence`, retried if the lock times out.
"""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

_SET_DEFAULT = "ALTER TABLE subscriptions_subscription ALTER COLUMN sequence SET DEFAULT 0"
_DROP_DEFAULT = "ALTER TABLE subscriptions_subscription ALTER COLUMN sequence DROP DEFAULT"


def retire_the_column(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    # `apps` is the state before this migration, where the field still exists.
    subscription = apps.get_model("subscriptions", "Subscription")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_SET_DEFAULT)
    else:
        schema_editor.remove_field(subscription, subscription._meta.get_field("sequence"))


def restore_the_column(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    subscription = apps.get_model("subscriptions", "Subscription")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_DROP_DEFAULT)
    else:
        # Added back with the field's default (0) for the rows that exist.
        schema_editor.add_field(subscription, subscription._meta.get_field("sequence"))


class Migration(migrations.Migration):
    dependencies = [
        ("subscriptions", "0007_periods_running_low"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name="subscription",
                    name="sequence",
                ),
            ],
            database_operations=[
                migrations.RunPython(retire_the_column, restore_the_column),
            ],
        ),
    ]
