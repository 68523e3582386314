"""Issue 15, "a first purchase in a few taps", in a real browser at a phone and a desktop
viewport: a brand-new customer signs up, confirms the address from the email a real SMTP server
received (and is signed in by it), then from the empty dashboard buys a first plan with a new
test card in at most 6 actions, seeing the total and the promotion before paying.

Counted actions are clicks/taps and form submits; filling a field is part of its form's submit."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from playwright.sync_api import Locator, Page, expect

from simrenew.kit import clock
from tests.browser.conftest import Mailbox, Shots, log_in_as, make_verified_customer
from tests.browser.sign_up import confirm_email, sign_up
from tests.factories import make_plan, make_subscription

START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
EMAIL = "new.customer@example.com"
NAME = "Noor Newcomer"
MAX_ACTIONS = 6  # the bar, from the empty dashboard to the paid plan


class Actions:
    """Clicks and submits the customer makes, counted."""

    def __init__(self) -> None:
        self.count = 0

    def click(self, target: Locator) -> None:
        self.count += 1
        target.click()

    def check(self, target: Locator) -> None:
        self.count += 1
        target.check()


def buy_first_plan(page: Page, shot: Shots) -> int:
    """From the empty dashboard to the install page; the number of actions it took."""
    actions = Actions()
    actions.click(page.get_by_role("link", name="Add an eSIM"))
    expect(page.get_by_role("heading", name="Add an eSIM or move to another carrier")).to_be_visible()
    # Said before paying: back up first, and a new eSIM means a new number unless ported.
    expect(page.get_by_text("Back up your phone first")).to_be_visible()
    expect(
        page.get_by_text("The new eSIM gets a new phone number, unless your current number is ported")
    ).to_be_visible()
    expect(page.get_by_text("Add a payment method first")).to_have_count(0)
    total = page.locator('[data-summary="total"]')
    expect(total).to_be_hidden()  # no total before a plan is picked (not a bare dash)

    plan = page.get_by_label(re.compile(r"^AT&T 1 month · 20 GB"))
    actions.check(plan)
    expect(total).to_have_text("$35.00")  # the summary follows the pick (script from 'self')
    shot(page, "add-esim-plan-picked")
    actions.click(page.get_by_role("button", name="Continue to card details"))

    expect(page.get_by_role("heading", name="Add a credit card")).to_be_visible()
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry month (MM)").fill("12")
    page.get_by_label("Expiry year (YYYY)").fill("2035")
    page.get_by_label("Security code (CVC)").fill("123")
    shot(page, "hosted-card-page")
    actions.click(page.get_by_role("button", name="Save card and continue"))

    # Back on the purchase: the plan kept, the new card chosen, the total and the promotion field.
    expect(page.get_by_text("ending 4242 is saved", exact=False)).to_be_visible()
    expect(plan).to_be_checked()
    expect(page.get_by_label("Pay with")).to_contain_text("4242")
    expect(total).to_have_text("$35.00")
    page.get_by_label("Promotion code (optional)").fill("WELCOME10")
    actions.click(page.get_by_role("button", name="Apply"))

    expect(page.get_by_text("Promotion WELCOME10")).to_be_visible()
    expect(total).to_have_text("$31.50")
    expect(plan).to_be_checked()
    expect(page.get_by_label("Pay with")).to_contain_text("4242")
    shot(page, "add-esim-before-paying")
    actions.click(page.get_by_role("button", name="Pay $31.50 and get my eSIM"))

    expect(page.get_by_role("heading", name="Install your eSIM", exact=True)).to_be_visible()
    shot(page, "install")
    return actions.count


@pytest.mark.django_db(transaction=True)
def test_a_new_customer_buys_a_first_plan_in_a_few_taps(
    page: Page, shot: Shots, smtp: Mailbox, live_server: Any
) -> None:
    clock.set_now(START)
    call_command("demo", stdout=StringIO())  # the catalog, the eSIM inventory and the WELCOME10 promotion

    sign_up(page, shot, email=EMAIL, name=NAME)
    confirm_email(page, shot, smtp, email=EMAIL, name=NAME)
    actions = buy_first_plan(page, shot)

    assert actions <= MAX_ACTIONS, f"{actions} actions from the empty dashboard to a paid plan"
    page.get_by_role("link", name="Back to my eSIMs").click()
    card = page.get_by_role("article").filter(has=page.get_by_role("heading", name=re.compile(r"^AT&T · \+1")))
    expect(card).to_contain_text("AT&T 1 month · 20 GB")


@pytest.mark.django_db(transaction=True)
def test_the_renew_summary_follows_the_plan_picked(page: Page, shot: Shots, live_server: Any) -> None:
    """It showed $35 after the $3 day plan was picked, until "Update price" was pressed."""
    clock.set_now(START)
    customer = make_verified_customer(email=EMAIL, name=NAME)
    month = make_plan(carrier="att", name="AT&T 1 month · 20 GB", price_minor=3500)
    make_plan(carrier="att", name="AT&T 1 day · 1 GB", period_unit="day", price_minor=300)
    subscription = make_subscription(customer=customer, plan=month)
    log_in_as(page.context, customer.user, live_server)

    page.goto(f"/subscriptions/{subscription.pk}/renew/")
    total = page.locator('[data-summary="total"]')
    expect(total).to_have_text("$35.00")
    page.get_by_label(re.compile(r"^AT&T 1 day · 1 GB")).check()

    expect(total).to_have_text("$3.00")
    expect(page.locator('[data-summary="plan-name"]')).to_have_text(re.compile(r"^AT&T 1 day · 1 GB"))
    expect(page.locator('[data-summary="timing"]')).to_contain_text("the new plan takes effect then")
    shot(page, "renew-day-plan-picked")
