"""Strong customer authentication on a phone: auto-renew could not charge a card whose bank wants its
cardholder (Stripe's `authentication_required`); the customer follows the text's link, pays on the
plan's page, answers the bank's 3-D Secure check in Stripe's frame, and is charged once."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from playwright.sync_api import Page, expect

from simrenew.notifications.models import OutboxMessage
from simrenew.notifications.rendering import render_sms
from simrenew.payments.models import AttemptStatus, PaymentAttempt
from simrenew.subscriptions.cancellation import update_renewal
from tests.browser.conftest import Shots, log_in_as, make_verified_customer
from tests.factories import make_plan, make_subscription, renew_due
from tests.payments.local_stripe import local_stripe, save_stripe_card
from tests.payments.stripe_server import StripeServer

__all__ = ["local_stripe"]


@pytest.mark.parametrize("viewport", ["phone"])
@pytest.mark.django_db(transaction=True)
def test_a_renewal_the_bank_wants_confirmed_is_paid_once_after_the_customer_confirms(
    page: Page, shot: Shots, live_server: Any, clock: Any, local_stripe: StripeServer
) -> None:
    customer = make_verified_customer(email="sam@example.com", name="Sam Secure")
    plan = make_plan(carrier="att", name="AT&T 1 month · 20 GB", price_minor=3500, period_unit="month")
    subscription = make_subscription(
        customer=customer, plan=plan, payment_method=save_stripe_card(customer, local_stripe)
    )
    bank_checked = save_stripe_card(customer, local_stripe, "pm_card_authenticationRequired")
    with transaction.atomic():  # a service: its caller owns the transaction
        update_renewal(subscription, payment_method=bank_checked)
    clock.set(subscription.paid_through - timedelta(hours=72))
    renew_due()  # nobody is there to answer the bank: the renewal waits for the customer
    [failed] = OutboxMessage.objects.filter(event_type="subscription.renewal_failed")
    link = re.search(r"https?://\S+/subscriptions/\d+/renew/", render_sms(failed, customer))
    assert link is not None

    log_in_as(page.context, customer.user, live_server)
    page.goto(link.group(0))
    page.get_by_role("button", name="Continue to payment").click()
    expect(page.get_by_label(re.compile("3184"))).to_be_checked()
    page.get_by_role("button", name="Pay $35.00").click()

    expect(page.get_by_role("heading", name="Confirm the payment with your bank")).to_be_visible()
    expect(page.get_by_text("Nothing is charged until you do.")).to_be_visible()
    shot(page, "bank-check")
    page.get_by_role("button", name="Confirm with my bank").click()
    challenge = page.frame_locator("iframe[name=stripe-challenge]")
    expect(challenge.get_by_role("heading", name="3D Secure 2 Test Page")).to_be_visible()
    shot(page, "bank-challenge")
    challenge.get_by_role("button", name="Complete").click()

    expect(page.get_by_role("heading", name="Payment received — thank you")).to_be_visible()
    shot(page, "paid")
    renewals = PaymentAttempt.objects.filter(subscription=subscription).exclude(purpose="first_period")
    assert sorted(renewals.values_list("status", flat=True)) == [AttemptStatus.FAILED, AttemptStatus.SUCCEEDED]
    assert len(local_stripe.charges_of(subscription.payment_method.provider_customer)) == 2  # first period, renewal
    assert subscription.periods.count() == 2
