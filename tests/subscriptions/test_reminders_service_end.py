"""Stories of the end of paid service (DESIGN.md §1.7): whatever the length of the last plan
paid for, a customer whose line will stop is told before it stops. The 7-, 3- and 1-day
reminders count back from `paid_through`, the end of every prepaid period, never from the
end of one period; the last day is always told; 6 hours before, a text to the phone the
customer gave. A customer whose auto-renew will charge a usable method gets the auto-renew
notice instead."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from simrenew.customers.services import update_customer
from simrenew.notifications.models import OutboxMessage
from simrenew.payments.models import PaymentMethod
from simrenew.payments.services import remove_payment_method
from simrenew.subscriptions.models import Reminder, Subscription
from simrenew.subscriptions.reminders import send_all_due_reminders
from tests.factories import make_plan, make_subscription, make_wallet, renew

FIRST_END = datetime(2026, 2, 15, 12, 0, tzinfo=UTC)  # the clock starts on January 15, 12:00 UTC
TICK = timedelta(hours=6)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def sent(event_type: str = "subscription.expiring") -> list[dict]:
    return [m.payload for m in OutboxMessage.objects.filter(event_type=event_type).order_by("id")]


def run_until(clock, until: datetime, *, every: timedelta = TICK, start: datetime | None = None) -> Counter[str]:
    """The worker's reminder pass, every `every` of test-clock time, up to `until` (from
    `start`: nothing is due before it, and a month of ticks is slow)."""
    if start is not None:
        assert start >= clock.now()
        clock.set(start)
    totals: Counter[str] = Counter()
    while clock.now() <= until:
        totals.update({kind: n for kind, n in send_all_due_reminders(limit=50).items() if n})
        clock.advance(hours=every.total_seconds() / 3600)
    return totals


def month_and_a_prepaid_day(*, auto_renew: bool) -> Subscription:
    subscription = make_subscription(plan=make_plan(period_unit="month"), auto_renew=auto_renew)
    day = make_plan(period_unit="day", data_mb=1024, price_minor=300, name="AT&T 1 day")
    assert renew(subscription, plan=day).status == "succeeded"
    subscription = Subscription.objects.get(pk=subscription.pk)
    assert subscription.paid_through == FIRST_END + timedelta(days=1)
    return subscription


def test_a_month_and_a_prepaid_day_is_reminded_seven_three_and_one_day_before_the_day_ends(clock):
    # What the walk found: the first message was "service suspended". The reminders are
    # about the end of paid service (February 16), not the end of the month or of the day.
    subscription = month_and_a_prepaid_day(auto_renew=False)
    ends = subscription.paid_through

    run_until(clock, ends, start=ends - timedelta(days=8))

    assert [(p["days_left"], p["expires_at"]) for p in sent()] == [(7, iso(ends)), (3, iso(ends)), (1, iso(ends))]
    times = list(OutboxMessage.objects.filter(event_type="subscription.expiring").values_list("created_at", flat=True))
    assert times == [ends - timedelta(days=7), ends - timedelta(days=3), ends - timedelta(days=1)]
    assert Counter(Reminder.objects.values_list("kind", flat=True)) == {
        "expiring_7d": 1,
        "expiring_3d": 1,
        "expiring_1d": 1,
        "expiring_6h": 1,
    }


def test_a_renewal_moves_the_end_and_the_reminders_come_again_for_the_new_end(clock):
    subscription = month_and_a_prepaid_day(auto_renew=False)
    first_end = subscription.paid_through
    run_until(clock, first_end - timedelta(days=7), start=first_end - timedelta(days=8))
    assert [p["days_left"] for p in sent()] == [7]

    renew(subscription, plan=make_plan(period_unit="day", period_count=2, price_minor=500))
    subscription.refresh_from_db()
    new_end = subscription.paid_through
    assert new_end == first_end + timedelta(days=2)
    run_until(clock, new_end)

    # Nothing twice for the first end; the new end (bought 7 days before the old one, so 9
    # before its own) is told 7, 3 and 1 days ahead.
    assert [(p["days_left"], p["expires_at"]) for p in sent()] == [
        (7, iso(first_end)),
        (7, iso(new_end)),
        (3, iso(new_end)),
        (1, iso(new_end)),
    ]


def test_a_daily_plan_without_a_phone_is_told_the_day_before_when_it_is_bought(clock):
    # Issue 15: a daily plan is told the day before it ends, whatever its length; bought by hand,
    # "the day before" is the moment it is paid for. With no phone, the last warning is an event
    # for webhooks only: no text goes.
    subscription = make_subscription(plan=make_plan(period_unit="day", price_minor=300), auto_renew=False)
    ends = subscription.paid_through
    assert ends == clock.now() + timedelta(days=1)

    totals = run_until(clock, ends, every=timedelta(hours=1))

    assert totals == {"expiring_1d": 1, "expiring_6h": 1}
    assert [(p["days_left"], p["expires_at"]) for p in sent()] == [(1, iso(ends))]
    [reminded] = OutboxMessage.objects.filter(event_type="subscription.expiring")
    assert reminded.created_at == ends - timedelta(days=1)
    assert len(sent("subscription.expiring_soon")) == 1


def test_a_daily_plan_with_a_phone_is_told_the_day_before_and_texted_six_hours_before(clock):
    subscription = make_subscription(plan=make_plan(period_unit="day", price_minor=300), auto_renew=False)
    update_customer(subscription.customer, phone="+1 212 555 0100")
    ends = subscription.paid_through

    totals = run_until(clock, ends, every=timedelta(hours=1))

    assert totals == {"expiring_1d": 1, "expiring_6h": 1}
    assert [(p["days_left"], p["expires_at"]) for p in sent()] == [(1, iso(ends))]
    [last] = sent("subscription.expiring_soon")
    assert last == {
        "subscription_id": subscription.pk,
        "period_number": 1,
        "expires_at": iso(ends),
        "hours_left": 6,
    }
    [warned] = OutboxMessage.objects.filter(event_type="subscription.expiring_soon")
    assert warned.created_at == ends - timedelta(hours=6)


def test_a_plan_renewed_by_hand_a_day_ahead_is_still_told_the_day_before(clock):
    # Two days bought two days ago: the end is news by now, so the 1-day reminder goes on time.
    subscription = make_subscription(plan=make_plan(period_unit="day", period_count=2), auto_renew=False)
    ends = subscription.paid_through

    run_until(clock, ends, every=timedelta(hours=1))

    [reminded] = OutboxMessage.objects.filter(event_type="subscription.expiring")
    assert reminded.created_at == ends - timedelta(days=1)


def test_an_end_known_only_hours_ahead_is_told_once_by_the_channel_that_reaches_the_customer(clock):
    # Auto-renew gave up at its last try, an hour before the end: the day-before reminder and
    # the last warning are both due, and only one goes (the other is recorded as sent).
    emailed = make_subscription(plan=make_plan(period_unit="month"), auto_renew=True)
    texted = make_subscription(plan=make_plan(period_unit="month"), auto_renew=True)
    update_customer(texted.customer, phone="+1 212 555 0100")
    clock.set(FIRST_END - timedelta(hours=1))
    assert run_until(clock, clock.now()) == {}  # a charge is still scheduled: nothing to warn of
    Subscription.objects.filter(pk__in=[emailed.pk, texted.pk]).update(renewal_due_at=None)
    clock.set(FIRST_END - timedelta(hours=1))

    assert run_until(clock, clock.now()) == {"expiring_1d": 1, "expiring_6h": 1}

    assert [p["subscription_id"] for p in sent()] == [emailed.pk]
    assert [p["subscription_id"] for p in sent("subscription.expiring_soon")] == [texted.pk]
    for subscription in (emailed, texted):
        kinds = set(Reminder.objects.filter(subscription=subscription).values_list("kind", flat=True))
        assert kinds >= {"expiring_1d", "expiring_6h"}
    assert run_until(clock, FIRST_END) == {}


def test_auto_renew_without_a_usable_method_gets_the_expiry_reminders_not_the_notice(clock):
    subscription = month_and_a_prepaid_day(auto_renew=True)
    for method in PaymentMethod.objects.filter(customer=subscription.customer):
        remove_payment_method(method)

    ends = subscription.paid_through
    run_until(clock, ends - timedelta(days=3, hours=1), start=ends - timedelta(days=8))

    assert [p["days_left"] for p in sent()] == [7]
    assert sent("subscription.auto_renew_upcoming") == []


def test_auto_renew_with_a_usable_method_gets_the_notice_and_no_expiry_reminder(clock):
    # The month and a prepaid day with auto-renew on and a card: the notice goes 3 days before
    # the first charge (the day's purchase came long before), and no expiry reminder at all.
    subscription = month_and_a_prepaid_day(auto_renew=True)
    ends = subscription.paid_through

    run_until(clock, ends - timedelta(hours=73), start=ends - timedelta(days=8))

    [notice] = sent("subscription.auto_renew_upcoming")
    assert (notice["expires_at"], notice["charge_at"]) == (iso(ends), iso(ends - timedelta(hours=72)))
    assert sent() == [] and sent("subscription.expiring_soon") == []


def test_a_wallet_that_holds_the_price_is_a_usable_method(clock):
    subscription = make_subscription(plan=make_plan(period_unit="month", price_minor=2500), auto_renew=True)
    for method in PaymentMethod.objects.filter(customer=subscription.customer):
        remove_payment_method(method)
    make_wallet(customer=subscription.customer, balance_minor=2500)
    for method in PaymentMethod.objects.filter(customer=subscription.customer).exclude(type="wallet"):
        remove_payment_method(method)  # the card that topped the wallet up

    run_until(clock, FIRST_END - timedelta(days=5, hours=23), start=FIRST_END - timedelta(days=8))

    assert sent() == []
    assert len(sent("subscription.auto_renew_upcoming")) == 1


def test_the_last_warning_goes_by_sms_to_a_customer_with_a_phone_whatever_they_chose(clock):
    from simrenew.notifications.delivery import dispatch_pending
    from simrenew.notifications.models import Delivery

    with_phone = make_subscription(plan=make_plan(period_unit="day"), auto_renew=False)
    update_customer(with_phone.customer, phone="+1 212 555 0100")
    without_phone = make_subscription(plan=make_plan(period_unit="day"), auto_renew=False)
    clock.advance(hours=18)
    send_all_due_reminders()
    dispatch_pending()

    channels = {
        (d.message.subscription_id, d.message.event_type, d.channel, d.recipient)
        for d in Delivery.objects.select_related("message").filter(message__event_type__startswith="subscription.exp")
    }
    assert channels == {
        (with_phone.pk, "subscription.expiring_soon", "sms", "+12125550100"),
        (without_phone.pk, "subscription.expiring", "email", without_phone.customer.email),
    }


def test_auto_renew_on_an_empty_wallet_gets_the_seven_three_and_one_day_reminders(clock):
    # The review's case: auto-renew charges the subscription's own wallet, which holds nothing.
    # The charge cannot happen, so the customer is told like anyone whose service will end,
    # even with a card saved (used only if they allowed auto-renew to fall back on it).
    subscription = make_subscription(plan=make_plan(period_unit="month", price_minor=2500), auto_renew=True)
    wallet = make_wallet(customer=subscription.customer, balance_minor=0)
    Subscription.objects.filter(pk=subscription.pk).update(payment_method=wallet)

    totals = run_until(clock, FIRST_END, start=FIRST_END - timedelta(days=8))

    assert [(p["days_left"], p["expires_at"]) for p in sent()] == [
        (7, iso(FIRST_END)),
        (3, iso(FIRST_END)),
        (1, iso(FIRST_END)),
    ]
    assert totals["expiring_6h"] == 1
    assert sent("subscription.auto_renew_upcoming") == []


def test_the_last_warning_sms_is_not_sent_to_a_customer_who_turned_sms_off(clock):
    # SMS is off by default and the last warning goes by SMS all the same (the customer never
    # chose): but a customer who saved "no SMS" for reminders said so, and is not texted.
    from simrenew.customers.services import Channels, set_notification_preferences
    from simrenew.notifications.delivery import dispatch_pending
    from simrenew.notifications.models import Delivery

    unset = make_subscription(plan=make_plan(period_unit="day"), auto_renew=False)
    update_customer(unset.customer, phone="+1 212 555 0100")
    refused = make_subscription(plan=make_plan(period_unit="day"), auto_renew=False)
    update_customer(refused.customer, phone="+1 212 555 0101")
    set_notification_preferences(refused.customer, {"expiry_reminder": Channels(email=True, sms=False)})
    clock.advance(hours=18)
    send_all_due_reminders()
    dispatch_pending()

    texted = Delivery.objects.filter(channel="sms", message__event_type="subscription.expiring_soon")
    assert [d.recipient for d in texted] == ["+12125550100"]
    # Not texted, the customer who refused SMS gets the reminder by email instead.
    emailed = Delivery.objects.filter(channel="email", message__event_type="subscription.expiring")
    assert [d.message.subscription_id for d in emailed] == [refused.pk]
