"""Renewals one at a time: through the service layer and sandbox gateway, and
beside it plain SQL doing the same writes, measured in the same process.

    python -m benchmarks.renewals [COUNT]      (prints one JSON line)

Uses whatever database SIMRENEW_DATABASE_URL names; migrate it first.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid

import django


def setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "simrenew.settings")
    os.environ.setdefault("SIMRENEW_SANDBOX", "1")
    django.setup()


PAGE = 500  # subscriptions are read in pages, as the worker claims them; each is renewed on its own


def renew_through_services(subscription_ids: list[int]) -> float:
    from simrenew.payments.charging import run_charge
    from simrenew.subscriptions.models import Subscription
    from simrenew.subscriptions.renewals import begin_renewal

    started = time.perf_counter()
    for start in range(0, len(subscription_ids), PAGE):
        page = Subscription.objects.select_related("customer", "plan", "payment_method").in_bulk(
            subscription_ids[start : start + PAGE]
        )
        for subscription in page.values():
            attempt = run_charge(
                lambda s=subscription: begin_renewal(subscription=s, idempotency_key=f"bench-svc-{s.pk}")
            )
            if attempt.status != "succeeded":
                raise RuntimeError(f"renewal of {subscription.pk} failed: {attempt.failure_code}")
    return time.perf_counter() - started


def renew_with_plain_sql(subscription_ids: list[int]) -> float:
    """The same rows written with hand-written SQL, one renewal at a time, in the
    same three steps (attempt; gateway ledger; outcome with invoice, period, outbox)."""
    from datetime import UTC, datetime, timedelta

    from django.db import connection, transaction

    started = time.perf_counter()
    with connection.cursor() as cursor:
        page: dict[int, tuple] = {}
        for index, subscription_id in enumerate(subscription_ids):
            if index % PAGE == 0:
                chunk = subscription_ids[index : index + PAGE]
                cursor.execute(
                    "SELECT s.id, s.customer_id, s.payment_method_id, s.plan_id, p.price_minor, p.currency, m.token"
                    " FROM subscriptions_subscription s JOIN catalog_plan p ON p.id = s.plan_id"
                    " JOIN payments_paymentmethod m ON m.id = s.payment_method_id"
                    f" WHERE s.id IN ({', '.join(['%s'] * len(chunk))})",
                    chunk,
                )
                page = {row[0]: row[1:] for row in cursor.fetchall()}
            now = datetime.now(UTC)
            key = f"bench-sql-{subscription_id}"
            customer_id, method_id, plan_id, price, currency, token = page[subscription_id]
            with transaction.atomic():
                cursor.execute(
                    "INSERT INTO payments_paymentattempt (customer_id, subscription_id, payment_method_id, purpose,"
                    " purpose_data, amount_minor, currency, idempotency_key, status, failure_code, failure_message,"
                    " gateway, gateway_charge_id, created_at, reconcile_count) VALUES"
                    " (%s, %s, %s, 'renewal', %s, %s, %s, %s, 'pending', '', '', 'sandbox', '', %s, 0)",
                    [
                        customer_id,
                        subscription_id,
                        method_id,
                        json.dumps({"plan_id": plan_id}),
                        price,
                        currency,
                        key,
                        now,
                    ],
                )
            charge_id = f"ch_{uuid.uuid4().hex[:24]}"
            cursor.execute(
                "INSERT INTO payments_sandboxcharge (idempotency_key, charge_id, token, amount_minor, currency,"
                " status, failure_code, refunded_minor, created_at) VALUES (%s, %s, %s, %s, %s, 'succeeded', '',"
                " 0, %s)",
                [key, charge_id, token, price, currency, now],
            )
            with transaction.atomic():
                cursor.execute("SELECT id FROM payments_paymentattempt WHERE idempotency_key = %s", [key])
                (attempt_id,) = cursor.fetchone()
                cursor.execute(
                    "UPDATE payments_paymentattempt SET status = 'succeeded', gateway_charge_id = %s,"
                    " completed_at = %s WHERE id = %s",
                    [charge_id, now, attempt_id],
                )
                cursor.execute("UPDATE billing_invoicesequence SET last_value = last_value + 1 WHERE name = 'invoice'")
                cursor.execute("SELECT last_value FROM billing_invoicesequence WHERE name = 'invoice'")
                (number,) = cursor.fetchone()
                cursor.execute(
                    "INSERT INTO billing_invoice (number, customer_id, subscription_id, payment_attempt_id,"
                    " description, subtotal_minor, discount_minor, total_minor, refunded_minor, currency, status,"
                    " issued_at) VALUES (%s, %s, %s, %s, 'renewal', %s, 0, %s, 0, %s, 'paid', %s)",
                    [
                        f"SR-{number:08d}",
                        customer_id,
                        subscription_id,
                        attempt_id,
                        price,
                        price,
                        currency,
                        now,
                    ],
                )
                cursor.execute("SELECT id FROM billing_invoice WHERE payment_attempt_id = %s", [attempt_id])
                (invoice_id,) = cursor.fetchone()
                cursor.execute(
                    "SELECT number, ends_at, anchor_at, anchor_offset FROM subscriptions_period"
                    " WHERE subscription_id = %s ORDER BY number DESC LIMIT 1",
                    [subscription_id],
                )
                last_number, last_end, anchor_at, anchor_offset = cursor.fetchone()
                if isinstance(last_end, str):  # SQLite returns text
                    last_end = datetime.fromisoformat(last_end)
                ends_at = last_end + timedelta(days=30)
                cursor.execute(
                    "INSERT INTO subscriptions_period (subscription_id, number, plan_id, starts_at, ends_at,"
                    " anchor_at, anchor_offset, time_zone, data_mb, top_up_mb, used_bytes, invoice_id, created_at)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, 'America/New_York', 10240, 0, 0, %s, %s)",
                    [
                        subscription_id,
                        last_number + 1,
                        plan_id,
                        last_end,
                        ends_at,
                        anchor_at,
                        anchor_offset + 1,
                        invoice_id,
                        now,
                    ],
                )
                cursor.execute(
                    "UPDATE subscriptions_subscription SET paid_through = %s WHERE id = %s",
                    [ends_at, subscription_id],
                )
                cursor.execute(
                    "INSERT INTO notifications_outboxmessage (event_id, event_type, customer_id, subscription_id,"
                    " sequence, payload, status, attempts, next_attempt_at, last_error, created_at) VALUES"
                    " (%s, 'subscription.renewed', %s, %s, 0, '{}', 'pending', 0, %s, '', %s)",
                    [uuid.uuid4().hex, customer_id, subscription_id, now, now],
                )
    return time.perf_counter() - started


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    setup()
    from django.db import connection

    from benchmarks.seed import seed_subscriptions

    seed_started = time.perf_counter()
    ids = seed_subscriptions(count)
    seed_seconds = time.perf_counter() - seed_started
    service_seconds = renew_through_services(ids)
    sql_seconds = renew_with_plain_sql(ids)
    print(
        json.dumps(
            {
                "database": connection.vendor,
                "count": count,
                "seed_seconds": round(seed_seconds, 2),
                "service_seconds": round(service_seconds, 3),
                "service_rate": round(count / service_seconds, 1),
                "sql_seconds": round(sql_seconds, 3),
                "sql_rate": round(count / sql_seconds, 1),
                "ratio": round(sql_seconds and service_seconds and (sql_seconds / service_seconds), 3),
            }
        )
    )


if __name__ == "__main__":
    main()
