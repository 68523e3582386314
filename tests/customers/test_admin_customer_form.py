"""Editing a customer in the console: the same rules as sign-up, the portal and the API
(an IANA time zone, a phone number in E.164), the login email read-only, and a role
without access to customers refused before anything of the customer is read."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from simrenew.audit.models import AuditEntry
from simrenew.customers.models import Customer
from tests.customers.console_helpers import staff_client
from tests.factories import make_subscription

pytestmark = pytest.mark.django_db


def change_url(customer: Customer) -> str:
    return f"/admin/customers/customer/{customer.pk}/change/"


def form_data(customer: Customer, **changes: str) -> dict[str, str]:
    data = {
        "name": customer.name,
        "email": customer.email,
        "locale": customer.locale,
        "time_zone": customer.time_zone,
        "phone": customer.phone,
    }
    return data | changes


def inline_prefix(client, customer: Customer) -> str:  # type: ignore[no-untyped-def]
    formset = client.get(change_url(customer)).context["inline_admin_formsets"][0].formset
    return str(formset.prefix)


@pytest.fixture
def customer(clock) -> Customer:  # type: ignore[no-untyped-def]
    return make_subscription().customer


def post(client, customer: Customer, **changes: str):  # type: ignore[no-untyped-def]
    prefix = inline_prefix(client, customer)  # the notification preferences inline (none yet)
    management = {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}
    return client.post(change_url(customer), form_data(customer, **changes) | management)


def test_a_time_zone_that_is_not_iana_is_refused_and_the_page_still_opens(customer):
    admin = staff_client("admin")

    response = post(admin, customer, time_zone="Mars/Olympus")

    assert response.status_code == 200
    assert "&#x27;Mars/Olympus&#x27; is not an IANA time zone" in response.content.decode()
    assert Customer.objects.get(pk=customer.pk).time_zone == "America/New_York"
    assert not AuditEntry.objects.exists()
    assert admin.get(change_url(customer)).status_code == 200


def test_a_phone_number_is_checked_and_stored_in_e164(customer):
    admin = staff_client("admin")

    response = post(admin, customer, phone="212 555 0147")
    assert response.status_code == 200 and "with its country code" in response.content.decode()
    response = post(admin, customer, phone="+1 999 555 0147")
    assert response.status_code == 200 and "This phone number is not valid." in response.content.decode()
    assert Customer.objects.get(pk=customer.pk).phone == ""

    response = post(admin, customer, phone="+1 (212) 555-0147", time_zone="Europe/Paris")

    assert response.status_code == 302
    saved = Customer.objects.get(pk=customer.pk)
    assert (saved.phone, saved.time_zone) == ("+12125550147", "Europe/Paris")
    entry = AuditEntry.objects.get(action="change")
    assert entry.after == {"phone": "+12125550147", "time_zone": "Europe/Paris"}


def test_the_login_email_cannot_be_changed_here(customer):
    admin = staff_client("admin")

    response = post(admin, customer, email="someone.else@example.com", name="Ada King")

    assert response.status_code == 302
    saved = Customer.objects.get(pk=customer.pk)
    assert (saved.email, saved.name) == (customer.email, "Ada King")
    assert saved.user.email == customer.user.email


def test_a_role_without_access_to_customers_is_refused_before_the_page_is_built(customer):
    support = staff_client("support")
    Group.objects.get(name="support").permissions.remove(Permission.objects.get(codename="view_customer"))

    with CaptureQueriesContext(connection) as queries:
        response = support.get(change_url(customer))

    assert response.status_code == 403
    read = " ".join(query["sql"] for query in queries.captured_queries)
    for table in ("subscriptions_subscription", "billing_invoice", "notifications_outboxmessage"):
        assert table not in read
