"""An invoice names what its payment bought in the reader's language, from its own line: the
plan of the period it paid for, the pack of the top-up, never the plan the subscription holds
now. Its stored description stays the English record an operator reads."""

from __future__ import annotations

from django.db import transaction
from django.utils import translation

from simrenew.billing.items import invoice_item_name
from simrenew.billing.models import Invoice
from simrenew.payments.charging import execute
from simrenew.subscriptions.cancellation import cancel
from simrenew.subscriptions.models import Period
from simrenew.subscriptions.renewals import begin_renewal
from tests.factories import (
    buy_top_up,
    make_customer,
    make_plan,
    make_subscription,
    make_top_up_pack,
    make_wallet,
    renew,
)

DAY = "AT&T 1 day · 1 GB"


def named(invoice: Invoice, language: str) -> str:
    with translation.override(language):
        return invoice_item_name(invoice.pk)


def test_a_day_bought_on_top_of_a_month_is_named_the_day_in_both_languages(clock):
    subscription = make_subscription(plan=make_plan(name="AT&T 1 month · 20 GB", data_mb=20_480))
    day = make_plan(period_unit="day", data_mb=1024, price_minor=300, name=DAY)
    invoice = Invoice.objects.get(payment_attempt=renew(subscription, plan=day))
    clock.advance(days=3)  # the month runs now; the day comes after it

    assert named(invoice, "en") == DAY
    assert named(invoice, "zh-hans") == "AT&T 1\u00a0天 · 1\u00a0GB"
    assert invoice.description == DAY  # the record, as issued


def test_a_data_top_up_is_named_by_its_pack(clock):
    subscription = make_subscription()
    pack = make_top_up_pack(data_mb=2048)
    invoice = Invoice.objects.get(payment_attempt=buy_top_up(subscription, pack=pack))

    assert named(invoice, "en") == "2048 MB"  # the operator's name for the pack
    # Composed from what the pack is ("AT&T 2 GB 流量充值" once the catalogue has the words), not
    # the operator's English name.
    chinese = named(invoice, "zh-hans")
    assert chinese.startswith("AT&T 2\u00a0GB") and "MB" not in chinese


def test_a_wallet_top_up_is_named_in_the_readers_language(clock):
    customer = make_customer()
    make_wallet(customer=customer, balance_minor=2000)
    invoice = Invoice.objects.get(customer=customer)

    assert named(invoice, "en") == "Wallet top-up"
    assert named(invoice, "zh-hans") == "钱包充值"
    assert invoice.description == "Wallet top-up"


def test_a_renewal_paid_after_cancelling_is_named_by_the_plan_it_sold(clock):
    # The payment landed after the customer cancelled: it was invoiced and given back, and no
    # period was written. What step 1 sold names the line.
    subscription = make_subscription(plan=make_plan(name="AT&T 1 month"))
    year = make_plan(period_unit="year", data_mb=20_480, price_minor=34_900, name="AT&T 1 year")
    with transaction.atomic():
        attempt = begin_renewal(subscription=subscription, plan=year, idempotency_key="year-in-flight")
    with transaction.atomic():
        cancel(subscription, when="period_end")
    execute(attempt)
    invoice = Invoice.objects.get(payment_attempt=attempt)

    assert not Period.objects.filter(invoice=invoice).exists()
    assert named(invoice, "en") == "AT&T 1 year · 20\u00a0GB"
    assert named(invoice, "zh-hans") == "AT&T 1\u00a0年 · 20\u00a0GB"
