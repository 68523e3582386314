"""Drop the subscription's single-column `customer_id` index (PostgreSQL).

Each renewal moves `paid_through` and `renewal_due_at`, both indexed, so its update
adds an entry to every index of the table. Django's foreign-key index on `customer_id`
serves nothing that `subscription_customer_state` (customer_id, state) does not: that
index starts with the same column.
"""

from __future__ import annotations

from django.db import migrations

from simrenew.kit.indexes import SingleColumnIndex, drop_unread_indexes


class Migration(migrations.Migration):
    dependencies = [("subscriptions", "0004_subscription_fillfactor")]

    operations = [
        drop_unread_indexes(
            SingleColumnIndex("subscriptions_subscription", "customer_id"),
        )
    ]
