"""Stories of buying and renewing periods."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from simrenew.billing.models import Invoice
from simrenew.notifications.models import OutboxMessage
from simrenew.payments.models import SandboxCharge
from simrenew.subscriptions.models import Period, Subscription
from simrenew.subscriptions.queries import Status, view
from tests.factories import make_card, make_customer, make_plan, make_subscription, renew


def test_first_payment_starts_a_month_now_in_the_customers_zone(clock):
    customer = make_customer(time_zone="America/New_York")
    plan = make_plan(period_unit="month", data_mb=5120, price_minor=2500)

    subscription = make_subscription(customer=customer, plan=plan)

    period = subscription.periods.get()
    assert period.starts_at == datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    assert period.ends_at == datetime(2026, 2, 15, 12, 0, tzinfo=UTC)
    shown = view(subscription)
    assert shown.status == Status.ACTIVE
    assert shown.data_left_mb == 5120
    assert shown.days_left == 31
    assert Invoice.objects.get().total_minor == 2500
    assert list(OutboxMessage.objects.values_list("event_type", flat=True)) == [
        "customer.created",
        "subscription.created",
    ]


def test_renewing_early_stacks_the_next_period_after_the_current_one(clock):
    subscription = make_subscription()
    clock.advance(days=10)

    attempt = renew(subscription)

    assert attempt.status == "succeeded"
    first, second = Period.objects.filter(subscription=subscription).order_by("number")
    assert second.starts_at == first.ends_at
    # 07:00 in New York on both ends: after the March DST change that is 11:00 UTC.
    assert second.ends_at == datetime(2026, 3, 15, 11, 0, tzinfo=UTC)
    subscription.refresh_from_db()
    assert subscription.paid_through == second.ends_at


def test_renewing_after_expiry_starts_now_and_resumes_service(clock):
    subscription = make_subscription()
    clock.advance(days=40)
    assert view(subscription).status == Status.SUSPENDED

    renew(subscription)

    latest = subscription.periods.order_by("-number").first()
    assert latest.starts_at == clock.now()
    subscription.refresh_from_db()
    assert view(subscription).status == Status.ACTIVE


@pytest.mark.parametrize(
    ("card", "code"),
    [
        ("4000000000000002", "card_declined"),
        ("4000000000009995", "insufficient_funds"),
        ("4000000000000069", "expired_card"),
        ("4000000000000119", "processing_error"),
    ],
)
def test_a_failed_renewal_changes_nothing_but_says_why(clock, card, code):
    subscription = make_subscription()
    bad_card = make_card(customer=subscription.customer, number=card)
    before = (Period.objects.count(), Invoice.objects.count())

    attempt = renew(subscription, payment_method=bad_card)

    assert attempt.status == "failed"
    assert attempt.failure_code == code
    assert attempt.failure_message
    assert (Period.objects.count(), Invoice.objects.count()) == before
    subscription.refresh_from_db()
    assert subscription.payment_method_id != bad_card.pk


def test_a_failed_first_payment_leaves_no_subscription(clock):
    from simrenew.payments.charging import run_charge
    from simrenew.subscriptions.renewals import begin_subscription
    from tests.factories import make_esim

    customer = make_customer()
    plan = make_plan()
    esim = make_esim(customer=customer)
    declined = make_card(customer=customer, number="4000000000000002")

    attempt = run_charge(
        lambda: begin_subscription(
            esim=esim, plan=plan, payment_method=declined, auto_renew=True, promo_code=None, idempotency_key="k1"
        )
    )

    assert attempt.status == "failed"
    assert Subscription.objects.count() == 0
    assert SandboxCharge.objects.get().status == "failed"
