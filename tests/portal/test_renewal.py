"""Renewing in the portal: choose, see the price and the next period, pay once, see the outcome."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import reverse

from simrenew.payments.models import AttemptStatus, PaymentAttempt, SandboxCharge
from simrenew.subscriptions.models import Period
from tests.factories import make_card, make_customer, make_plan, make_promotion, make_subscription, make_wallet

KEY = re.compile(r'name="idempotency_key" value="([0-9a-f-]{36})"')


@pytest.fixture
def story(clock):
    customer = make_customer(time_zone="America/New_York")
    plan = make_plan(carrier="att", period_unit="month", price_minor=2500, name="AT&T Monthly 10 GB")
    subscription = make_subscription(customer=customer, plan=plan)
    return subscription


def signed_in(customer) -> Client:
    client = Client()
    client.force_login(customer.user)
    return client


def pay_form_key(response) -> str:
    found = KEY.search(response.content.decode())
    assert found, "the pay form carries an idempotency key"
    return found[1]


def card_choice(subscription) -> str:
    return str(subscription.payment_method_id)


def test_renew_page_shows_plans_price_and_the_next_period_in_local_time(story):
    subscription = story
    response = signed_in(subscription.customer).get(reverse("portal:renew", args=[subscription.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "AT&amp;T Monthly 10 GB" in page
    assert "$25.00" in page
    # Paid Jan 15 12:00 UTC (07:00 in New York) for a month: the next period is Feb 15 → Mar 15, local time.
    assert "Feb 15, 2026, 7:00\u202fAM" in page
    assert "Mar 15, 2026, 7:00\u202fAM" in page
    assert f'formaction="/subscriptions/{subscription.pk}/pay/"' in page


def test_renew_the_same_plan(story):
    subscription = story
    client = signed_in(subscription.customer)
    pay_page = client.get(
        reverse("portal:pay", args=[subscription.pk]), {"plan": subscription.plan_id, "promo_code": ""}
    )
    assert pay_page.status_code == 200
    assert "Visa card ending 4242" in pay_page.content.decode()
    response = client.post(
        reverse("portal:pay", args=[subscription.pk]),
        {
            "plan": subscription.plan_id,
            "promo_code": "",
            "payment_method": card_choice(subscription),
            "idempotency_key": pay_form_key(pay_page),
        },
    )
    attempt = PaymentAttempt.objects.get(purpose="renewal")
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:confirmation", args=[attempt.pk])
    assert attempt.status == AttemptStatus.SUCCEEDED
    assert attempt.idempotency_key.startswith(f"portal:{subscription.customer.pk}:")
    confirmation = client.get(response["Location"]).content.decode()
    assert "Payment received" in confirmation
    assert "Mar 15, 2026, 7:00\u202fAM" in confirmation  # the new period's end, local
    assert "$25.00" in confirmation
    assert reverse("portal:receipt", args=[attempt.invoice.pk]) in confirmation
    assert Period.objects.filter(subscription=subscription).count() == 2


def test_another_plan_takes_effect_at_the_boundary(story):
    subscription = story
    weekly = make_plan(carrier="att", period_unit="day", period_count=7, price_minor=900, name="AT&T Week 3 GB")
    make_plan(carrier="tmobile", price_minor=100, name="T-Mobile plan")  # another carrier: not offered
    client = signed_in(subscription.customer)
    page = client.get(reverse("portal:renew", args=[subscription.pk]), {"plan": weekly.pk}).content.decode()
    assert "Weekly plans" in page and "Monthly plans" in page
    assert "T-Mobile plan" not in page
    assert "$9.00" in page
    # The week starts when the paid month ends (Feb 15, 07:00 New York) and lasts 7 days.
    assert "takes effect then" in page
    assert "Feb 15, 2026, 7:00\u202fAM" in page and "Feb 22, 2026, 7:00\u202fAM" in page

    pay_page = client.get(reverse("portal:pay", args=[subscription.pk]), {"plan": weekly.pk})
    client.post(
        reverse("portal:pay", args=[subscription.pk]),
        {"plan": weekly.pk, "payment_method": card_choice(subscription), "idempotency_key": pay_form_key(pay_page)},
    )
    period = Period.objects.get(subscription=subscription, number=2)
    assert period.plan_id == weekly.pk
    assert period.starts_at == datetime(2026, 2, 15, 12, 0, tzinfo=UTC)
    assert period.ends_at == datetime(2026, 2, 22, 12, 0, tzinfo=UTC)


def test_a_promotion_lowers_the_price_and_a_refused_one_says_why(story):
    subscription = story
    make_promotion(code="SPRING20", percent_off=20)
    make_promotion(code="GONE", percent_off=50, max_redemptions=0)
    client = signed_in(subscription.customer)
    renew_url = reverse("portal:renew", args=[subscription.pk])

    page = client.get(renew_url, {"plan": subscription.plan_id, "promo_code": "spring20"}).content.decode()
    assert "$20.00" in page and "$5.00" in page

    used_up = client.get(renew_url, {"plan": subscription.plan_id, "promo_code": "GONE"})
    assert used_up.status_code == 200
    assert "This promotion code has been used up." in used_up.content.decode()
    unknown = client.get(renew_url, {"plan": subscription.plan_id, "promo_code": "NOPE"}).content.decode()
    assert "There is no promotion with the code “NOPE”." in unknown
    # Going to pay with a refused code leads back to the choice, which says why.
    refused = client.get(
        reverse("portal:pay", args=[subscription.pk]), {"plan": subscription.plan_id, "promo_code": "GONE"}
    )
    assert refused.status_code == 302 and refused["Location"].startswith(renew_url)

    pay_page = client.get(
        reverse("portal:pay", args=[subscription.pk]), {"plan": subscription.plan_id, "promo_code": "SPRING20"}
    )
    assert "Pay $20.00" in pay_page.content.decode()
    client.post(
        reverse("portal:pay", args=[subscription.pk]),
        {
            "plan": subscription.plan_id,
            "promo_code": "SPRING20",
            "payment_method": card_choice(subscription),
            "idempotency_key": pay_form_key(pay_page),
        },
    )
    attempt = PaymentAttempt.objects.get(purpose="renewal")
    assert attempt.status == AttemptStatus.SUCCEEDED and attempt.amount_minor == 2000
    assert attempt.invoice.discount_minor == 500


def test_a_declined_card_says_why_keeps_the_form_and_a_good_card_then_pays(story):
    subscription = story
    customer = subscription.customer
    declined = make_card(customer=customer, number="4000000000000002")
    client = signed_in(customer)
    pay_url = reverse("portal:pay", args=[subscription.pk])
    pay_page = client.get(pay_url, {"plan": subscription.plan_id, "method": declined.pk})
    assert f'value="{declined.pk}" checked' in pay_page.content.decode()
    first_key = pay_form_key(pay_page)
    response = client.post(
        pay_url,
        {"plan": subscription.plan_id, "payment_method": str(declined.pk), "idempotency_key": first_key},
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Your card was declined. Try another card or contact your bank." in page
    assert f'value="{declined.pk}" checked' in page  # the form stays filled
    retry_key = pay_form_key(response)
    assert retry_key != first_key  # the next try is a new payment

    response = client.post(
        pay_url,
        {"plan": subscription.plan_id, "payment_method": card_choice(subscription), "idempotency_key": retry_key},
    )
    assert response.status_code == 302
    statuses = list(PaymentAttempt.objects.filter(purpose="renewal").order_by("id").values_list("status", flat=True))
    assert statuses == ["failed", "succeeded"]


def test_a_double_post_with_the_same_key_charges_once_and_shows_the_same_outcome(story):
    subscription = story
    client = signed_in(subscription.customer)
    pay_url = reverse("portal:pay", args=[subscription.pk])
    key = str(uuid.uuid4())
    form = {"plan": subscription.plan_id, "payment_method": card_choice(subscription), "idempotency_key": key}
    charges_before = SandboxCharge.objects.count()
    first = client.post(pay_url, form)
    second = client.post(pay_url, form)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert SandboxCharge.objects.count() == charges_before + 1
    assert PaymentAttempt.objects.filter(purpose="renewal").count() == 1
    assert Period.objects.filter(subscription=subscription).count() == 2


def test_a_reposted_decline_replays_the_same_decline(story):
    subscription = story
    declined = make_card(customer=subscription.customer, number="4000000000009995")
    client = signed_in(subscription.customer)
    form = {"plan": subscription.plan_id, "payment_method": str(declined.pk), "idempotency_key": str(uuid.uuid4())}
    charges_before = SandboxCharge.objects.count()
    for _ in range(2):
        page = client.post(reverse("portal:pay", args=[subscription.pk]), form).content.decode()
        assert "insufficient funds" in page
    assert SandboxCharge.objects.count() == charges_before + 1


def test_an_unanswered_payment_says_it_is_being_confirmed(story):
    subscription = story
    lost = make_card(customer=subscription.customer, number="4000000000000408")
    client = signed_in(subscription.customer)
    response = client.post(
        reverse("portal:pay", args=[subscription.pk]),
        {"plan": subscription.plan_id, "payment_method": str(lost.pk), "idempotency_key": str(uuid.uuid4())},
    )
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "confirming your payment" in page
    assert client.get(response["Location"]).status_code == 200  # reloadable


def test_paying_from_the_wallet(story):
    subscription = story
    make_wallet(customer=subscription.customer, balance_minor=3000)
    client = signed_in(subscription.customer)
    pay_page = client.get(reverse("portal:pay", args=[subscription.pk]), {"plan": subscription.plan_id})
    assert "Wallet balance ($30.00 available)" in pay_page.content.decode()
    response = client.post(
        reverse("portal:pay", args=[subscription.pk]),
        {"plan": subscription.plan_id, "payment_method": "wallet", "idempotency_key": pay_form_key(pay_page)},
    )
    assert response.status_code == 302
    attempt = PaymentAttempt.objects.get(purpose="renewal")
    assert attempt.status == AttemptStatus.SUCCEEDED and attempt.payment_method.type == "wallet"


def test_the_wallet_too_low_says_so(story):
    subscription = story
    client = signed_in(subscription.customer)
    page = client.post(
        reverse("portal:pay", args=[subscription.pk]),
        {"plan": subscription.plan_id, "payment_method": "wallet", "idempotency_key": str(uuid.uuid4())},
    ).content.decode()
    assert "Your wallet balance is too low. Top up your wallet or pay by card." in page


@pytest.mark.parametrize(
    "form",
    [
        {},
        {"plan": "abc", "payment_method": "x", "idempotency_key": "not-a-uuid"},
        {"plan": "999999", "payment_method": "999999", "idempotency_key": str(uuid.uuid4())},
        {"plan": "1", "payment_method": "wallet", "idempotency_key": "\u0000"},
    ],
)
def test_bad_input_to_pay_re_renders_with_errors(story, form):
    subscription = story
    response = signed_in(subscription.customer).post(reverse("portal:pay", args=[subscription.pk]), form)
    assert response.status_code in (200, 400)
    assert not PaymentAttempt.objects.filter(purpose="renewal").exists()


@pytest.mark.parametrize(
    "query", [{"plan": "abc"}, {"plan": "999999"}, {"promo_code": "x" * 500}, {"plan": "", "promo_code": ""}]
)
def test_bad_input_to_renew_re_renders(story, query):
    subscription = story
    client = signed_in(subscription.customer)
    assert client.get(reverse("portal:renew", args=[subscription.pk]), query).status_code == 200
    assert client.get(reverse("portal:pay", args=[subscription.pk]), query).status_code in (200, 302)


def test_a_cancelled_subscription_cannot_be_renewed_and_the_page_says_why(story):
    from django.db import transaction

    from simrenew.subscriptions.cancellation import cancel

    subscription = story
    with transaction.atomic():
        cancel(subscription, when="period_end")
    page = signed_in(subscription.customer).post(
        reverse("portal:pay", args=[subscription.pk]),
        {
            "plan": subscription.plan_id,
            "payment_method": card_choice(subscription),
            "idempotency_key": str(uuid.uuid4()),
        },
    )
    assert page.status_code == 200
    assert "This subscription is cancelled; resume it before renewing." in page.content.decode()


def test_the_renew_page_of_a_plan_cancelled_at_period_end_sends_the_customer_to_resume_it(story):
    from django.db import transaction

    from simrenew.subscriptions.cancellation import cancel

    subscription = story
    with transaction.atomic():
        cancel(subscription, when="period_end")
    page = signed_in(subscription.customer).get(reverse("portal:renew", args=[subscription.pk]), follow=True)

    assert page.redirect_chain == [(reverse("portal:manage", args=[subscription.pk]), 302)]
    assert "This subscription is cancelled; resume it before renewing." in page.content.decode()


def test_pages_speak_chinese_to_a_chinese_customer(clock):
    customer = make_customer(locale="zh-hans", time_zone="Asia/Shanghai")
    subscription = make_subscription(customer=customer)
    response = signed_in(customer).get(reverse("portal:renew", args=[subscription.pk]))
    assert response.status_code == 200
    assert "2026年2月15日" in response.content.decode()  # Babel's zh date, in Shanghai time


def radio_of(html: str, plan_id: int) -> str:
    found = re.search(rf'<input type="radio" name="plan" id="plan-{plan_id}"[^>]*>', html)
    assert found, plan_id
    return found.group(0)


def test_each_plan_carries_the_summary_it_would_show_so_the_summary_follows_the_pick(story):
    """Picking the $3 day plan must not leave "$25.00" in the summary until "Update price": each
    radio carries its own summary, which a script from 'self' copies into the page."""
    day = make_plan(carrier="att", period_unit="day", price_minor=300, name="AT&T 1 day")
    client = signed_in(story.customer)

    html = client.get(reverse("portal:renew", args=[story.pk])).content.decode()

    day_radio = radio_of(html, day.pk)
    assert 'data-total="$3.00"' in day_radio and 'data-subtotal="$3.00"' in day_radio
    assert 'data-plan-name="AT&amp;T 1 day' in day_radio
    assert 'data-ends="' in day_radio and 'data-timing="Your current plan continues until' in day_radio
    assert 'data-total="$25.00"' in radio_of(html, story.plan_id)
    # The elements the script fills, and the script itself (CSP: 'self' only, no inline code).
    assert '<dd class="total" data-summary="total">$25.00</dd>' in html
    assert 'data-summary="plan-name"' in html and 'data-summary="ends"' in html
    assert '<script src="/static/portal/price_summary.js" defer></script>' in html
    assert "<script>" not in html
    # Without the script, "Update price" still asks the server for the summary of the plan picked.
    updated = client.get(reverse("portal:renew", args=[story.pk]), {"plan": day.pk}).content.decode()
    assert '<dd class="total" data-summary="total">$3.00</dd>' in updated


def test_the_accepted_promotion_is_priced_into_every_plan_it_covers(story):
    day = make_plan(carrier="att", period_unit="day", price_minor=300, name="AT&T 1 day")
    make_promotion(code="WELCOME10", percent_off=10)
    client = signed_in(story.customer)

    html = client.get(
        reverse("portal:renew", args=[story.pk]), {"plan": story.plan_id, "promo_code": "WELCOME10"}
    ).content.decode()

    assert 'data-total="$22.50"' in radio_of(html, story.plan_id)
    day_radio = radio_of(html, day.pk)
    assert 'data-total="$2.70"' in day_radio and 'data-discount="−$0.30"' in day_radio  # noqa: RUF001
