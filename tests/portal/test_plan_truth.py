"""The portal says the truth about the plan: the dashboard, usage, manage and cancel pages name the
plan running now; the manage page and the pay page say what auto-renew buys, and only the customer's
explicit choice changes it (DESIGN.md §1.8). The dashboard shows the state, the data bar's level, a
Top up button when data runs low, when the allowance resets and the running period's days."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from simrenew.subscriptions.cancellation import cancel
from simrenew.subscriptions.models import Subscription
from tests.factories import make_customer, make_plan, make_subscription, make_top_up_pack, record_usage, renew

pytestmark = pytest.mark.django_db

MONTH = "AT&T 1 month · 20 GB"
DAY = "AT&T 1 day · 1 GB"
MONTH_END = datetime(2026, 2, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def customer(clock):
    return make_customer(time_zone="America/New_York")


@pytest.fixture
def plans():
    month = make_plan(code="att-1m", name=MONTH, period_unit="month", data_mb=20_480, price_minor=2500)
    day = make_plan(code="att-1d", name=DAY, period_unit="day", data_mb=1024, price_minor=300)
    return month, day


@pytest.fixture
def month_and_day(customer, plans):
    """The walk's customer: a month bought on 15 January, one day prepaid on top of it."""
    month, day = plans
    subscription = make_subscription(customer=customer, plan=month)
    assert renew(subscription, plan=day).status == "succeeded"
    return subscription


@pytest.fixture
def signed_in(client: Client, customer) -> Client:
    client.force_login(customer.user)
    return client


def text(page: str) -> str:
    """What the customer reads: tags dropped, entities decoded, no-break spaces and joiners as spaces."""
    words = html.unescape(re.sub(r"<[^>]+>", " ", page)).replace("\u2060", "")
    return re.sub(r"\s+", " ", words)


def test_the_prepaid_day_dashboard_shows_the_running_month(signed_in, month_and_day):
    page = text(signed_in.get(reverse("portal:dashboard")).content.decode())

    assert MONTH in page
    assert DAY not in page
    assert "20 GB of 20 GB left" in page
    assert "31 days left in this month · paid through Feb 16, 2026" in page
    assert "Your data allowance resets on Feb 15, 2026." in page


def test_when_the_month_ends_the_day_runs_and_is_shown_everywhere(signed_in, month_and_day, clock):
    clock.set(MONTH_END + timedelta(hours=1))

    dashboard = text(signed_in.get(reverse("portal:dashboard")).content.decode())
    usage = text(signed_in.get(reverse("portal:usage", args=[month_and_day.pk])).content.decode())
    manage = text(signed_in.get(reverse("portal:manage", args=[month_and_day.pk])).content.decode())

    assert DAY in dashboard and "1 day left in this period" in dashboard
    assert f"{DAY} · +1" in usage  # the plan running, then the number
    assert DAY in manage
    # What auto-renew buys did not follow the one-off day.
    assert f"Auto-renew buys {MONTH} every month for $25.00." in manage


def test_the_manage_page_says_what_auto_renew_buys_and_lets_the_customer_change_it(
    signed_in, month_and_day, plans, clock
):
    _month, _day = plans
    year = make_plan(
        code="att-1y", name="AT&T 1 year · 240 GB", period_unit="year", data_mb=245_760, price_minor=24_900
    )
    url = reverse("portal:manage", args=[month_and_day.pk])

    before = text(signed_in.get(url).content.decode())
    saved = signed_in.post(reverse("portal:renewal_plan", args=[month_and_day.pk]), {"plan": year.pk}, follow=True)

    assert f"Auto-renew buys {MONTH} every month for $25.00." in before
    page = text(saved.content.decode())
    assert "Auto-renew buys AT&T 1 year · 240 GB every year for $249.00." in page
    assert MONTH in page  # still the plan running
    month_and_day.refresh_from_db()
    assert month_and_day.plan_id == year.pk


def test_another_carriers_plan_cannot_be_chosen_for_renewals(signed_in, month_and_day, plans):
    verizon = make_plan(carrier="verizon", code="vz-1m")

    refused = signed_in.post(reverse("portal:renewal_plan", args=[month_and_day.pk]), {"plan": verizon.pk})

    assert refused.status_code == 400
    month_and_day.refresh_from_db()
    assert month_and_day.plan_id == plans[0].pk


def test_the_pay_page_says_what_auto_renew_buys_and_offers_the_box_only_for_another_plan(signed_in, customer, plans):
    month, day = plans
    subscription = make_subscription(customer=customer, plan=month)
    pay = reverse("portal:pay", args=[subscription.pk])

    same = text(signed_in.get(pay, {"plan": month.pk}).content.decode())
    other = signed_in.get(pay, {"plan": day.pk}).content.decode()

    assert f"Auto-renew buys {MONTH} every month for $25.00." in same
    assert "also_renew_with_plan" not in same
    assert f"This purchase is one-off. Auto-renew buys {MONTH} every month for $25.00." in text(other)
    assert 'name="also_renew_with_plan"' in other
    assert f"Also renew with {DAY} from now on" in text(other)


def _pay(signed_in: Client, subscription: Subscription, plan_id: int, **extra: str) -> None:
    pay = reverse("portal:pay", args=[subscription.pk])
    form = signed_in.get(pay, {"plan": plan_id}).content.decode()
    key = re.search(r'name="idempotency_key" value="([0-9a-f-]+)"', form)
    method = re.search(r'name="payment_method" id="method-(\d+)"', form)
    assert key and method
    data = {"plan": plan_id, "promo_code": "", "idempotency_key": key[1], "payment_method": method[1], **extra}
    assert signed_in.post(pay, data).status_code == 302


def test_paying_for_another_plan_keeps_the_renewal_plan_unless_the_box_is_ticked(signed_in, customer, plans):
    month, day = plans
    subscription = make_subscription(customer=customer, plan=month)

    _pay(signed_in, subscription, day.pk)
    subscription.refresh_from_db()
    assert subscription.plan_id == month.pk

    _pay(signed_in, subscription, day.pk, also_renew_with_plan="on")
    subscription.refresh_from_db()
    assert subscription.plan_id == day.pk


@pytest.mark.parametrize(
    ("used_mb", "level", "top_up"),
    [(1000, "ok", False), (20_480 * 0.8, "low", True), (20_480 * 0.95, "critical", True)],
)
def test_the_data_bar_turns_amber_at_80_and_red_at_95_percent_used_with_a_top_up_button(
    signed_in, customer, plans, used_mb, level, top_up
):
    make_top_up_pack(carrier="att")
    subscription = make_subscription(customer=customer, plan=plans[0])
    record_usage(iccid=subscription.esim.iccid, mb=used_mb)

    page = signed_in.get(reverse("portal:dashboard")).content.decode()

    assert f'<meter class="data-{level}"' in page
    assert (reverse("portal:top_up", args=[subscription.pk]) in page) is top_up


def test_a_cancelled_plan_says_when_it_ends_and_not_that_it_renews(signed_in, customer, plans):
    subscription = make_subscription(customer=customer, plan=plans[0])
    cancel(subscription, when="period_end")

    dashboard = text(signed_in.get(reverse("portal:dashboard")).content.decode())
    manage = text(signed_in.get(reverse("portal:manage", args=[subscription.pk])).content.decode())

    assert "Cancelled: service ends on Feb 15, 2026." in dashboard
    assert "Auto-renew is on." not in dashboard
    assert "Next automatic charge" not in manage
    assert "Auto-renew buys" not in manage


def test_with_auto_renew_off_the_dashboard_says_when_service_ends(signed_in, customer, plans):
    make_subscription(customer=customer, plan=plans[0], auto_renew=False)

    dashboard = text(signed_in.get(reverse("portal:dashboard")).content.decode())

    assert "Auto-renew is off: service ends on Feb 15, 2026." in dashboard
    assert "Your data allowance resets" not in dashboard  # nothing follows the period


def test_the_dashboard_reads_the_same_number_of_queries_for_one_esim_or_three(signed_in, customer, plans):
    make_subscription(customer=customer, plan=plans[0])
    signed_in.get(reverse("portal:dashboard"))  # sessions and caches warmed
    with CaptureQueriesContext(connection) as one:
        signed_in.get(reverse("portal:dashboard"))
    for carrier in ("tmobile", "verizon"):
        make_subscription(customer=customer, plan=make_plan(carrier=carrier, code=f"{carrier}-1m"))
    with CaptureQueriesContext(connection) as three:
        signed_in.get(reverse("portal:dashboard"))

    assert len(three.captured_queries) == len(one.captured_queries)


def test_a_cancelled_plan_shows_why_its_renewal_plan_cannot_be_changed(signed_in, month_and_day, plans, clock):
    year = make_plan(code="att-1y", period_unit="year", price_minor=24_900)
    with transaction.atomic():
        cancel(month_and_day, when="period_end")

    refused = signed_in.post(reverse("portal:renewal_plan", args=[month_and_day.pk]), {"plan": year.pk})

    assert refused.status_code == 400
    assert "This subscription is cancelled; resume it before changing the plan it renews with." in text(
        refused.content.decode()
    )
    month_and_day.refresh_from_db()
    assert month_and_day.plan_id == plans[0].pk
