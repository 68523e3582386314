"""Every receipt names what that payment bought, from the invoice's own line, in the language
the customer reads: a Chinese customer reads the plan as the Chinese portal names it, and a day
bought on top of a month is a day, even while the month runs. Sent for real over SMTP."""

from __future__ import annotations

import re

from simrenew.billing.models import Invoice
from simrenew.notifications.models import SandboxSms
from tests.factories import buy_top_up, make_customer, make_plan, make_subscription, make_top_up_pack, renew
from tests.notifications.helpers import run_worker, texting_customer

SECONDS = re.compile(r"\d:\d\d:\d\d")


def body(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content().replace("\u202f", " ")


def html(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def test_a_chinese_customers_renewal_receipt_names_the_plan_in_chinese(clock, mail_server):
    customer = make_customer(locale="zh-hans", time_zone="Asia/Shanghai")
    subscription = make_subscription(customer=customer, plan=make_plan(name="AT&T 1 month", data_mb=20_480))
    run_worker()
    invoice = Invoice.objects.get(payment_attempt=renew(subscription))

    run_worker()

    receipt = mail_server.mailbox.messages[-1]
    assert receipt["Subject"].strip() == f"收据 {invoice.number}：AT&T 1 个月 · 20 GB 已续订"  # noqa: RUF001
    text = body(receipt)
    assert "AT&T 1 个月 · 20 GB" in text.replace("\u00a0", " ")
    assert "1 month" not in text and "1 month" not in html(receipt)
    assert "AT&amp;T 1\u00a0个\u2060月 · 20\u00a0GB" in html(receipt)  # kept on one line where it wraps
    assert invoice.description == "AT&T 1 month"  # the invoice keeps its English record
    assert "2026年2月15日 20:00 中国时间（上海）" in text  # noqa: RUF001 (to the minute, no seconds)
    assert not SECONDS.search(text)


def test_a_day_prepaid_on_top_of_a_month_is_receipted_as_the_day_while_the_month_runs(clock, mail_server):
    customer = make_customer(time_zone="America/New_York")
    subscription = make_subscription(customer=customer, plan=make_plan(name="AT&T 1 month · 20 GB", data_mb=20_480))
    run_worker()
    clock.advance(days=3)  # the month runs
    day = make_plan(period_unit="day", data_mb=1024, price_minor=300, name="AT&T 1 day · 1 GB")
    invoice = Invoice.objects.get(payment_attempt=renew(subscription, plan=day))

    run_worker()

    receipt = mail_server.mailbox.messages[-1]
    assert receipt["Subject"].strip() == f"Receipt {invoice.number}: AT&T 1 day · 1 GB is renewed"
    text = body(receipt)
    assert "Plan: AT&T 1 day · 1 GB" in text and "Amount paid: $3.00" in text
    assert "1 month" not in text and "20 GB" not in text
    # The day comes after the month: the receipt gives the day's own dates.
    assert "Period: Feb 15, 2026, 7:00 AM Eastern Time (New York) to Feb 16, 2026, 7:00 AM" in text


def test_the_same_day_in_chinese_names_the_day_not_the_month(clock, mail_server):
    customer = make_customer(locale="zh-hans", time_zone="Asia/Shanghai")
    subscription = make_subscription(customer=customer, plan=make_plan(name="AT&T 1 month · 20 GB", data_mb=20_480))
    run_worker()
    clock.advance(days=3)
    day = make_plan(period_unit="day", data_mb=1024, price_minor=300, name="AT&T 1 day · 1 GB")
    renew(subscription, plan=day)

    run_worker()

    text = body(mail_server.mailbox.messages[-1]).replace("\u00a0", " ")
    assert "AT&T 1 天 · 1 GB" in text
    assert "个月" not in text and "20 GB" not in text


def test_a_top_up_receipt_names_the_pack_bought_in_the_customers_language(clock, mail_server):
    customer = make_customer(locale="zh-hans", time_zone="Asia/Shanghai")
    subscription = make_subscription(customer=customer)
    run_worker()
    pack = make_top_up_pack(data_mb=2048)
    invoice = Invoice.objects.get(payment_attempt=buy_top_up(subscription, pack=pack))

    run_worker()

    text = body(mail_server.mailbox.messages[-1]).replace("\u00a0", " ")
    assert invoice.number in text
    item = next(line for line in text.splitlines() if line.startswith("项目"))
    assert "AT&T 2 GB" in item and "2048 MB" not in item  # composed, not the operator's English name


def test_an_english_text_message_keeps_to_the_sms_alphabet(clock):
    customer = texting_customer(email=False)
    make_subscription(customer=customer, plan=make_plan(name="AT&T 1 month"))

    run_worker()

    text = SandboxSms.objects.get().text
    assert text.startswith("simrenew: AT&T 1 month, 10 GB is active until Feb 15, 2026")
    assert text.isascii()  # a middle dot alone would make it UCS-2: 70 characters a segment


def test_a_chinese_text_message_names_the_plan_in_chinese_without_invisible_characters(clock):
    customer = texting_customer(locale="zh-hans", time_zone="Asia/Shanghai")
    make_subscription(customer=customer, plan=make_plan(name="AT&T 1 month"))

    run_worker()

    text = SandboxSms.objects.get().text
    assert "AT&T 1 个月 · 10 GB" in text
    assert "\u2060" not in text
