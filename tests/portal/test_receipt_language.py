"""A receipt page names what the payment bought in the customer's language, from the invoice's
own line; and every time a customer reads is shown to the minute, never with seconds."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from simrenew.billing.models import Invoice
from tests.factories import buy_top_up, make_customer, make_plan, make_subscription, make_top_up_pack, renew

pytestmark = pytest.mark.django_db

SECONDS = re.compile(r"\d:\d\d:\d\d")


def signed_in(customer) -> Client:
    client = Client()
    client.force_login(customer.user)
    return client


def receipt_page(customer, invoice: Invoice) -> str:
    page = signed_in(customer).get(reverse("portal:receipt", args=[invoice.pk]))
    assert page.status_code == 200
    return page.content.decode()


def test_a_chinese_receipt_names_the_day_bought_in_chinese_while_the_month_runs(clock):
    customer = make_customer(locale="zh-hans", time_zone="Asia/Shanghai")
    subscription = make_subscription(customer=customer, plan=make_plan(name="AT&T 1 month · 20 GB", data_mb=20_480))
    day = make_plan(period_unit="day", data_mb=1024, price_minor=300, name="AT&T 1 day · 1 GB")
    invoice = Invoice.objects.get(payment_attempt=renew(subscription, plan=day))
    clock.advance(days=3)

    html = receipt_page(customer, invoice)

    assert "AT&amp;T 1\u00a0天 · 1\u00a0GB" in html
    assert "1 day" not in html and "个\u2060月" not in html
    assert "2026年2月15日 20:00" in html and "2026年2月16日 20:00" in html  # the day's own dates
    assert not SECONDS.search(html)


def test_a_chinese_top_up_receipt_names_the_pack_from_what_it_is(clock):
    customer = make_customer(locale="zh-hans", time_zone="Asia/Shanghai")
    subscription = make_subscription(customer=customer)
    invoice = Invoice.objects.get(payment_attempt=buy_top_up(subscription, pack=make_top_up_pack(data_mb=2048)))

    html = receipt_page(customer, invoice)

    assert "AT&amp;T 2\u00a0GB" in html and "2048 MB" not in html


def test_an_english_receipt_shows_times_to_the_minute(clock):
    customer = make_customer(time_zone="America/New_York")
    subscription = make_subscription(customer=customer)
    invoice = Invoice.objects.get(subscription=subscription)

    html = receipt_page(customer, invoice)

    assert "Jan 15, 2026, 7:00\u202fAM" in html  # issued, in the customer's zone
    assert not SECONDS.search(html)


@pytest.mark.parametrize("locale", ["en", "zh-hans"])
def test_pages_with_times_never_show_seconds(clock, locale):
    customer = make_customer(locale=locale, time_zone="Asia/Shanghai")
    subscription = make_subscription(customer=customer)
    client = signed_in(customer)

    for url in [
        reverse("portal:dashboard"),
        reverse("portal:manage", args=[subscription.pk]),
        reverse("portal:cancel", args=[subscription.pk]) + "?when=now",
        reverse("portal:payments"),
        reverse("portal:settings"),
    ]:
        page = client.get(url)
        assert page.status_code == 200, url
        assert not SECONDS.search(page.content.decode()), url
