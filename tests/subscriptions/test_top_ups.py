"""Top-ups: extra data within a period, valid until that period ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from simrenew.billing.models import Invoice
from simrenew.kit.errors import NotFound, ValidationFailed
from simrenew.notifications.models import OutboxMessage
from simrenew.subscriptions.cancellation import cancel
from simrenew.subscriptions.errors import TopUpNotAllowed
from simrenew.subscriptions.models import TopUp
from simrenew.subscriptions.queries import Status, view
from tests.factories import (
    buy_top_up,
    make_card,
    make_plan,
    make_subscription,
    make_top_up_pack,
    record_usage,
    renew,
)

FIRST_END = datetime(2026, 2, 15, 12, 0, tzinfo=UTC)


def test_a_top_up_adds_its_data_to_the_running_period_and_issues_an_invoice(clock):
    subscription = make_subscription(plan=make_plan(data_mb=2048))
    pack = make_top_up_pack(data_mb=1024, price_minor=500)

    attempt = buy_top_up(subscription, pack=pack)

    assert attempt.status == "succeeded"
    shown = view(subscription)
    assert (shown.data_total_mb, shown.data_left_mb) == (3072, 3072)
    top_up = TopUp.objects.get()
    assert (top_up.period.number, top_up.data_mb) == (1, 1024)
    assert (top_up.invoice.total_minor, top_up.invoice.description) == (500, "1024 MB")
    assert OutboxMessage.objects.filter(event_type="subscription.topped_up").count() == 1


def test_top_up_data_is_used_after_the_allowance_and_lifts_the_subscription_out_of_expiring(clock):
    subscription = make_subscription(plan=make_plan(data_mb=1000))
    record_usage(iccid=subscription.esim.iccid, mb=950)
    assert view(subscription).status == Status.EXPIRING

    buy_top_up(subscription, pack=make_top_up_pack(data_mb=1000))

    shown = view(subscription)
    assert (shown.data_left_mb, shown.status) == (1050, Status.ACTIVE)


def test_top_up_data_ends_with_its_period_and_does_not_carry_into_the_next(clock):
    subscription = make_subscription(plan=make_plan(data_mb=2048))
    renew(subscription)
    subscription.refresh_from_db()
    buy_top_up(subscription, pack=make_top_up_pack(data_mb=1024))
    assert view(subscription).data_left_mb == 3072

    clock.set(FIRST_END)

    shown = view(subscription)
    assert shown.current_period.number == 2
    assert (shown.data_total_mb, shown.data_left_mb) == (2048, 2048)


def test_two_top_ups_add_up(clock):
    subscription = make_subscription(plan=make_plan(data_mb=1000))
    pack = make_top_up_pack(data_mb=500)

    buy_top_up(subscription, pack=pack)
    buy_top_up(subscription, pack=pack)

    assert view(subscription).data_left_mb == 2000
    assert TopUp.objects.count() == 2


def test_a_declined_top_up_adds_nothing_and_issues_no_invoice(clock):
    subscription = make_subscription(plan=make_plan(data_mb=1000))
    declined = make_card(customer=subscription.customer, number="4000000000000002")
    invoices_before = Invoice.objects.count()

    attempt = buy_top_up(subscription, pack=make_top_up_pack(), payment_method=declined)

    assert (attempt.status, attempt.failure_code) == ("failed", "card_declined")
    assert view(subscription).data_left_mb == 1000
    assert Invoice.objects.count() == invoices_before
    assert not TopUp.objects.exists()


def test_there_is_nothing_to_top_up_once_the_period_has_run_out(clock):
    subscription = make_subscription()
    clock.set(FIRST_END + timedelta(minutes=1))

    with pytest.raises(TopUpNotAllowed):
        buy_top_up(subscription, pack=make_top_up_pack())


def test_a_subscription_cancelled_at_period_end_can_still_top_up_but_not_one_cancelled_now(clock):
    subscription = make_subscription(plan=make_plan(data_mb=1000))
    subscription = cancel(subscription, when="period_end")

    buy_top_up(subscription, pack=make_top_up_pack(data_mb=100))
    assert view(subscription).data_left_mb == 1100

    subscription = cancel(subscription, when="now")
    with pytest.raises(TopUpNotAllowed):
        buy_top_up(subscription, pack=make_top_up_pack(data_mb=100))


def test_a_pack_for_another_carrier_or_no_longer_sold_is_refused(clock):
    subscription = make_subscription(plan=make_plan(carrier="att"))
    retired = make_top_up_pack(carrier="att")
    retired.is_active = False
    retired.save()

    with pytest.raises(ValidationFailed) as other_carrier:
        buy_top_up(subscription, pack=make_top_up_pack(carrier="verizon"))
    with pytest.raises(ValidationFailed):
        buy_top_up(subscription, pack=retired)

    assert other_carrier.value.errors[0].field == "data_mb_pack_id"
    assert not TopUp.objects.exists()


def test_an_unknown_pack_is_not_found(clock):
    from simrenew.payments.charging import run_charge
    from simrenew.subscriptions.topups import begin_top_up

    subscription = make_subscription()

    with pytest.raises(NotFound):
        run_charge(
            lambda: begin_top_up(subscription=subscription, pack_id=999_999, payment_method=None, idempotency_key="k")
        )
