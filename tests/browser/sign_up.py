"""A brand-new customer's first steps in the browser, shared by the stories that start from
nothing (the renewal journey, the first purchase): sign up, then confirm the address from the
email a real SMTP server received, which signs the customer in."""

from __future__ import annotations

import re
from collections.abc import Mapping

from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, Mailbox, Shots, entrance_form


def sign_up(page: Page, shot: Shots, *, email: str, name: str, choices: Mapping[str, str] | None = None) -> None:
    """From the landing page, the sign-up form filled and sent; `choices` picks a value in a list
    by its label ("Language", "Time zone"), else the form's own guess stays."""
    page.goto("/")
    shot(page, "landing")
    page.get_by_role("link", name="Create an account").click()
    form = entrance_form(page, "Sign up")  # not the language switch beside it
    form.get_by_label("Email").fill(email)
    form.get_by_label("Your name").fill(name)
    for label, value in (choices or {}).items():
        form.get_by_label(label).select_option(value)
    form.get_by_label(re.compile(r"^Password:?$")).fill(PASSWORD)
    form.get_by_label(re.compile(r"^Password \(again\)")).fill(PASSWORD)
    shot(page, "sign-up")
    form.get_by_role("button", name="Sign up", exact=True).click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    expect(page.get_by_role("button", name="Resend the confirmation email")).to_be_visible()
    shot(page, "check-your-email")


def confirm_email(page: Page, shot: Shots, smtp: Mailbox, *, email: str, name: str) -> None:
    """The link in the email confirms the address and, in the same browser, signs the customer in:
    the empty dashboard greets them."""
    page.goto(smtp.link(email, r"https?://\S+/accounts/confirm-email/\S+/"))
    shot(page, "confirm-email")
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/dashboard/")
    expect(page.get_by_role("heading", name=f"Hello, {name}")).to_be_visible()
    expect(page.get_by_text("You have no eSIM yet.")).to_be_visible()
    shot(page, "dashboard-empty")
