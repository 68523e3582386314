"""The end of paid service, told by the worker itself: a customer's month with a day paid on
top, and a daily plan, lived tick by tick of the worker (`Worker.run_once`, the test clock
moved between ticks, nothing slept), down to the emails a real SMTP server (aiosmtpd)
received and the texts the sandbox SMS provider sent. What the customer reads names what each
payment bought, and no line stops without a warning."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from simrenew.customers.services import update_customer
from simrenew.notifications.models import SandboxSms
from simrenew.subscriptions.models import Subscription
from simrenew.worker.runner import Worker
from tests.factories import make_customer, make_plan, make_subscription, renew
from tests.notifications.fixtures import mail_server

__all__ = ["mail_server"]


def live(clock, worker: Worker, *, until: datetime, tick: timedelta) -> None:
    while clock.now() <= until:
        worker.run_once()
        clock.advance(hours=tick.total_seconds() / 3600)


def test_a_month_and_a_prepaid_day_without_auto_renew_is_told_seven_three_and_one_day_before_suspension(
    clock, mail_server
):
    customer = make_customer(email="ada@example.com", time_zone="America/New_York")
    month = make_plan(period_unit="month", data_mb=20_480, price_minor=3500, name="AT&T 1 month · 20 GB")
    day = make_plan(period_unit="day", data_mb=1024, price_minor=300, name="AT&T 1 day · 1 GB")
    subscription = make_subscription(customer=customer, plan=month, auto_renew=False)
    worker = Worker(worker_id="story", batches_in_flight=1)
    live(clock, worker, until=clock.now() + timedelta(days=10), tick=timedelta(hours=6))

    assert renew(subscription, plan=day).status == "succeeded"  # one day on top of the month
    ends = Subscription.objects.get(pk=subscription.pk).paid_through
    live(clock, worker, until=ends + timedelta(days=1), tick=timedelta(hours=6))
    worker.close()

    subjects = [str(m["Subject"]).strip() for m in mail_server.mailbox.messages]
    assert subjects == [
        "Receipt SR-00000001: AT&T 1 month · 20 GB is active",
        "Receipt SR-00000002: AT&T 1 day · 1 GB is renewed",  # what that payment bought
        "Reminder: your service ends in 7 days",
        "Reminder: your service ends in 3 days",
        "Reminder: your service ends in 1 day",
        "Service suspended: AT&T 1 day · 1 GB has ended",
    ]
    assert max(Counter(subjects).values()) == 1
    day_receipt = mail_server.mailbox.messages[1].get_body(preferencelist=("plain",)).get_content()
    assert "Thank you: your renewal of AT&T 1 day · 1 GB is paid." in day_receipt
    assert "Amount paid: $3.00" in day_receipt
    [period] = [line for line in day_receipt.splitlines() if line.startswith("Period: ")]
    # The day, not the month it follows: February 15 to 16, 7:00 in New York (however the zone is named).
    assert period.replace("\u202f", " ").startswith("Period: Feb 15, 2026, 7:00 AM ")
    assert " to Feb 16, 2026, 7:00 AM " in period.replace("\u202f", " ")
    last_reminder = mail_server.mailbox.messages[4].get_body(preferencelist=("plain",)).get_content()
    assert "Your paid service ends on Feb 16, 2026" in last_reminder
    assert not SandboxSms.objects.exists()  # no phone number given


def test_a_daily_plan_is_told_the_day_before_and_texted_six_hours_before(clock, mail_server):
    customer = make_customer(email="lin@example.com", time_zone="Asia/Shanghai")
    update_customer(customer, phone="+1 212 555 0123")
    subscription = make_subscription(
        customer=customer,
        plan=make_plan(period_unit="day", data_mb=1024, price_minor=300, name="AT&T 1 day · 1 GB"),
        auto_renew=False,
    )
    ends = subscription.paid_through
    worker = Worker(worker_id="daily", batches_in_flight=1)

    live(clock, worker, until=ends + timedelta(hours=2), tick=timedelta(hours=1))
    worker.close()

    subjects = [str(m["Subject"]).strip() for m in mail_server.mailbox.messages]
    assert subjects == [
        "Receipt SR-00000001: AT&T 1 day · 1 GB is active",
        "Reminder: your service ends in 1 day",
        "Service suspended: AT&T 1 day · 1 GB has ended",
    ]
    [text] = SandboxSms.objects.all()
    assert text.to == "+12125550123"
    assert text.created_at == ends - timedelta(hours=6)
    assert text.text.startswith(f"simrenew: the line {subscription.esim.msisdn} stops on ")
    assert "unless you renew" in text.text
