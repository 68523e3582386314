"""Settings: a customer downloads their own data, and deletes their account with their password."""

from __future__ import annotations

import io
import json
import zipfile

from django.contrib.auth import authenticate
from django.test import Client
from django.urls import reverse

from simrenew.customers.models import Customer
from simrenew.subscriptions.models import Subscription
from tests.factories import make_customer
from tests.privacy.story import EMAIL, NAME, customer_with_history

PASSWORD = "s3cret-Passw0rd"


def signed_in(customer: Customer) -> Client:
    client = Client()
    assert client.login(username=customer.user.username, password=PASSWORD)
    return client


def test_the_settings_page_offers_the_downloads_and_the_deletion(clock):
    story = customer_with_history()

    page = signed_in(story.customer).get(reverse("portal:settings")).content.decode()

    assert reverse("portal:my_data_json") in page
    assert reverse("portal:my_data_zip") in page
    assert reverse("portal:delete_account") in page


def test_a_customer_downloads_their_own_data_and_only_theirs(clock):
    story = customer_with_history()
    other = make_customer(email="other.person@example.com")
    client = signed_in(story.customer)

    response = client.get(reverse("portal:my_data_json"))
    as_zip = client.get(reverse("portal:my_data_zip"))

    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    document = json.loads(response.content)
    assert document["profile"][0]["email"] == EMAIL
    assert "other.person@example.com" not in response.content.decode()
    assert other.pk != document["customer_id"]
    assert as_zip["Content-Type"] == "application/zip"
    assert NAME in zipfile.ZipFile(io.BytesIO(as_zip.content)).read("profile.csv").decode()
    assert client.get("/settings/my-data.xml").status_code == 404


def test_a_visitor_must_sign_in_to_download(clock):
    response = Client().get(reverse("portal:my_data_json"))

    assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))


def test_the_deletion_page_says_what_happens_and_what_is_refunded(clock):
    story = customer_with_history()

    page = signed_in(story.customer).get(reverse("portal:delete_account")).content.decode()

    assert "This cannot be undone." in page
    assert "7 years" in page
    assert "Refunded in all: $15.00" in page


def test_a_wrong_password_deletes_nothing(clock):
    story = customer_with_history()
    client = signed_in(story.customer)

    response = client.post(reverse("portal:delete_account"), {"password": "wrong", "understood": "on"})

    assert response.status_code == 400
    assert "That is not your password." in response.content.decode()
    customer = Customer.objects.get(pk=story.customer.pk)
    assert customer.erased_at is None and customer.email == EMAIL
    assert Subscription.objects.get(pk=story.subscription.pk).state == "live"
    assert client.get(reverse("portal:settings")).status_code == 200  # still signed in


def test_without_the_tick_nothing_is_deleted(clock):
    story = customer_with_history()

    response = signed_in(story.customer).post(reverse("portal:delete_account"), {"password": PASSWORD})

    assert response.status_code == 400
    assert Customer.objects.get(pk=story.customer.pk).erased_at is None


def test_deleting_the_account_ends_service_signs_out_and_the_login_is_gone(clock):
    story = customer_with_history()
    client = signed_in(story.customer)
    other_device = signed_in(story.customer)

    response = client.post(reverse("portal:delete_account"), {"password": PASSWORD, "understood": "on"})

    assert response.status_code == 200
    assert "Your account is deleted" in response.content.decode()
    customer = Customer.objects.get(pk=story.customer.pk)
    assert customer.erased_at is not None and customer.name == ""
    assert Subscription.objects.get(pk=story.subscription.pk).ended_at is not None
    assert client.get(reverse("portal:settings")).status_code == 302  # signed out
    assert other_device.get(reverse("portal:settings")).status_code == 302  # everywhere
    assert authenticate(username=EMAIL, password=PASSWORD) is None
    assert not Client().login(username=EMAIL, password=PASSWORD)
