"""The walk that found it, in a real browser at both widths and in both languages: a customer bought
a month, then prepaid one day on top of it. The dashboard must name the month running now (not the
day last paid for), and the manage page must say that auto-renew still buys the month."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.utils import translation
from playwright.sync_api import BrowserContext, Page, expect

from simrenew.kit import clock
from simrenew.kit.money import format_money
from tests.browser.conftest import Shots, log_in_as, make_verified_customer
from tests.factories import make_plan, make_subscription, renew

START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def display_name(plan: Any, language: str) -> str:
    """The plan's name as a page in `language` writes it (catalog.labels); Playwright compares
    text with its no-break spaces as spaces (the word joiners stay)."""
    with translation.override(language):
        return str(plan.display_name).replace("\u00a0", " ")


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@pytest.mark.django_db(transaction=True)
def test_the_prepaid_day_dashboard_shows_the_running_month_and_manage_says_what_renews(
    page: Page, context: BrowserContext, shot: Shots, live_server: Any, language: str
) -> None:
    clock.set_now(START)
    customer = make_verified_customer(time_zone="America/New_York", locale=language)
    month = make_plan(code="att-1m", name="AT&T 1 month · 20 GB", period_unit="month", data_mb=20_480, price_minor=2500)
    day = make_plan(code="att-1d", name="AT&T 1 day · 1 GB", period_unit="day", data_mb=1024, price_minor=300)
    subscription = make_subscription(customer=customer, plan=month)
    assert renew(subscription, plan=day).status == "succeeded"
    log_in_as(context, customer.user, live_server)

    page.goto("/dashboard/")

    expect(page.locator("html")).to_have_attribute("lang", language)
    card = page.locator("article.esim")
    plan_line = card.locator("p.plan")
    expect(plan_line).to_have_text(display_name(month, language))
    expect(card).not_to_contain_text(display_name(day, language))
    expect(card.locator("meter")).to_have_class("data-ok")
    expect(card.locator("p.days")).to_be_visible()
    shot(page, f"dashboard-{language}")
    if language == "en":
        expect(card).to_contain_text("20 GB of 20 GB left")
        expect(card.locator("p.days")).to_contain_text("31 days left in this month · paid through Apr 3, 2026")
        expect(card.locator("p.resets")).to_have_text("Your data allowance resets on Apr 2, 2026.")

    card.locator("p.manage-link a").click()  # "Manage", in the page's language

    expect(page.locator("p.plan")).to_have_text(display_name(month, language))
    terms = page.locator("p.renewal-terms")
    expect(terms).to_contain_text(display_name(month, language))
    expect(terms).to_contain_text(format_money(2500, "USD", customer.locale))
    expect(page.locator("#renewal-plan select")).to_have_value(str(month.pk))
    if language == "en":
        expect(terms).to_have_text("Auto-renew buys AT&T 1 month · 20 GB every month for $25.00.")
    shot(page, f"manage-{language}")
