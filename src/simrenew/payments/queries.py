"""Read paths of payments; plain SQL where a hot path needs it."""

from __future__ import annotations

from django.db import connection

from simrenew.payments.models import PaymentAttempt


def attempt_for_key(idempotency_key: str) -> PaymentAttempt | None:
    """The attempt made with this idempotency key, if any (cheap when there is none)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM payments_paymentattempt WHERE idempotency_key = %s", [idempotency_key])
        row = cursor.fetchone()
    if row is None:
        return None
    return PaymentAttempt.objects.select_related("customer", "payment_method").get(pk=row[0])
