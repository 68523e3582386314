"""The console names the plan running now, like the portal and the API: the subscriptions list's
"Plan" column, the customer page, the expiring list and the by-plan chart; what renewals buy is
shown beside it. A cancelled subscription shows no next auto-renew charge."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from simrenew.console import queries
from simrenew.console.queries import PlanCount
from simrenew.console.roles import Role
from simrenew.subscriptions.cancellation import cancel
from tests.customers.console_helpers import staff_client
from tests.factories import make_plan, make_subscription, renew

pytestmark = pytest.mark.django_db

MONTH_END = datetime(2026, 2, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def month_and_day(clock):
    month = make_plan(code="att-1m", name="AT&T Month", period_unit="month", price_minor=2500)
    day = make_plan(code="att-1d", name="AT&T Day", period_unit="day", data_mb=1024, price_minor=300)
    subscription = make_subscription(plan=month)
    assert renew(subscription, plan=day).status == "succeeded"
    return subscription


def cells(page: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def test_the_by_plan_figures_count_the_running_month_then_the_day(month_and_day, clock):
    assert queries.active_by_plan(clock.now()) == [PlanCount("AT&T", "att-1m", "AT&T Month", 1)]

    later = MONTH_END + timedelta(hours=1)
    assert queries.active_by_plan(later) == [PlanCount("AT&T", "att-1d", "AT&T Day", 1)]


def test_the_subscriptions_list_shows_the_running_plan_and_what_renews(month_and_day):
    page = cells(
        staff_client(Role.SUPPORT).get(reverse("admin:subscriptions_subscription_changelist")).content.decode()
    )

    assert "Renews with" in page
    row = page[page.index(month_and_day.customer.email) :]
    assert row.index("AT&T Month") < row.index("AT&T Month", row.index("AT&T Month") + 1)  # running, then renews
    assert "AT&T Day" not in page


def test_the_customer_page_shows_the_running_plan_and_no_next_charge_once_cancelled(month_and_day, clock):
    console = staff_client(Role.SUPPORT)
    url = reverse("admin:customers_customer_change", args=[month_and_day.customer_id])
    before = cells(console.get(url).content.decode())
    cancel(month_and_day, when="period_end")
    after = cells(console.get(url).content.decode())

    assert "Plan running AT&T Month" in before
    assert "Renews with AT&T Month" in before
    assert re.search(r"Next auto-renew charge \d{4}-\d\d-\d\d", before)
    assert re.search(r"Next auto-renew charge — ", after)


def test_the_expiring_list_names_the_running_plan(month_and_day, clock):
    """The month plus its day ends on 16 February: within 7 days from the 10th, while the month runs."""
    listed = queries.expiring_subscriptions(datetime(2026, 2, 10, tzinfo=UTC))

    assert [(s.pk, s.running_plan_name) for s in listed] == [(month_and_day.pk, "AT&T Month")]
