"""Drop the invoice number's `varchar_pattern_ops` index copy (PostgreSQL).

Every renewal writes an invoice. Its unique `number` had a second index for
case-sensitive `LIKE 'prefix%'`, which no code runs: invoices are found by the whole
number (the unique index) and the admin's search is case-insensitive.
"""

from __future__ import annotations

from django.db import migrations

from simrenew.kit.indexes import SingleColumnIndex, drop_unread_indexes


class Migration(migrations.Migration):
    dependencies = [("billing", "0002_initial")]

    operations = [
        drop_unread_indexes(
            SingleColumnIndex("billing_invoice", "number", "varchar_pattern_ops"),
        )
    ]
