"""Drop the payment attempt's `payment_method_id` index (PostgreSQL).

Every auto-renewal inserts an attempt and settles it with a non-HOT update (`status`
is indexed), each writing an entry to every index of the table. Nothing reads this
one: payment methods are removed softly (`removed_at`), never deleted, so no cascade
check looks attempts up by method, and attempts are listed by customer or
subscription, never by method. Six indexes become five.
"""

from __future__ import annotations

from django.db import migrations

from simrenew.kit.indexes import SingleColumnIndex, drop_unread_indexes


class Migration(migrations.Migration):
    dependencies = [("payments", "0006_sandboxcharge_fewer_indexes")]

    operations = [
        drop_unread_indexes(
            SingleColumnIndex("payments_paymentattempt", "payment_method_id"),
        )
    ]
