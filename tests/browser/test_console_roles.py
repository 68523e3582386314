"""Each staff role in the operator console, in Chromium: open the console, sign in on the
login page it sends staff to (allauth's, as customers do) with the password `simrenew staff
create` printed (and a code from their authenticator app when they have one, or must have
one: set up with the grant the new account came with), land on the overview with its charts,
find a customer by email in the one search box, open their page, and meet exactly the buttons
and pages the role allows."""

from __future__ import annotations

import re
from io import StringIO
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.urls import reverse
from playwright.sync_api import Page, expect

from simrenew.catalog.models import Carrier
from simrenew.subscriptions.models import Subscription
from tests.browser.conftest import Shots, log_in_to_console
from tests.factories import make_subscription
from tests.notifications.helpers import run_worker

pytestmark = pytest.mark.django_db(transaction=True)


def staff_account(role: str) -> tuple[str, str]:
    """Made the way an operator makes one: the command's last line is the password."""
    email = f"{role}@simrenew.test"
    out = StringIO()
    call_command("staff", "create", "--email", email, "--role", role, stdout=out)
    return email, out.getvalue().strip().splitlines()[-1]


def a_customer_with_history() -> Subscription:
    subscription = make_subscription()
    run_worker()  # the welcome and receipt messages are sent: something to resend
    return subscription


def watch_requests(page: Page, live_server: Any) -> list[str]:
    """Every request the page makes that does not go to our own server."""
    ours = urlsplit(live_server.url).netloc
    elsewhere: list[str] = []
    page.on("request", lambda request: elsewhere.append(request.url) if urlsplit(request.url).netloc != ours else None)
    return elsewhere


def open_overview_and_find(page: Page, shot: Shots, subscription: Subscription) -> None:
    expect(page.get_by_role("heading", name="Overview", exact=True)).to_be_visible()
    expect(page.locator(".console-chart img")).to_have_count(6)
    expect(page.get_by_role("img", name="Active subscriptions by carrier")).to_be_visible()
    expect(page.locator('[data-figure="active"]')).to_have_text("1")
    shot(page, "overview")

    page.get_by_label("Find a customer by email, phone number or ICCID").fill(subscription.customer.email)
    page.get_by_role("button", name="Find customer").click()
    page.wait_for_url(f"**{reverse('admin:customers_customer_change', args=[subscription.customer_id])}")
    expect(page.get_by_text(subscription.customer.email).first).to_be_visible()
    shot(page, "customer")


def catalog_add_is_refused(page: Page, shot: Shots) -> None:
    answer = page.goto(reverse("admin:catalog_promotion_add"))
    assert answer is not None and answer.status == 403
    carrier = Carrier.objects.get(code="att")
    page.goto(reverse("admin:catalog_carrier_change", args=[carrier.pk]))
    expect(page.get_by_role("button", name="Save", exact=True)).to_have_count(0)
    shot(page, "catalog-read-only")


def test_support_extends_and_resends_but_cannot_refund_or_change_the_catalog(
    page: Page, live_server: Any, shot: Shots, clock: Any
) -> None:
    subscription = a_customer_with_history()
    email, password = staff_account("support")
    elsewhere = watch_requests(page, live_server)

    log_in_to_console(page, email, password)
    open_overview_and_find(page, shot, subscription)

    expect(page.get_by_role("button", name="Extend period", exact=True).first).to_be_visible()
    expect(page.get_by_role("button", name="Resend", exact=True).first).to_be_visible()
    expect(page.get_by_role("button", name="Refund", exact=True)).to_have_count(0)
    catalog_add_is_refused(page, shot)
    answer = page.goto(reverse("admin:kit_testclock_changelist"))
    assert answer is not None and answer.status == 403  # only admins move the test clock
    assert elsewhere == []


def test_finance_refunds_but_does_not_extend_or_resend(page: Page, live_server: Any, shot: Shots, clock: Any) -> None:
    subscription = a_customer_with_history()
    email, password = staff_account("finance")
    elsewhere = watch_requests(page, live_server)

    log_in_to_console(page, email, password)
    open_overview_and_find(page, shot, subscription)

    expect(page.get_by_role("button", name="Refund", exact=True).first).to_be_visible()
    expect(page.get_by_role("button", name="Extend period", exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name="Resend", exact=True)).to_have_count(0)
    catalog_add_is_refused(page, shot)
    assert elsewhere == []


def test_admin_does_everything_edits_the_catalog_and_moves_the_clock(
    page: Page, live_server: Any, shot: Shots, clock: Any
) -> None:
    subscription = a_customer_with_history()
    email, password = staff_account("admin")
    elsewhere = watch_requests(page, live_server)

    log_in_to_console(page, email, password)
    open_overview_and_find(page, shot, subscription)

    for label in ("Refund", "Extend period", "Resend"):
        expect(page.get_by_role("button", name=label, exact=True).first).to_be_visible()

    carrier = Carrier.objects.get(code="att")
    page.goto(reverse("admin:catalog_carrier_change", args=[carrier.pk]))
    page.get_by_label("Name").fill("AT&T Mobility")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("AT&T Mobility").first).to_be_visible()
    carrier.refresh_from_db()
    assert carrier.name == "AT&T Mobility"
    shot(page, "catalog-edited")

    page.goto(reverse("admin:kit_testclock_changelist"))
    page.get_by_label("Advance by").fill("2d")
    page.get_by_role("button", name="Advance").click()
    expect(page.get_by_text("The platform's time is now 2026-01-17T12:00:00+00:00")).to_be_visible()
    shot(page, "test-clock")

    page.goto(reverse("admin:audit_auditentry_changelist"))
    expect(page.get_by_role("cell", name="test_clock.advance")).to_be_visible()
    expect(page.get_by_role("cell", name="catalog.carrier", exact=False).first).to_be_visible()
    shot(page, "audit-log")
    assert elsewhere == []


def test_a_customer_cannot_log_in_to_the_console(page: Page, live_server: Any, shot: Shots, clock: Any) -> None:
    from tests.browser.conftest import PASSWORD, make_verified_customer

    customer = make_verified_customer(email="ada@example.com")

    log_in_to_console(page, customer.email, PASSWORD, then="**/admin/login/?next=/admin/")

    expect(page.get_by_role("heading", name="Not a staff account")).to_be_visible()
    expect(page.get_by_text(f"You are signed in as {customer.email}, which may not use the console.")).to_be_visible()
    shot(page, "refused")
    page.goto(reverse("admin:customers_customer_changelist"))
    expect(page.get_by_role("heading", name="Not a staff account")).to_be_visible()


# ---------------------------------------------------------------- the second factor


def test_a_support_member_with_an_authenticator_app_enters_a_code_before_the_overview(
    page: Page, live_server: Any, shot: Shots, clock: Any, settings: Any
) -> None:
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
    from django.contrib.auth import get_user_model

    from tests.portal.test_accounts_mfa import current_code

    settings.MFA_TOTP_TOLERANCE = 1
    subscription = a_customer_with_history()
    email, password = staff_account("support")
    secret = generate_totp_secret()
    TOTP.activate(get_user_model().objects.get(username=email), secret)

    log_in_to_console(page, email, password, then="**/accounts/2fa/authenticate/")
    shot(page, "asked-for-code")
    page.get_by_label("Code").fill(current_code(secret))
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url("**/admin/")

    open_overview_and_find(page, shot, subscription)


def test_where_staff_mfa_is_required_a_new_staff_member_sets_up_the_app_before_the_console_opens(
    page: Page, live_server: Any, shot: Shots, clock: Any, settings: Any
) -> None:
    from simrenew.console.models import StaffMfaEnrollmentGrant
    from tests.portal.test_accounts_mfa import current_code

    settings.SIMRENEW_STAFF_MFA = "required"
    settings.MFA_TOTP_TOLERANCE = 1
    subscription = a_customer_with_history()
    # `simrenew staff create` lets the new account set up its app (a password alone would not).
    email, password = staff_account("finance")
    assert StaffMfaEnrollmentGrant.objects.filter(user__username=email).exists()

    log_in_to_console(page, email, password, then="**/admin/second-factor/?next=%2Fadmin%2F")
    expect(page.get_by_role("heading", name="Your authenticator app is needed")).to_be_visible()
    shot(page, "set-up-first")
    page.get_by_role("link", name="Set up the authenticator app").click()
    page.wait_for_url("**/accounts/reauthenticate/**")  # turning on a second factor asks the password again
    page.get_by_label(re.compile(r"^Password:?$")).fill(password)
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/accounts/2fa/totp/activate/")
    secret = page.get_by_label("Authenticator secret").input_value()
    shot(page, "activate")
    page.get_by_label("Authenticator code").fill(current_code(secret))
    page.get_by_role("button", name="Activate").click()
    page.wait_for_url("**/accounts/2fa/recovery-codes/**")
    shot(page, "recovery-codes")
    assert not StaffMfaEnrollmentGrant.objects.filter(user__username=email).exists()  # used up

    # Set up; this session has still not entered a code from it: the console asks for one.
    page.goto("/admin/")
    page.wait_for_url("**/admin/second-factor/?next=%2Fadmin%2F")
    shot(page, "enter-a-code")
    page.get_by_role("link", name="Enter a code from your authenticator app").click()
    page.get_by_label("Code").fill(current_code(secret, windows_ahead=1))
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/admin/")

    open_overview_and_find(page, shot, subscription)


def test_where_staff_mfa_is_required_staff_without_a_grant_are_told_to_ask_an_administrator(
    page: Page, live_server: Any, shot: Shots, clock: Any, settings: Any
) -> None:
    from simrenew.console.models import StaffMfaEnrollmentGrant

    settings.SIMRENEW_STAFF_MFA = "required"
    email, password = staff_account("support")
    StaffMfaEnrollmentGrant.objects.filter(user__username=email).delete()  # used, or run out

    log_in_to_console(page, email, password, then="**/admin/second-factor/?next=%2Fadmin%2F")

    expect(page.get_by_role("heading", name="Your authenticator app is needed")).to_be_visible()
    expect(page.get_by_text("simrenew staff allow-mfa-setup")).to_be_visible()
    expect(page.get_by_role("link", name="Set up the authenticator app")).to_have_count(0)
    shot(page, "ask-an-administrator")
