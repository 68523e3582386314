"""Cancelling at period end (reversible until then) or now, and resuming."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from simrenew.billing.models import Invoice, Refund
from simrenew.billing.refunds import execute_refund
from simrenew.kit.errors import ValidationFailed
from simrenew.notifications.models import OutboxMessage
from simrenew.payments.charging import execute, run_charge
from simrenew.payments.models import SandboxRefund, WalletEntry
from simrenew.subscriptions.cancellation import cancel, resume, update_renewal
from simrenew.subscriptions.errors import CancellationNotAllowed, RenewalNotAllowed
from simrenew.subscriptions.models import Period, Subscription, SubscriptionState
from simrenew.subscriptions.queries import Status, view
from simrenew.subscriptions.renewals import begin_renewal, begin_subscription, check_renewable
from tests.factories import make_card, make_customer, make_esim, make_plan, make_subscription, renew

FIRST_END = datetime(2026, 2, 15, 12, 0, tzinfo=UTC)


def events(kind: str) -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(event_type=kind))


def test_cancelling_at_period_end_keeps_the_service_running_until_then(clock):
    subscription = make_subscription(plan=make_plan(data_mb=4096))
    clock.advance(days=10)

    subscription = cancel(subscription, when="period_end")

    assert subscription.state == SubscriptionState.CANCELLED
    assert (subscription.cancelled_at, subscription.ended_at) == (clock.now(), None)
    shown = view(subscription)
    assert shown.status == Status.CANCELLED
    assert (shown.days_left, shown.data_left_mb) == (21, 4096)
    assert shown.current_period is not None
    [event] = events("subscription.cancelled")
    assert event.payload["when"] == "period_end"
    assert event.payload["service_ends_at"] == FIRST_END.isoformat().replace("+00:00", "Z")


def test_a_cancelled_subscription_is_not_renewed_until_it_is_resumed(clock):
    subscription = cancel(make_subscription(), when="period_end")

    with pytest.raises(RenewalNotAllowed):
        renew(subscription)
    with pytest.raises(CancellationNotAllowed):
        update_renewal(subscription, auto_renew=True)

    assert Period.objects.count() == 1


def test_a_refused_renewal_says_whether_resuming_would_allow_it(clock):
    """Cancelled at period end, the plan can be resumed and then renewed, and the refusal says so;
    cancelled now, or once that end has passed, it cannot, and the refusal does not send the
    customer looking for a resume button. The renew page asks the same rule (`check_renewable`)."""
    at_period_end = cancel(make_subscription(), when="period_end")
    now_cancelled = cancel(make_subscription(), when="now")

    with pytest.raises(RenewalNotAllowed) as resumable:
        renew(at_period_end)
    with pytest.raises(RenewalNotAllowed) as ended_now:
        renew(now_cancelled)
    clock.set(FIRST_END)
    with pytest.raises(RenewalNotAllowed) as ended_at_period_end:
        check_renewable(at_period_end)

    assert resumable.value.detail == "This subscription is cancelled; resume it before renewing."
    assert (
        ended_now.value.detail == ended_at_period_end.value.detail == "This plan is cancelled, so it cannot be renewed."
    )
    assert Period.objects.count() == 2  # the first period of each, nothing more


def test_resuming_before_the_period_ends_undoes_the_cancellation(clock):
    subscription = cancel(make_subscription(), when="period_end")
    clock.set(FIRST_END - timedelta(minutes=1))

    subscription = resume(subscription)

    assert (subscription.state, subscription.cancelled_at) == (SubscriptionState.LIVE, None)
    assert view(subscription).status == Status.EXPIRING  # one minute left: live again, and near its end
    assert len(events("subscription.resumed")) == 1
    assert renew(subscription).status == "succeeded"


def test_after_the_period_has_ended_a_cancellation_cannot_be_resumed(clock):
    subscription = cancel(make_subscription(), when="period_end")
    clock.set(FIRST_END)

    with pytest.raises(CancellationNotAllowed) as refused:
        resume(subscription)

    assert "before that period ends" in refused.value.detail
    subscription.refresh_from_db()
    assert subscription.state == SubscriptionState.CANCELLED
    shown = view(subscription)
    assert (shown.status, shown.days_left, shown.data_left_mb) == (Status.CANCELLED, 0, 0)


def test_cancelling_now_ends_the_service_now(clock):
    subscription = make_subscription()
    clock.advance(days=3)

    subscription = cancel(subscription, when="now")

    assert subscription.ended_at == clock.now()
    shown = view(subscription)
    assert shown.status == Status.CANCELLED
    assert shown.current_period is None
    assert (shown.days_left, shown.data_left_mb) == (0, 0)
    [event] = events("subscription.cancelled")
    assert event.payload["when"] == "now"


def test_a_subscription_cancelled_now_cannot_be_resumed(clock):
    subscription = cancel(make_subscription(), when="now")

    with pytest.raises(CancellationNotAllowed):
        resume(subscription)


def test_cancelling_now_also_ends_periods_paid_ahead(clock):
    subscription = make_subscription()
    renew(subscription)
    renew(subscription)

    subscription = cancel(subscription, when="now")
    clock.advance(days=40)  # inside the second paid period

    shown = view(subscription)
    assert (shown.status, shown.current_period, shown.days_left) == (Status.CANCELLED, None, 0)


def test_cancelling_twice_at_period_end_is_harmless(clock):
    subscription = cancel(make_subscription(), when="period_end")
    clock.advance(days=1)

    again = cancel(subscription, when="period_end")

    assert again.cancelled_at == datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    assert len(events("subscription.cancelled")) == 1


def test_cancelling_now_twice_keeps_the_first_end(clock):
    subscription = cancel(make_subscription(), when="now")
    first_end = subscription.ended_at
    clock.advance(hours=2)

    again = cancel(subscription, when="now")
    later = cancel(again, when="period_end")

    assert again.ended_at == later.ended_at == first_end
    assert len(events("subscription.cancelled")) == 1


def test_a_cancellation_at_period_end_can_be_brought_forward_to_now(clock):
    subscription = cancel(make_subscription(), when="period_end")
    clock.advance(days=2)

    subscription = cancel(subscription, when="now")

    assert subscription.ended_at == clock.now()
    assert view(subscription).days_left == 0
    assert [e.payload["when"] for e in events("subscription.cancelled")] == ["period_end", "now"]


def test_cancelling_needs_a_when_and_a_paid_subscription(clock):
    from simrenew.subscriptions.renewals import begin_subscription

    with pytest.raises(ValidationFailed) as bad_when:
        cancel(make_subscription(), when="tomorrow")  # type: ignore[arg-type]
    assert bad_when.value.errors[0].field == "when"

    customer = make_customer()
    unpaid = run_charge(
        lambda: begin_subscription(
            esim=make_esim(customer=customer),
            plan=make_plan(),
            payment_method=make_card(customer=customer, number="4000000000000408"),  # outcome unknown
            auto_renew=True,
            promo_code=None,
            idempotency_key="first-unknown",
        )
    )
    with pytest.raises(CancellationNotAllowed):
        cancel(unpaid.subscription, when="now")


def test_a_renewal_paid_while_the_subscription_was_being_cancelled_is_paid_back_to_the_card(clock):
    from django.db import transaction

    subscription = make_subscription(plan=make_plan(price_minor=2500))
    with transaction.atomic():
        attempt = begin_renewal(subscription=subscription, idempotency_key="in-flight")

    cancel(subscription, when="now")
    settled = execute(attempt)

    assert settled.status == "succeeded"
    assert Period.objects.filter(subscription=subscription).count() == 1
    refund = Refund.objects.get(invoice__payment_attempt=attempt)
    assert (refund.amount_minor, refund.status, refund.to_wallet) == (2500, "pending", False)
    assert not WalletEntry.objects.exists()

    clock.advance(minutes=2)
    refund = execute_refund(refund)

    assert refund.status == "succeeded"
    assert SandboxRefund.objects.get().amount_minor == 2500
    assert Invoice.objects.get(payment_attempt=attempt).status == "refunded"


def test_auto_renew_can_be_turned_off_and_on_and_the_card_changed(clock):
    subscription = make_subscription(auto_renew=True)
    other = make_card(customer=subscription.customer, number="5555555555554444")

    subscription = update_renewal(subscription, auto_renew=False)
    assert subscription.auto_renew is False
    subscription = update_renewal(subscription, auto_renew=True, payment_method=other)
    assert (subscription.auto_renew, subscription.payment_method_id) == (True, other.pk)

    stranger = make_card(customer=make_customer())
    with pytest.raises(ValidationFailed) as refused:
        update_renewal(subscription, payment_method=stranger)
    assert refused.value.errors[0].field == "payment_method_id"


def test_an_esim_whose_cancelled_plan_still_runs_cannot_be_sold_a_second_plan(clock):
    subscription = make_subscription()
    cancel(subscription, when="period_end")

    with pytest.raises(RenewalNotAllowed):
        run_charge(
            lambda: begin_subscription(
                esim=subscription.esim,
                plan=subscription.plan,
                payment_method=subscription.payment_method,
                auto_renew=True,
                promo_code=None,
                idempotency_key="second-plan",
            )
        )
    assert Subscription.objects.count() == 1
