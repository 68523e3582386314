"""The console overview as an operator sees it at 1280x800 in Chromium: a worker that went
quiet is the first thing on the page, then what needs action (eSIM stock running out,
suspended customers whose numbers will be released, refunds still owed), and the page passes
axe-core."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from playwright.sync_api import Page, expect

from simrenew.billing.models import Invoice
from simrenew.billing.refunds import refund_for_operator
from simrenew.console.roles import Role
from simrenew.console.staff import create_staff
from simrenew.kit.clock import system_now
from simrenew.worker import heartbeat
from simrenew.worker.models import WorkerHeartbeat
from tests.browser.a11y import assert_accessible
from tests.browser.conftest import Shots, log_in_to_console
from tests.factories import make_carrier, make_esim, make_subscription

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("viewport", ["desktop"], indirect=True)
def test_the_overview_leads_with_a_silent_worker_and_what_needs_action(page: Page, shot: Shots, clock, settings):
    settings.SIMRENEW_RETENTION_DAYS = 30
    user, password = create_staff(email="ops@simrenew.test", role=Role.ADMIN)
    make_carrier(code="verizon")  # nothing left to sell
    for _ in range(2):
        make_esim(carrier="att")
    lapsing = make_subscription(auto_renew=False)
    with transaction.atomic():
        refund_for_operator(
            invoice=Invoice.objects.get(subscription=lapsing), amount_minor=500, reason="goodwill", to_wallet=False
        )
    assert lapsing.paid_through is not None
    clock.set(lapsing.paid_through + timedelta(days=1))
    heartbeat.started("web:1:abc")
    WorkerHeartbeat.objects.update(last_tick_at=system_now() - timedelta(minutes=7))

    log_in_to_console(page, user.email, password)

    warning = page.get_by_role("alert").filter(has_text="No worker has ticked for 5 minutes.")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("7\xa0minutes ago")
    assert warning.bounding_box()["y"] < 400  # type: ignore[index]  # above the fold, before the figures
    stock = page.get_by_role("table", name="eSIM profiles available per carrier")
    expect(stock.get_by_role("row", name="Verizon 0 low")).to_be_visible()
    expect(stock.get_by_role("row", name="AT&T 2 low")).to_be_visible()
    suspended = page.get_by_role("table", name="Suspended subscriptions whose numbers are released first")
    released = lapsing.paid_through + timedelta(days=30)
    expect(suspended.get_by_role("row").filter(has_text=lapsing.customer.email)).to_contain_text(
        f"{released:%-d %b %Y, %H:%M} UTC"
    )
    expect(page.get_by_role("table", name="Refunds pending or failed, per currency")).to_contain_text("$5.00")
    shot(page, "overview-worker-silent")
    assert_accessible(page, "the console overview")

    heartbeat.ticked("web:1:abc")
    page.reload()
    expect(page.get_by_text("Worker alive")).to_be_visible()
    expect(page.get_by_role("alert").filter(has_text="No worker")).to_have_count(0)
    shot(page, "overview-worker-alive")
