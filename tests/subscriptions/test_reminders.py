"""Stories of the reminders a customer gets: before the plan runs out, before an
auto-renew charge, before their card stops working, and when data runs low.
Each goes once, however often the worker runs and however time jumps."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction

from simrenew.customers.models import Customer
from simrenew.notifications.models import OutboxMessage
from simrenew.payments.models import PaymentMethod
from simrenew.payments.services import NewMethod, add_payment_method
from simrenew.subscriptions.cancellation import cancel, update_renewal
from simrenew.subscriptions.models import Reminder, ReminderKind, Subscription
from simrenew.subscriptions.reminders import send_all_due_reminders, send_due_reminders
from tests.concurrency import all_at_once
from tests.factories import make_paypal, make_plan, make_subscription, record_usage, renew

FIRST_END = datetime(2026, 2, 15, 12, 0, tzinfo=UTC)  # a month later, 07:00 in New York
FIRST_CHARGE = FIRST_END - timedelta(hours=72)
REMINDER_EVENTS = [
    "subscription.expiring",
    "subscription.auto_renew_upcoming",
    "payment_method.expiring",
    "usage.threshold_reached",
]


def run_worker(*, batch: int = 2) -> Counter[str]:
    """What the worker does each tick: one transaction per kind and batch until nothing is left."""
    return Counter({kind: count for kind, count in send_all_due_reminders(limit=batch).items() if count})


def payloads(event_type: str) -> list[dict]:
    return [m.payload for m in OutboxMessage.objects.filter(event_type=event_type).order_by("id")]


def days_left_sent() -> list[int]:
    return [p["days_left"] for p in payloads("subscription.expiring")]


def iso(moment: datetime) -> str:
    """How the outbox writes a UTC timestamp."""
    return moment.isoformat().replace("+00:00", "Z")


def hard_decline(subscription: Subscription) -> None:
    """What auto-renew does when the card is refused for good: no more tries are
    scheduled, the customer has to renew by hand."""
    Subscription.objects.filter(pk=subscription.pk).update(renewal_due_at=None)


def card_expiring(customer: Customer, *, month: int, year: int, type: str = "card") -> PaymentMethod:
    return add_payment_method(
        customer=customer,
        method=NewMethod(type=type, number="4242424242424242", exp_month=month, exp_year=year, cvc="123"),
    )


# --- before the plan runs out -------------------------------------------------------------------------------------


def test_a_plan_without_auto_renew_is_reminded_a_week_three_days_and_a_day_before_it_ends(clock):
    subscription = make_subscription(plan=make_plan(period_unit="month"), auto_renew=False)
    assert subscription.paid_through == FIRST_END

    clock.set(FIRST_END - timedelta(days=7, seconds=1))
    assert run_worker() == {}

    clock.set(FIRST_END - timedelta(days=7))
    assert run_worker() == {"expiring_7d": 1}
    [message] = OutboxMessage.objects.filter(event_type="subscription.expiring")
    assert (message.customer_id, message.subscription_id) == (subscription.customer_id, subscription.pk)
    assert message.payload == {
        "subscription_id": subscription.pk,
        "period_number": 1,
        "expires_at": iso(FIRST_END),
        "days_left": 7,
    }
    assert run_worker() == {}

    clock.advance(days=4)
    assert run_worker() == {"expiring_3d": 1}
    clock.advance(days=2)
    assert run_worker() == {"expiring_1d": 1}
    clock.advance(days=1)
    assert run_worker() == {}
    assert days_left_sent() == [7, 3, 1]


def test_every_kind_is_counted_on_every_call(clock):
    assert set(send_due_reminders()) == {
        "expiring_7d",
        "expiring_3d",
        "expiring_1d",
        "expiring_6h",
        "auto_renew_upcoming",
        "card_expiring",
        "data_95",
        "data_80",
    }


def test_a_worker_that_was_down_sends_only_the_most_urgent_reminder_and_never_the_older_ones(clock):
    subscription = make_subscription(plan=make_plan(period_unit="month"), auto_renew=False)

    clock.set(FIRST_END - timedelta(days=2))
    assert run_worker() == {"expiring_3d": 1}
    assert set(Reminder.objects.filter(subscription=subscription).values_list("kind", "period_number")) == {
        ("expiring_7d", 1),
        ("expiring_3d", 1),
    }

    clock.advance(days=1)
    run_worker()
    clock.advance(hours=23)
    run_worker()
    assert days_left_sent() == [3, 1]


def test_a_jump_to_the_last_hours_sends_just_the_one_day_reminder(clock):
    make_subscription(plan=make_plan(period_unit="month"), auto_renew=False)

    clock.set(FIRST_END - timedelta(hours=1))
    run_worker()
    clock.advance(minutes=59)
    run_worker()

    assert days_left_sent() == [1]


@pytest.mark.parametrize(
    ("period_unit", "period_count", "expected"),
    [
        ("day", 1, [1]),  # a daily plan: the 7- and 3-day moments are before its purchase; the last day is told
        ("day", 2, [1]),
        ("day", 7, [3, 1]),  # the 7-day moment is its very purchase: nothing to tell yet
        ("month", 1, [7, 3, 1]),
    ],
)
def test_no_reminder_for_a_moment_before_the_purchase_but_always_the_last_day_one(
    clock, period_unit, period_count, expected
):
    subscription = make_subscription(
        plan=make_plan(period_unit=period_unit, period_count=period_count), auto_renew=False
    )

    while clock.now() <= subscription.paid_through:
        run_worker()
        clock.advance(hours=6)

    assert days_left_sent() == expected


def test_no_expiry_reminders_while_auto_renew_will_charge_but_they_start_after_a_hard_decline(clock):
    subscription = make_subscription(plan=make_plan(period_unit="month"), auto_renew=True)
    for days_before in (7, 5, 4):
        clock.set(FIRST_END - timedelta(days=days_before))
        run_worker()
    assert days_left_sent() == []

    clock.set(FIRST_CHARGE)
    hard_decline(subscription)
    run_worker()
    clock.set(FIRST_END - timedelta(days=1))
    run_worker()

    assert days_left_sent() == [3, 1]


def test_turning_auto_renew_off_brings_the_expiry_reminders_back(clock):
    subscription = make_subscription(plan=make_plan(period_unit="month"), auto_renew=True)
    clock.set(FIRST_END - timedelta(days=8))
    run_worker()

    update_renewal(subscription, auto_renew=False)
    clock.advance(days=1)
    run_worker()

    assert days_left_sent() == [7]


def test_a_cancelled_subscription_is_not_reminded_that_it_ends(clock):
    subscription = make_subscription(plan=make_plan(period_unit="month"), auto_renew=False)
    cancel(subscription, when="period_end")

    for days_before in (7, 3, 1):
        clock.set(FIRST_END - timedelta(days=days_before))
        run_worker()

    assert payloads("subscription.expiring") == []


# --- before an auto-renew charge ------------------------------------------------------------------------------------


def test_the_auto_renew_notice_goes_three_days_before_the_first_charge(clock):
    subscription = make_subscription(plan=make_plan(period_unit="month", price_minor=2500), auto_renew=True)

    clock.set(FIRST_CHARGE - timedelta(days=3, seconds=1))
    assert run_worker() == {}
    clock.advance(seconds=1)
    assert run_worker() == {"auto_renew_upcoming": 1}

    assert payloads("subscription.auto_renew_upcoming") == [
        {
            "subscription_id": subscription.pk,
            "period_number": 1,
            "charge_at": iso(FIRST_CHARGE),
            "expires_at": iso(FIRST_END),
            "amount_minor": 2500,
            "currency": "USD",
            "payment_method": "visa •••• 4242",
        }
    ]
    clock.advance(days=1)
    assert run_worker() == {}
    assert payloads("subscription.expiring") == []


def test_no_auto_renew_notice_once_the_charge_is_due(clock):
    make_subscription(plan=make_plan(period_unit="month"), auto_renew=True)

    clock.set(FIRST_CHARGE)  # the worker was down for the three days before

    assert run_worker() == {}


def test_short_plans_get_no_auto_renew_notice(clock):
    make_subscription(plan=make_plan(period_unit="day", period_count=6), auto_renew=True)

    run_worker()
    clock.advance(days=1)
    run_worker()

    assert payloads("subscription.auto_renew_upcoming") == []


# --- before a card stops working ------------------------------------------------------------------------------------


@pytest.mark.parametrize("card_type", ["card", "debit"])
def test_a_card_that_expires_before_the_charge_is_announced_with_the_auto_renew_notice(clock, card_type):
    subscription = make_subscription(plan=make_plan(period_unit="month"), auto_renew=True)
    card = card_expiring(subscription.customer, month=1, year=2026, type=card_type)  # valid to Jan 31
    update_renewal(subscription, payment_method=card)

    clock.set(FIRST_CHARGE - timedelta(days=3))
    assert run_worker() == {"auto_renew_upcoming": 1, "card_expiring": 1}

    [message] = OutboxMessage.objects.filter(event_type="payment_method.expiring")
    assert message.subscription_id == subscription.pk
    assert message.payload == {
        "subscription_id": subscription.pk,
        "period_number": 1,
        "payment_method_id": card.pk,
        "payment_method": "visa •••• 4242",
        "exp_month": 1,
        "exp_year": 2026,
        "renews_at": iso(FIRST_CHARGE),
    }
    clock.advance(days=2)
    assert run_worker() == {}


def test_a_card_expiring_in_the_middle_of_the_next_period_is_announced_before_the_following_charge(clock):
    subscription = make_subscription(plan=make_plan(period_unit="month"), auto_renew=True)
    card = card_expiring(subscription.customer, month=2, year=2026)  # valid to Feb 28
    subscription = update_renewal(subscription, payment_method=card)

    clock.set(FIRST_CHARGE - timedelta(days=3))
    assert run_worker() == {"auto_renew_upcoming": 1}  # the card still works on Feb 12

    renew(subscription)  # by hand, with that card: the second period runs to March 15
    subscription.refresh_from_db()
    second_end = subscription.paid_through
    assert second_end == datetime(2026, 3, 15, 11, 0, tzinfo=UTC)  # 07:00 New York summer time
    second_charge = second_end - timedelta(hours=72)
    clock.set(second_charge - timedelta(days=3))
    assert run_worker() == {"auto_renew_upcoming": 1, "card_expiring": 1}

    [card_notice] = payloads("payment_method.expiring")
    assert (card_notice["period_number"], card_notice["renews_at"]) == (2, iso(second_charge))
    assert [p["period_number"] for p in payloads("subscription.auto_renew_upcoming")] == [1, 2]


def test_a_card_chosen_after_the_notice_is_announced_at_once(clock):
    clock.set(datetime(2026, 2, 5, 12, 0, tzinfo=UTC))
    subscription = make_subscription(plan=make_plan(period_unit="month"), auto_renew=True)
    end = subscription.paid_through
    assert end == datetime(2026, 3, 5, 12, 0, tzinfo=UTC)

    clock.set(end - timedelta(hours=72, days=3))  # February 27
    assert run_worker() == {"auto_renew_upcoming": 1}
    clock.advance(days=1)
    card = card_expiring(subscription.customer, month=2, year=2026)  # valid to Feb 28; the charge is on March 2
    update_renewal(subscription, payment_method=card)

    assert run_worker() == {"card_expiring": 1}
    assert payloads("payment_method.expiring")[0]["renews_at"] == iso(end - timedelta(hours=72))


def test_paypal_never_gets_a_card_notice(clock):
    subscription = make_subscription(plan=make_plan(period_unit="month"), auto_renew=True)
    update_renewal(subscription, payment_method=make_paypal(customer=subscription.customer))

    clock.set(FIRST_CHARGE - timedelta(days=2))
    assert run_worker() == {"auto_renew_upcoming": 1}
    [notice] = payloads("subscription.auto_renew_upcoming")
    assert notice["payment_method"] == "PayPal buyer@example.com"


# --- when data runs low ---------------------------------------------------------------------------------------------


def test_data_reminders_at_80_and_95_percent_used(clock):
    subscription = make_subscription(plan=make_plan(data_mb=1000), auto_renew=False)
    iccid = subscription.esim.iccid

    record_usage(iccid=iccid, mb=799)
    assert run_worker() == {}
    record_usage(iccid=iccid, mb=1)
    assert run_worker() == {"data_80": 1}
    assert run_worker() == {}
    record_usage(iccid=iccid, mb=150)
    assert run_worker() == {"data_95": 1}

    assert payloads("usage.threshold_reached") == [
        {
            "subscription_id": subscription.pk,
            "period_number": 1,
            "percent": 80,
            "data_total_mb": 1000,
            "data_left_mb": 200,
        },
        {
            "subscription_id": subscription.pk,
            "period_number": 1,
            "percent": 95,
            "data_total_mb": 1000,
            "data_left_mb": 50,
        },
    ]
    record_usage(iccid=iccid, mb=100)
    assert run_worker() == {}


def test_crossing_both_thresholds_at_once_sends_only_the_95_percent_one(clock):
    subscription = make_subscription(plan=make_plan(data_mb=1000), auto_renew=False)

    record_usage(iccid=subscription.esim.iccid, mb=960)
    assert run_worker() == {"data_95": 1}
    record_usage(iccid=subscription.esim.iccid, mb=10)
    assert run_worker() == {}

    assert [p["percent"] for p in payloads("usage.threshold_reached")] == [95]
    assert set(Reminder.objects.values_list("kind", flat=True)) == {"data_80", "data_95"}


def test_top_ups_count_in_the_allowance(clock):
    from tests.factories import buy_top_up, make_top_up_pack

    subscription = make_subscription(plan=make_plan(data_mb=1000), auto_renew=False)
    buy_top_up(subscription, pack=make_top_up_pack(data_mb=1000))

    record_usage(iccid=subscription.esim.iccid, mb=1500)
    assert run_worker() == {}
    record_usage(iccid=subscription.esim.iccid, mb=100)
    assert run_worker() == {"data_80": 1}
    assert payloads("usage.threshold_reached")[0]["data_total_mb"] == 2000


def test_a_cancelled_subscription_still_running_is_told_its_data_runs_low(clock):
    subscription = make_subscription(plan=make_plan(data_mb=1000), auto_renew=False)
    cancel(subscription, when="period_end")

    record_usage(iccid=subscription.esim.iccid, mb=900)

    assert run_worker() == {"data_80": 1}


# --- renewing by hand, and time jumping ---------------------------------------------------------------------------


def test_renewing_by_hand_moves_every_reminder_to_the_new_period(clock):
    subscription = make_subscription(plan=make_plan(period_unit="month", data_mb=1000), auto_renew=False)
    record_usage(iccid=subscription.esim.iccid, mb=850)
    clock.set(FIRST_END - timedelta(days=7))
    assert run_worker() == {"data_80": 1, "expiring_7d": 1}

    renew(subscription)
    subscription.refresh_from_db()
    second_end = subscription.paid_through
    clock.set(FIRST_END - timedelta(days=1))
    assert run_worker() == {}  # not ending any more

    clock.set(FIRST_END)  # the second period starts with its own data
    record_usage(iccid=subscription.esim.iccid, mb=850)
    assert run_worker() == {"data_80": 1}
    clock.set(second_end - timedelta(days=7))
    assert run_worker() == {"expiring_7d": 1}

    assert [(p["period_number"], p["expires_at"]) for p in payloads("subscription.expiring")] == [
        (1, iso(FIRST_END)),
        (2, iso(second_end)),
    ]
    assert [p["period_number"] for p in payloads("usage.threshold_reached")] == [1, 2]


def test_each_reminder_goes_once_however_often_the_worker_runs_and_however_time_jumps(clock):
    plain = make_subscription(plan=make_plan(period_unit="month", data_mb=1000), auto_renew=False)
    renewing = make_subscription(plan=make_plan(period_unit="month"), auto_renew=True)
    renewing = update_renewal(renewing, payment_method=card_expiring(renewing.customer, month=1, year=2026))
    weekly = make_subscription(plan=make_plan(period_unit="day", period_count=7), auto_renew=False)

    for jump in (0, 1, 72, 0.1, 29.9, 47, 200, 226.1, 3.9, 30, 70, 50, 70, 500):
        clock.advance(hours=jump)
        if clock.now() < FIRST_END:
            record_usage(iccid=plain.esim.iccid, mb=85)
        for _ in range(3):
            run_worker(batch=1)

    sent = Counter(
        (m.subscription_id, m.event_type, m.payload.get("days_left") or m.payload.get("percent"))
        for m in OutboxMessage.objects.filter(event_type__in=REMINDER_EVENTS)
    )
    assert set(sent.values()) == {1}
    assert {(e, k) for s, e, k in sent if s == plain.pk} == {
        ("subscription.expiring", 7),
        ("subscription.expiring", 3),
        ("subscription.expiring", 1),
        ("usage.threshold_reached", 80),
        ("usage.threshold_reached", 95),
    }
    assert {(e, k) for s, e, k in sent if s == renewing.pk} == {
        ("subscription.auto_renew_upcoming", None),
        ("payment_method.expiring", None),
    }
    assert {(e, k) for s, e, k in sent if s == weekly.pk} == {
        ("subscription.expiring", 3),
        ("subscription.expiring", 1),
    }


# --- several workers at once (PostgreSQL) ------------------------------------------------------------------------

THREADS = 8


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_workers_racing_send_each_reminder_exactly_once(clock):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks and true concurrency")
    month = make_plan(period_unit="month", data_mb=1000)
    plain = [make_subscription(plan=month, auto_renew=False) for _ in range(6)]
    renewing = [make_subscription(plan=month, auto_renew=True) for _ in range(6)]
    for subscription in renewing[:3]:
        card = card_expiring(subscription.customer, month=1, year=2026)
        with transaction.atomic():
            update_renewal(subscription, payment_method=card)
    for subscription in plain:
        record_usage(iccid=subscription.esim.iccid, mb=970)
    clock.set(FIRST_CHARGE - timedelta(days=2))  # 5 days before the end

    results = all_at_once([lambda: run_worker(batch=3) for _ in range(THREADS)])

    assert [r for r in results if isinstance(r, Exception)] == []
    total = sum((r for r in results if isinstance(r, Counter)), Counter())
    assert total == {"expiring_7d": 6, "data_95": 6, "auto_renew_upcoming": 6, "card_expiring": 3}
    per_event = Counter(
        OutboxMessage.objects.filter(event_type__in=REMINDER_EVENTS).values_list("subscription_id", "event_type")
    )
    assert len(per_event) == 21
    assert set(per_event.values()) == {1}
    assert Reminder.objects.filter(kind=ReminderKind.DATA_80).count() == 6


def test_after_a_goodwill_extension_the_reminders_come_again_before_the_new_end(clock):
    from django.contrib.auth import get_user_model

    from simrenew.subscriptions.goodwill import extend_current_period

    agent = get_user_model().objects.create_user("agent", "agent@example.com", "pw", is_staff=True)
    subscription = make_subscription(plan=make_plan(period_unit="month"), auto_renew=False)
    clock.set(FIRST_END - timedelta(days=2))
    assert run_worker() == {"expiring_3d": 1}  # the 7-day one recorded as passed

    with transaction.atomic():
        extend_current_period(subscription=subscription, days=10, reason="Outage", actor=agent)
    new_end = FIRST_END + timedelta(days=10)  # no DST change in New York in February
    assert run_worker() == {}  # the 7-day moment for the new end is a day ahead

    clock.set(new_end - timedelta(days=7))
    assert run_worker() == {"expiring_7d": 1}
    clock.set(new_end - timedelta(days=3))
    assert run_worker() == {"expiring_3d": 1}
    clock.set(new_end - timedelta(days=1))
    assert run_worker() == {"expiring_1d": 1}
    assert days_left_sent() == [3, 7, 3, 1]
    assert [p["expires_at"] for p in payloads("subscription.expiring")] == [iso(FIRST_END)] + [iso(new_end)] * 3


def test_an_extension_does_not_send_again_a_reminder_whose_moment_has_passed(clock):
    from django.contrib.auth import get_user_model

    from simrenew.subscriptions.goodwill import extend_current_period

    agent = get_user_model().objects.create_user("agent", "agent@example.com", "pw", is_staff=True)
    subscription = make_subscription(plan=make_plan(period_unit="month"), auto_renew=False)
    clock.set(FIRST_END - timedelta(hours=12))
    assert run_worker() == {"expiring_1d": 1}

    with transaction.atomic():
        extend_current_period(subscription=subscription, days=2, reason="Outage", actor=agent)

    # New end in 2.5 days: the 3-day moment has passed (kept), the 1-day one is ahead.
    assert run_worker() == {}
    clock.set(FIRST_END + timedelta(days=1))
    assert run_worker() == {"expiring_1d": 1}
    assert days_left_sent() == [1, 1]


def test_the_data_reminders_read_only_the_periods_running_low(clock):
    """Among many live subscriptions using little data, the data reminders' query starts
    from the index of periods running low and looks up only their subscriptions; it
    reads neither every subscription nor every period."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's planner keeps no statistics here to choose by")
    from benchmarks.seed import seed_subscriptions
    from simrenew.subscriptions.reminders import periods_running_low

    seed_subscriptions(3000, ends_in=timedelta(days=20))
    low = make_subscription(plan=make_plan(data_mb=1000), auto_renew=False)
    record_usage(iccid=low.esim.iccid, mb=970)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    for percent, below in ((95, None), (80, 95)):
        plan = periods_running_low(percent, below_percent=below, now=clock.now()).explain()
        assert "Index Scan using period_data_running_low" in plan
        assert "Seq Scan" not in plan
    assert [p.subscription_id for p in periods_running_low(95, below_percent=None, now=clock.now())] == [low.pk]
    assert not periods_running_low(80, below_percent=95, now=clock.now()).exists()
