"""What a customer reads: every kind of notice, in English and Chinese, says what
happened and what to do next, with money in their locale and times in their zone."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pytest
from django.template.loader import get_template

from simrenew.billing.models import Invoice
from simrenew.notifications import payloads
from simrenew.notifications.events import EVENT_KINDS
from simrenew.notifications.models import OutboxMessage
from simrenew.notifications.rendering import BUILDERS, RenderingError, render_email, render_sms, template_name
from simrenew.notifications.services import emit
from simrenew.notifications.sms import SMS_MAX_LENGTH
from simrenew.payments.failures import FailureCode, failure_message
from simrenew.subscriptions.models import Subscription
from tests.factories import make_customer, make_plan, make_subscription
from tests.notifications.helpers import sample_payload, stored_as_is

CUSTOMER_EVENTS = sorted(event for event, kind in EVENT_KINDS.items() if kind is not None)
CJK = re.compile(r"[\u4e00-\u9fff]")


def plain(text: str) -> str:
    """CLDR puts a narrow no-break space in "7:00 AM"; compare with ordinary spaces."""
    return text.replace("\u202f", " ").replace("\xa0", " ")


def stored_event(event_type: str, subscription: Subscription, data: Mapping[str, Any]) -> OutboxMessage:
    """As the worker sees it: read back from the outbox (timestamps are ISO strings there)."""
    message = emit(event_type, customer=subscription.customer, subscription=subscription, data=data)
    return OutboxMessage.objects.get(pk=message.pk)


def test_every_event_a_customer_hears_about_has_its_words_and_its_facts():
    assert sorted(BUILDERS) == CUSTOMER_EVENTS
    for event_type in CUSTOMER_EVENTS:
        get_template(template_name(event_type))


@pytest.mark.parametrize("event_type", CUSTOMER_EVENTS)
@pytest.mark.parametrize("locale", ["en", "zh-hans"])
def test_each_notice_renders_as_email_and_sms_in_the_customers_language(clock, settings, event_type, locale):
    settings.SIMRENEW_PUBLIC_URL = "https://portal.example.com"
    customer = make_customer(locale=locale, time_zone="Asia/Shanghai" if locale == "zh-hans" else "America/Denver")
    subscription = make_subscription(customer=customer, plan=make_plan(name="AT&T 1 month"))
    message = stored_event(event_type, subscription, sample_payload(event_type, subscription))

    email = render_email(message, customer)
    sms = render_sms(message, customer)

    for text in (email.subject, email.text, email.html, sms):
        assert "{{" not in text and "{%" not in text and "%(" not in text
    assert email.subject and "\n" not in email.subject
    assert "https://portal.example.com/" in email.text
    assert "https://portal.example.com/settings/" in email.text
    assert f'<html lang="{locale}">' in email.html
    assert "AT&amp;T" in email.html or "AT&T" not in email.text  # escaped in HTML, plain in text
    assert len(sms) <= SMS_MAX_LENGTH and sms.endswith("https://portal.example.com/")
    if locale == "zh-hans":
        assert CJK.search(email.subject) and CJK.search(email.text) and CJK.search(sms)
    else:
        assert not CJK.search(email.text)


@pytest.mark.parametrize("event_type", CUSTOMER_EVENTS)
def test_a_notice_with_only_its_subscription_id_still_renders(clock, event_type):
    """An event stored by an older version, with less than its payload holds now."""
    subscription = make_subscription()
    stored = stored_as_is(
        event_type, customer=subscription.customer, subscription=subscription, data={"subscription_id": subscription.pk}
    )
    message = OutboxMessage.objects.get(pk=stored.pk)

    email = render_email(message, subscription.customer)

    assert email.subject and "http://127.0.0.1:8000/" in email.text
    assert len(render_sms(message, subscription.customer)) <= SMS_MAX_LENGTH


def test_a_notice_about_nothing_we_know_still_renders(clock):
    customer = make_customer()
    message = stored_as_is("subscription.renewal_failed", customer=customer, data={"subscription_id": 999_999})

    email = render_email(OutboxMessage.objects.get(pk=message.pk), customer)

    assert "your plan" in email.subject


def test_a_receipt_shows_the_invoice_the_amount_and_the_period_in_local_time(clock):
    customer = make_customer(time_zone="America/New_York")
    subscription = make_subscription(customer=customer, plan=make_plan(price_minor=2500, name="AT&T 1 month"))
    invoice = Invoice.objects.get(subscription=subscription)
    data = sample_payload("subscription.renewed", subscription)

    email = render_email(stored_event("subscription.renewed", subscription, data), customer)
    text = plain(email.text)

    assert email.subject == f"Receipt {invoice.number}: AT&T 1 month · 10 GB is renewed"
    assert f"Invoice number: {invoice.number}" in text
    assert "Amount paid: $25.00" in text
    # 12:00 UTC on Jan 15 is 7:00 AM in New York (EST), and the zone is named as people say it
    new_york = "Eastern Time (New York)"
    assert f"Period: Jan 15, 2026, 7:00 AM {new_york} to Feb 15, 2026, 7:00 AM {new_york}" in text
    assert "We renewed AT&T 1 month · 10 GB automatically, as you asked." in text
    assert f"View your receipt\nhttp://127.0.0.1:8000/receipts/{invoice.pk}/" in text


def test_a_failed_renewal_says_why_when_we_try_again_and_what_to_do(clock):
    customer = make_customer(time_zone="Europe/London")
    subscription = make_subscription(customer=customer)
    data = sample_payload("subscription.renewal_failed", subscription)

    email = render_email(stored_event("subscription.renewal_failed", subscription, data), customer)
    text = plain(email.text)

    assert email.subject.startswith("Payment failed")
    assert "Your card was declined. Try another card or contact your bank." in text
    assert "We will try again on Jan 16, 2026, 6:00 AM United Kingdom Time." in text
    assert "check your card or add another payment method" in text
    assert "Update your payment method\nhttp://127.0.0.1:8000/payment-methods/" in text


def test_a_failed_renewal_with_no_retry_left_asks_for_a_new_card(clock):
    subscription = make_subscription()
    data = payloads.renewal_failed(
        subscription_id=subscription.pk,
        failure_code=FailureCode.CARD_DECLINED,
        failure_message=failure_message(FailureCode.CARD_DECLINED),
        amount_minor=2500,
        currency="USD",
        expires_at=subscription.paid_through,
    )

    email = render_email(stored_event("subscription.renewal_failed", subscription, data), subscription.customer)

    assert "Please update your card" in email.text
    assert "We will try again" not in email.text


def test_a_chinese_receipt_reads_in_chinese_with_local_money_and_time(clock):
    customer = make_customer(locale="zh-hans", time_zone="Asia/Shanghai")
    subscription = make_subscription(customer=customer, plan=make_plan(price_minor=2500, name="AT&T 1 month"))
    invoice = Invoice.objects.get(subscription=subscription)

    email = render_email(
        stored_event("subscription.created", subscription, sample_payload("subscription.created", subscription)),
        customer,
    )

    # The plan named as the portal names it in Chinese, not the catalogue's English name.
    assert email.subject == f"收据 {invoice.number}：AT&T 1 个月 · 10 GB 已开通"  # noqa: RUF001
    assert "US$25.00" in email.text
    assert "2026年1月15日 20:00 中国时间（上海）" in email.text  # noqa: RUF001 (Babel's name for the zone)


def test_a_webhook_only_event_is_never_written_to_a_customer(clock):
    customer = make_customer()
    message = OutboxMessage.objects.filter(event_type="customer.created", customer=customer).get()

    with pytest.raises(RenderingError):
        render_email(message, customer)
