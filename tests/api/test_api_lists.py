"""Every list of the API pages the same way (`limit`, `starting_after` = the last id seen, stable order by
id) and filters by what partners look things up by; a filter value that makes no sense is a 422, never a 500."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client

from simrenew.billing.models import Invoice
from simrenew.billing.refunds import refund_invoice
from tests.api.helpers import ApiClient, assert_problem, make_api_key
from tests.conftest import TestClock
from tests.factories import make_customer, make_esim, make_plan, make_subscription, renew

pytestmark = pytest.mark.django_db

# Every list endpoint, with a filter that keeps everything the story below makes.
LISTS = [
    "customers",
    "esims",
    "subscriptions",
    "invoices",
    "payment-methods",
    "plans",
]


def walk(api: ApiClient, path: str, *, limit: int) -> list[list[int]]:
    """The ids of every page, following `next_starting_after` to the end."""
    pages: list[list[int]] = []
    cursor: int | None = None
    joiner = "&" if "?" in path else "?"
    while True:
        query = f"{joiner}limit={limit}" + (f"&starting_after={cursor}" if cursor is not None else "")
        body: dict[str, Any] = api.get(path + query).json()
        pages.append([item["id"] for item in body["items"]])
        assert len(pages) < 50, "pagination does not end"
        if not body["has_more"]:
            assert body["next_starting_after"] is None
            return pages
        cursor = body["next_starting_after"]
        assert cursor == pages[-1][-1]


@pytest.fixture
def world(clock: TestClock) -> None:
    """Five customers on two carriers, each with a paid month (an invoice, a card, an eSIM)."""
    for carrier in ("att", "att", "tmobile", "att", "tmobile"):
        make_subscription(plan=make_plan(carrier=carrier))


@pytest.mark.parametrize("path", LISTS)
def test_every_list_pages_through_everything_once_in_id_order(world: None, api: ApiClient, path: str) -> None:
    everything = [item["id"] for item in api.get(f"{path}?limit=100").json()["items"]]

    pages = walk(api, path, limit=2)

    assert [i for page in pages for i in page] == everything == sorted(everything)
    assert len(everything) >= 2
    assert all(len(page) <= 2 for page in pages)


@pytest.mark.parametrize("path", LISTS)
def test_pages_stay_stable_while_rows_are_added(world: None, api: ApiClient, path: str) -> None:
    first = api.get(f"{path}?limit=2").json()

    make_subscription(plan=make_plan(carrier="att"))  # new rows get larger ids: they come after
    rest = walk(api, f"{path}?starting_after={first['next_starting_after']}", limit=100)

    seen = [item["id"] for item in first["items"]] + [i for page in rest for i in page]
    assert seen == sorted(set(seen))


def test_subscriptions_filter_by_customer_carrier_esim_status_and_expiry(api: ApiClient, clock: TestClock) -> None:
    ada = make_customer(email="ada@example.com")
    monthly = make_subscription(customer=ada, plan=make_plan(carrier="att", period_unit="month"))
    daily = make_subscription(customer=ada, plan=make_plan(carrier="tmobile", period_unit="day"), auto_renew=False)
    other = make_subscription(plan=make_plan(carrier="att", period_unit="year"))

    def ids(query: str) -> list[int]:
        response = api.get(f"subscriptions?{query}")
        assert response.status_code == 200, response.content
        return [item["id"] for item in response.json()["items"]]

    assert ids(f"customer_id={ada.pk}") == [monthly.pk, daily.pk]
    assert ids("carrier=att") == [monthly.pk, other.pk]
    assert ids(f"esim_id={daily.esim_id}") == [daily.pk]
    assert ids("status=expiring") == [daily.pk]
    soon = (clock.now() + timedelta(days=40)).isoformat()
    assert ids(f"expiring_before={soon.replace('+', '%2B')}") == [monthly.pk, daily.pk]
    assert ids(f"customer_id={ada.pk}&carrier=tmobile&status=expiring") == [daily.pk]


def test_esims_filter_by_iccid_with_or_without_spaces(api: ApiClient) -> None:
    profile = make_esim(customer=make_customer())
    make_esim()
    spaced = " ".join(profile.iccid[i : i + 4] for i in range(0, len(profile.iccid), 4))

    assert [e["id"] for e in api.get(f"esims?iccid={profile.iccid}").json()["items"]] == [profile.pk]
    assert [e["id"] for e in api.get(f"esims?iccid={spaced.replace(' ', '%20')}").json()["items"]] == [profile.pk]


def test_invoices_filter_by_customer_subscription_and_status(api: ApiClient, clock: TestClock) -> None:
    subscription = make_subscription()
    renew(subscription)
    make_subscription()
    first = Invoice.objects.filter(subscription=subscription).order_by("id").first()
    assert first is not None
    refund_invoice(invoice=first, amount_minor=100, reason="goodwill", to_wallet=True)

    def ids(query: str) -> list[int]:
        return [item["id"] for item in api.get(f"invoices?{query}").json()["items"]]

    mine = list(Invoice.objects.filter(subscription=subscription).order_by("id").values_list("id", flat=True))
    assert ids(f"customer_id={subscription.customer_id}") == mine
    assert ids(f"subscription_id={subscription.pk}") == mine
    assert ids("status=partially_refunded") == [first.pk]
    assert ids(f"status=paid&customer_id={subscription.customer_id}") == mine[1:]


BAD_FILTERS = [
    "customers?email=" + "x" * 300,
    "customers?limit=0",
    "customers?starting_after=abc",
    "esims?customer_id=0",
    "esims?customer_id=abc",
    "esims?carrier=nowhere",
    "esims?status=lost",
    "esims?iccid=" + "9" * 40,
    "subscriptions?customer_id=-5",
    "subscriptions?esim_id=1e3",
    "subscriptions?carrier=nowhere",
    "subscriptions?status=sleeping",
    "subscriptions?expiring_before=tomorrow",
    "subscriptions?expiring_before=2026-02-01T00:00:00",
    "subscriptions?starting_after=99999999999999999999999",
    "invoices?customer_id=x",
    "invoices?status=unpaid",
    "invoices?limit=1000",
    "payment-methods?customer_id=[1]",
    "plans?carrier=nowhere",
    "plans?limit=-1",
]


@pytest.mark.parametrize("path", BAD_FILTERS)
def test_a_filter_value_that_makes_no_sense_is_a_422_naming_the_field(api: ApiClient, path: str) -> None:
    response = api.get(path)

    body = assert_problem(response, status=422, type="/problems/validation-error")
    field = path.split("?", 1)[1].split("=", 1)[0]
    assert [error["field"] for error in body["errors"]] == [field]


def test_a_read_key_may_list_everything(world: None) -> None:
    reader = ApiClient(make_api_key(scopes=("read",)))

    for path in LISTS:
        assert reader.get(path).status_code == 200, path
    assert Client().get("/api/v1/customers").status_code == 401
