"""The bar: promotion limits hold under concurrent redemption (PostgreSQL).

Twenty threads, each with its own database connection, pay at the same moment
with a code that only some of them may use."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection

from simrenew.catalog.models import Promotion, PromotionRedemption
from simrenew.catalog.services import PromotionNotApplicable
from simrenew.payments.charging import run_charge
from simrenew.payments.models import PaymentAttempt
from simrenew.subscriptions.models import Subscription
from simrenew.subscriptions.renewals import begin_renewal, begin_subscription
from tests.concurrency import all_at_once
from tests.factories import make_card, make_customer, make_esim, make_plan, make_promotion, make_subscription

THREADS = 20

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def postgresql(clock) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks")


def test_no_more_than_max_redemptions_succeed_when_twenty_customers_redeem_at_once(postgresql):
    plan = make_plan(price_minor=2500)
    make_promotion(code="FIRST5", percent_off=20, max_redemptions=5)
    buyers = []
    for _ in range(THREADS):
        customer = make_customer()
        buyers.append((make_esim(customer=customer), make_card(customer=customer)))

    def buy(esim, card, key) -> Callable[[], PaymentAttempt]:
        return lambda: run_charge(
            lambda: begin_subscription(
                esim=esim, plan=plan, payment_method=card, auto_renew=True, promo_code="first5", idempotency_key=key
            )
        )

    results = all_at_once(
        [buy(esim, card, f"first-{i}") for i, (esim, card) in enumerate(buyers)], expected=(PromotionNotApplicable,)
    )

    errors = [r for r in results if isinstance(r, Exception)]
    assert errors == []
    paid = [r for r in results if isinstance(r, PaymentAttempt)]
    assert len(paid) == 5
    assert results.count("refused") == THREADS - 5
    assert all(a.status == "succeeded" and a.amount_minor == 2000 for a in paid)
    assert Promotion.objects.get().redemptions_count == 5
    assert PromotionRedemption.objects.count() == 5
    assert Subscription.objects.filter(state="live").count() == 5


def test_one_customer_renewing_twenty_times_at_once_uses_a_once_per_customer_code_once(postgresql):
    subscription = make_subscription(plan=make_plan(price_minor=2500))
    make_promotion(code="ONCE", percent_off=50, max_per_customer=1)

    def renew(key: str) -> Callable[[], PaymentAttempt]:
        def job() -> PaymentAttempt:
            mine = Subscription.objects.select_related("customer", "plan", "esim", "payment_method").get(
                pk=subscription.pk
            )
            return run_charge(lambda: begin_renewal(subscription=mine, idempotency_key=key, promo_code="ONCE"))

        return job

    results = all_at_once([renew(f"renew-{i}") for i in range(THREADS)], expected=(PromotionNotApplicable,))

    errors = [r for r in results if isinstance(r, Exception)]
    assert errors == []
    paid = [r for r in results if isinstance(r, PaymentAttempt)]
    assert [(a.status, a.amount_minor) for a in paid] == [("succeeded", 1250)]
    assert results.count("refused") == THREADS - 1
    assert Promotion.objects.get().redemptions_count == 1
    assert PromotionRedemption.objects.filter(customer=subscription.customer).count() == 1
    assert subscription.periods.count() == 2
