"""The console shows the refunds a customer's cancellation made, beside the operators' own:
whose, on which subscription, how much, back to where, how far it got and why."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.urls import reverse

from simrenew.subscriptions.cancellation import cancel, finish_cancellation_refunds
from tests.customers.console_helpers import staff_client
from tests.factories import make_customer, make_plan, make_subscription, renew

pytestmark = pytest.mark.django_db


def test_a_refund_made_by_cancelling_now_is_listed_with_its_customer_amount_and_reason(clock):
    customer = make_customer(email="walker@example.com")
    subscription = make_subscription(customer=customer, plan=make_plan(price_minor=2500))
    assert renew(subscription, plan=make_plan(period_unit="year", price_minor=34900)).status == "succeeded"
    clock.advance(days=10)
    with transaction.atomic():
        cancel(subscription, when="now")  # the gateway not asked yet: pending

    pending = staff_client("admin").get(reverse("admin:billing_refund_changelist")).content.decode()
    finish_cancellation_refunds(subscription.pk)
    done = staff_client("admin").get(reverse("admin:billing_refund_changelist")).content.decode()

    for html in (pending, done):
        assert "walker@example.com" in html
        assert "$349.00" in html
        assert "card or PayPal (payment provider)" in html
        assert "cancelled now: period 2 (not started, in full)" in html
    assert ">pending<" in pending
    assert ">succeeded<" in done
