"""A first purchase in a few taps (issue 15): a customer without a payment method picks a plan,
adds a card on the gateway's hosted page, comes back to the purchase with the plan kept, sees
the total and a promotion field, and pays."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from simrenew.billing.models import Invoice
from simrenew.catalog.models import Promotion
from simrenew.payments.models import PaymentAttempt, PaymentMethod
from simrenew.subscriptions.models import Subscription
from tests.factories import make_customer, make_esim, make_plan, make_promotion

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(clock):
    return make_customer()


@pytest.fixture
def signed_in(customer) -> Client:
    client = Client()
    client.force_login(customer.user)
    return client


def key_of(html: str) -> str:
    match = re.search(r'name="key" value="([0-9a-f-]+)"', html)
    assert match
    return match.group(1)


def save_card_on_hosted_page(client: Client, card_page_url: str) -> str:
    """Fill the gateway's page the detour led to; where it sends the customer back."""
    query = parse_qs(urlsplit(card_page_url).query)
    saved = client.post(
        reverse("portal:sandbox_gateway_card"),
        {
            "type": query["type"][0],
            "number": "4242 4242 4242 4242",
            "exp_month": "12",
            "exp_year": "2035",
            "cvc": "123",
            "next": query["next"][0],
        },
    )
    assert saved.status_code == 302
    return saved["Location"]


def test_a_customer_without_a_card_is_not_turned_away(signed_in):
    make_plan(carrier="att", name="AT&T Monthly", price_minor=3500)

    html = signed_in.get(reverse("portal:add_esim")).content.decode()

    assert "Add a payment method first" not in html
    assert "Continue to card details" in html
    assert 'name="promo_code"' in html
    # Said before paying, not on the install page after it.
    assert "Back up your phone first" in html
    assert "The new eSIM gets a new phone number, unless your current number is ported to it." in html


def test_the_card_page_returns_to_the_purchase_with_the_plan_kept_and_the_card_chosen(signed_in, customer):
    plan = make_plan(carrier="att", name="AT&T Monthly", price_minor=3500)
    make_plan(carrier="tmobile", name="T-Mobile Monthly", price_minor=3000)
    stock = make_esim(carrier="att")
    key = key_of(signed_in.get(reverse("portal:add_esim")).content.decode())

    detour = signed_in.post(reverse("portal:add_esim"), {"plan": plan.pk, "key": key, "add_method": "card"})

    assert detour.status_code == 302
    assert detour["Location"].startswith(reverse("portal:card_page") + "?type=card&next=")
    assert not PaymentAttempt.objects.exists()  # going to add a card charges nothing
    # The card page is the gateway's: in the sandbox, its own form, with the same way back.
    sandbox_form = signed_in.get(detour["Location"])
    assert sandbox_form["Location"] == reverse("portal:sandbox_gateway_card") + "?" + urlsplit(detour["Location"]).query
    back = save_card_on_hosted_page(signed_in, detour["Location"])
    card = PaymentMethod.objects.get(customer=customer)
    assert urlsplit(back).path == reverse("portal:add_esim")
    assert parse_qs(urlsplit(back).query)["plan"] == [str(plan.pk)]

    page = signed_in.get(back)
    html = page.content.decode()
    assert re.search(rf'<input type="radio" name="plan" value="{plan.pk}"[^>]* checked', html)
    assert f'<option value="{card.pk}" selected>Visa card ending 4242</option>' in html
    assert '<dd class="total" data-summary="total" data-summary-row="total">$35.00</dd>' in html
    assert "Pay $35.00 and get my eSIM" in html

    done = signed_in.post(
        reverse("portal:add_esim"),
        {"plan": plan.pk, "payment_method": card.pk, "auto_renew": "on", "key": key_of(html)},
    )
    assert done["Location"] == reverse("portal:install", args=[stock.pk])
    assert Subscription.objects.get(esim=stock).plan_id == plan.pk


def test_unticking_auto_renew_survives_the_trip_to_the_card_page(signed_in):
    plan = make_plan(carrier="att")
    key = key_of(signed_in.get(reverse("portal:add_esim")).content.decode())

    detour = signed_in.post(reverse("portal:add_esim"), {"plan": plan.pk, "key": key, "add_method": "paypal"})

    assert "type=paypal" in detour["Location"]
    html = signed_in.get(parse_qs(urlsplit(detour["Location"]).query)["next"][0]).content.decode()
    assert not re.search(r'name="auto_renew"[^>]* checked', html)


def test_a_promotion_applied_before_paying_shows_in_the_total_and_in_the_charge(signed_in, customer):
    plan = make_plan(carrier="att", name="AT&T Monthly", price_minor=3500)
    make_promotion(code="WELCOME10", percent_off=10)
    stock = make_esim(carrier="att")
    key = key_of(signed_in.get(reverse("portal:add_esim")).content.decode())
    back = save_card_on_hosted_page(
        signed_in,
        signed_in.post(reverse("portal:add_esim"), {"plan": plan.pk, "key": key, "add_method": "card"})["Location"],
    )
    card = PaymentMethod.objects.get(customer=customer)

    applied = signed_in.post(
        reverse("portal:add_esim"),
        {"plan": plan.pk, "payment_method": card.pk, "promo_code": "welcome10", "key": key, "apply_promo": "1"},
    )

    assert applied.status_code == 302 and not PaymentAttempt.objects.exists()
    html = signed_in.get(applied["Location"]).content.decode()
    assert "Promotion WELCOME10" in html and "−$3.50" in html  # noqa: RUF001 (a minus sign)
    assert '<dd class="total" data-summary="total" data-summary-row="total">$31.50</dd>' in html
    done = signed_in.post(
        reverse("portal:add_esim"),
        {"plan": plan.pk, "payment_method": card.pk, "promo_code": "WELCOME10", "key": key_of(html)},
    )
    assert done["Location"] == reverse("portal:install", args=[stock.pk])
    assert Invoice.objects.get(customer=customer).total_minor == 3150
    assert back  # the trip through the card page came back


def test_a_promotion_code_that_does_not_apply_says_why_and_leaves_the_price(signed_in):
    plan = make_plan(carrier="att", price_minor=3500)

    html = signed_in.get(reverse("portal:add_esim"), {"plan": plan.pk, "promo_code": "NOSUCHCODE"}).content.decode()

    assert "There is no promotion with the code “NOSUCHCODE”." in html
    assert '<dd class="total" data-summary="total" data-summary-row="total">$35.00</dd>' in html


def test_each_plan_carries_its_total_for_the_summary_script(signed_in):
    cheap = make_plan(carrier="att", name="AT&T 1 day", period_unit="day", price_minor=300)

    html = signed_in.get(reverse("portal:add_esim")).content.decode()

    radio = re.search(rf'<input type="radio" name="plan" value="{cheap.pk}"[^>]*>', html)
    assert radio
    assert 'data-total="$3.00"' in radio.group(0)
    assert 'data-pay-label="Pay $3.00 and get my eSIM"' in radio.group(0)
    assert 'src="/static/portal/price_summary.js"' in html


def test_the_promotions_on_offer_are_shown_beside_the_promotion_field(signed_in):
    make_plan(carrier="att")
    offer = make_promotion(code="WELCOME10", percent_off=10)
    Promotion.objects.filter(pk=offer.pk).update(is_public=True)  # the operator publishes it

    html = signed_in.get(reverse("portal:add_esim")).content.decode()

    assert '<code class="promo-code">WELCOME10</code>' in html
    assert html.index("promo-code") < html.index('name="promo_code"')


def test_a_long_promotion_code_in_another_script_survives_the_trip_to_the_card_page(signed_in):
    plan = make_plan(carrier="att", name="AT&T Monthly", price_minor=3500)
    code = "新年快乐" * 15  # 60 characters, 180 bytes in UTF-8, three times longer once URL-encoded twice
    key = key_of(signed_in.get(reverse("portal:add_esim")).content.decode())

    detour = signed_in.post(
        reverse("portal:add_esim"), {"plan": plan.pk, "key": key, "promo_code": code, "add_method": "card"}
    )
    assert detour.status_code == 302
    assert len(detour["Location"]) > 500

    back = save_card_on_hosted_page(signed_in, detour["Location"])

    assert urlsplit(back).path == reverse("portal:add_esim")
    assert parse_qs(urlsplit(back).query)["promo_code"] == [code]
