"""Database-specific SQL of billing, kept here so services stay portable."""

from __future__ import annotations

from django.db import connection

# The name of the invoice number counter's row (`InvoiceSequence`).
INVOICE_COUNTER = "invoice"

_ADVANCE = "UPDATE billing_invoicesequence SET last_value = last_value + %s WHERE name = %s RETURNING last_value"


def take_invoice_numbers(count: int = 1) -> int:
    """Advance the invoice number counter by `count` and return its new value, in one
    statement: the caller owns the numbers new-count+1 … new.

    The UPDATE takes the row lock (PostgreSQL) or runs under the single writer
    lock (SQLite) until the caller's transaction ends, so numbers are gapless."""
    with connection.cursor() as cursor:
        cursor.execute(_ADVANCE, [count, INVOICE_COUNTER])
        row = cursor.fetchone()
        if row is None:
            # The first number ever: concurrent first invoices must not both insert the
            # counter (the loser would fail on the unique name), so insert-if-absent, then advance.
            cursor.execute(
                "INSERT INTO billing_invoicesequence (name, last_value) VALUES (%s, 0) ON CONFLICT (name) DO NOTHING",
                [INVOICE_COUNTER],
            )
            cursor.execute(_ADVANCE, [count, INVOICE_COUNTER])
            row = cursor.fetchone()
    return int(row[0])
