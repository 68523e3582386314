"""Database-specific SQL of billing, kept here so services stay portable."""

from __future__ import annotations

from django.db import connection


def bump_sequence(name: str, by: int = 1) -> int:
    """Add `by` to a counter row and return the new value, in one statement
    (the caller owns the numbers new-by+1 … new).

    The UPDATE takes the row lock (PostgreSQL) or runs under the single writer
    lock (SQLite) until the caller's transaction ends, so numbers are gapless."""
    bump = "UPDATE billing_invoicesequence SET last_value = last_value + %s WHERE name = %s RETURNING last_value"
    with connection.cursor() as cursor:
        cursor.execute(bump, [by, name])
        row = cursor.fetchone()
        if row is None:
            # The first number ever: concurrent first invoices must not both insert the
            # counter (the loser would fail on the unique name), so insert-if-absent, then bump.
            cursor.execute(
                "INSERT INTO billing_invoicesequence (name, last_value) VALUES (%s, 0) ON CONFLICT (name) DO NOTHING",
                [name],
            )
            cursor.execute(bump, [by, name])
            row = cursor.fetchone()
    return int(row[0])
