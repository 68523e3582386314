"""Manage a plan in the portal: auto-renew, cancel (at period end or now), resume, top up."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from simrenew.subscriptions.models import Period, Subscription
from tests.factories import make_card, make_customer, make_plan, make_subscription, make_top_up_pack

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(clock):
    return make_customer(time_zone="America/New_York")


@pytest.fixture
def subscription(customer):
    return make_subscription(customer=customer, plan=make_plan(price_minor=2500, name="AT&T Monthly"))


@pytest.fixture
def signed_in(client, customer):
    client.force_login(customer.user)
    return client


def key_of(html: str) -> str:
    match = re.search(r'name="key" value="([0-9a-f-]+)"', html)
    assert match, "the form carries an idempotency key"
    return match.group(1)


def test_manage_page_says_when_and_how_much_auto_renew_charges(signed_in, subscription):
    page = signed_in.get(reverse("portal:manage", args=[subscription.pk]))

    html = page.content.decode()
    assert page.status_code == 200
    assert "Auto-renew is on." in html
    assert "$25.00" in html
    assert "Visa card ending 4242" in html
    # The period began 2026-01-15 12:00 UTC, so it ends 2026-02-15 07:00 EST; 72 h earlier:
    assert "Feb 12, 2026, 7:00\u202fAM" in html
    assert "Turn auto-renew off" in html
    assert 'name="csrfmiddlewaretoken"' in html


def test_auto_renew_can_be_turned_off_and_on_again(signed_in, subscription):
    url = reverse("portal:auto_renew", args=[subscription.pk])

    off = signed_in.post(url, {"auto_renew": "off"}, follow=True)
    assert "Auto-renew is off." in off.content.decode()
    subscription.refresh_from_db()
    assert subscription.auto_renew is False

    card = make_card(customer=subscription.customer, number="5555555555554444")
    on = signed_in.post(url, {"auto_renew": "on", "payment_method": card.pk}, follow=True)
    subscription.refresh_from_db()
    assert subscription.auto_renew is True
    assert subscription.payment_method_id == card.pk
    assert "ending 4444" in on.content.decode()


def test_auto_renew_on_with_another_customers_method_is_refused_in_words(signed_in, subscription):
    stranger_card = make_card(customer=make_customer())
    signed_in.post(reverse("portal:auto_renew", args=[subscription.pk]), {"auto_renew": "off"})

    page = signed_in.post(
        reverse("portal:auto_renew", args=[subscription.pk]), {"auto_renew": "on", "payment_method": stranger_card.pk}
    )

    assert page.status_code == 400
    assert "Select a valid choice" in page.content.decode()
    subscription.refresh_from_db()
    assert subscription.auto_renew is False


def test_bad_auto_renew_input_re_renders_without_a_500(signed_in, subscription):
    page = signed_in.post(reverse("portal:auto_renew", args=[subscription.pk]), {"auto_renew": "maybe"})
    assert page.status_code == 400


def test_cancel_at_period_end_is_confirmed_then_can_be_resumed(signed_in, subscription):
    confirm = signed_in.get(reverse("portal:cancel", args=[subscription.pk]) + "?when=period_end")
    html = confirm.content.decode()
    assert "Service continues until Feb 15, 2026, 7:00\u202fAM, then stops." in html
    assert "Yes, cancel at period end" in html
    subscription.refresh_from_db()
    assert subscription.state == "live", "showing the confirmation changes nothing"

    done = signed_in.post(reverse("portal:cancel", args=[subscription.pk]), {"when": "period_end"}, follow=True)
    subscription.refresh_from_db()
    assert subscription.state == "cancelled"
    assert subscription.ended_at is None
    assert "Service continues until Feb 15, 2026" in done.content.decode()
    assert "Resume my plan" in done.content.decode()

    resumed = signed_in.post(reverse("portal:resume", args=[subscription.pk]), follow=True)
    subscription.refresh_from_db()
    assert subscription.state == "live"
    assert "Your plan is resumed" in resumed.content.decode()


def test_cancel_now_says_service_stops_and_stops_it(signed_in, subscription, clock):
    confirm = signed_in.get(reverse("portal:cancel", args=[subscription.pk]) + "?when=now")
    assert "Service stops now." in confirm.content.decode()

    done = signed_in.post(reverse("portal:cancel", args=[subscription.pk]), {"when": "now"}, follow=True)

    subscription.refresh_from_db()
    assert subscription.state == "cancelled"
    assert subscription.ended_at == clock.now()
    html = done.content.decode()
    assert "service has stopped" in html
    assert "Resume my plan" not in html


def test_cancel_without_a_choice_asks_when_and_bad_input_re_renders(signed_in, subscription):
    ask = signed_in.get(reverse("portal:cancel", args=[subscription.pk]) + "?when=tomorrow")
    assert ask.status_code == 200
    assert "When should the plan end?" in ask.content.decode()

    bad = signed_in.post(reverse("portal:cancel", args=[subscription.pk]), {"when": "tomorrow"})
    assert bad.status_code == 400
    subscription.refresh_from_db()
    assert subscription.state == "live"


def test_top_up_adds_data_to_the_running_period(signed_in, subscription):
    pack = make_top_up_pack(data_mb=2048, price_minor=700)
    page = signed_in.get(reverse("portal:manage", args=[subscription.pk]))
    html = page.content.decode()
    assert "2 GB for $7.00" in html

    done = signed_in.post(
        reverse("portal:top_up", args=[subscription.pk]),
        {"pack": pack.pk, "payment_method": subscription.payment_method_id, "key": key_of(html)},
        follow=True,
    )

    assert "Data added: 2 GB for $7.00" in done.content.decode()
    assert Period.objects.get(subscription=subscription).top_up_mb == 2048


def test_a_reloaded_top_up_form_never_charges_twice(signed_in, subscription):
    pack = make_top_up_pack(data_mb=1024, price_minor=500)
    key = key_of(signed_in.get(reverse("portal:top_up", args=[subscription.pk])).content.decode())
    form = {"pack": pack.pk, "payment_method": subscription.payment_method_id, "key": key}

    signed_in.post(reverse("portal:top_up", args=[subscription.pk]), form)
    signed_in.post(reverse("portal:top_up", args=[subscription.pk]), form)

    assert Period.objects.get(subscription=subscription).top_up_mb == 1024


def test_a_declined_top_up_says_why_and_adds_nothing(signed_in, subscription):
    pack = make_top_up_pack()
    declined = make_card(customer=subscription.customer, number="4000000000000002")
    key = key_of(signed_in.get(reverse("portal:top_up", args=[subscription.pk])).content.decode())

    page = signed_in.post(
        reverse("portal:top_up", args=[subscription.pk]),
        {"pack": pack.pk, "payment_method": declined.pk, "key": key},
    )

    html = page.content.decode()
    assert page.status_code == 402
    assert "Your card was declined. Try another card or contact your bank." in html
    assert key_of(html) != key, "the next try is a new payment"
    assert Period.objects.get(subscription=subscription).top_up_mb == 0


@pytest.mark.parametrize(
    ("locale", "words"),
    [
        ("en", "Your bank declined the card as reported lost or stolen. Add another card."),
        ("zh-hans", "您的银行因此卡已挂失或被盗而拒绝了付款。请添加另一张卡。"),
    ],
)
@pytest.mark.parametrize("number", ["4000000000009987", "4000000000009979"])  # lost card, stolen card
def test_a_top_up_with_a_lost_or_stolen_card_says_so_not_the_generic_words(client, clock, locale, words, number):
    customer = make_customer(locale=locale)
    subscription = make_subscription(customer=customer)
    client.force_login(customer.user)
    pack = make_top_up_pack()
    card = make_card(customer=customer, number=number)
    key = key_of(client.get(reverse("portal:top_up", args=[subscription.pk])).content.decode())

    page = client.post(
        reverse("portal:top_up", args=[subscription.pk]), {"pack": pack.pk, "payment_method": card.pk, "key": key}
    )

    assert page.status_code == 402
    assert words in page.content.decode()


def test_top_up_with_missing_fields_re_renders_with_errors(signed_in, subscription):
    make_top_up_pack()
    page = signed_in.post(reverse("portal:top_up", args=[subscription.pk]), {"pack": "x", "key": "nope"})
    assert page.status_code == 400
    assert "errorlist" in page.content.decode()


def test_manage_speaks_chinese_to_a_chinese_customer(client, clock):
    customer = make_customer(locale="zh-hans", time_zone="Asia/Shanghai")
    subscription = make_subscription(customer=customer)
    client.force_login(customer.user)

    page = client.get(reverse("portal:manage", args=[subscription.pk]))

    assert page.status_code == 200
    assert "US$25.00" in page.content.decode()  # Babel's zh_Hans_CN money


def test_pages_need_a_login(client, subscription):
    page = client.get(reverse("portal:manage", args=[subscription.pk]))
    assert page.status_code == 302
    assert "/accounts/login/" in page["Location"]


def test_an_unknown_subscription_is_404(signed_in, subscription):
    assert signed_in.get(reverse("portal:manage", args=[Subscription.objects.count() + 99])).status_code == 404


def test_the_dashboard_says_whose_clock_the_plan_ends_by(signed_in, subscription):
    html = signed_in.get(reverse("portal:dashboard")).content.decode()

    assert "paid through Feb 15, 2026, 7:00\u202fAM Eastern Standard Time" in html
