"""Seed many live subscriptions quickly (bulk inserts), for benchmarks only."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction

from simrenew.billing.models import Invoice, InvoiceSequence
from simrenew.catalog.models import Carrier, Plan
from simrenew.customers.models import Customer
from simrenew.esims.models import EsimProfile
from simrenew.kit import clock
from simrenew.payments.models import PaymentAttempt, PaymentMethod, SandboxToken
from simrenew.subscriptions.models import Period, Subscription

BATCH = 2000


def seed_subscriptions(count: int, *, ends_in: timedelta = timedelta(days=30), due: bool = False) -> list[int]:
    """`count` customers, each with an eSIM, a card and a live monthly subscription
    in its first period, which ends `ends_in` from now; with `due`, its auto-renew
    is scheduled 72 hours before that end. Returns the subscription ids."""
    now = clock.now()
    starts_at = now + ends_in - timedelta(days=30)
    user_model = get_user_model()
    with transaction.atomic():
        carrier, _ = Carrier.objects.get_or_create(code="att", defaults={"name": "AT&T"})
        plan, _ = Plan.objects.get_or_create(
            code="bench-1m",
            version=1,
            defaults=dict(
                carrier=carrier,
                name="Bench 1 month",
                period_unit="month",
                period_count=1,
                data_mb=10240,
                price_minor=2500,
                created_at=now,
            ),
        )
        token, _ = SandboxToken.objects.get_or_create(
            token="tok_sandbox_bench", defaults=dict(behaviour="succeed", brand="visa", last4="4242", created_at=now)
        )
        start = Customer.objects.count()
        users = user_model.objects.bulk_create(
            [
                user_model(
                    username=f"bench{start + i}@example.com",
                    email=f"bench{start + i}@example.com",
                    password="!",
                )
                for i in range(count)
            ],
            batch_size=BATCH,
        )
        customers = Customer.objects.bulk_create(
            [
                Customer(user=u, email=u.email, name="Bench", time_zone="America/New_York", created_at=now)
                for u in users
            ],
            batch_size=BATCH,
        )
        esims = EsimProfile.objects.bulk_create(
            [
                EsimProfile(
                    carrier=carrier,
                    iccid=f"bench{start + i:015d}",
                    msisdn="+12015550123",
                    activation_code="1$smdp.example.com$BENCH",
                    status="assigned",
                    customer=c,
                    assigned_at=now,
                    created_at=now,
                )
                for i, c in enumerate(customers)
            ],
            batch_size=BATCH,
        )
        methods = PaymentMethod.objects.bulk_create(
            [
                PaymentMethod(
                    customer=c,
                    type="card",
                    gateway="sandbox",
                    token=token.token,
                    brand="visa",
                    last4="4242",
                    exp_month=12,
                    exp_year=2040,
                    is_default=True,
                    created_at=now,
                )
                for c in customers
            ],
            batch_size=BATCH,
        )
        subscriptions = Subscription.objects.bulk_create(
            [
                Subscription(
                    customer=c,
                    esim=e,
                    plan=plan,
                    payment_method=m,
                    auto_renew=True,
                    state="live",
                    paid_through=now + ends_in,
                    renewal_due_at=(now + ends_in - timedelta(hours=72)) if due else None,
                    created_at=now,
                )
                for c, e, m in zip(customers, esims, methods, strict=True)
            ],
            batch_size=BATCH,
        )
        attempts = PaymentAttempt.objects.bulk_create(
            [
                PaymentAttempt(
                    customer=s.customer,
                    subscription=s,
                    payment_method=m,
                    purpose="first_period",
                    purpose_data={"plan_id": plan.pk},
                    amount_minor=2500,
                    currency="USD",
                    idempotency_key=f"bench-first-{s.pk}",
                    status="succeeded",
                    gateway="sandbox",
                    created_at=now,
                    completed_at=now,
                )
                for s, m in zip(subscriptions, methods, strict=True)
            ],
            batch_size=BATCH,
        )
        sequence, _ = InvoiceSequence.objects.get_or_create(name="invoice")
        first_number = sequence.last_value
        invoices = Invoice.objects.bulk_create(
            [
                Invoice(
                    number=f"SR-{first_number + i + 1:08d}",
                    customer=a.customer,
                    subscription=a.subscription,
                    payment_attempt=a,
                    description=plan.name,
                    subtotal_minor=2500,
                    total_minor=2500,
                    currency="USD",
                    issued_at=now,
                )
                for i, a in enumerate(attempts)
            ],
            batch_size=BATCH,
        )
        InvoiceSequence.objects.filter(pk=sequence.pk).update(last_value=first_number + count)
        Period.objects.bulk_create(
            [
                Period(
                    subscription=s,
                    number=1,
                    plan=plan,
                    starts_at=starts_at,
                    ends_at=now + ends_in,
                    anchor_at=starts_at,
                    anchor_offset=0,
                    time_zone="America/New_York",
                    data_mb=plan.data_mb,
                    invoice=inv,
                    created_at=now,
                )
                for s, inv in zip(subscriptions, invoices, strict=True)
            ],
            batch_size=BATCH,
        )
    return [s.pk for s in subscriptions]
