"""Cancel now, fairly (issue 15), in a real browser at a phone's and a desktop's width: a customer
ten days into a $25 month with a $349 year paid ahead sees, before confirming, that the year
goes back to their card in full and the running month is kept; confirming pays it back, and the
sandbox gateway's own books hold that refund exactly once. In Chinese the confirmation page says
the same, with the amount as a Chinese reader writes it. When the payment provider refuses the
refund, the manage page says so, and "Try the refund again" pays it back once it accepts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from simrenew.kit import clock
from simrenew.payments.models import SandboxCharge, SandboxRefund
from simrenew.subscriptions.models import Period, Subscription
from tests.billing.refund_gateway import WatchedRefunds
from tests.browser.a11y import assert_accessible
from tests.browser.conftest import Shots, log_in_as, make_verified_customer
from tests.factories import make_plan, make_subscription, renew

START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def month_with_a_year_paid_ahead(*, locale: str) -> Subscription:
    clock.set_now(START)
    customer = make_verified_customer(time_zone="America/New_York", locale=locale)
    subscription = make_subscription(customer=customer, plan=make_plan(price_minor=2500, name="AT&T 1 month"))
    year = make_plan(period_unit="year", price_minor=34900, data_mb=102_400, name="AT&T 1 year")
    assert renew(subscription, plan=year).status == "succeeded"
    clock.set_now(START + timedelta(days=10))
    return subscription


@pytest.mark.django_db(transaction=True)
def test_cancel_now_over_a_prepaid_year_shows_the_refund_then_the_gateway_pays_it_once(
    page: Page, context: BrowserContext, shot: Shots, live_server: Any
) -> None:
    subscription = month_with_a_year_paid_ahead(locale="en")
    year_charge = Period.objects.get(subscription=subscription, number=2).invoice.payment_attempt.gateway_charge_id
    log_in_as(context, subscription.customer.user, live_server)

    page.goto(f"/subscriptions/{subscription.pk}/manage/")
    page.get_by_role("link", name="Cancel now").click()

    refund = page.locator(".refund-summary")
    expect(refund.get_by_role("heading", name="What is refunded")).to_be_visible()
    expect(refund).to_contain_text("the period running now is not refunded")
    expect(refund.get_by_role("listitem").filter(has_text="AT&T 1 month")).to_contain_text("not refunded.")
    expect(refund.get_by_role("listitem").filter(has_text="AT&T 1 year")).to_contain_text(
        "and not started: $349.00 back to your Visa card ending 4242."
    )
    expect(refund).to_contain_text("Refunded in all: $349.00")
    assert not SandboxRefund.objects.exists()  # shown, not yet made
    shot(page, "cancel-now-shows-the-refund")

    page.get_by_role("button", name="Yes, cancel now").click()

    expect(page).to_have_url(re.compile(rf"/subscriptions/{subscription.pk}/manage/$"))
    expect(page.get_by_role("status")).to_contain_text(
        "Your plan is cancelled and its service has stopped. We are refunding $349.00 to the way you paid."
    )
    expect(page.get_by_text("Cancelled: service has stopped.")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile(r"^Renew"))).to_have_count(0)  # nothing offers to charge again
    shot(page, "cancelled-and-refunded")

    # The sandbox gateway's own books: one refund of that charge, for the whole year.
    [paid_back] = SandboxRefund.objects.filter(charge_id=year_charge)
    assert paid_back.amount_minor == 34900
    assert SandboxCharge.objects.get(charge_id=year_charge).refunded_minor == 34900
    assert SandboxRefund.objects.count() == 1

    page.goto(f"/subscriptions/{subscription.pk}/renew/")  # typed by hand: still not for sale
    expect(page).to_have_url(re.compile(rf"/subscriptions/{subscription.pk}/manage/$"))
    assert SandboxRefund.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_in_chinese_the_confirmation_page_shows_the_refund_before_confirming(
    page: Page, context: BrowserContext, shot: Shots, live_server: Any
) -> None:
    subscription = month_with_a_year_paid_ahead(locale="zh-hans")
    log_in_as(context, subscription.customer.user, live_server)

    page.goto(f"/subscriptions/{subscription.pk}/cancel/?when=now")

    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    refund = page.locator(".refund-summary")
    expect(refund.get_by_role("heading")).to_be_visible()
    expect(refund.get_by_role("listitem")).to_have_count(2)  # the running month, and the year paid ahead
    expect(refund.get_by_role("listitem").nth(1)).to_contain_text("US$349.00")
    expect(refund.locator(".refund-total")).to_contain_text("US$349.00")
    confirm = "是的，立即取消"  # noqa: RUF001 (the zh catalog's full-width comma)
    expect(page.get_by_role("button", name=confirm)).to_be_visible()
    shot(page, "cancel-now-shows-the-refund-zh")
    assert not SandboxRefund.objects.exists()


RETRY_WORDS = {
    "en": {
        "cancel": "Yes, cancel now",
        "refused": "Refused by the payment provider: nothing was paid back.",
        "again": "Try the refund again",
        "refunded": "Refunded.",
        "amount": "$349.00",
    },
    "zh-hans": {
        "cancel": "是的，立即取消",  # noqa: RUF001 (the zh catalog's full-width comma)
        "refused": None,  # the lead merges the zh catalog at the end: checked by the button's place, not its words
        "again": None,
        "refunded": None,
        "amount": "US$349.00",
    },
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("locale", ["en", "zh-hans"])
def test_a_refund_the_provider_refused_is_said_on_the_manage_page_and_tried_again_from_there(
    page: Page, context: BrowserContext, shot: Shots, live_server: Any, monkeypatch: pytest.MonkeyPatch, locale: str
) -> None:
    words = RETRY_WORDS[locale]
    provider = WatchedRefunds(monkeypatch)  # the live server runs in this process: it sees the same provider
    provider.refusing = True
    subscription = month_with_a_year_paid_ahead(locale=locale)
    log_in_as(context, subscription.customer.user, live_server)

    page.goto(f"/subscriptions/{subscription.pk}/cancel/?when=now")
    page.get_by_role("button", name=words["cancel"]).click()

    refunds = page.locator("section.refunds")
    expect(refunds.get_by_role("heading", level=2)).to_be_visible()
    refused = refunds.locator(".refund-failed")
    expect(refused).to_have_count(1)
    expect(refused).to_contain_text(words["amount"])
    if words["refused"]:
        expect(refused).to_contain_text(words["refused"])
    again = refused.get_by_role("button")
    expect(again).to_be_visible()
    if words["again"]:
        expect(again).to_have_text(words["again"])
    box = again.bounding_box()
    assert box is not None and box["height"] >= 44  # a primary action, easy to tap
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scrolling
    assert_accessible(page, f"manage page with a refused refund ({locale})")
    shot(page, f"refund-refused-{locale}")
    assert not SandboxRefund.objects.exists()

    provider.refusing = False
    again.click()

    expect(page).to_have_url(re.compile(rf"/subscriptions/{subscription.pk}/manage/$"))
    paid = page.locator("section.refunds .refund-succeeded")
    expect(paid).to_have_count(1)
    expect(paid).to_contain_text(words["amount"])
    if words["refunded"]:
        expect(paid).to_contain_text(words["refunded"])
    expect(page.locator("section.refunds").get_by_role("button")).to_have_count(0)
    assert_accessible(page, f"manage page after the refund went through ({locale})")
    shot(page, f"refund-tried-again-{locale}")
    [paid_back] = SandboxRefund.objects.all()
    assert paid_back.amount_minor == 34900
    assert provider.inside_transaction == [False, False]  # asked only after each step committed
