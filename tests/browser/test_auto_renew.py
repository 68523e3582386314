"""A failed auto-renew in a real browser: the manage page says why the card was not
charged and leads to the form where another payment method is chosen, at a phone's width."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from threading import Event
from typing import Any

import pytest
from django.db import transaction
from playwright.sync_api import BrowserContext, Page, expect

from simrenew.kit import clock
from simrenew.payments.models import PaymentMethod
from simrenew.subscriptions.cancellation import update_renewal
from simrenew.worker.renewals import RenewalPipeline
from tests.browser.conftest import Shots, log_in_as, make_verified_customer
from tests.factories import make_card, make_plan, make_subscription

START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
EXPIRED_CARD = "4000000000000069"


@pytest.fixture
def viewport() -> str:
    return "phone"  # the page is laid out phone first; one viewport keeps CI quick


def renew_due() -> None:
    pipeline = RenewalPipeline(worker_id="browser-test", batch_size=10, batches_in_flight=1, stop=Event())
    try:
        pipeline.run_until_idle()
    finally:
        pipeline.close()


@pytest.mark.django_db(transaction=True)
def test_a_declined_auto_renew_says_why_and_leads_to_another_method(
    page: Page, context: BrowserContext, shot: Shots, live_server: Any
) -> None:
    clock.set_now(START)
    customer = make_verified_customer(time_zone="America/New_York")
    subscription = make_subscription(customer=customer, plan=make_plan(price_minor=2500, name="AT&T 1 month · 20 GB"))
    with transaction.atomic():
        update_renewal(subscription, payment_method=make_card(customer=customer, number=EXPIRED_CARD))
    subscription.refresh_from_db()
    assert subscription.paid_through is not None
    clock.set_now(subscription.paid_through - timedelta(hours=72))
    renew_due()  # the expired card is a hard decline: no retry
    log_in_as(context, customer.user, live_server)

    page.goto(f"/subscriptions/{subscription.pk}/manage/")

    problem = page.get_by_role("alert").filter(has_text="Auto-renew could not charge your Visa card ending 0069.")
    expect(problem).to_contain_text("Your card has expired. Add a card with a later expiry date.")
    good_card = PaymentMethod.objects.get(customer=customer, last4="4242")  # paid the first period
    expect(page.get_by_label("Pay renewals with")).to_have_value(str(good_card.pk))  # not the card that failed
    shot(page, "manage-auto-renew-failed")

    page.get_by_role("link", name="Change payment method").click()
    expect(page).to_have_url(re.compile(r"#renewal-method$"))
    page.get_by_role("button", name="Use this payment method").click()

    expect(page.get_by_role("status")).to_contain_text("Renewals are now paid with your Visa card ending 4242.")
    expect(page.get_by_text("We are charging $25.00 to your Visa card ending 4242 now.")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_count(0)
    shot(page, "manage-auto-renew-charging")
