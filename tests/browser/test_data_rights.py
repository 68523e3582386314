"""A customer's data rights in a real browser, at a phone's and a desktop's width: Settings offers
the downloads and the deletion; the download is a file; the deletion page says what happens and
what is refunded, refuses a wrong password, then deletes the account and signs the customer out.
In Chinese the same pages speak Chinese. Each page passes axe."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from simrenew.customers.models import Customer
from tests.browser.a11y import assert_accessible
from tests.browser.conftest import PASSWORD, Shots, log_in, make_verified_customer
from tests.factories import make_plan, make_subscription, renew


def customer_with_a_month_paid_ahead(*, locale: str) -> Customer:
    customer = make_verified_customer(email=f"data.rights.{locale}@example.com", locale=locale)
    subscription = make_subscription(customer=customer, plan=make_plan(price_minor=1500, name="AT&T 1 month"))
    assert renew(subscription).status == "succeeded"
    return customer


@pytest.mark.django_db(transaction=True)
def test_a_customer_downloads_their_data_then_deletes_their_account(
    page: Page, context: BrowserContext, shot: Shots, live_server: Any
) -> None:
    customer = customer_with_a_month_paid_ahead(locale="en")
    log_in(page, customer.email)

    page.goto("/settings/")
    data = page.get_by_role("region", name="Your data")
    expect(data).to_be_visible()
    data.scroll_into_view_if_needed()
    assert_accessible(page)
    shot(page, "settings-with-your-data")
    with page.expect_download() as download:
        data.get_by_role("link", name="Download my data (JSON)").click()
    document = json.loads(download.value.path().read_text(encoding="utf-8"))
    assert document["profile"][0]["email"] == customer.email

    data.get_by_role("link", name="Delete my account").click()
    expect(page.get_by_role("heading", name="Delete my account", level=1)).to_be_visible()
    expect(page.get_by_text("This cannot be undone.", exact=True)).to_be_visible()
    expect(page.locator(".refund-summary")).to_contain_text("Refunded in all: $15.00")
    assert_accessible(page)
    shot(page, "delete-account-explains")

    page.get_by_label("Your password", exact=True).fill("not my password")
    page.get_by_label(re.compile("^I understand")).check()
    page.get_by_role("button", name="Delete my account now").click()
    expect(page.get_by_text("That is not your password.")).to_be_visible()
    assert Customer.objects.get(pk=customer.pk).erased_at is None
    assert_accessible(page)
    shot(page, "wrong-password")

    page.get_by_label("Your password", exact=True).fill(PASSWORD)
    page.get_by_label(re.compile("^I understand")).check()
    page.get_by_role("button", name="Delete my account now").click()
    expect(page.get_by_role("heading", name="Your account is deleted")).to_be_visible()
    assert Customer.objects.get(pk=customer.pk).erased_at is not None
    shot(page, "deleted")

    page.goto("/settings/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))


@pytest.mark.django_db(transaction=True)
def test_the_pages_speak_chinese(page: Page, context: BrowserContext, shot: Shots, live_server: Any) -> None:
    customer = customer_with_a_month_paid_ahead(locale="zh-hans")
    log_in(page, customer.email)

    page.goto("/settings/")
    data = page.get_by_role("region", name="您的数据")
    expect(data.get_by_role("link", name="下载我的数据（JSON）")).to_be_visible()  # noqa: RUF001
    data.scroll_into_view_if_needed()
    assert_accessible(page)
    shot(page, "settings-zh")

    data.get_by_role("link", name="删除我的账户").click()
    expect(page.get_by_text("此操作无法撤销。", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="立即删除我的账户")).to_be_visible()
    assert_accessible(page)
    shot(page, "delete-account-zh")
