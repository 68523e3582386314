"""A notice shows facts held by subscriptions and billing, which notifications do not import:
those domains register their lookups when the apps are ready, and rendering reads each fact
with one query, as the worker delivers message after message."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from simrenew.billing.models import Invoice
from simrenew.notifications import facts
from simrenew.notifications.models import OutboxMessage
from simrenew.notifications.rendering import Formatter, render_email
from simrenew.subscriptions.models import Period, Subscription, SubscriptionState
from tests.factories import make_customer, make_plan, make_subscription, renew
from tests.notifications.helpers import stored_as_is


def test_subscriptions_and_billing_answer_for_the_facts_a_notice_shows(clock):
    subscription = make_subscription(plan=make_plan(name="AT&T 1 month", price_minor=2500))
    invoice = Invoice.objects.get(subscription=subscription)
    period = Period.objects.get(invoice=invoice)
    shown = "AT&T 1 month · 10\u00a0GB"  # as the portal shows it: the name, then what it does not say

    assert facts.subscription_facts(subscription.pk) == facts.SubscriptionFacts(
        id=subscription.pk,
        customer_id=subscription.customer_id,
        plan_name=shown,
        esim_number=subscription.esim.msisdn,
        paid_through=subscription.paid_through,
        renews_automatically=True,
        renewal_plan_name=shown,
    )
    assert facts.invoice_facts(invoice.number) == facts.InvoiceFacts(
        id=invoice.pk,
        total_minor=invoice.total_minor,
        currency=invoice.currency,
        description="AT&T 1 month",
        item=shown,
    )
    assert facts.paid_period_facts(invoice.pk) == facts.PeriodFacts(starts_at=period.starts_at, ends_at=period.ends_at)


def test_the_facts_name_plans_in_the_language_rendering_runs_in(clock):
    # Rendering looks the facts up under the customer's language: a Chinese message names the
    # plan as the Chinese portal does, while the invoice keeps its English line as the record.
    subscription = make_subscription(plan=make_plan(name="AT&T 1 month", price_minor=2500))
    invoice = Invoice.objects.get(subscription=subscription)

    with translation.override("zh-hans"):
        about_subscription = facts.subscription_facts(subscription.pk)
        about_invoice = facts.invoice_facts(invoice.number)

    assert about_subscription is not None and about_invoice is not None
    chinese = "AT&T 1\u00a0个\u2060月 · 10\u00a0GB"  # no line break inside "1 个月" nor "10 GB"
    assert about_subscription.plan_name == about_subscription.renewal_plan_name == chinese
    assert about_invoice.item == chinese
    assert about_invoice.description == "AT&T 1 month"


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


def test_an_expiry_reminder_offers_renewal_and_says_when_auto_renew_cannot_charge(clock, settings):
    # Expiry reminders go only when nothing will renew the service: with auto-renew on, that
    # is because it has no method it can charge (or gave up), and the reminder says so.
    settings.SIMRENEW_PUBLIC_URL = "https://portal.example.com"
    for auto_renew, page, words in [
        (True, "portal:renew", "Auto-renew is on, but it has no payment method it can charge"),
        (False, "portal:renew", "Renew now to keep your number"),
    ]:
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
    # The subscription, the invoice, the period: one query each, nothing more per message (and,
    # in the sandbox, the test clock's time: which period runs now names the plan).
    queries = [q["sql"] for q in rendering.captured_queries if "kit_testclock" not in q["sql"]]
    assert len(queries) == 3


def test_a_receipt_names_what_its_invoice_bought_not_the_plan_the_subscription_holds(clock):
    subscription = make_subscription(plan=make_plan(name="AT&T 1 month · 20 GB"))
    day = make_plan(period_unit="day", data_mb=1024, price_minor=300, name="AT&T 1 day · 1 GB")
    invoice = Invoice.objects.get(payment_attempt=renew(subscription, plan=day))
    message = OutboxMessage.objects.get(event_type="subscription.renewed")

    email = render_email(message, subscription.customer)

    assert email.subject == f"Receipt {invoice.number}: AT&T 1 day · 1 GB is renewed"
    assert "Plan: AT&T 1 day · 1 GB" in email.text and "1 month" not in email.text
