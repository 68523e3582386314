"""Drop the sandbox ledger's two `varchar_pattern_ops` index copies (PostgreSQL).

The sandbox gateway writes one ledger row per charge, in the worker's renewal batches;
its unique `idempotency_key` and `charge_id` each had a second index for
case-sensitive `LIKE 'prefix%'`, which no code runs (lookups are by the whole key or
id, through the unique indexes). Two index entries fewer per charge.
"""

from __future__ import annotations

from django.db import migrations

from simrenew.kit.indexes import SingleColumnIndex, drop_unread_indexes


class Migration(migrations.Migration):
    dependencies = [("payments", "0005_paymentattempt_fewer_indexes")]

    operations = [
        drop_unread_indexes(
            SingleColumnIndex("payments_sandboxcharge", "idempotency_key", "varchar_pattern_ops"),
            SingleColumnIndex("payments_sandboxcharge", "charge_id", "varchar_pattern_ops"),
        )
    ]
