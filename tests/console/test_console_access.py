"""Who gets into the console and what each staff role may do there, signed in through the
real login (allauth's, where the console sends staff) and Django's test client."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from simrenew.audit.models import AuditEntry
from simrenew.catalog.models import Promotion
from simrenew.console.roles import Role
from simrenew.console.staff import create_staff
from simrenew.customers.services import update_customer
from simrenew.portal.accounts import verified_login
from tests.customers.console_helpers import sign_in_to_console
from tests.factories import make_customer, make_subscription


@dataclass
class Staff:
    email: str
    password: str
    client: Client


def log_in(email: str, password: str) -> Client:
    client = Client()
    response = sign_in_to_console(client, email, password)
    assert response.status_code == 302 and response["Location"] == reverse("admin:index"), response.content.decode()
    return client


@pytest.fixture
def staff(db: None):
    def _make(role: str, email: str | None = None) -> Staff:
        user, password = create_staff(email=email or f"{role}@simrenew.test", role=role)
        return Staff(user.email, password, log_in(user.email, password))

    return _make


@pytest.mark.parametrize("role", Role.ALL)
def test_each_role_logs_in_with_its_email_and_opens_on_the_overview(clock, staff, role):
    make_subscription()
    member = staff(role, email=f"{role.title()}@Simrenew.test")

    page = member.client.get(reverse("admin:index"))

    html = page.content.decode()
    assert page.status_code == 200 and page.templates[0].name == "console/overview.html"
    assert "simrenew console" in html
    charts = [
        base64.b64decode(found).decode() for found in re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', html)
    ]
    assert len(charts) == 6
    assert all(chart.startswith("<svg") and "<script" not in chart for chart in charts)
    assert 'data-figure="active">1<' in html
    assert "Email, phone or ICCID" in html


def test_people_without_a_console_role_get_no_console_page(clock):
    customer = make_customer(email="ada@example.com")
    customer.user.set_password("a-long-customer-password")
    customer.user.save()
    verified_login(customer.user)
    roleless = get_user_model().objects.create_user("helper@simrenew.test", "helper@simrenew.test", "pw-roleless-1234")
    roleless.is_staff = True
    roleless.save()
    verified_login(roleless)

    for email, password in (("ada@example.com", "a-long-customer-password"), (roleless.email, "pw-roleless-1234")):
        client = Client()
        signed_in = sign_in_to_console(client, email, password)
        assert signed_in.status_code == 302  # a good password: they are signed in, as themselves

        answer = client.get(reverse("admin:index"), follow=True)
        assert answer.status_code == 403 and "Not a staff account" in answer.content.decode()
        assert f"You are signed in as {email}, which may not use the console." in answer.content.decode()
        for page in (reverse("admin:index"), reverse("admin:customers_customer_changelist")):
            assert client.get(page)["Location"].startswith(reverse("admin:login")), page


def test_a_wrong_password_is_refused(db, staff):
    member = staff(Role.SUPPORT)
    client = Client()
    answer = sign_in_to_console(client, member.email, member.password + "x")
    assert answer.status_code == 200 and "password you specified are not correct" in answer.content.decode()
    assert client.get(reverse("admin:index")).status_code == 302


def test_the_search_box_goes_straight_to_the_one_customer_or_lists_the_matches(clock, staff):
    support = staff(Role.SUPPORT).client
    subscription = make_subscription()
    customer = update_customer(subscription.customer, phone="+12125550147")
    make_subscription()
    change = reverse("admin:customers_customer_change", args=[customer.pk])

    for term in (customer.email, "+1 212 555 0147", subscription.esim.iccid, subscription.esim.msisdn):
        answer = support.get(reverse("admin:console_search"), {"q": term})
        assert answer.status_code == 302 and answer["Location"] == change, term

    listing = support.get(reverse("admin:console_search"), {"q": "example.com"})
    location = urlsplit(listing["Location"])
    assert location.path == reverse("admin:customers_customer_changelist")
    assert parse_qs(location.query) == {"q": ["example.com"]}

    empty = support.get(reverse("admin:console_search"), {"q": "  "})
    assert empty["Location"] == reverse("admin:index")


def test_only_admins_change_the_catalog(clock, staff):
    support, finance, admin = staff(Role.SUPPORT), staff(Role.FINANCE), staff(Role.ADMIN)
    add_promotion = reverse("admin:catalog_promotion_add")
    form = {
        "code": "SPRING",
        "discount_kind": "percent",
        "percent_off": "15",
        "amount_off_minor": "0",
        "currency": "USD",
        "bonus_data_mb": "0",
        "eligible_plan_codes": "[]",
        "is_active": "on",
        "created_at_0": "2026-01-15",
        "created_at_1": "12:00:00",
    }

    for reader in (support, finance):
        assert reader.client.get(reverse("admin:catalog_promotion_changelist")).status_code == 200
        assert reader.client.get(add_promotion).status_code == 403
        assert reader.client.post(add_promotion, form).status_code == 403
    assert not Promotion.objects.exists()

    assert admin.client.get(add_promotion).status_code == 200


@pytest.mark.parametrize("role", Role.ALL)
def test_every_role_reads_the_expiring_list_and_all_data(clock, staff, role):
    subscription = make_subscription()
    clock.advance(days=25)
    member = staff(role).client

    expiring = member.get(reverse("admin:console_expiring"))
    assert expiring.status_code == 200 and subscription.customer.email in expiring.content.decode()
    apps = member.get(reverse("admin:console_apps"))
    assert apps.status_code == 200 and "Customers" in apps.content.decode()


def test_the_overview_needs_its_permission(clock, staff):
    member = staff(Role.SUPPORT)
    from django.contrib.auth.models import Group, Permission

    Group.objects.get(name=Role.SUPPORT).permissions.remove(Permission.objects.get(codename="view_overview"))

    assert member.client.get(reverse("admin:index")).status_code == 403


# ---------------------------------------------------------------- the audit log


def test_every_role_reads_the_audit_log_and_nobody_can_change_it(clock, staff):
    support, finance, admin = staff(Role.SUPPORT), staff(Role.FINANCE), staff(Role.ADMIN)
    customer = make_customer()
    from simrenew.console.audit import record_change

    entry = record_change(
        actor=None,
        actor_name="cli",
        action="goodwill",
        target=customer,
        before={"paid_through": "2026-02-01T00:00:00+00:00"},
        after={"paid_through": "2026-02-08T00:00:00+00:00"},
        reason="outage on Jan 14",
    )
    change = reverse("admin:audit_auditentry_change", args=[entry.pk])

    for member in (support, finance, admin):
        listing = member.client.get(reverse("admin:audit_auditentry_changelist"), {"action": "goodwill"})
        assert listing.status_code == 200 and listing.context["cl"].result_count == 1
        page = member.client.get(change)
        html = page.content.decode()
        assert page.status_code == 200 and 'name="_save"' not in html
        assert "2026-02-01T00:00:00+00:00" in html and "2026-02-08T00:00:00+00:00" in html
        assert member.client.post(change, {"reason": "rewritten"}).status_code == 403
        assert member.client.get(reverse("admin:audit_auditentry_delete", args=[entry.pk])).status_code == 403
        assert member.client.get(reverse("admin:audit_auditentry_add")).status_code == 403
    entry.refresh_from_db()
    assert entry.reason == "outage on Jan 14"

    searched = admin.client.get(reverse("admin:audit_auditentry_changelist"), {"q": "outage"})
    assert searched.context["cl"].result_count == 1
    filtered = admin.client.get(reverse("admin:audit_auditentry_changelist"), {"actor_label": "someone-else"})
    assert filtered.context["cl"].result_count == 0


def test_the_audit_logs_old_console_addresses_lead_to_its_new_ones_for_good(clock, staff):
    support = staff(Role.SUPPORT)
    from simrenew.console.audit import record_change

    entry = record_change(
        actor=None, actor_name="cli", action="goodwill", target=make_customer(), before={}, after={}, reason="outage"
    )
    listing = reverse("admin:audit_auditentry_changelist")
    assert listing == "/admin/audit/auditentry/"

    moved = support.client.get("/admin/console/auditentry/?action=goodwill")
    assert moved.status_code == 301 and moved["Location"] == f"{listing}?action=goodwill"
    page = support.client.get(f"/admin/console/auditentry/{entry.pk}/change/", follow=True)
    assert page.redirect_chain == [(reverse("admin:audit_auditentry_change", args=[entry.pk]), 301)]
    assert page.status_code == 200 and "outage" in page.content.decode()
    # The redirect tells nobody anything: the page it leads to still wants a console role.
    assert Client().get(listing).status_code == 302


# ---------------------------------------------------------------- the test clock


def test_an_admin_moves_the_test_clock_and_it_is_audited(clock, staff):
    admin = staff(Role.ADMIN).client
    page = reverse("admin:kit_testclock_changelist")
    assert "Thu 15 Jan 2026, 12:00:00 UTC" in admin.get(page).content.decode()

    moved = admin.post(page, {"verb": "advance", "by": "1d12h"}, follow=True)
    assert "2026-01-17T00:00:00+00:00" in moved.content.decode()
    assert clock.now().isoformat() == "2026-01-17T00:00:00+00:00"
    admin.post(page, {"verb": "set", "when": "2026-03-01T09:30"})
    assert clock.now().isoformat() == "2026-03-01T09:30:00+00:00"

    entries = list(AuditEntry.objects.filter(target_type="kit.testclock").order_by("id"))
    assert [e.action for e in entries] == ["test_clock.advance", "test_clock.set"]
    assert entries[0].actor_label == "admin@simrenew.test"
    assert (
        entries[0].before["now"] == "2026-01-15T12:00:00+00:00"
        and entries[0].after["now"] == "2026-01-17T00:00:00+00:00"
    )

    admin.post(page, {"verb": "reset"})
    assert AuditEntry.objects.filter(action="test_clock.reset").count() == 1


@pytest.mark.parametrize(
    "form, message",
    [
        ({"verb": "advance", "by": "soon"}, "is not a duration"),
        ({"verb": "advance", "by": "99999999w"}, "too long a duration"),
        ({"verb": "set", "when": "next tuesday"}, "is not a time"),
        # The overview reckons a year around "now": the calendar's ends would make it fail.
        ({"verb": "set", "when": "0001-01-01"}, "between 2000 and 2199"),
        ({"verb": "set", "when": "9999-12-31T23:00-05:00"}, "outside the years 1 to 9999"),
        ({"verb": "advance", "by": "52000w"}, "between 2000 and 2199"),
        ({"verb": "explode"}, "Choose to set, advance or reset"),
    ],
)
def test_bad_clock_moves_are_explained_and_change_nothing(clock, staff, form, message):
    admin = staff(Role.ADMIN).client

    answer = admin.post(reverse("admin:kit_testclock_changelist"), form, follow=True)

    assert answer.status_code == 200 and message in answer.content.decode()
    assert clock.now().isoformat() == "2026-01-15T12:00:00+00:00"
    assert not AuditEntry.objects.filter(target_type="kit.testclock").exists()
    assert admin.get(reverse("admin:index")).status_code == 200


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.FINANCE])
def test_support_and_finance_cannot_move_the_clock(clock, staff, role):
    member = staff(role).client
    answer = member.post(reverse("admin:kit_testclock_changelist"), {"verb": "advance", "by": "1d"})
    assert answer.status_code == 403
    assert clock.now().isoformat() == "2026-01-15T12:00:00+00:00"


def test_the_clock_is_refused_outside_the_sandbox(clock, staff, settings):
    admin = staff(Role.ADMIN).client
    settings.SIMRENEW_SANDBOX = False

    page = admin.get(reverse("admin:kit_testclock_changelist"))
    assert page.status_code == 200 and "can only be moved in sandbox mode" in page.content.decode()
    answer = admin.post(reverse("admin:kit_testclock_changelist"), {"verb": "advance", "by": "1d"})
    assert answer.status_code == 403

    settings.SIMRENEW_SANDBOX = True
    assert clock.now().isoformat() == "2026-01-15T12:00:00+00:00"
    assert not AuditEntry.objects.filter(target_type="kit.testclock").exists()
