"""Fewer index entries per renewal on subscriptions and periods, and room on each
subscription page for a whole batch's claims (PostgreSQL).

Dropped, as no query reads them (Django makes one index per foreign key):

- `subscriptions_subscription.payment_method_id` and `.plan_id`: payment methods
  are removed softly (`removed_at`) and plans are never deleted (a new version is
  made instead), so no cascade check looks a subscription up by either, and no
  query filters subscriptions by method or plan;
- `subscriptions_period.subscription_id`: `period_number_unique`
  (subscription_id, number) starts with the same column and serves every lookup by
  subscription; `subscriptions_period.plan_id`: no query filters periods by plan.

Each renewal moves the subscription's indexed `paid_through` and `renewal_due_at`,
so that update writes an entry to every index of the table (eight, now six), and
inserts one period (six indexes, now four).

Fillfactor 70 → 45: the worker claims a batch of subscriptions in due order, which is
often page order, in one statement. The claim changes no indexed column, so it can be a
HOT update that writes no index entry, but only while the page has room for the new row
version, and the old versions are not free until the statement ends. At 70 % many
claims moved to another page and wrote all eight index entries.

Measured on 40,000 renewals (pg_stat_statements; with payments 0007, against neither): HOT
claims about 24,500 → 38,500; per renewal, the claim's buffers 28.3 → 21.0 and its WAL
528 → 283 bytes; all statements' buffers 198 → 176 and WAL 6,558 → 5,810 bytes. The
table takes about 1.5 times the space.
"""

from __future__ import annotations

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

from simrenew.kit.indexes import SingleColumnIndex, drop_unread_indexes

FILLFACTOR = 45
PREVIOUS_FILLFACTOR = 70  # subscriptions 0004


def leave_room(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE subscriptions_subscription SET (fillfactor = {FILLFACTOR})")


def leave_less_room(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE subscriptions_subscription SET (fillfactor = {PREVIOUS_FILLFACTOR})")


class Migration(migrations.Migration):
    dependencies = [("subscriptions", "0005_subscription_fewer_indexes")]

    operations = [
        drop_unread_indexes(
            SingleColumnIndex("subscriptions_subscription", "payment_method_id"),
            SingleColumnIndex("subscriptions_subscription", "plan_id"),
            SingleColumnIndex("subscriptions_period", "subscription_id"),
            SingleColumnIndex("subscriptions_period", "plan_id"),
        ),
        migrations.RunPython(leave_room, leave_less_room, elidable=False),
    ]
