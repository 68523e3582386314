"""A year of one customer's life, in seconds: a monthly plan that renews itself,
a card that expires in month 5, a data top-up, a cancellation. The worker runs
every six hours of test-clock time, and every charge and message is checked,
down to the emails a real SMTP server received."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from simrenew.billing.models import Invoice
from simrenew.notifications.models import Delivery, OutboxMessage
from simrenew.payments.models import AttemptStatus, PaymentAttempt, SandboxCharge
from simrenew.payments.services import NewMethod, add_payment_method
from simrenew.subscriptions.cancellation import cancel, update_renewal
from simrenew.subscriptions.models import Subscription
from simrenew.subscriptions.queries import Status, view
from simrenew.worker.runner import Worker
from tests.factories import buy_top_up, make_customer, make_plan, make_subscription, make_top_up_pack, record_usage
from tests.notifications.fixtures import mail_server

__all__ = ["mail_server"]

TICK = timedelta(hours=6)


# A year of six-hour ticks through the real worker: on CI's two shared cores, beside the other
# database's suite, it outlasts pytest-timeout's default 300 s.
@pytest.mark.timeout(900)
def test_a_year_of_monthly_auto_renewal_with_an_expiring_card_a_top_up_and_a_cancellation(clock, mail_server):
    customer = make_customer(email="ada@example.com", time_zone="America/New_York")
    plan = make_plan(period_unit="month", data_mb=10_240, price_minor=2500, name="AT&T 10 GB")
    pack = make_top_up_pack(data_mb=2048, price_minor=800)
    subscription = make_subscription(customer=customer, plan=plan)
    expiring_card = add_payment_method(
        customer=customer,
        method=NewMethod(type="card", number="5555555555554444", exp_month=5, exp_year=2026, cvc="123"),
    )
    update_renewal(subscription, payment_method=expiring_card)
    worker = Worker(worker_id="year", batches_in_flight=1)
    story: list[str] = []
    end = clock.now() + timedelta(days=365)
    used_data = topped_up = cancelled = replaced_card = False
    while clock.now() < end:
        clock.advance(hours=TICK.total_seconds() / 3600)
        now = clock.now()
        if not used_data and now >= datetime(2026, 3, 20, tzinfo=UTC):
            record_usage(iccid=subscription.esim.iccid, mb=8_500)  # 83 % of the month's 10 GB
            used_data = True
        if used_data and not topped_up and OutboxMessage.objects.filter(event_type="usage.threshold_reached").exists():
            assert buy_top_up(subscription, pack=pack, payment_method=expiring_card).status == "succeeded"
            topped_up = True
        failed = OutboxMessage.objects.filter(event_type="subscription.renewal_failed").first()
        if failed is not None and not replaced_card:
            assert failed.payload["action"] == "update_payment_method"
            new_card = add_payment_method(
                customer=customer,
                method=NewMethod(type="card", number="4242424242424242", exp_month=8, exp_year=2030, cvc="123"),
            )
            update_renewal(subscription, payment_method=new_card)
            replaced_card = True
        if not cancelled and now >= datetime(2026, 10, 20, tzinfo=UTC):
            cancel(Subscription.objects.get(pk=subscription.pk), when="period_end")
            cancelled = True
        worker.run_once()
    worker.close()
    story = list(OutboxMessage.objects.order_by("id").values_list("event_type", flat=True))

    # Charges: the first period, nine renewals (February to October), one top-up;
    # one renewal declined when the card had expired, then paid with the new card.
    succeeded = SandboxCharge.objects.filter(status="succeeded")
    assert succeeded.count() == 11
    assert list(SandboxCharge.objects.filter(status="failed").values_list("failure_code", flat=True)) == [
        "expired_card"
    ]
    auto = PaymentAttempt.objects.filter(purpose="auto_renewal")
    assert auto.filter(status=AttemptStatus.SUCCEEDED).count() == 9
    assert not PaymentAttempt.objects.filter(status__in=["pending", "unknown"]).exists()
    # The books: one invoice per successful charge, to the cent, gapless.
    invoices = list(Invoice.objects.select_related("payment_attempt").order_by("number"))
    assert len(invoices) == 11
    charged = {c.idempotency_key: c.amount_minor for c in succeeded}
    for invoice in invoices:
        assert charged[invoice.payment_attempt.idempotency_key] == invoice.total_minor
    assert sum(i.total_minor for i in invoices) == 10 * 2500 + 800
    numbers = [int(i.number.removeprefix("SR-")) for i in invoices]
    assert numbers == list(range(numbers[0], numbers[0] + 11))
    # Ten periods back to back, each a calendar month at 07:00 in New York.
    periods = list(subscription.periods.order_by("number"))
    assert len(periods) == 10
    assert all(a.ends_at == b.starts_at for a, b in pairwise(periods))
    assert periods[-1].ends_at == datetime(2026, 11, 15, 12, 0, tzinfo=UTC)  # 07:00 EST again
    subscription.refresh_from_db()
    assert view(subscription).status == Status.CANCELLED

    # Every message, once.
    assert Counter(story) == {
        "customer.created": 1,
        "subscription.created": 1,
        "subscription.auto_renew_upcoming": 9,
        "subscription.renewed": 9,
        "usage.threshold_reached": 1,
        "subscription.topped_up": 1,
        "payment_method.expiring": 1,
        "subscription.renewal_failed": 1,
        # The expired card stopped auto-renew until the new card came: the plan would end in 3 days.
        "subscription.expiring": 1,
        "subscription.cancelled": 1,
    }
    assert story.index("payment_method.expiring") < story.index("subscription.renewal_failed")
    # The emails arrived at a real SMTP server: one per customer-facing event, each once.
    emails = mail_server.mailbox.messages
    customer_facing = len(story) - 1  # customer.created reaches webhooks only
    assert len(emails) == customer_facing
    assert {tuple(m.get_all("To")) for m in emails} == {("ada@example.com",)}
    assert len({m["Message-ID"] for m in emails}) == len(emails)
    assert Delivery.objects.filter(status="sent").count() == customer_facing
    assert not Delivery.objects.exclude(status="sent").exists()
