"""The manage page tells a customer what auto-renew will do next, in their language and
time zone: the next automatic charge, a declined charge that will be tried again, and a
charge that will not be tried again, with the way out (another payment method)."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from simrenew.customers.models import Customer
from simrenew.payments.models import PaymentMethod
from simrenew.subscriptions.cancellation import update_renewal
from simrenew.subscriptions.models import Subscription
from tests.factories import make_card, make_customer, make_plan, make_subscription, renew, renew_due

pytestmark = pytest.mark.django_db

DECLINED = "4000000000000002"  # card_declined: tried again on the schedule
EXPIRED = "4000000000000069"  # expired_card: a hard decline, never tried again by itself


def signed_in(customer: Customer) -> Client:
    client = Client()
    client.force_login(customer.user)
    return client


def plan_paying_with(customer: Customer, number: str) -> tuple[Subscription, PaymentMethod]:
    """A monthly $25.00 plan (first period paid by a good card) that auto-renews with card `number`."""
    subscription = make_subscription(customer=customer, plan=make_plan(price_minor=2500, name="AT&T Monthly"))
    card = make_card(customer=customer, number=number)
    with transaction.atomic():
        update_renewal(subscription, payment_method=card)
    subscription.refresh_from_db()
    return subscription, card


def manage_page(client: Client, subscription: Subscription) -> str:
    response = client.get(reverse("portal:manage", args=[subscription.pk]))
    assert response.status_code == 200
    return squeeze(response.content.decode())


def squeeze(html: str) -> str:
    """The page's text with entities decoded and template line breaks folded (U+202F, as in
    “7:00\u202fAM”, stays)."""
    return re.sub(r"[ \t\r\n]+", " ", unescape(html))


@pytest.fixture
def new_yorker(clock):
    return make_customer(time_zone="America/New_York", locale="en")


@pytest.fixture
def shanghai(clock):
    return make_customer(time_zone="Asia/Shanghai", locale="zh-hans")


# --- the next automatic charge ----------------------------------------------------------------------------------


def test_the_next_automatic_charge_is_shown_with_its_time_zone_and_method(new_yorker):
    subscription = make_subscription(customer=new_yorker, plan=make_plan(price_minor=2500))

    page = manage_page(signed_in(new_yorker), subscription)

    # Paid from 2026-01-15 12:00 UTC to 2026-02-15 07:00 EST; the first try is 72 hours earlier.
    assert (
        "Next automatic charge: Feb 12, 2026, 7:00\u202fAM Eastern Standard Time,"
        " $25.00 to your Visa card ending 4242." in page
    )
    assert "We're trying" not in page
    assert "could not charge" not in page


def test_the_next_automatic_charge_in_chinese_and_shanghai_time(shanghai):
    subscription = make_subscription(customer=shanghai, plan=make_plan(price_minor=2500))

    page = manage_page(signed_in(shanghai), subscription)

    assert "下次自动扣款：2026年2月12日 20:00 中国标准时间，从您的尾号 4242 的 Visa 卡扣款 US$25.00。" in page  # noqa: RUF001 (Chinese punctuation)


# --- a declined charge, tried again -----------------------------------------------------------------------------


def test_a_declined_charge_says_why_and_when_the_next_try_is(new_yorker, clock):
    subscription, _ = plan_paying_with(new_yorker, DECLINED)
    clock.set(subscription.paid_through - timedelta(hours=72))
    assert renew_due().spent == 1

    page = manage_page(signed_in(new_yorker), subscription)

    assert "We're trying your Visa card ending 0002: next try" in page
    assert "next try Feb 14, 2026, 7:00\u202fAM Eastern Standard Time." in page  # T-24h
    assert "Your card was declined. Try another card or contact your bank." in page
    assert 'href="#renewal-method"' in page
    assert 'id="renewal-method"' in page
    assert "Next automatic charge" not in page


def test_a_declined_charge_in_chinese(shanghai, clock):
    subscription, _ = plan_paying_with(shanghai, DECLINED)
    clock.set(subscription.paid_through - timedelta(hours=72))
    renew_due()

    page = manage_page(signed_in(shanghai), subscription)

    assert "我们正在重试您的尾号 0002 的 Visa 卡：下次尝试时间为 2026年2月14日 20:00 中国标准时间。" in page  # noqa: RUF001 (Chinese punctuation)
    assert "您的银行卡被拒绝。请换一张卡或联系您的银行。" in page
    assert "立即改用其他付款方式" in page


# --- a charge that will not be tried again ----------------------------------------------------------------------


def test_an_expired_card_stops_auto_renew_until_the_customer_picks_another_method(new_yorker, clock):
    subscription, _ = plan_paying_with(new_yorker, EXPIRED)
    good_card = PaymentMethod.objects.get(customer=new_yorker, last4="4242")  # paid the first period
    clock.set(subscription.paid_through - timedelta(hours=72))
    renew_due()
    client = signed_in(new_yorker)

    page = manage_page(client, subscription)

    assert "Auto-renew could not charge your Visa card ending 0069." in page
    assert "Your card has expired. Add a card with a later expiry date." in page
    assert "We will not try again by ourselves." in page
    assert '<a class="button" href="#renewal-method">Change payment method</a>' in page
    assert f'<option value="{good_card.pk}" selected>' in page, "the card that failed is not offered first"
    assert "We're trying" not in page

    # The call to action's form: the good card, charged at once inside the 72-hour window.
    chosen = client.post(
        reverse("portal:auto_renew", args=[subscription.pk]),
        {"auto_renew": "on", "payment_method": good_card.pk},
        follow=True,
    )
    after = squeeze(chosen.content.decode())
    assert "Renewals are now paid with your Visa card ending 4242. We are trying it now." in after
    assert "We are charging $25.00 to your Visa card ending 4242 now." in after
    assert "could not charge" not in after

    assert renew_due().succeeded == 1
    renewed = manage_page(client, subscription)
    assert "Next automatic charge: Mar 12, 2026, 7:00\u202fAM Eastern Daylight Time," in renewed
    assert "could not charge" not in renewed


def test_an_expired_card_in_chinese(shanghai, clock):
    subscription, _ = plan_paying_with(shanghai, EXPIRED)
    clock.set(subscription.paid_through - timedelta(hours=72))
    renew_due()

    page = manage_page(signed_in(shanghai), subscription)

    assert "自动续订无法从您的尾号 0069 的 Visa 卡扣款。" in page
    assert "您的银行卡已过期。请添加一张有效期更晚的卡。" in page
    assert '<a class="button" href="#renewal-method">更换付款方式</a>' in page


def test_a_card_added_from_the_manage_page_comes_back_chosen(new_yorker, clock):
    subscription, _ = plan_paying_with(new_yorker, EXPIRED)
    clock.set(subscription.paid_through - timedelta(hours=72))
    renew_due()
    client = signed_in(new_yorker)
    link = re.search(r'href="([^"]*\?type=card&[^"]*)"', manage_page(client, subscription))
    assert link, "the page offers to add a card"
    query = parse_qs(urlsplit(link.group(1)).query)

    back = client.post(
        reverse("portal:sandbox_gateway_card"),
        {"type": "card", "number": "5555555555554444", "exp_month": 12, "exp_year": 2035, "cvc": "123", **query},
        follow=True,
    )

    mastercard = PaymentMethod.objects.get(customer=new_yorker, last4="4444")
    assert back.redirect_chain[-1][0].startswith(reverse("portal:manage", args=[subscription.pk]) + "?method=")
    assert f'<option value="{mastercard.pk}" selected>' in back.content.decode()


def test_after_the_last_retry_and_the_end_of_the_plan_it_says_renew_now(new_yorker, clock):
    subscription, _ = plan_paying_with(new_yorker, DECLINED)
    for hours in (72, 24, 6, 1):
        clock.set(subscription.paid_through - timedelta(hours=hours))
        renew_due()
    client = signed_in(new_yorker)

    before_the_end = manage_page(client, subscription)
    assert "Auto-renew could not charge your Visa card ending 0002." in before_the_end
    assert "Change payment method" in before_the_end

    clock.set(subscription.paid_through + timedelta(minutes=1))
    after_the_end = manage_page(client, subscription)
    assert "Auto-renew could not charge your Visa card ending 0002." in after_the_end
    assert "We will not try again. Renew your plan to get your service back." in after_the_end
    assert f'<a class="button" href="{reverse("portal:renew", args=[subscription.pk])}">Renew now</a>' in after_the_end


def test_a_manual_renewal_leaves_the_old_failure_behind(new_yorker, clock):
    """A failure belongs to the period it tried to buy: once paid by hand, the page looks ahead."""
    subscription, _ = plan_paying_with(new_yorker, EXPIRED)
    clock.set(subscription.paid_through - timedelta(hours=72))
    renew_due()
    good_card = PaymentMethod.objects.get(customer=new_yorker, last4="4242")
    assert renew(subscription, plan=subscription.plan, payment_method=good_card, promo_code=None).status == "succeeded"

    page = manage_page(signed_in(new_yorker), subscription)

    assert "could not charge" not in page
    # Mar 15, 7:00 EDT less 72 hours (daylight saving time began on Mar 8).
    assert "Next automatic charge: Mar 12, 2026, 7:00\u202fAM Eastern Daylight Time," in page
    assert "$25.00 to your Visa card ending 0069." in page


# --- and the page stays cheap -----------------------------------------------------------------------------------


def test_the_page_reads_the_same_number_of_rows_however_many_tries_failed(new_yorker, clock):
    subscription, _ = plan_paying_with(new_yorker, DECLINED)
    client = signed_in(new_yorker)
    clock.set(subscription.paid_through - timedelta(hours=72))
    renew_due()
    manage_page(client, subscription)  # warm: sessions, content types

    with CaptureQueriesContext(connection) as one_failure:
        manage_page(client, subscription)
    for hours in (24, 6):
        clock.set(subscription.paid_through - timedelta(hours=hours))
        renew_due()
    with CaptureQueriesContext(connection) as three_failures:
        manage_page(client, subscription)

    assert len(three_failures) == len(one_failure)
