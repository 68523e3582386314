"""The plan catalog as a partner sees it."""

from __future__ import annotations

import pytest

from simrenew.catalog.services import revise_plan
from tests.api.helpers import ApiClient, assert_problem
from tests.factories import make_carrier, make_plan

pytestmark = pytest.mark.django_db


def test_plans_list_the_current_version_of_every_plan(api: ApiClient) -> None:
    day = make_plan(carrier="att", period_unit="day", period_count=1, data_mb=1024, price_minor=300)
    make_plan(carrier="verizon", period_unit="year", period_count=1, data_mb=102_400, price_minor=19_900)
    newer = revise_plan(day, price_minor=350)

    response = api.get("plans")

    assert response.status_code == 200
    body = response.json()
    assert body["has_more"] is False
    assert body["next_starting_after"] is None
    assert [(p["carrier"], p["period_unit"], p["price_minor"]) for p in body["items"]] == [
        ("verizon", "year", 19_900),
        ("att", "day", 350),
    ]
    shown = body["items"][1]
    assert shown == {
        "id": newer.pk,
        "carrier": "att",
        "code": day.code,
        "version": 2,
        "is_current": True,
        "name": day.name,
        "period_unit": "day",
        "period_count": 1,
        "data_mb": 1024,
        "price_minor": 350,
        "currency": "USD",
    }


def test_plans_filter_by_carrier(api: ApiClient) -> None:
    make_plan(carrier="att")
    tmobile = make_plan(carrier="tmobile")

    body = api.get("plans?carrier=tmobile").json()

    assert [p["id"] for p in body["items"]] == [tmobile.pk]


def test_an_unknown_carrier_is_named_with_the_known_ones(api: ApiClient) -> None:
    make_carrier(code="att")
    make_carrier(code="verizon")

    body = assert_problem(
        api.get("plans?carrier=atnt"), status=422, type="/problems/validation-error", fields=["carrier"]
    )

    assert "att, verizon" in body["detail"]


def test_an_old_version_is_still_found_by_id(api: ApiClient) -> None:
    old = make_plan(price_minor=2500)
    revise_plan(old, price_minor=2700)

    body = api.get(f"plans/{old.pk}").json()

    assert (body["version"], body["is_current"], body["price_minor"]) == (1, False, 2500)


def test_plans_page_with_a_cursor(api: ApiClient) -> None:
    plans = [make_plan(carrier="att") for _ in range(5)]

    first = api.get("plans?limit=2").json()
    second = api.get(f"plans?limit=2&starting_after={first['next_starting_after']}").json()
    last = api.get(f"plans?limit=2&starting_after={second['next_starting_after']}").json()

    assert [p["id"] for p in first["items"] + second["items"] + last["items"]] == [p.pk for p in plans]
    assert (first["has_more"], second["has_more"], last["has_more"]) == (True, True, False)
    assert last["next_starting_after"] is None


def test_an_unknown_plan_is_a_404(api: ApiClient) -> None:
    assert_problem(api.get("plans/999"), status=404, type="/problems/not-found")
