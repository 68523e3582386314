"""Partners create and look up customers."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from simrenew.customers.models import Customer
from tests.api.helpers import ApiClient, assert_problem
from tests.conftest import TestClock

pytestmark = pytest.mark.django_db


def _counts() -> tuple[int, int]:
    return Customer.objects.count(), get_user_model().objects.count()


def test_creating_a_customer_answers_201_with_the_customer(api: ApiClient, clock: TestClock) -> None:
    response = api.post(
        "customers",
        {
            "email": "Li.Wei@Example.COM",
            "name": "  Li Wei ",
            "locale": "zh-hans",
            "time_zone": "Asia/Shanghai",
            "phone": "+86 138 0013 8000",
        },
    )

    assert response.status_code == 201, response.content
    body = response.json()
    customer = Customer.objects.get()
    assert body == {
        "id": customer.pk,
        "email": "Li.Wei@example.com",
        "name": "Li Wei",
        "locale": "zh-hans",
        "time_zone": "Asia/Shanghai",
        "phone": "+8613800138000",
        "renew_with_other_methods": False,
        "created_at": "2026-01-15T12:00:00+00:00",
    }
    assert customer.user.username == "li.wei@example.com"
    assert not customer.user.has_usable_password()


def test_defaults_are_english_utc_and_no_phone(api: ApiClient) -> None:
    body = api.post("customers", {"email": "a@example.com", "name": "A"}).json()

    assert (body["locale"], body["time_zone"], body["phone"]) == ("en", "UTC", None)


def test_a_customer_is_read_back_by_id(api: ApiClient) -> None:
    created = api.post("customers", {"email": "a@example.com", "name": "A", "time_zone": "Europe/Berlin"}).json()

    fetched = api.get(f"customers/{created['id']}")

    assert fetched.status_code == 200
    assert fetched.json() == created


def test_an_unknown_customer_is_a_404(api: ApiClient) -> None:
    assert_problem(api.get("customers/31337"), status=404, type="/problems/not-found")


@pytest.mark.parametrize("email", ["ada@example.com", "ADA@EXAMPLE.COM", "Ada@Example.com"])
def test_an_email_already_taken_in_any_case_is_a_conflict(api: ApiClient, email: str) -> None:
    api.post("customers", {"email": "ada@example.com", "name": "Ada"})

    body = assert_problem(
        api.post("customers", {"email": email, "name": "Ada 2"}), status=409, type="/problems/conflict"
    )

    assert "already exists" in body["detail"]
    assert _counts() == (1, 1)


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"time_zone": "Mars/Olympus_Mons"}, ["time_zone"]),
        ({"time_zone": "utc+8"}, ["time_zone"]),
        ({"locale": "fr"}, ["locale"]),
        ({"email": "not-an-email"}, ["email"]),
        ({"phone": "12345"}, ["phone"]),
        ({"name": "   "}, ["name"]),
        ({"locale": "de", "time_zone": "Nowhere"}, ["locale", "time_zone"]),
        ({"email": "x" * 140 + "@example.com"}, ["email"]),
    ],
)
def test_bad_details_are_named_and_nothing_is_written(
    api: ApiClient, changes: dict[str, str], fields: list[str]
) -> None:
    response = api.post("customers", {"email": "a@example.com", "name": "A", **changes})

    assert_problem(response, status=422, type="/problems/validation-error", fields=fields)
    assert _counts() == (0, 0)


def test_customers_list_in_pages(api: ApiClient) -> None:
    ids = [api.post("customers", {"email": f"c{i}@example.com", "name": f"C{i}"}).json()["id"] for i in range(5)]

    first = api.get("customers?limit=3").json()
    rest = api.get(f"customers?limit=3&starting_after={first['next_starting_after']}").json()

    assert [c["id"] for c in first["items"]] == ids[:3]
    assert first["has_more"] is True
    assert first["next_starting_after"] == ids[2]
    assert [c["id"] for c in rest["items"]] == ids[3:]
    assert (rest["has_more"], rest["next_starting_after"]) == (False, None)


def test_customers_are_found_by_email_in_any_case(api: ApiClient) -> None:
    api.post("customers", {"email": "one@example.com", "name": "One"})
    two = api.post("customers", {"email": "two@example.com", "name": "Two"}).json()

    body = api.get("customers?email=TWO@example.com").json()

    assert [c["id"] for c in body["items"]] == [two["id"]]


@pytest.mark.parametrize("limit", ["0", "101", "-5"])
def test_a_limit_out_of_range_is_refused(api: ApiClient, limit: str) -> None:
    assert_problem(api.get(f"customers?limit={limit}"), status=422, type="/problems/validation-error", fields=["limit"])


def test_a_customer_changes_language_and_zone(api: ApiClient) -> None:
    created = api.post("customers", {"email": "a@example.com", "name": "A"}).json()

    response = api.patch(f"customers/{created['id']}", {"locale": "zh-hans", "time_zone": "Asia/Taipei"})

    assert response.status_code == 200, response.content
    assert (response.json()["locale"], response.json()["time_zone"]) == ("zh-hans", "Asia/Taipei")
    assert Customer.objects.get().time_zone == "Asia/Taipei"


def test_a_customer_lets_auto_renew_fall_back_to_other_saved_methods(api: ApiClient) -> None:
    created = api.post("customers", {"email": "a@example.com", "name": "A"}).json()
    assert created["renew_with_other_methods"] is False

    response = api.patch(f"customers/{created['id']}", {"renew_with_other_methods": True})

    assert response.status_code == 200, response.content
    assert response.json()["renew_with_other_methods"] is True
    assert Customer.objects.get().renew_with_other_methods is True
    refused = api.patch(f"customers/{created['id']}", {"renew_with_other_methods": "perhaps"})
    assert_problem(refused, status=422, type="/problems/validation-error", fields=["renew_with_other_methods"])
    assert Customer.objects.get().renew_with_other_methods is True


def test_a_bad_change_leaves_the_customer_as_it_was(api: ApiClient) -> None:
    created = api.post("customers", {"email": "a@example.com", "name": "A"}).json()

    response = api.patch(f"customers/{created['id']}", {"name": "B", "time_zone": "Nowhere/Land"})

    assert_problem(response, status=422, type="/problems/validation-error", fields=["time_zone"])
    customer = Customer.objects.get()
    assert (customer.name, customer.time_zone) == ("A", "UTC")
