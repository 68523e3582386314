"""A partner renews with another plan and asks, in the same request, to keep renewing with it
(`also_renew_with_plan`, the portal pay page's "also renew with this plan from now on" box):
the renewal plan changes when that payment is paid, and only then."""

from __future__ import annotations

from typing import Any

import pytest

from simrenew.catalog.services import revise_plan
from simrenew.payments.models import AttemptPurpose, PaymentAttempt
from simrenew.subscriptions.models import Subscription
from tests.api.helpers import ApiClient, assert_problem
from tests.conftest import TestClock
from tests.factories import make_card, make_plan, make_subscription

pytestmark = pytest.mark.django_db

DECLINES = "4000000000000002"


def renewal(api: ApiClient, subscription: Subscription, body: dict[str, Any], *, key: str = "r-1") -> Any:
    return api.post(f"subscriptions/{subscription.pk}/renewals", body, headers={"Idempotency-Key": key})


def renewal_plan_of(api: ApiClient, subscription: Subscription) -> int:
    return int(api.get(f"subscriptions/{subscription.pk}").json()["renewal_plan_id"])


def test_a_renewal_paid_with_the_flag_makes_its_plan_the_renewal_plan(api: ApiClient, clock: TestClock) -> None:
    month = make_plan(code="att-1m", period_unit="month", price_minor=2500)
    year = make_plan(code="att-1y", period_unit="year", price_minor=24_900)
    subscription = make_subscription(plan=month)

    response = renewal(api, subscription, {"plan_id": year.pk, "also_renew_with_plan": True})

    assert response.status_code == 201, response.content
    assert renewal_plan_of(api, subscription) == year.pk
    assert renewal(api, subscription, {}, key="r-2").json()["amount_minor"] == 24_900  # what renews now


def test_without_the_flag_another_plan_is_bought_once(api: ApiClient, clock: TestClock) -> None:
    month = make_plan(code="att-1m", period_unit="month", price_minor=2500)
    year = make_plan(code="att-1y", period_unit="year", price_minor=24_900)
    subscription = make_subscription(plan=month)

    assert renewal(api, subscription, {"plan_id": year.pk}).status_code == 201

    assert renewal_plan_of(api, subscription) == month.pk


def test_a_refused_payment_leaves_the_renewal_plan_as_it_was(api: ApiClient, clock: TestClock) -> None:
    month = make_plan(code="att-1m", period_unit="month", price_minor=2500)
    year = make_plan(code="att-1y", period_unit="year", price_minor=24_900)
    subscription = make_subscription(plan=month)
    declining = make_card(customer=subscription.customer, number=DECLINES)

    response = renewal(
        api, subscription, {"plan_id": year.pk, "payment_method_id": declining.pk, "also_renew_with_plan": True}
    )

    assert response.status_code == 402, response.content
    assert renewal_plan_of(api, subscription) == month.pk


def test_a_plan_no_longer_sold_is_a_422_and_nothing_is_charged(api: ApiClient, clock: TestClock) -> None:
    month = make_plan(code="att-1m", period_unit="month", price_minor=2500)
    old_year = make_plan(code="att-1y", period_unit="year", price_minor=24_900)
    revise_plan(old_year, price_minor=26_900)  # the old version is no longer sold
    subscription = make_subscription(plan=month)
    charges = PaymentAttempt.objects.filter(purpose=AttemptPurpose.RENEWAL).count()

    response = renewal(api, subscription, {"plan_id": old_year.pk, "also_renew_with_plan": True})

    assert_problem(response, status=422, type="/problems/validation-error", fields=["plan_id"])
    assert renewal_plan_of(api, subscription) == month.pk
    assert PaymentAttempt.objects.filter(purpose=AttemptPurpose.RENEWAL).count() == charges


def test_the_flag_is_documented_and_off_by_default(api: ApiClient) -> None:
    schema = api.get("openapi.json").json()["components"]["schemas"]["RenewalIn"]["properties"]

    flag = schema["also_renew_with_plan"]
    assert flag["type"] == "boolean" and flag["default"] is False
    assert "from now on" in flag["description"] and "422" in flag["description"]
