"""The console's customer page as an operator sees it: what the customer holds and did,
and the action buttons their role allows."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import BrowserContext, Page, expect

from simrenew.portal.accounts import verified_login
from tests.browser.conftest import Shots, log_in_to_console
from tests.factories import make_subscription
from tests.notifications.helpers import run_worker

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_admin_sees_the_customer_and_extends_a_period(
    page: Page, context: BrowserContext, live_server: Any, shot: Shots, clock: Any
) -> None:
    subscription = make_subscription()
    run_worker()
    admin = get_user_model().objects.create_superuser("boss", "boss@example.com", "correct horse battery")
    verified_login(admin)
    log_in_to_console(page, "boss@example.com", "correct horse battery")

    page.goto(f"/admin/customers/customer/{subscription.customer_id}/change/")
    expect(page.get_by_role("button", name="Refund", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Resend", exact=True)).to_be_visible()
    shot(page, "customer")

    page.get_by_role("button", name="Extend period", exact=True).click()
    page.get_by_label("Days").fill("3")
    page.get_by_label("Reason").fill("Network outage on the 12th")
    shot(page, "extend-confirm")
    page.get_by_role("button", name="Confirm extension").click()
    expect(page.get_by_text("(+3 day(s), no charge)")).to_be_visible()
    expect(page.get_by_text("Network outage on the 12th").first).to_be_visible()
    shot(page, "extended")
