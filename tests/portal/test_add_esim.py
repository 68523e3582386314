"""Add an eSIM (or move to another carrier), pay, and install it."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest
from django.urls import reverse

from simrenew.esims.models import EsimProfile
from simrenew.payments.models import PaymentAttempt
from simrenew.subscriptions.models import Subscription
from tests.factories import make_card, make_customer, make_esim, make_plan, make_subscription

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(clock):
    return make_customer()


@pytest.fixture
def signed_in(client, customer):
    client.force_login(customer.user)
    return client


def key_of(html: str) -> str:
    match = re.search(r'name="key" value="([0-9a-f-]+)"', html)
    assert match
    return match.group(1)


def test_add_an_esim_then_see_how_to_install_it(signed_in, customer):
    plan = make_plan(carrier="tmobile", name="T-Mobile Monthly", price_minor=3000)
    make_plan(carrier="att", name="AT&T Monthly")
    card = make_card(customer=customer)
    stock = make_esim(carrier="tmobile")  # in inventory, no customer yet
    page = signed_in.get(reverse("portal:add_esim"))
    html = page.content.decode()
    assert "<legend>T-Mobile</legend>" in html and "<legend>AT&amp;T</legend>" in html
    assert "$30.00" in html

    done = signed_in.post(
        reverse("portal:add_esim"),
        {"plan": plan.pk, "payment_method": card.pk, "auto_renew": "on", "key": key_of(html)},
    )

    assert done.status_code == 302
    assert done["Location"] == reverse("portal:install", args=[stock.pk])
    stock.refresh_from_db()
    assert (stock.status, stock.customer_id) == ("assigned", customer.pk)
    subscription = Subscription.objects.get(esim=stock)
    assert (subscription.state, subscription.auto_renew, subscription.plan_id) == ("live", True, plan.pk)

    install = signed_in.get(done["Location"])
    html = install.content.decode()
    assert "back up your phone" in html
    qr = re.search(r'<img class="qr" src="([^"]+)"', html)
    assert qr and qr.group(1).startswith("/esims/qr/") and qr.group(1).endswith(".svg")
    assert signed_in.get(qr.group(1))["Content-Type"] == "image/svg+xml"
    serial = stock.activation_code.split("$")[2]
    assert '<code class="copyable">smdp.example.com</code>' in html
    assert f'<code class="copyable">{serial}</code>' in html
    ios = re.search(r'href="(https://esimsetup\.apple\.com/esim_qrcode_provisioning\?carddata=[^"]+)"', html)
    assert ios and unquote(ios.group(1).split("carddata=")[1]) == "LPA:" + stock.activation_code
    assert "Install steps on iPhone" in html and "Install steps on Android" in html


def test_a_declined_payment_says_why_and_leaves_nothing_half_made(signed_in, customer):
    plan = make_plan(carrier="verizon")
    declined = make_card(customer=customer, number="4000000000009995")
    stock = make_esim(carrier="verizon")
    key = key_of(signed_in.get(reverse("portal:add_esim")).content.decode())

    page = signed_in.post(reverse("portal:add_esim"), {"plan": plan.pk, "payment_method": declined.pk, "key": key})

    html = page.content.decode()
    assert page.status_code == 402
    assert "Your card has insufficient funds." in html
    assert key_of(html) != key
    assert not Subscription.objects.filter(customer=customer).exists()
    stock.refresh_from_db()
    # The customer paid nothing and never saw the activation code: the profile goes back to stock.
    assert (stock.status, stock.customer_id) == ("available", None)
    assert not EsimProfile.objects.filter(customer=customer, status__in=["assigned", "installed"]).exists()
    assert PaymentAttempt.objects.get(customer=customer).status == "failed"


def test_then_a_good_card_gets_an_esim(signed_in, customer):
    plan = make_plan(carrier="att")
    declined = make_card(customer=customer, number="4000000000000002")
    good = make_card(customer=customer)
    first = make_esim(carrier="att")
    make_esim(carrier="att")
    key = key_of(signed_in.get(reverse("portal:add_esim")).content.decode())
    retry = signed_in.post(reverse("portal:add_esim"), {"plan": plan.pk, "payment_method": declined.pk, "key": key})

    done = signed_in.post(
        reverse("portal:add_esim"), {"plan": plan.pk, "payment_method": good.pk, "key": key_of(retry.content.decode())}
    )

    # The declined try gave its profile back to stock, so the good card gets that same one.
    assert done["Location"] == reverse("portal:install", args=[first.pk])


def test_no_esim_in_stock_is_said_in_words(signed_in, customer):
    plan = make_plan(carrier="att")
    card = make_card(customer=customer)
    key = key_of(signed_in.get(reverse("portal:add_esim")).content.decode())

    page = signed_in.post(reverse("portal:add_esim"), {"plan": plan.pk, "payment_method": card.pk, "key": key})

    assert page.status_code == 402
    assert "No eSIM of this carrier is available right now." in page.content.decode()
    assert not PaymentAttempt.objects.exists()


def test_a_double_submit_buys_one_esim(signed_in, customer):
    plan = make_plan(carrier="att")
    card = make_card(customer=customer)
    make_esim(carrier="att")
    make_esim(carrier="att")
    form = {
        "plan": plan.pk,
        "payment_method": card.pk,
        "key": key_of(signed_in.get(reverse("portal:add_esim")).content.decode()),
    }

    first = signed_in.post(reverse("portal:add_esim"), form)
    second = signed_in.post(reverse("portal:add_esim"), form)

    assert first["Location"] == second["Location"]
    assert Subscription.objects.filter(customer=customer).count() == 1


def test_moving_carrier_sets_the_old_plan_to_end_at_its_period_end(signed_in, customer):
    old = make_subscription(customer=customer, plan=make_plan(carrier="att"))
    plan = make_plan(carrier="verizon")
    make_esim(carrier="verizon")
    html = signed_in.get(reverse("portal:add_esim")).content.decode()
    assert "Moving to another carrier?" in html

    done = signed_in.post(
        reverse("portal:add_esim"),
        {"plan": plan.pk, "payment_method": old.payment_method_id, "end_subscription": old.pk, "key": key_of(html)},
        follow=True,
    )

    old.refresh_from_db()
    assert (old.state, old.ended_at) == ("cancelled", None)
    assert "will end on" in done.content.decode()


def test_bad_input_re_renders_the_form(signed_in, customer):
    page = signed_in.post(reverse("portal:add_esim"), {"plan": "nine", "payment_method": "", "key": "x"})
    assert page.status_code == 400
    assert "errorlist" in page.content.decode()


def test_another_customers_plan_cannot_be_ended_from_here(signed_in, customer):
    make_subscription(customer=customer)  # so the form offers to end one of the customer's own plans
    stranger = make_subscription(customer=make_customer())
    plan = make_plan(carrier="att")
    card = make_card(customer=customer)
    make_esim(carrier="att")
    key = key_of(signed_in.get(reverse("portal:add_esim")).content.decode())

    page = signed_in.post(
        reverse("portal:add_esim"),
        {"plan": plan.pk, "payment_method": card.pk, "end_subscription": stranger.pk, "key": key},
    )

    assert page.status_code == 400
    stranger.refresh_from_db()
    assert stranger.state == "live"


def test_an_unanswered_payment_shows_no_activation_code_until_it_is_confirmed(signed_in, customer):
    plan = make_plan(carrier="att")
    slow = make_card(customer=customer, number="4000000000000408")  # charged, but the answer is lost
    stock = make_esim(carrier="att")
    key = key_of(signed_in.get(reverse("portal:add_esim")).content.decode())

    done = signed_in.post(
        reverse("portal:add_esim"), {"plan": plan.pk, "payment_method": slow.pk, "key": key}, follow=True
    )

    html = done.content.decode()
    assert done.redirect_chain[-1][0] == reverse("portal:install", args=[stock.pk])
    assert "still waiting for your payment to be confirmed" in html
    assert 'class="qr"' not in html and stock.activation_code.split("$")[2] not in html


def summary_rows(html: str) -> str:
    match = re.search(r'<dl class="summary">(.*?)</dl>', html, re.S)
    assert match
    return match.group(1)


def test_the_order_shows_no_total_until_a_plan_is_picked(signed_in, customer):
    plan = make_plan(carrier="tmobile", name="T-Mobile Monthly", price_minor=3000)
    make_card(customer=customer)

    before = summary_rows(signed_in.get(reverse("portal:add_esim")).content.decode())
    picked = summary_rows(signed_in.get(reverse("portal:add_esim") + f"?plan={plan.pk}").content.decode())

    # Before: "Choose a plan above", and the total row waits hidden (the script shows it on a pick).
    assert "Choose a plan above" in before
    assert re.search(r'<dt class="total" data-summary-row="total" hidden>', before)
    assert "—" not in before
    # A plan picked (or come back from the card page with it): the total is there, without the script.
    assert re.search(r'<dt class="total" data-summary-row="total">', picked)
    assert "$30.00" in picked
