"""On a phone (390 x 844 CSS px) and a desktop: every menu item is on screen without scrolling sideways,
controls are big enough to tap, every page can switch language in one tap, and the help and
"not found" pages read in English and in Chinese."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import VIEWPORTS, Shots, log_in_as, make_verified_customer

MENU_SIGNED_IN = ["My eSIMs", "Payment history", "Payment methods", "Wallet", "Settings", "Help", "简体中文", "Log out"]
MENU_VISITOR = ["Log in", "Sign up", "Help", "简体中文"]

# Sizes of what can be tapped, in CSS px, measured by the browser: every control at least 24 x 24
# (WCAG 2.2, 2.5.8; links inside a sentence are exempt), menu entries and buttons at least 44 high.
TAP_TARGETS = """() => {
  const small = [];
  for (const el of document.querySelectorAll('a, button, input:not([type=hidden]), select, summary')) {
    const box = el.getBoundingClientRect();
    if (!box.width || !box.height || getComputedStyle(el).visibility === 'hidden') continue;
    const inSentence = el.tagName === 'A' && el.parentElement.closest('p, li, dd, td')
      && el.parentElement.textContent.trim() !== el.textContent.trim();
    const primary = el.closest('header nav') || el.tagName === 'BUTTON' || el.classList.contains('button');
    const least = primary ? 44 : 24;
    if (!inSentence && (box.height < least || box.width < 24)) {
      const name = (el.textContent || el.value || el.name).trim();
      small.push(`${el.tagName} "${name}" ${Math.round(box.width)}x${Math.round(box.height)}`);
    }
  }
  return small;
}"""
SIDEWAYS = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"


def menu_fits(page: Page, items: list[str]) -> None:
    """Each item visible, inside the screen's width, and the page does not scroll sideways."""
    nav = page.get_by_role("navigation", name="Main")
    width = page.viewport_size["width"] if page.viewport_size else 0
    for name in items:
        item = (
            nav.get_by_role("button", name=name)
            if name in {"Log out", "简体中文"}
            else nav.get_by_role("link", name=name)
        )
        expect(item).to_be_visible()
        box = item.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, f"{name} is off screen: {box}"
        assert box["height"] >= 44, f"{name} is {box['height']} px high"
    assert page.evaluate(SIDEWAYS) <= 0, "the page scrolls sideways"


@pytest.mark.django_db(transaction=True)
def test_every_menu_item_is_reachable_and_big_enough(page: Page, shot: Shots, live_server: Any) -> None:
    page.goto("/")
    menu_fits(page, MENU_VISITOR)
    assert page.evaluate(TAP_TARGETS) == []
    shot(page, "visitor-menu")

    customer = make_verified_customer()
    log_in_as(page.context, customer.user, live_server)
    for path in ("/dashboard/", "/settings/", "/help/", "/payment-methods/", "/wallet/", "/payments/", "/esims/add/"):
        page.goto(path)
        menu_fits(page, MENU_SIGNED_IN)
        assert page.evaluate(TAP_TARGETS) == [], path
    shot(page, "customer-menu")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Settings", level=1)).to_be_visible()


@pytest.mark.django_db(transaction=True)
def test_the_help_page_in_both_languages_with_one_tap_between(page: Page, shot: Shots, live_server: Any) -> None:
    page.goto("/")
    page.get_by_role("contentinfo").get_by_role("link", name="Help and questions").click()
    expect(page.get_by_role("heading", name="Help", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name="Moving to another carrier or adding an eSIM")).to_be_visible()
    expect(page.get_by_text("A new eSIM comes with its own new phone number.")).to_be_visible()
    assert page.evaluate(SIDEWAYS) <= 0
    shot(page, "help-en")

    page.get_by_role("button", name="简体中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page).to_have_url(f"{live_server.url}/help/")
    expect(page.get_by_role("heading", name="帮助", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name="如果没有及时续订会怎样？")).to_be_visible()  # noqa: RUF001
    assert page.evaluate(SIDEWAYS) <= 0
    assert page.evaluate(TAP_TARGETS) == []
    shot(page, "help-zh")

    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")


@pytest.mark.django_db(transaction=True)
def test_a_missing_page_is_ours_in_both_languages(page: Page, shot: Shots, live_server: Any) -> None:
    response = page.goto("/no-such-page/")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="We cannot find this page")).to_be_visible()
    assert page.locator('meta[name="viewport"]').count() == 1
    assert page.evaluate(SIDEWAYS) <= 0
    shot(page, "404-en")

    page.get_by_role("button", name="简体中文").click()
    expect(page.get_by_role("heading", name="找不到此页面")).to_be_visible()
    shot(page, "404-zh")
    page.get_by_role("link", name="帮助").first.click()
    expect(page.get_by_role("heading", name="帮助", level=1)).to_be_visible()


@pytest.mark.django_db(transaction=True)
def test_the_browsers_time_zone_is_chosen_on_sign_up_and_offered_in_settings(
    browser: Browser, viewport: str, live_server: Any
) -> None:
    """A phone in Tokyo: sign-up picks Tokyo; Settings, where the customer saved New York, offers it."""
    tokyo = browser.new_context(
        viewport=VIEWPORTS[viewport],  # type: ignore[arg-type]
        base_url=live_server.url,
        locale="en-US",
        timezone_id="Asia/Tokyo",
    )
    try:
        page = tokyo.new_page()
        page.goto("/accounts/signup/")
        zone = page.get_by_label("Time zone")
        expect(zone).to_have_value("Asia/Tokyo")

        customer = make_verified_customer(time_zone="America/New_York")
        log_in_as(tokyo, customer.user, live_server)
        page.goto("/settings/")
        zone = page.get_by_label("Time zone", exact=True)
        expect(zone).to_have_value("America/New_York")  # a saved choice never changes by itself
        page.get_by_role("button", name="Use this device’s time zone").click()  # noqa: RUF001
        expect(zone).to_have_value("Asia/Tokyo")
        page.get_by_role("button", name="Save settings").click()
        expect(page.get_by_text("Your saved time zone is Japan Time;")).to_be_visible()
    finally:
        tokyo.close()
