"""The whole renewal journey of issue 3 in a real browser, at a phone and a desktop viewport:
sign up → verify → add an eSIM → pay → dashboard → renew with a promotion → decline card then
a good card → confirmation and test SMS → auto-renew off → cancel → resume → switch language to
Chinese and see the dashboard in Chinese → log out.

Each step is a function named after it; every page it passes is screenshotted."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from simrenew.kit import clock
from tests.browser.conftest import Mailbox, Shots, log_in
from tests.browser.sign_up import confirm_email, sign_up

START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
EMAIL = "mei.traveller@example.com"
NAME = "Mei Traveller"
GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"


def save_card(page: Page, shot: Shots, number: str, step: str) -> None:
    """On the gateway's hosted card page (the sandbox's), then back where the payment was."""
    expect(page.get_by_role("heading", name="Add a credit card")).to_be_visible()
    page.get_by_label("Card number").fill(number)
    page.get_by_label("Expiry month (MM)").fill("12")
    page.get_by_label("Expiry year (YYYY)").fill("2035")
    page.get_by_label("Security code (CVC)").fill("123")
    shot(page, step)
    page.get_by_role("button", name="Save card and continue").click()
    expect(page.get_by_text(f"ending {number[-4:]} is saved", exact=False)).to_be_visible()


def add_esim_and_pay(page: Page, shot: Shots) -> None:
    page.get_by_role("link", name="Add an eSIM").click()
    expect(page.get_by_role("heading", name="Add an eSIM or move to another carrier")).to_be_visible()
    shot(page, "add-esim-no-method")
    page.get_by_label(re.compile(r"^AT&T 1 month · 20 GB")).check()
    page.get_by_role("button", name="Continue to card details").click()  # the card page comes back here
    save_card(page, shot, GOOD_CARD, "hosted-card-page")
    expect(page.get_by_label(re.compile(r"^AT&T 1 month · 20 GB"))).to_be_checked()
    expect(page.get_by_label("Pay with")).to_contain_text("4242")
    expect(page.get_by_label("Renew automatically before the plan ends")).to_be_checked()
    shot(page, "add-esim")
    page.get_by_role("button", name="Pay $35.00 and get my eSIM").click()

    expect(page.get_by_role("heading", name="Install your eSIM", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="First, back up your phone")).to_be_visible()
    qr = page.get_by_role("img", name="QR code with your eSIM activation code")
    expect(qr).to_be_visible()
    # decode() waits for the image and fails if it is broken (e.g. blocked by the CSP).
    assert qr.evaluate("image => image.decode().then(() => image.naturalWidth)") > 0
    expect(page.get_by_role("link", name="Install on this iPhone")).to_have_attribute(
        "href", re.compile(r"^https://esimsetup\.apple\.com/esim_qrcode_provisioning\?carddata=LPA")
    )
    expect(page.get_by_role("heading", name="Install steps on Android")).to_be_visible()
    shot(page, "install")


def see_dashboard(page: Page, shot: Shots) -> None:
    page.get_by_role("link", name="Back to my eSIMs").click()
    card = page.get_by_role("article").filter(has=page.get_by_role("heading", name=re.compile(r"^AT&T · \+1")))
    expect(card).to_contain_text("AT&T 1 month · 20 GB")
    expect(card).to_contain_text("20 GB of 20 GB left")
    expect(card).to_contain_text("Auto-renew is on.")
    expect(card.get_by_role("meter", name="Data left")).to_have_attribute("value", "100")
    shot(page, "dashboard")


def renew_with_promotion(page: Page, shot: Shots) -> None:
    page.get_by_role("link", name="Renew", exact=True).click()
    expect(page.get_by_role("heading", name="Renew your plan")).to_be_visible()
    expect(page.get_by_label(re.compile(r"AT&T 1 month · 20 GB.*Your plan"))).to_be_checked()
    promo = page.get_by_label("Promotion code (optional)")
    promo.fill("NOSUCHCODE")
    page.get_by_role("button", name="Update price").click()
    expect(page.get_by_text(re.compile("no promotion with the code .NOSUCHCODE."))).to_be_visible()
    expect(page.get_by_text("Promotion NOSUCHCODE")).to_have_count(0)
    shot(page, "renew-wrong-code")
    promo.fill("WELCOME10")
    page.get_by_role("button", name="Update price").click()
    expect(page.get_by_text("Promotion WELCOME10")).to_be_visible()
    expect(page.get_by_role("definition").filter(has_text="$31.50")).to_be_visible()  # 10 % off $35.00
    shot(page, "renew-with-promotion")
    page.get_by_role("button", name="Continue to payment").click()
    expect(page.get_by_role("heading", name="Pay for your renewal")).to_be_visible()
    shot(page, "pay")


def decline_then_pay(page: Page, shot: Shots) -> None:
    page.get_by_role("link", name="Add a credit card").click()
    save_card(page, shot, DECLINED_CARD, "hosted-card-page-declining-card")
    expect(page.get_by_role("heading", name="Pay for your renewal")).to_be_visible()
    expect(page.get_by_label(re.compile("0002"))).to_be_checked()
    expect(page.get_by_text("Promotion WELCOME10")).to_be_visible()
    page.get_by_role("button", name="Pay $31.50").click()
    expect(page.get_by_role("heading", name="The payment did not go through")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("Nothing was charged")
    shot(page, "pay-declined")
    page.get_by_label(re.compile("4242")).check()
    page.get_by_role("button", name="Pay $31.50").click()


def confirmation_and_test_sms(page: Page, shot: Shots) -> None:
    expect(page.get_by_role("heading", name="Payment received — thank you")).to_be_visible()
    expect(page.get_by_role("definition").filter(has_text="$31.50")).to_be_visible()
    expect(page.get_by_text("New period starts")).to_be_visible()
    shot(page, "confirmation")
    pdf = page.request.get(page.get_by_role("link", name="Download receipt (PDF)").get_attribute("href") or "")
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf" and pdf.body().startswith(b"%PDF")
    page.get_by_role("link", name="View receipt").click()
    expect(page.get_by_role("heading", name=re.compile(r"^Receipt SR-\d+"))).to_be_visible()
    expect(page.get_by_role("row", name="Discount")).to_contain_text("$3.50")
    expect(page.get_by_role("row", name="Total")).to_contain_text("$31.50")
    shot(page, "receipt")
    page.go_back()
    page.get_by_role("button", name="Check my connection").click()
    expect(page.get_by_role("heading", name="Connection check")).to_be_visible()
    expect(page.get_by_text("Waiting for delivery…")).to_be_visible()
    shot(page, "test-sms-queued")
    clock.advance(timedelta(seconds=5))  # the sandbox carrier delivers after 3 s of (test-clock) time
    page.reload()
    expect(page.get_by_text("Delivered: your eSIM is connected.")).to_be_visible()
    shot(page, "test-sms-delivered")


def auto_renew_off(page: Page, shot: Shots) -> None:
    page.get_by_role("link", name="Back to manage plan").click()
    expect(page.get_by_role("heading", name="Manage plan")).to_be_visible()
    shot(page, "manage")
    page.get_by_role("button", name="Turn auto-renew off").click()
    expect(page.get_by_role("status")).to_contain_text("Auto-renew is off.")
    expect(page.get_by_role("button", name="Turn auto-renew on")).to_be_visible()
    shot(page, "auto-renew-off")


def cancel_at_period_end(page: Page, shot: Shots) -> None:
    page.get_by_role("link", name="Cancel at period end").click()
    expect(page.get_by_role("heading", name="Cancel plan")).to_be_visible()
    expect(page.get_by_text("Your plan will not renew and nothing more will be charged.")).to_be_visible()
    shot(page, "cancel-confirm")
    page.get_by_role("button", name="Yes, cancel at period end").click()
    expect(page.get_by_role("status")).to_contain_text("Your plan is cancelled.")
    expect(page.get_by_text(re.compile("^Cancelled: service continues until"))).to_be_visible()
    shot(page, "cancelled")


def resume(page: Page, shot: Shots) -> None:
    page.get_by_role("button", name="Resume my plan").click()
    expect(page.get_by_role("status")).to_contain_text("Your plan is resumed")
    expect(page.get_by_role("link", name="Cancel at period end")).to_be_visible()
    shot(page, "resumed")


def switch_to_chinese(page: Page, shot: Shots) -> None:
    page.get_by_role("link", name="Settings").click()
    form = page.locator("form").filter(has=page.get_by_role("button", name="Save settings"))
    form.get_by_label("Language", exact=True).select_option("zh-hans")
    shot(page, "settings")
    form.get_by_role("button", name="Save settings").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.get_by_role("status")).to_contain_text("您的设置已保存。")
    shot(page, "settings-saved-in-chinese")
    page.get_by_role("link", name="我的 eSIM").click()
    see_dashboard_in_chinese(page)
    shot(page, "dashboard-in-chinese")


def see_dashboard_in_chinese(page: Page) -> None:
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.get_by_role("heading", name=f"您好，{NAME}")).to_be_visible()  # noqa: RUF001 (Chinese punctuation)
    card = page.get_by_role("article").filter(has=page.get_by_role("heading", name=re.compile(r"^AT&T · \+1")))
    expect(card).to_contain_text("剩余流量 20 GB（共 20 GB）")  # noqa: RUF001
    expect(card).to_contain_text(re.compile(r"剩余 \d+\s天"))  # a no-break space keeps the number with its unit
    expect(card).to_contain_text("2026年")  # the expiry, formatted for zh-Hans
    expect(card.get_by_role("meter", name="剩余流量")).to_be_visible()
    expect(card.get_by_role("link", name="续订")).to_be_visible()
    expect(page.get_by_text("Hello")).to_have_count(0)


def log_out(page: Page, shot: Shots) -> None:
    page.get_by_role("button", name="退出登录").click()
    expect(page.get_by_role("link", name="登录").first).to_be_visible()
    shot(page, "logged-out")
    assert page.goto("/dashboard/") is not None
    expect(page).to_have_url(re.compile(r"/accounts/login/"))


def chinese_is_remembered_for_the_customer(page: Page, shot: Shots) -> None:
    """Another browser (no language cookie) logs in and gets the dashboard in Chinese."""
    assert page.context.browser is not None
    other = page.context.browser.new_context(base_url=page.url.split("/accounts/")[0], locale="en-US")
    try:
        fresh = other.new_page()
        log_in(fresh, EMAIL)
        see_dashboard_in_chinese(fresh)
        shot(fresh, "dashboard-in-chinese-after-login")
    finally:
        other.close()


@pytest.mark.django_db(transaction=True)
def test_the_renewal_journey(page: Page, shot: Shots, smtp: Mailbox, live_server: Any) -> None:
    clock.set_now(START)
    call_command("demo", stdout=StringIO())  # the catalog, the eSIM inventory and the WELCOME10 promotion

    sign_up(page, shot, email=EMAIL, name=NAME, choices={"Language": "en", "Time zone": "Asia/Shanghai"})
    confirm_email(page, shot, smtp, email=EMAIL, name=NAME)
    add_esim_and_pay(page, shot)
    see_dashboard(page, shot)
    renew_with_promotion(page, shot)
    decline_then_pay(page, shot)
    confirmation_and_test_sms(page, shot)
    auto_renew_off(page, shot)
    cancel_at_period_end(page, shot)
    resume(page, shot)
    switch_to_chinese(page, shot)
    log_out(page, shot)
    chinese_is_remembered_for_the_customer(page, shot)
