"""Stories of auto-renew: charged from 72 hours before expiry, retried on the
schedule, falling back as the customer allowed, and never charged twice."""

from __future__ import annotations

from datetime import timedelta

from simrenew.billing.models import Invoice
from simrenew.notifications.models import OutboxMessage
from simrenew.payments.models import AttemptPurpose, PaymentAttempt, SandboxCharge
from simrenew.subscriptions.models import Period, Subscription
from tests.factories import make_card, make_customer, make_plan, make_subscription, make_wallet, renew_due


def test_nothing_is_charged_before_72_hours_before_expiry(clock):
    subscription = make_subscription(plan=make_plan(period_unit="month"))
    clock.set(subscription.paid_through - timedelta(hours=72, seconds=1))

    counts = renew_due()

    assert counts.claimed == 0
    assert subscription.periods.count() == 1


def test_at_72_hours_before_expiry_the_card_pays_the_next_period(clock):
    subscription = make_subscription(plan=make_plan(period_unit="month", price_minor=2500))
    first_end = subscription.paid_through
    clock.set(first_end - timedelta(hours=72))

    counts = renew_due()

    assert (counts.claimed, counts.succeeded) == (1, 1)
    second = Period.objects.get(subscription=subscription, number=2)
    assert second.starts_at == first_end
    subscription.refresh_from_db()
    assert subscription.paid_through == second.ends_at
    assert subscription.claimed_by == ""
    attempt = PaymentAttempt.objects.get(purpose=AttemptPurpose.AUTO_RENEWAL)
    assert SandboxCharge.objects.get(idempotency_key=attempt.idempotency_key).amount_minor == 2500
    assert second.invoice.payment_attempt_id == attempt.pk
    assert second.invoice.total_minor == 2500
    renewed = OutboxMessage.objects.get(event_type="subscription.renewed")
    assert renewed.payload["auto_renewed"] is True
    assert renewed.payload["invoice"] == second.invoice.number
    assert renew_due().claimed == 0  # the next try is 72 hours before the new end


def test_many_subscriptions_renew_in_one_batch_with_gapless_invoice_numbers(clock):
    customer = make_customer()
    plan = make_plan(period_unit="month", price_minor=1500)
    subscriptions = [make_subscription(customer=customer, plan=plan) for _ in range(7)]
    clock.advance(days=29)

    counts = renew_due()

    assert counts.succeeded == 7
    numbers = sorted(int(n.removeprefix("SR-")) for n in Invoice.objects.values_list("number", flat=True))
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    for subscription in subscriptions:
        subscription.refresh_from_db()
        assert subscription.periods.count() == 2
    assert SandboxCharge.objects.filter(idempotency_key__startswith="auto-renew:").count() == 7
    assert Subscription.objects.filter(claimed_by__gt="").count() == 0


def failed_events() -> list[dict]:
    return [m.payload for m in OutboxMessage.objects.filter(event_type="subscription.renewal_failed").order_by("id")]


def test_a_declined_card_is_retried_at_24_6_and_1_hours_then_left_to_the_customer(clock):
    subscription = make_subscription(plan=make_plan(period_unit="month"))
    subscription.payment_method = make_card(customer=subscription.customer, number="4000000000000002")
    subscription.save(update_fields=["payment_method"])
    end = subscription.paid_through
    tries = []
    for hours in (72, 24, 6, 1):
        clock.set(end - timedelta(hours=hours))
        counts = renew_due()
        tries.append((counts.failed, counts.spent))
        assert renew_due().claimed == 0  # nothing more until the next slot
    assert tries == [(1, 1)] * 4
    retries = [e["next_retry_at"] for e in failed_events()]
    expected = [(end - timedelta(hours=h)).isoformat() for h in (24, 6, 1)]
    assert retries == [*expected, None]
    assert [e["action"] for e in failed_events()] == ["wait_for_retry"] * 3 + ["renew_by_hand"]
    assert failed_events()[0]["failure_code"] == "card_declined"
    assert SandboxCharge.objects.filter(status="succeeded", idempotency_key__startswith="auto-renew:").count() == 0
    subscription.refresh_from_db()
    assert subscription.renewal_due_at is None


def test_an_expired_card_asks_the_customer_at_once_without_retrying(clock):
    subscription = make_subscription(plan=make_plan(period_unit="month"))
    subscription.payment_method = make_card(customer=subscription.customer, number="4000000000000069")
    subscription.save(update_fields=["payment_method"])
    clock.set(subscription.paid_through - timedelta(hours=72))

    renew_due()

    (event,) = failed_events()
    assert (event["failure_code"], event["action"], event["next_retry_at"]) == (
        "expired_card",
        "update_payment_method",
        None,
    )
    clock.set(subscription.paid_through - timedelta(hours=1))
    assert renew_due().claimed == 0


def test_a_new_card_after_a_decline_is_charged_at_once(clock):
    from simrenew.subscriptions.cancellation import update_renewal

    subscription = make_subscription(plan=make_plan(period_unit="month"))
    subscription.payment_method = make_card(customer=subscription.customer, number="4000000000009987")
    subscription.save(update_fields=["payment_method"])
    clock.set(subscription.paid_through - timedelta(hours=70))
    renew_due()
    assert failed_events()[0]["failure_code"] == "lost_card"

    update_renewal(subscription, payment_method=make_card(customer=subscription.customer))
    counts = renew_due()

    assert counts.succeeded == 1
    assert subscription.periods.count() == 2


def test_the_wallet_pays_when_the_card_fails_and_no_failure_is_reported(clock):
    customer = make_customer()
    plan = make_plan(period_unit="month", price_minor=2000)
    subscription = make_subscription(customer=customer, plan=plan)
    make_wallet(customer=customer, balance_minor=5000)
    subscription.payment_method = make_card(customer=customer, number="4000000000009995")
    subscription.save(update_fields=["payment_method"])
    clock.set(subscription.paid_through - timedelta(hours=72))

    counts = renew_due()

    assert counts.succeeded == 1 and counts.failed == 1
    assert failed_events() == []
    customer.wallet.refresh_from_db()
    assert customer.wallet.balance_minor == 3000


def test_other_saved_cards_are_tried_only_when_the_customer_allowed_it(clock):
    customer = make_customer()
    subscription = make_subscription(customer=customer, plan=make_plan(period_unit="month"))
    good_card = subscription.payment_method
    subscription.payment_method = make_card(customer=customer, number="4000000000000002")
    subscription.save(update_fields=["payment_method"])
    clock.set(subscription.paid_through - timedelta(hours=72))
    renew_due()
    assert subscription.periods.count() == 1
    assert len(failed_events()) == 1

    customer.renew_with_other_methods = True
    customer.save(update_fields=["renew_with_other_methods"])
    clock.set(subscription.paid_through - timedelta(hours=24))
    renew_due()

    assert subscription.periods.count() == 2
    paid = PaymentAttempt.objects.get(purpose=AttemptPurpose.AUTO_RENEWAL, status="succeeded")
    assert paid.payment_method_id == good_card.pk
    assert len(failed_events()) == 1


def test_a_lost_answer_waits_for_reconciliation_and_is_never_charged_again(clock):
    from simrenew.payments.charging import attempts_due_for_reconciliation, reconcile

    subscription = make_subscription(plan=make_plan(period_unit="month"))
    subscription.payment_method = make_card(customer=subscription.customer, number="4000000000000408")
    subscription.save(update_fields=["payment_method"])
    clock.set(subscription.paid_through - timedelta(hours=72))

    assert renew_due().unknown == 1
    assert renew_due().claimed == 0  # open attempt: nobody charges again
    clock.advance(minutes=5)
    for attempt in attempts_due_for_reconciliation():
        reconcile(attempt)

    assert subscription.periods.count() == 2
    assert SandboxCharge.objects.filter(idempotency_key__startswith="auto-renew:").count() == 1
    assert renew_due().claimed == 0


def test_a_batch_costs_the_same_number_of_queries_for_5_or_40_subscriptions(clock):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    plan = make_plan(period_unit="month")
    large = [make_subscription(plan=plan) for _ in range(40)]
    clock.advance(days=10)
    small = [make_subscription(plan=plan) for _ in range(5)]
    clock.advance(days=18, hours=12)  # the 40 are inside their 72 hours, the 5 not yet
    with CaptureQueriesContext(connection) as forty:
        assert renew_due().succeeded == len(large)
    clock.advance(days=10)
    with CaptureQueriesContext(connection) as five:
        assert renew_due().succeeded == len(small)

    assert len(forty.captured_queries) == len(five.captured_queries)


def test_a_charge_that_never_reached_the_gateway_is_tried_again_soon_without_troubling_anyone(clock):
    from simrenew.payments.charging import attempts_due_for_reconciliation, reconcile

    subscription = make_subscription(plan=make_plan(period_unit="month"))
    subscription.payment_method = make_card(customer=subscription.customer, number="4000000000000416")
    subscription.save(update_fields=["payment_method"])
    clock.set(subscription.paid_through - timedelta(hours=72))
    assert renew_due().unknown == 1
    clock.advance(minutes=5)
    for attempt in attempts_due_for_reconciliation():
        reconcile(attempt)  # the gateway never saw it: failed, and no money moved
    assert renew_due().spent == 1

    subscription.refresh_from_db()
    assert subscription.renewal_due_at == clock.now() + timedelta(minutes=15)
    assert failed_events() == []
