"""Partners cannot guess promotion codes either: after 10 codes that did not apply for one
customer in an hour (or 30 through one API key), a code is refused with a 429 problem
without being looked up, and nothing is charged."""

from __future__ import annotations

import pytest

from simrenew.payments.models import PaymentAttempt
from tests.api.helpers import ApiClient, assert_problem, make_api_key
from tests.factories import make_customer, make_plan, make_promotion, make_subscription

pytestmark = pytest.mark.django_db


@pytest.fixture
def subscription(clock):
    make_promotion(code="SPRING20", percent_off=20)
    return make_subscription(customer=make_customer(), plan=make_plan(price_minor=2500))


def preview(api: ApiClient, subscription, code: str):
    return api.get(f"subscriptions/{subscription.pk}/renewal-preview?promo_code={code}")


def test_after_ten_wrong_codes_for_a_customer_the_api_answers_429_for_an_hour(api, subscription, clock):
    for number in range(10):
        assert_problem(
            preview(api, subscription, f"GUESS{number}"), status=422, type="/problems/promotion-not-applicable"
        )

    refused = assert_problem(
        preview(api, subscription, "SPRING20"), status=429, type="/problems/too-many-promotion-codes"
    )
    renewal = api.post(
        f"subscriptions/{subscription.pk}/renewals", {"promo_code": "SPRING20"}, headers={"Idempotency-Key": "r-1"}
    )

    assert "Try again in an hour" in refused["detail"]
    assert_problem(renewal, status=429, type="/problems/too-many-promotion-codes")
    assert not PaymentAttempt.objects.filter(purpose="renewal").exists()
    assert preview(api, subscription, "").status_code == 200  # no code: nothing to refuse
    clock.advance(hours=1)
    assert preview(api, subscription, "SPRING20").json()["discount_minor"] == 500


def test_thirty_wrong_codes_through_one_key_stop_that_key_not_others(subscription, clock):
    plan = make_plan(price_minor=2500)
    guesser = ApiClient(make_api_key())
    others = [make_subscription(customer=make_customer(), plan=plan) for _ in range(3)]
    for first, other in enumerate(others):
        for number in range(10):
            preview(guesser, other, f"GUESS{first}-{number}")

    assert_problem(preview(guesser, subscription, "SPRING20"), status=429, type="/problems/too-many-promotion-codes")
    assert preview(ApiClient(make_api_key()), subscription, "SPRING20").status_code == 200
