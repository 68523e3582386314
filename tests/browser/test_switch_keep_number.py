"""Issue 16's browser story, on a phone, in Chinese: a customer with an AT&T plan moves to T-Mobile
keeping the number. Before paying the page says which number the new eSIM gets; after paying the
new plan's page says the number is moving; once the carrier completes the port, the new eSIM has
the number and the AT&T plan has ended.

The porting strings are new in issue 16: until the Chinese catalogue has them they show in
English, so the words are compared with what the catalogue says (gettext in zh-hans), and the
rest through data attributes and strings the catalogue already holds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import translation
from playwright.sync_api import BrowserContext, Page, expect

from simrenew.kit import clock
from simrenew.provisioning import porting
from simrenew.provisioning.models import PortRequest
from simrenew.subscriptions.models import Subscription
from tests.browser.a11y import assert_accessible
from tests.browser.conftest import Shots, log_in_as, make_verified_customer
from tests.factories import make_esim, make_plan, make_subscription

START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
ACCOUNT = "ATT-77120-X"
PIN = "482913"


def zh(message: str, **values: str) -> str:
    """`message` as a page in Chinese shows it."""
    with translation.override("zh-hans"):
        text = translation.gettext(message)
    return text % values if values else text


@pytest.mark.parametrize("viewport", ["phone"])
@pytest.mark.django_db(transaction=True)
def test_a_customer_moves_to_another_carrier_keeping_the_number(
    page: Page, context: BrowserContext, shot: Shots, live_server: Any, viewport: str
) -> None:
    clock.set_now(START)
    customer = make_verified_customer(locale="zh-hans", time_zone="Asia/Shanghai")
    old = make_subscription(customer=customer, plan=make_plan(carrier="att", code="att-1m", name="AT&T 1 month"))
    number = old.esim.msisdn
    tmobile = make_plan(carrier="tmobile", code="tmo-1m", name="T-Mobile 1 month", price_minor=3000)
    make_esim(carrier="tmobile")  # in stock
    log_in_as(context, customer.user, live_server)

    page.goto(reverse("portal:add_esim"))
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    page.locator(f'input[name="plan"][value="{tmobile.pk}"]').check()
    summary = page.locator('[data-summary="number"]')
    # Before payment, without porting: the new eSIM gets a new number.
    expect(summary).to_have_text(zh("Your new eSIM gets a new phone number."))
    expect(page.locator("[data-port-details]")).to_be_hidden()
    shot(page, "add-esim-new-number")

    page.locator(f"#number-{old.pk}").check()
    expect(summary).to_have_text(zh("%(number)s moves to your new eSIM after payment.", number=number))
    expect(page.locator("[data-port-details]")).to_be_visible()
    expect(page.locator('select[name="end_subscription"]')).to_have_value(str(old.pk))  # the plan that has it ends
    page.locator("#id_port_account").fill(ACCOUNT)
    page.locator("#id_port_pin").fill(PIN)
    shot(page, "add-esim-keep-number")
    assert_accessible(page, "add an eSIM, keeping the number")
    page.locator("button.pay-button").click()

    # Paid: the install page, and the word that the number is moving.
    page.wait_for_url(f"**{reverse('portal:install', args=[PortRequest.objects.get().new_esim_id])}")
    expect(page.get_by_text(number, exact=False).first).to_be_visible()
    shot(page, "install-after-paying")
    new = Subscription.objects.get(customer=customer, plan=tmobile)
    port = PortRequest.objects.get()
    assert port.new_esim_id == new.esim_id and PIN not in port.pin

    page.goto(reverse("portal:manage", args=[new.pk]))
    moving = page.locator('[data-port-state="moving"]')
    expect(moving).to_be_visible()
    expect(moving).to_contain_text(zh("Moving your number"))
    expect(moving).to_contain_text(number)
    shot(page, "manage-number-moving")
    assert_accessible(page, "manage, number moving")

    # The carrier completes the port.
    with transaction.atomic():
        porting.on_port_completed(port)

    page.reload()
    done = page.locator('[data-port-state="completed"]')
    expect(done).to_be_visible()
    expect(done).to_contain_text(zh("Your number has moved"))
    expect(page.locator(".manage-summary h2 .number")).to_have_text(number)
    shot(page, "manage-number-moved")
    assert_accessible(page, "manage, number moved")

    page.goto(reverse("portal:manage", args=[old.pk]))
    expect(page.locator(".manage-summary")).to_contain_text(zh("Cancelled: service has stopped."))
    shot(page, "old-plan-ended")

    page.goto(reverse("portal:dashboard"))
    cards = page.locator("article.esim")
    expect(cards).to_have_count(2)
    expect(cards.filter(has_text="T-Mobile").locator(".number")).to_have_text(number)
    shot(page, "dashboard-after-port")
