"""A notice shows facts held by subscriptions and billing, which notifications do not import:
those domains register their lookups when the apps are ready, and rendering reads each fact
with one query, as the worker delivers message after message."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from simrenew.billing.models import Invoice
from simrenew.notifications import facts
from simrenew.notifications.models import OutboxMessage
from simrenew.notifications.rendering import Formatter, render_email
from simrenew.subscriptions.models import Period, Subscription, SubscriptionState
from tests.factories import make_customer, make_plan, make_subscription
from tests.notifications.helpers import stored_as_is


def test_subscriptions_and_billing_answer_for_the_facts_a_notice_shows(clock):
    subscription = make_subscription(plan=make_plan(name="AT&T 1 month", price_minor=2500))
    invoice = Invoice.objects.get(subscription=subscription)
    period = Period.objects.get(invoice=invoice)

    assert facts.subscription_facts(subscription.pk) == facts.SubscriptionFacts(
        id=subscription.pk,
        customer_id=subscription.customer_id,
        plan_name="AT&T 1 month",
        esim_number=subscription.esim.msisdn,
        paid_through=subscription.paid_through,
        renews_automatically=True,
    )
    assert facts.invoice_facts(invoice.number) == facts.InvoiceFacts(
        id=invoice.pk, total_minor=invoice.total_minor, currency=invoice.currency
    )
    assert facts.paid_period_facts(invoice.pk) == facts.PeriodFacts(starts_at=period.starts_at, ends_at=period.ends_at)


def test_what_no_domain_holds_is_none(clock):
    assert facts.subscription_facts(999_999) is None
    assert facts.invoice_facts("INV-NOWHERE") is None
    assert facts.paid_period_facts(999_999) is None


def renews_automatically(subscription: Subscription) -> bool:
    found = facts.subscription_facts(subscription.pk)
    assert found is not None
    return found.renews_automatically


def test_a_subscription_renews_automatically_only_while_live_with_auto_renew_on(clock):
    live = make_subscription()
    by_hand = make_subscription(auto_renew=False)
    cancelled = make_subscription()
    cancelled.state = SubscriptionState.CANCELLED
    cancelled.save(update_fields=["state"])

    assert renews_automatically(live)
    assert not renews_automatically(by_hand)
    assert not renews_automatically(cancelled)


def test_an_expiry_reminder_offers_renewal_unless_the_plan_renews_by_itself(clock, settings):
    settings.SIMRENEW_PUBLIC_URL = "https://portal.example.com"
    for auto_renew, page, words in [(True, "portal:manage", "Auto-renew is on"), (False, "portal:renew", "Renew now")]:
        subscription = make_subscription(auto_renew=auto_renew)
        stored = stored_as_is(
            "subscription.expiring",
            customer=subscription.customer,
            subscription=subscription,
            data={"subscription_id": subscription.pk, "days_left": 3},
        )

        email = render_email(OutboxMessage.objects.get(pk=stored.pk), subscription.customer)

        assert words in email.text
        assert "https://portal.example.com" + reverse(page, args=[subscription.pk]) in email.text


def test_a_receipt_stored_without_its_period_shows_the_period_its_invoice_paid_for(clock):
    customer = make_customer(time_zone="America/New_York")
    subscription = make_subscription(customer=customer)
    invoice = Invoice.objects.get(subscription=subscription)
    period = Period.objects.get(invoice=invoice)
    stored = stored_as_is(
        "subscription.renewed", customer=customer, subscription=subscription, data={"invoice": invoice.number}
    )
    message = OutboxMessage.objects.get(pk=stored.pk)

    with CaptureQueriesContext(connection) as rendering:
        email = render_email(message, customer)

    fmt = Formatter(customer)
    assert f"{fmt.when(period.starts_at)} to {fmt.when(period.ends_at)}" in email.text
    assert reverse("portal:receipt", args=[invoice.pk]) in email.text
    # The subscription, the invoice, the period: one query each, nothing more per message.
    assert len(rendering.captured_queries) == 3
