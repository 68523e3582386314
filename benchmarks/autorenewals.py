"""Due auto-renewals through the worker's pipeline in one process, with the
sandbox gateway at each given latency; beside it plain SQL doing the same
writes in the same batches, measured in the same process.

    python -m benchmarks.autorenewals COUNT LATENCIES_MS     e.g. 100000 250,0   (prints one JSON line)

Uses whatever database SIMRENEW_DATABASE_URL names; migrate it first. Each run
gets its own freshly seeded subscriptions, all due now (the test clock is frozen).
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from threading import Event

from benchmarks.renewals import setup

BATCH = 500
IN_FLIGHT = 4
NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def make_due_and_vacuum(ids: list[int]) -> None:
    """Bring the run's subscriptions due, then vacuum and analyze, as a database in service
    is: the seeding and the earlier runs' writes would otherwise leave autovacuum to start
    in the middle of the timed run, on whichever run comes next."""
    from django.db import connection

    from simrenew.subscriptions.models import Subscription

    Subscription.objects.filter(pk__gte=ids[0], pk__lte=ids[-1]).update(renewal_due_at=NOW - timedelta(hours=1))
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


def renew_with_pipeline(ids: list[int], latency_ms: int) -> float:
    from django.conf import settings

    from simrenew.payments.gateway import forget_gateways
    from simrenew.worker.renewals import RenewalPipeline
    from simrenew.worker.runner import freeze_startup_heap

    settings.SIMRENEW_SANDBOX_GATEWAY_LATENCY_MS = latency_ms
    forget_gateways()
    make_due_and_vacuum(ids)
    freeze_startup_heap()  # as `simrenew worker` does once it has started
    pipeline = RenewalPipeline(worker_id="bench", batch_size=BATCH, batches_in_flight=IN_FLIGHT, stop=Event())
    started = time.perf_counter()
    counts = pipeline.run_until_idle()
    seconds = time.perf_counter() - started
    pipeline.close()
    if counts.succeeded != len(ids):
        raise RuntimeError(f"expected {len(ids)} renewals, got {counts}")
    return seconds


def renew_with_plain_sql(ids: list[int]) -> float:
    """The pipeline's writes with hand-written statements and no domain rules: per
    batch, claim; attempts; the gateway's ledger; outcomes, invoice numbers,
    invoices, periods, subscriptions, outbox; release."""
    from django.db import connection, transaction

    make_due_and_vacuum(ids)
    adapt = connection.ops.adapt_datetimefield_value
    now = adapt(NOW)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        while True:
            with transaction.atomic():
                cursor.execute(
                    "UPDATE subscriptions_subscription SET claimed_by = 'sql', claim_expires_at = %s WHERE id IN ("
                    " SELECT id FROM subscriptions_subscription WHERE state = 'live' AND auto_renew"
                    " AND renewal_due_at <= %s AND paid_through > %s AND claim_expires_at IS NULL"
                    " ORDER BY renewal_due_at LIMIT %s) RETURNING id",
                    [adapt(datetime.now(UTC) + timedelta(minutes=2)), now, now, BATCH],
                )
                claimed = sorted(row[0] for row in cursor.fetchall())
                if not claimed:
                    break
                marks = ", ".join(["%s"] * len(claimed))
                cursor.execute(
                    "SELECT s.id, s.customer_id, s.payment_method_id, s.plan_id, p.price_minor, p.currency, m.token,"
                    " s.paid_through FROM subscriptions_subscription s JOIN catalog_plan p ON p.id = s.plan_id"
                    f" JOIN payments_paymentmethod m ON m.id = s.payment_method_id WHERE s.id IN ({marks})",
                    claimed,
                )
                batch = cursor.fetchall()
                cursor.executemany(
                    "INSERT INTO payments_paymentattempt (customer_id, subscription_id, payment_method_id, purpose,"
                    " purpose_data, amount_minor, currency, idempotency_key, status, failure_code, failure_message,"
                    " gateway, gateway_charge_id, created_at, reconcile_count) VALUES"
                    " (%s, %s, %s, 'auto_renewal', %s, %s, %s, %s, 'pending', '', '', 'sandbox', '', %s, 0)",
                    [
                        (row[1], row[0], row[2], json.dumps({"plan_id": row[3]}), row[4], row[5], f"sql-{row[0]}", now)
                        for row in batch
                    ],
                )
            charges = {row[0]: f"ch_{uuid.uuid4().hex[:24]}" for row in batch}
            with transaction.atomic():
                cursor.executemany(
                    "INSERT INTO payments_sandboxcharge (idempotency_key, charge_id, token, amount_minor, currency,"
                    " status, failure_code, refunded_minor, created_at) VALUES (%s, %s, %s, %s, %s, 'succeeded', '',"
                    " 0, %s)",
                    [(f"sql-{row[0]}", charges[row[0]], row[6], row[4], row[5], now) for row in batch],
                )
            with transaction.atomic():
                keys = [f"sql-{row[0]}" for row in batch]
                cursor.execute(
                    "SELECT subscription_id, id FROM payments_paymentattempt"
                    f" WHERE idempotency_key IN ({', '.join(['%s'] * len(keys))})",
                    keys,
                )
                attempt_of = dict(cursor.fetchall())
                cursor.executemany(
                    "UPDATE payments_paymentattempt SET status = 'succeeded', gateway_charge_id = %s,"
                    " completed_at = %s WHERE id = %s AND status = 'pending'",
                    [(charges[sid], now, attempt_of[sid]) for sid in claimed],
                )
                cursor.execute(
                    "UPDATE billing_invoicesequence SET last_value = last_value + %s WHERE name = 'invoice'"
                    " RETURNING last_value",
                    [len(batch)],
                )
                last_number = cursor.fetchone()[0]
                first_number = last_number - len(batch) + 1
                cursor.executemany(
                    "INSERT INTO billing_invoice (number, customer_id, subscription_id, payment_attempt_id,"
                    " description, subtotal_minor, discount_minor, total_minor, refunded_minor, currency, status,"
                    " issued_at) VALUES (%s, %s, %s, %s, 'renewal', %s, 0, %s, 0, %s, 'paid', %s)",
                    [
                        (f"SR-{first_number + i:08d}", row[1], row[0], attempt_of[row[0]], row[4], row[4], row[5], now)
                        for i, row in enumerate(batch)
                    ],
                )
                attempts = list(attempt_of.values())
                cursor.execute(
                    "SELECT payment_attempt_id, id FROM billing_invoice"
                    f" WHERE payment_attempt_id IN ({', '.join(['%s'] * len(attempts))})",
                    attempts,
                )
                invoice_of = dict(cursor.fetchall())
                cursor.execute(
                    "SELECT subscription_id, number, ends_at, anchor_at, anchor_offset FROM subscriptions_period"
                    f" WHERE subscription_id IN ({marks})",
                    claimed,
                )
                last = {row[0]: row[1:] for row in cursor.fetchall()}
                plan_of = {row[0]: row[3] for row in batch}
                periods, updates, events = [], [], []
                for sid in claimed:
                    number, ends_at, anchor_at, offset = last[sid]
                    if isinstance(ends_at, str):  # SQLite returns text
                        ends_at = datetime.fromisoformat(ends_at)
                    new_end = ends_at + timedelta(days=30)
                    invoice_id = invoice_of[attempt_of[sid]]
                    periods.append(
                        (
                            sid,
                            number + 1,
                            plan_of[sid],
                            adapt(ends_at),
                            adapt(new_end),
                            anchor_at,
                            offset + 1,
                            invoice_id,
                            now,
                        )
                    )
                    updates.append((adapt(new_end), adapt(new_end - timedelta(hours=72)), sid))
                    events.append((uuid.uuid4().hex, sid, sid, now, now))
                cursor.executemany(
                    "INSERT INTO subscriptions_period (subscription_id, number, plan_id, starts_at, ends_at,"
                    " anchor_at, anchor_offset, time_zone, data_mb, top_up_mb, used_bytes, invoice_id, created_at)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, 'America/New_York', 10240, 0, 0, %s, %s)",
                    periods,
                )
                cursor.executemany(
                    "UPDATE subscriptions_subscription SET paid_through = %s, renewal_due_at = %s WHERE id = %s",
                    updates,
                )
                cursor.executemany(
                    "INSERT INTO notifications_outboxmessage (event_id, event_type, customer_id, subscription_id,"
                    " sequence, payload, status, attempts, next_attempt_at, last_error, created_at) VALUES"
                    " (%s, 'subscription.renewed', (SELECT customer_id FROM subscriptions_subscription WHERE id = %s),"
                    " %s, 0, '{}', 'pending', 0, %s, '', %s)",
                    events,
                )
                cursor.execute(
                    "UPDATE subscriptions_subscription SET claimed_by = '', claim_expires_at = NULL"
                    f" WHERE id IN ({marks})",
                    claimed,
                )
    return time.perf_counter() - started


def check_books(ids: list[int]) -> None:
    """Every subscription of the run has exactly one charge and one invoice for its second period."""
    from simrenew.billing.models import Invoice
    from simrenew.subscriptions.models import Period

    run = {"subscription_id__gte": ids[0], "subscription_id__lte": ids[-1]}
    periods = Period.objects.filter(number=2, **run).count()
    invoices = Invoice.objects.filter(payment_attempt__purpose="auto_renewal", **run).count()
    if periods != len(ids) or invoices != len(ids):
        raise RuntimeError(f"{periods} second periods and {invoices} invoices for {len(ids)} subscriptions")


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    latencies = [int(ms) for ms in (sys.argv[2] if len(sys.argv) > 2 else "250,0").split(",")]
    setup()
    import logging

    from django.db import connection

    from benchmarks.seed import seed_subscriptions
    from simrenew.kit import clock
    from simrenew.payments.models import SandboxCharge

    logging.getLogger("simrenew.worker").setLevel(logging.WARNING)
    clock.set_now(NOW)
    seed_started = time.perf_counter()
    baseline_ids = seed_subscriptions(count, ends_in=timedelta(days=2))
    run_ids = [seed_subscriptions(count, ends_in=timedelta(days=2)) for _ in latencies]
    seed_seconds = time.perf_counter() - seed_started
    sql_seconds = renew_with_plain_sql(baseline_ids)
    result: dict[str, object] = {
        "database": connection.vendor,
        "count": count,
        "batch": BATCH,
        "batches_in_flight": IN_FLIGHT,
        "seed_seconds": round(seed_seconds, 1),
        "sql_seconds": round(sql_seconds, 3),
        "sql_rate": round(count / sql_seconds, 1),
        "runs": [],
    }
    charged_before = 0
    for latency, ids in zip(latencies, run_ids, strict=True):
        seconds = renew_with_pipeline(ids, latency)
        check_books(ids)
        charged = SandboxCharge.objects.filter(idempotency_key__startswith="auto-renew:").count()
        if charged - charged_before != count:
            raise RuntimeError(f"{charged - charged_before} gateway charges for {count} renewals")
        charged_before = charged
        result["runs"].append(  # type: ignore[attr-defined]
            {
                "latency_ms": latency,
                "seconds": round(seconds, 3),
                "rate": round(count / seconds, 1),
                "ratio": round(sql_seconds / seconds, 3),
            }
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
