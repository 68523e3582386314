"""Email over real SMTP: a local aiosmtpd server receives what the worker sends,
in the customer's language, with a Message-ID that stays the same across retries."""

from __future__ import annotations

from datetime import timedelta

from simrenew.billing.models import Invoice
from simrenew.notifications.delivery import RETRY_WINDOW, deliver_due, delivery_counts
from simrenew.notifications.models import Delivery, OutboxMessage
from simrenew.notifications.services import emit
from tests.factories import make_card, make_customer, make_plan, make_subscription, renew
from tests.notifications.helpers import WORKER, receipt_payload, run_worker
from tests.notifications.servers import SmtpServer, free_port


def body(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content().replace("\u202f", " ")


def html(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def test_a_new_customer_gets_the_receipt_by_email_with_a_stable_message_id(clock, mail_server):
    customer = make_customer(name="Ada Lovelace", email="ada@example.com", time_zone="America/New_York")
    subscription = make_subscription(customer=customer, plan=make_plan(name="AT&T 1 month", price_minor=2500))
    invoice = Invoice.objects.get(subscription=subscription)

    run = run_worker()

    assert (run.sent, run.retrying, run.dead) == (1, 0, 0)
    [received] = mail_server.mailbox.messages
    event = OutboxMessage.objects.get(event_type="subscription.created")
    delivery = Delivery.objects.get(message=event)
    assert received["To"] == "ada@example.com"
    # The name the portal shows (the plan's, with its data); a subject that is not all ASCII is
    # folded onto its own line by Django, hence the parsed header's leading space.
    assert received["Subject"].strip() == f"Receipt {invoice.number}: AT&T 1 month · 10 GB is active"
    assert received["Message-ID"] == f"<{event.event_id}.{delivery.pk}@simrenew>"
    assert received["X-Simrenew-Event-Id"] == str(event.event_id)
    text = body(received)
    assert "Hello Ada Lovelace," in text
    assert f"Invoice number: {invoice.number}" in text and "Amount paid: $25.00" in text
    assert "Jan 15, 2026, 7:00 AM Eastern Time (New York) to Feb 15, 2026, 7:00 AM Eastern Time (New York)" in text
    assert "change your notification settings: http://127.0.0.1:8000/settings/" in text
    assert '<html lang="en">' in html(received) and "AT&amp;T 1 month" in html(received)
    assert delivery.status == "sent" and delivery.attempts == 1
    assert delivery.sent_at == clock.now()
    assert delivery.provider_reference == received["Message-ID"]
    assert not delivery.claimed_by and delivery.claim_expires_at is None


def test_a_chinese_speaking_customer_gets_the_email_in_chinese(clock, mail_server):
    customer = make_customer(locale="zh-hans", time_zone="Asia/Shanghai")
    make_subscription(customer=customer, plan=make_plan(name="AT&T 1 month", price_minor=2500))

    run_worker()

    [received] = mail_server.mailbox.messages
    assert "已开通" in received["Subject"]
    text = body(received)
    assert "感谢您的订购" in text and "US$25.00" in text
    assert "2026年1月15日 20:00 中国时间（上海）" in text  # noqa: RUF001 (Babel's name for the zone)
    assert '<html lang="zh-hans">' in html(received)


def test_a_declined_renewal_emails_the_reason_and_asks_for_another_card(clock, mail_server):
    customer = make_customer()
    subscription = make_subscription(customer=customer)
    run_worker()
    declined = make_card(customer=customer, number="4000000000000002")

    renew(subscription, payment_method=declined)
    run_worker()

    failure = mail_server.mailbox.messages[-1]
    assert failure["Subject"].strip().startswith("Payment failed: we could not renew")
    text = body(failure)
    assert "Your card was declined. Try another card or contact your bank." in text
    # Auto-renew is on, so the worker tries again at its time: the email says when, and asks for a card before.
    assert "We will try again on" in text
    assert "check your card or add another payment method before then" in text
    assert "http://127.0.0.1:8000/payment-methods/" in text


def test_while_the_mail_server_is_down_the_email_is_retried_with_backoff_then_given_up_after_three_days(
    clock, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nobody listens there
    make_subscription()
    first = run_worker()
    delivery = Delivery.objects.get()
    first_due = delivery.created_at

    assert (first.sent, first.retrying, first.dead) == (0, 1, 0)
    assert delivery.attempts == 1 and "SMTP unavailable" in delivery.last_error
    assert deliver_due(worker_id=WORKER).total == 0  # nothing is due before the backoff has passed

    waits = [delivery.next_attempt_at - clock.now()]
    while delivery.status == "pending":
        clock.set(delivery.next_attempt_at)
        deliver_due(worker_id=WORKER)
        delivery.refresh_from_db()
        if delivery.status == "pending":
            waits.append(delivery.next_attempt_at - clock.now())

    minutes, hours = timedelta(minutes=1), timedelta(hours=1)
    assert waits == [1 * minutes, 5 * minutes, 30 * minutes, 2 * hours, 6 * hours, 12 * hours, 24 * hours, 24 * hours]
    assert delivery.status == "dead" and delivery.attempts == 9
    assert clock.now() - first_due <= RETRY_WINDOW < clock.now() + 24 * hours - first_due
    assert delivery_counts()["dead"] == 1


def test_a_mail_server_that_comes_back_gets_the_email_with_the_same_message_id(clock, settings):
    server = SmtpServer(port=free_port())
    server.start()
    server.stop()  # refuses connections from now on
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
    make_subscription()
    assert run_worker().retrying == 1

    server.start()
    try:
        clock.advance(minutes=1)
        run = run_worker()
    finally:
        server.stop()

    delivery = Delivery.objects.get()
    assert run.sent == 1 and delivery.status == "sent" and delivery.attempts == 2
    [received] = server.mailbox.messages
    assert received["Message-ID"] == f"<{delivery.message.event_id}.{delivery.pk}@simrenew>"


def test_an_address_the_mail_server_refuses_for_good_is_dead_at_once(clock, mail_server):
    customer = make_customer(email="nobody@example.com")
    mail_server.mailbox.refuse["nobody@example.com"] = "550 5.1.1 No such user"
    make_subscription(customer=customer)

    run = run_worker()

    delivery = Delivery.objects.get()
    assert (run.sent, run.retrying, run.dead) == (0, 0, 1)
    assert delivery.status == "dead" and delivery.attempts == 1
    assert delivery.last_error == "SMTP refused the recipient (550)"


def test_a_mailbox_that_is_busy_for_now_is_tried_again(clock, mail_server):
    customer = make_customer(email="busy@example.com")
    mail_server.mailbox.refuse["busy@example.com"] = "450 4.2.1 Mailbox busy, try later"
    make_subscription(customer=customer)

    assert run_worker().retrying == 1

    del mail_server.mailbox.refuse["busy@example.com"]
    clock.advance(minutes=1)
    assert run_worker().sent == 1
    assert len(mail_server.mailbox.messages) == 1


def test_one_smtp_session_carries_a_whole_batch(clock, mail_server):
    for _ in range(3):
        emit("subscription.renewed", customer=make_customer(), data=receipt_payload())

    run = run_worker()

    assert run.sent == 3 and mail_server.mailbox.sessions == 1
    assert sorted(to for _, (to,) in mail_server.mailbox.envelopes) == sorted(
        Delivery.objects.values_list("recipient", flat=True)
    )
