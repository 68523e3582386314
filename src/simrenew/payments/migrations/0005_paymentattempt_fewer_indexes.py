"""Drop two payment-attempt indexes nobody reads (PostgreSQL).

Every auto-renewal inserts an attempt and then settles it; the settle changes
`status`, which two indexes hold, so it can never be a HOT update and adds an
entry to every index of the table (eight of them). Two of those serve no query:

- the single-column index on `subscription_id` that Django makes for the
  foreign key: `attempt_subscription_status` (subscription_id, status) starts
  with the same column and serves every lookup by subscription (the due claim's
  NOT EXISTS, the subscription pages, the cascade checks);
- the `varchar_pattern_ops` copy of the unique `idempotency_key` index, which
  only a case-sensitive LIKE 'prefix%' could use: no code filters attempts by a
  key prefix (the admin's search is case-insensitive and cannot use it), and
  lookups by the whole key use the unique index.

Measured on a copy of the table (insert then settle, 500 rows a statement):
≈30 → ≈23 µs of server CPU per attempt. The settle cannot be made HOT instead
(a fillfactor as in subscriptions 0004 would not help): `status` is indexed and
must change. The model state is unchanged (Django keeps believing in the FK
index; schema changes find indexes by introspection); the reverse puts both back.
"""

from __future__ import annotations

from django.db import migrations

from simrenew.kit.indexes import SingleColumnIndex, drop_unread_indexes


class Migration(migrations.Migration):
    dependencies = [("payments", "0004_sandboxtoken_exp_month_sandboxtoken_exp_year")]

    operations = [
        drop_unread_indexes(
            SingleColumnIndex("payments_paymentattempt", "subscription_id"),
            SingleColumnIndex("payments_paymentattempt", "idempotency_key", "varchar_pattern_ops"),
        )
    ]
