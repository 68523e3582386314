"""Moving to another carrier on the Add an eSIM page, keeping the phone number (issue 16): the page
offers it only when moving from one of the customer's plans, asks for the old carrier's account
number and port-out PIN, refuses bad ones in the customer's language with nothing written, and
says before payment which number the new eSIM gets."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import translation

from simrenew.esims.models import EsimProfile
from simrenew.kit import crypto
from simrenew.payments.models import PaymentAttempt
from simrenew.provisioning import porting
from simrenew.provisioning.models import PortRequest
from simrenew.subscriptions.models import Subscription
from tests.factories import make_card, make_customer, make_esim, make_plan, make_subscription

pytestmark = pytest.mark.django_db

ACCOUNT = "ATT-77120-X"
PIN = "482913"


@pytest.fixture
def customer(clock):
    return make_customer()


@pytest.fixture
def signed_in(client, customer):
    client.force_login(customer.user)
    return client


@pytest.fixture
def att_plan(customer) -> Subscription:
    return make_subscription(customer=customer, plan=make_plan(carrier="att", name="AT&T Monthly"))


@pytest.fixture
def tmobile(clock):
    make_esim(carrier="tmobile")  # in stock
    return make_plan(carrier="tmobile", name="T-Mobile Monthly", price_minor=3000)


def key_of(html: str) -> str:
    match = re.search(r'name="key" value="([0-9a-f-]+)"', html)
    assert match
    return match.group(1)


def summary_number(html: str) -> str:
    match = re.search(r'<dd data-summary="number">(.*?)</dd>', html, re.S)
    assert match
    return match.group(1)


def keep_form(html: str, old: Subscription, plan, **changes: object) -> dict[str, object]:
    form: dict[str, object] = {
        "plan": plan.pk,
        "payment_method": old.payment_method_id,
        "number": str(old.pk),
        "port_account": ACCOUNT,
        "port_pin": PIN,
        "key": key_of(html),
    }
    form.update(changes)
    return form


def nothing_written(customer, old: Subscription) -> None:
    assert not PortRequest.objects.exists()
    assert not PaymentAttempt.objects.filter(customer=customer).exclude(subscription=old).exists()
    assert EsimProfile.objects.filter(carrier__code="tmobile", customer__isnull=True).count() == 1
    old.refresh_from_db()
    assert old.state == "live" and old.cancelled_at is None


def test_a_first_esim_is_told_before_payment_that_it_gets_a_new_number(signed_in, tmobile):
    html = signed_in.get(reverse("portal:add_esim")).content.decode()

    assert summary_number(html) == "Your new eSIM gets a new phone number."
    assert "Keep my number" not in html and 'name="port_pin"' not in html


def test_moving_from_a_plan_offers_to_keep_its_number_and_says_new_number_until_chosen(signed_in, att_plan, tmobile):
    number = att_plan.esim.msisdn

    html = signed_in.get(reverse("portal:add_esim")).content.decode()

    assert f"Keep my number ({number})" in html and "Take a new number" in html
    assert re.search(r'<input type="radio" name="number" value="new" id="number-new" checked', html)
    assert f'data-number-note="{number} moves to your new eSIM after payment."' in html
    assert 'name="port_account"' in html and 'name="port_pin"' in html
    # Before payment, unless the number is kept, the summary says the new eSIM gets a new number.
    assert summary_number(html) == "Your new eSIM gets a new phone number."
    kept = signed_in.get(reverse("portal:add_esim") + f"?number={att_plan.pk}&plan={tmobile.pk}").content.decode()
    assert summary_number(kept) == f"{number} moves to your new eSIM after payment."


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"port_pin": "12"}, "port_pin", "Enter the port-out PIN: 4 to 10 digits."),
        ({"port_pin": ""}, "port_pin", "Enter the port-out PIN: 4 to 10 digits."),
        (
            {"port_account": "ATT 771!"},
            "port_account",
            "Enter the account number of your current carrier: 1 to 40 letters, digits or dashes.",
        ),
    ],
)
def test_a_bad_account_number_or_pin_is_refused_and_nothing_is_written(
    signed_in, customer, att_plan, tmobile, changes, field, message
):
    html = signed_in.get(reverse("portal:add_esim")).content.decode()

    page = signed_in.post(reverse("portal:add_esim"), keep_form(html, att_plan, tmobile, **changes))

    assert page.status_code == 400
    assert message in page.content.decode()
    assert PIN not in page.content.decode()  # the PIN is never written back into the page
    nothing_written(customer, att_plan)


def test_the_refusal_is_in_the_customers_language(client, clock, tmobile):
    customer = make_customer(locale="zh-hans")
    old = make_subscription(customer=customer, plan=make_plan(carrier="att"))
    client.force_login(customer.user)
    html = client.get(reverse("portal:add_esim")).content.decode()

    page = client.post(reverse("portal:add_esim"), keep_form(html, old, tmobile, port_pin="12"))

    with translation.override("zh-hans"):
        expected = translation.gettext("Enter the port-out PIN: 4 to 10 digits.")
    assert page.status_code == 400 and '<html lang="zh-hans">' in page.content.decode()
    assert expected in page.content.decode()
    nothing_written(customer, old)


def test_a_number_stays_with_its_carrier(signed_in, customer, att_plan, tmobile):
    make_esim(carrier="att")
    same = make_plan(carrier="att", name="AT&T Yearly", period_unit="year", price_minor=30000)
    html = signed_in.get(reverse("portal:add_esim")).content.decode()

    page = signed_in.post(reverse("portal:add_esim"), keep_form(html, att_plan, same))

    assert page.status_code == 400
    assert "Your number is already with AT&amp;T: to keep it, choose a plan of another carrier." in (
        page.content.decode()
    )
    assert not PortRequest.objects.exists()


def test_keeping_one_number_while_ending_another_plan_is_refused(signed_in, customer, att_plan, tmobile):
    other = make_subscription(customer=customer, plan=make_plan(carrier="verizon"))
    html = signed_in.get(reverse("portal:add_esim")).content.decode()

    page = signed_in.post(reverse("portal:add_esim"), keep_form(html, att_plan, tmobile, end_subscription=other.pk))

    assert page.status_code == 400
    assert f"To keep {att_plan.esim.msisdn}, end the plan that has it." in page.content.decode()
    assert not PortRequest.objects.exists()


def test_keeping_the_number_pays_and_the_manage_page_says_it_is_moving(signed_in, customer, att_plan, tmobile):
    number = att_plan.esim.msisdn
    html = signed_in.get(reverse("portal:add_esim")).content.decode()

    done = signed_in.post(reverse("portal:add_esim"), keep_form(html, att_plan, tmobile), follow=True)

    assert done.status_code == 200
    assert f"We are moving your number {number} to your new eSIM." in done.content.decode()
    port = PortRequest.objects.get()
    new = Subscription.objects.get(customer=customer, plan=tmobile)
    assert (port.new_esim_id, port.old_subscription_id, port.msisdn) == (new.esim_id, att_plan.pk, number)
    assert port.status in ("requested", "ordered")
    assert (crypto.decrypt(port.account_number), crypto.decrypt(port.pin)) == (ACCOUNT, PIN)
    att_plan.refresh_from_db()
    assert att_plan.state == "cancelled" and att_plan.ended_at is None  # no renewal; ends when the number moves

    manage = signed_in.get(reverse("portal:manage", args=[new.pk])).content.decode()
    assert 'data-port-state="moving"' in manage and "Moving your number" in manage and number in manage


def test_a_declined_payment_withdraws_the_port_with_its_pin(signed_in, customer, att_plan, tmobile):
    declined = make_card(customer=customer, number="4000000000009995")
    html = signed_in.get(reverse("portal:add_esim")).content.decode()

    page = signed_in.post(reverse("portal:add_esim"), keep_form(html, att_plan, tmobile, payment_method=declined.pk))

    assert page.status_code == 402
    assert not PortRequest.objects.exists()
    assert EsimProfile.objects.filter(carrier__code="tmobile", customer__isnull=True).count() == 1
    att_plan.refresh_from_db()
    assert att_plan.state == "live"


def test_going_to_the_card_page_keeps_the_choice_but_never_carries_the_pin(signed_in, att_plan, tmobile):
    html = signed_in.get(reverse("portal:add_esim")).content.decode()

    away = signed_in.post(reverse("portal:add_esim"), {**keep_form(html, att_plan, tmobile), "add_method": "card"})

    back = parse_qs(urlsplit(parse_qs(urlsplit(away["Location"]).query)["next"][0]).query)
    assert back["number"] == [str(att_plan.pk)]
    assert PIN not in away["Location"] and ACCOUNT not in away["Location"]


@pytest.mark.parametrize("outcome", ["completed", "failed"])
def test_the_manage_page_tells_how_the_port_ended(signed_in, customer, att_plan, tmobile, outcome):
    number = att_plan.esim.msisdn
    html = signed_in.get(reverse("portal:add_esim")).content.decode()
    signed_in.post(reverse("portal:add_esim"), keep_form(html, att_plan, tmobile))
    new = Subscription.objects.get(customer=customer, plan=tmobile)

    with transaction.atomic():
        if outcome == "completed":
            porting.on_port_completed(PortRequest.objects.get())
        else:
            porting.on_port_failed(PortRequest.objects.get(), "The losing carrier refused the port-out PIN.")

    manage = signed_in.get(reverse("portal:manage", args=[new.pk])).content.decode()
    assert f'data-port-state="{outcome}"' in manage
    if outcome == "completed":
        assert "Your number has moved" in manage
        assert re.search(rf'<span class="number">{re.escape(number)}</span>', manage)
    else:
        assert f"We could not move your number {number} to this eSIM." in manage
        assert "The carrier said: The losing carrier refused the port-out PIN." in manage
