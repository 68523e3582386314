"""The console: support downloads a customer's data for them and deletes their account on their
request, each behind a reason that the audit trail keeps; finance can do neither."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from simrenew.audit.models import AuditEntry
from simrenew.console.roles import Role
from simrenew.customers.models import Customer
from simrenew.subscriptions.models import Subscription
from tests.customers.console_helpers import staff_client
from tests.privacy.story import EMAIL, customer_with_history


def page_of(customer: Customer) -> str:
    return reverse("admin:customers_customer_change", args=[customer.pk])


def test_support_sees_both_buttons_and_finance_neither(clock):
    story = customer_with_history()

    support_page = staff_client(Role.SUPPORT).get(page_of(story.customer)).content.decode()
    finance_page = staff_client(Role.FINANCE).get(page_of(story.customer)).content.decode()

    assert "Download the customer's data" in support_page and "Delete the account…" in support_page
    assert "Download the customer" not in finance_page and "Delete the account" not in finance_page
    assert "Your role cannot download or delete a customer's data." in finance_page


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.ADMIN])
def test_support_and_admins_download_a_customer_s_data_and_it_is_audited(clock, role):
    story = customer_with_history()
    url = reverse("admin:customers_customer_data_export", args=[story.customer.pk])
    client = staff_client(role)

    response = client.post(url, {"file_format": "json", "reason": "Asked by phone, ticket 88"})

    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert json.loads(response.content)["profile"][0]["email"] == EMAIL
    entry = AuditEntry.objects.get(action="export_data")
    assert (entry.customer_id, entry.reason) == (story.customer.pk, "Asked by phone, ticket 88")
    assert entry.actor_label.startswith(role)


def test_a_download_needs_a_reason(clock):
    story = customer_with_history()
    url = reverse("admin:customers_customer_data_export", args=[story.customer.pk])

    response = staff_client(Role.SUPPORT).post(url, {"file_format": "zip", "reason": ""})

    assert response.status_code == 400
    assert not AuditEntry.objects.filter(action="export_data").exists()


def test_finance_can_neither_download_nor_erase(clock):
    story = customer_with_history()
    finance = staff_client(Role.FINANCE)

    export = finance.post(
        reverse("admin:customers_customer_data_export", args=[story.customer.pk]),
        {"file_format": "json", "reason": "curious"},
    )
    erase = finance.post(
        reverse("admin:customers_customer_erase", args=[story.customer.pk]), {"reason": "x", "confirm": "on"}
    )

    assert (export.status_code, erase.status_code) == (403, 403)
    assert Customer.objects.get(pk=story.customer.pk).erased_at is None
    assert not AuditEntry.objects.filter(action__in=["export_data", "erase"]).exists()


def test_support_deletes_an_account_on_the_customer_s_request(clock):
    story = customer_with_history()
    client = staff_client(Role.SUPPORT)
    url = reverse("admin:customers_customer_erase", args=[story.customer.pk])
    assert "This cannot be undone." in client.get(url).content.decode()

    response = client.post(url, {"reason": "Customer's email of 5 December, ticket 4411", "confirm": "on"})

    assert response.status_code == 302 and response["Location"] == page_of(story.customer)
    customer = Customer.objects.get(pk=story.customer.pk)
    assert customer.erased_at is not None
    assert Subscription.objects.get(pk=story.subscription.pk).ended_at is not None
    entry = AuditEntry.objects.get(action="erase")
    assert entry.actor_label.startswith("support") and "ticket 4411" in entry.reason
    page = client.get(page_of(story.customer)).content.decode()
    assert customer.erasure_reference in page and EMAIL not in page
    assert "Delete the account…" not in page  # once is enough
    # The pseudonymous row is read-only, even for an admin who may edit customers.
    assert 'name="name"' not in staff_client(Role.ADMIN).get(page_of(story.customer)).content.decode()
    # A second request is refused on the form, and changes nothing.
    again = client.post(url, {"reason": "again", "confirm": "on"})
    assert again.status_code == 400 and "already deleted" in again.content.decode()
    assert AuditEntry.objects.filter(action="erase").count() == 1


def test_without_the_confirmation_nothing_is_deleted(clock):
    story = customer_with_history()
    url = reverse("admin:customers_customer_erase", args=[story.customer.pk])

    response = staff_client(Role.SUPPORT).post(url, {"reason": "asked"})

    assert response.status_code == 400
    assert Customer.objects.get(pk=story.customer.pk).erased_at is None
