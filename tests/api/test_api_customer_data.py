"""Partners: a customer's data as JSON or CSV (any key that reads), and their erasure (admin keys)."""

from __future__ import annotations

import io
import json
import zipfile

from simrenew.audit.models import AuditEntry
from simrenew.customers.models import Customer
from simrenew.subscriptions.models import Subscription
from tests.api.helpers import ApiClient, assert_problem, make_api_key
from tests.privacy.story import EMAIL, NAME, customer_with_history

REASON = {"reason": "The customer asked us by email (ticket 4411)."}


def test_a_read_key_downloads_a_customer_s_data_as_json_and_as_csv(clock):
    story = customer_with_history()
    api = ApiClient(make_api_key(scopes=("read",)))
    path = f"/api/v1/customers/{story.customer.pk}/data-export"

    as_json = api.get(path)
    as_csv = api.get(path + "?format=csv")

    assert as_json.status_code == 200 and as_json["Content-Type"] == "application/json"
    document = json.loads(as_json.content)
    assert (document["profile"][0]["email"], document["profile"][0]["name"]) == (EMAIL, NAME)
    assert len(document["invoices"]) == 2
    assert as_csv.status_code == 200 and as_csv["Content-Type"] == "application/zip"
    assert "esims.csv" in zipfile.ZipFile(io.BytesIO(as_csv.content)).namelist()


def test_the_export_refuses_an_unknown_customer_a_bad_format_and_no_key(clock):
    api = ApiClient(make_api_key(scopes=("read",)))

    assert_problem(api.get("/api/v1/customers/999/data-export"), status=404, type="/problems/not-found")
    assert_problem(api.get("/api/v1/customers/1/data-export?format=xml"), status=422, type="/problems/validation-error")
    assert ApiClient(None).get("/api/v1/customers/1/data-export").status_code == 401


def test_only_an_admin_key_erases_a_customer(clock):
    story = customer_with_history()
    path = f"/api/v1/customers/{story.customer.pk}/erasure"

    refused = ApiClient(make_api_key(scopes=("write",))).post(path, REASON)

    assert_problem(refused, status=403, type="/problems/insufficient-scope")
    assert Customer.objects.get(pk=story.customer.pk).erased_at is None


def test_an_admin_key_erases_a_customer_once(clock):
    story = customer_with_history()
    admin = ApiClient(make_api_key(scopes=("admin",), name="crm"))
    path = f"/api/v1/customers/{story.customer.pk}/erasure"

    response = admin.post(path, REASON)

    assert response.status_code == 200, response.content
    body = json.loads(response.content)
    assert body["subscriptions_ended"] == [story.subscription.pk] and body["invoices_kept"] == 2
    assert Subscription.objects.get(pk=story.subscription.pk).ended_at is not None
    entry = AuditEntry.objects.get(action="erase")
    assert entry.actor_label.startswith("api_key:") and "ticket 4411" in entry.reason
    assert entry.target_label == body["reference"]
    profile = json.loads(admin.get(f"/api/v1/customers/{story.customer.pk}").content)
    assert profile["email"] == f"{body['reference']}@erased.invalid" and profile["name"] == ""
    # The pseudonymous row takes no new personal details.
    refused = admin.patch(f"/api/v1/customers/{story.customer.pk}", {"name": "Grace Hopper"})
    assert_problem(refused, status=409, type="/problems/conflict")
    # Twice is a conflict that changes nothing.
    again = admin.post(path, REASON)
    assert_problem(again, status=409, type="/problems/conflict")
    assert Customer.objects.get(pk=story.customer.pk).erasure_reference == body["reference"]


def test_an_erasure_needs_a_reason_and_a_customer_that_exists(clock):
    story = customer_with_history()
    admin = ApiClient(make_api_key(scopes=("admin",)))

    assert_problem(
        admin.post(f"/api/v1/customers/{story.customer.pk}/erasure", {"reason": ""}),
        status=422,
        type="/problems/validation-error",
    )
    assert_problem(admin.post("/api/v1/customers/999/erasure", REASON), status=404, type="/problems/not-found")
    assert Customer.objects.get(pk=story.customer.pk).erased_at is None
