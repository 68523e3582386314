"""The cancel page says what cancelling now refunds, and how, before the customer confirms;
confirming refunds exactly that, once, however often the confirmation is sent."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from simrenew.billing.models import Refund
from simrenew.payments.models import SandboxRefund
from simrenew.subscriptions.models import Period, Subscription
from tests.factories import make_customer, make_plan, make_subscription, make_wallet, renew

pytestmark = pytest.mark.django_db

# Each period by its plan's name (the catalog's formatter), when it runs, and what goes back where.
YEAR_LINE = re.compile(
    r"<li>AT&amp;T 1 year[^<]*, paid ahead for Feb 15, 2026, 7:00\u202fAM to Feb 15, 2027, 7:00\u202fAM "
    r"and not started: \$349\.00 back to your Visa card ending 4242\.</li>"
)
MONTH_LINE = re.compile(r"<li>AT&amp;T 1 month[^<]*, running until Feb 15, 2026, 7:00\u202fAM: not refunded\.</li>")


@pytest.fixture
def customer(clock):
    return make_customer(time_zone="America/New_York")


@pytest.fixture
def subscription(customer, clock) -> Subscription:
    """A $25 month running (Jan 15 to Feb 15) and a $349 year paid ahead; 10 days into the month."""
    subscription = make_subscription(customer=customer, plan=make_plan(price_minor=2500, name="AT&T 1 month"))
    year = make_plan(period_unit="year", price_minor=34900, data_mb=102_400, name="AT&T 1 year")
    assert renew(subscription, plan=year).status == "succeeded"
    clock.advance(days=10)
    subscription.refresh_from_db()
    return subscription


@pytest.fixture
def signed_in(client, customer):
    client.force_login(customer.user)
    return client


def quote_of(html: str) -> str:
    match = re.search(r'name="quote" value="([^"]+)"', html)
    assert match, "the confirmation carries the moment the refund was shown"
    return match.group(1)


def test_the_cancel_now_page_shows_the_refund_before_confirming(signed_in, subscription):
    page = signed_in.get(reverse("portal:cancel", args=[subscription.pk]) + "?when=now")

    html = page.content.decode()
    assert page.status_code == 200
    assert "What is refunded" in html
    assert "Periods paid ahead that have not started are refunded in full" in html
    assert MONTH_LINE.search(html)
    assert YEAR_LINE.search(html)
    assert "Refunded in all: $349.00" in html
    assert not Refund.objects.exists()  # looking changes nothing


def test_confirming_refunds_what_was_shown_once_even_when_sent_twice(signed_in, subscription):
    url = reverse("portal:cancel", args=[subscription.pk])
    quote = quote_of(signed_in.get(url + "?when=now").content.decode())

    done = signed_in.post(url, {"when": "now", "quote": quote}, follow=True)
    again = signed_in.post(url, {"when": "now", "quote": quote}, follow=True)

    for answer in (done, again):
        assert answer.status_code == 200
        assert "Your plan is cancelled and its service has stopped. We are refunding $349.00 to the way you paid." in (
            answer.content.decode()
        )
    [refund] = Refund.objects.all()
    assert (refund.amount_minor, refund.status) == (34900, "succeeded")
    assert SandboxRefund.objects.count() == 1
    year_invoice = Period.objects.get(subscription=subscription, number=2).invoice
    receipt = signed_in.get(reverse("portal:receipt", args=[year_invoice.pk])).content.decode()
    assert re.search(r"Refunded</th><td class=\"amount\">\$349\.00", receipt)


def test_under_prorata_the_amount_shown_is_the_amount_refunded_when_confirmed_later(
    signed_in, subscription, clock, settings
):
    settings.SIMRENEW_CANCEL_REFUND_POLICY = "prorata"
    url = reverse("portal:cancel", args=[subscription.pk])
    html = signed_in.get(url + "?when=now").content.decode()
    # 21 of the month's 31 days unused: $25 x 21/31 = $16.935… → $16.94, rounded up.
    assert "running until Feb 15, 2026, 7:00\u202fAM: $16.94 for the unused time back to your Visa card" in html
    assert "Refunded in all: $365.94" in html
    clock.advance(minutes=10)

    signed_in.post(url, {"when": "now", "quote": quote_of(html)})

    assert sorted(Refund.objects.values_list("amount_minor", flat=True)) == [1694, 34900]


def test_a_forged_quote_is_ignored_and_the_refund_is_worked_out_at_confirmation(
    signed_in, subscription, clock, settings
):
    settings.SIMRENEW_CANCEL_REFUND_POLICY = "prorata"
    clock.advance(days=1)  # 20 of 31 days unused: 2500 x 20/31 = 1612.9 → 1613

    signed_in.post(reverse("portal:cancel", args=[subscription.pk]), {"when": "now", "quote": "2026-01-15T12:00"})

    assert sorted(Refund.objects.values_list("amount_minor", flat=True)) == [1613, 34900]


def test_under_the_none_policy_the_page_says_nothing_is_refunded(signed_in, subscription, settings):
    settings.SIMRENEW_CANCEL_REFUND_POLICY = "none"

    html = signed_in.get(reverse("portal:cancel", args=[subscription.pk]) + "?when=now").content.decode()

    assert "Cancelling now does not refund any payment." in html
    assert "paid ahead for Feb 15, 2026, 7:00\u202fAM to Feb 15, 2027, 7:00\u202fAM: not refunded." in html
    assert "Nothing is refunded." in html


def test_a_year_paid_from_the_wallet_is_shown_going_back_to_the_wallet(client, clock):
    customer = make_customer(time_zone="America/New_York")
    subscription = make_subscription(customer=customer, plan=make_plan(price_minor=2500))
    wallet = make_wallet(customer=customer, balance_minor=40_000)
    year = make_plan(period_unit="year", price_minor=34900, data_mb=102_400, name="AT&T 1 year")
    assert renew(subscription, plan=year, payment_method=wallet).status == "succeeded"
    client.force_login(customer.user)

    html = client.get(reverse("portal:cancel", args=[subscription.pk]) + "?when=now").content.decode()

    assert "and not started: $349.00 back to your wallet." in html


def test_after_cancelling_now_nothing_offers_to_charge_for_the_plan_again(signed_in, subscription):
    signed_in.post(reverse("portal:cancel", args=[subscription.pk]), {"when": "now"})

    manage = signed_in.get(reverse("portal:manage", args=[subscription.pk])).content.decode()
    dashboard = signed_in.get(reverse("portal:dashboard")).content.decode()
    renew_page = signed_in.get(reverse("portal:renew", args=[subscription.pk]), follow=True)

    renew_link = reverse("portal:renew", args=[subscription.pk])
    assert renew_link not in manage
    assert renew_link not in dashboard
    assert renew_page.redirect_chain == [(reverse("portal:manage", args=[subscription.pk]), 302)]
    assert "This plan is cancelled, so it cannot be renewed." in renew_page.content.decode()


def test_a_quote_shown_for_another_subscription_is_ignored(signed_in, subscription, customer, clock, settings):
    settings.SIMRENEW_CANCEL_REFUND_POLICY = "prorata"
    other = make_subscription(customer=customer, plan=make_plan(price_minor=1000, name="AT&T 1 week"))
    other_quote = quote_of(signed_in.get(reverse("portal:cancel", args=[other.pk]) + "?when=now").content.decode())
    clock.advance(days=1)  # 20 of 31 days unused now: 2500 x 20/31 = 1612.9 → 1613 (1694 a day ago)

    signed_in.post(reverse("portal:cancel", args=[subscription.pk]), {"when": "now", "quote": other_quote})

    assert sorted(Refund.objects.values_list("amount_minor", flat=True)) == [1613, 34900]


def test_a_refund_the_payment_provider_refused_is_not_announced_as_on_its_way(signed_in, subscription, monkeypatch):
    from simrenew.payments.gateway import RefundResult
    from simrenew.payments.sandbox import SandboxGateway

    def refuse(self: object, *, charge_id: str, amount_minor: int, idempotency_key: str) -> RefundResult:
        return RefundResult(False, failure_message="Card closed")

    monkeypatch.setattr(SandboxGateway, "refund", refuse)

    answer = signed_in.post(reverse("portal:cancel", args=[subscription.pk]), {"when": "now"}, follow=True)

    html = answer.content.decode()
    assert "Your plan is cancelled and its service has stopped." in html
    assert "We are refunding" not in html
    assert Refund.objects.get().status == "failed"
