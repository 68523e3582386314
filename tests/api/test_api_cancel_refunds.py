"""A partner cancels now: the answer says what was refunded, how much, where to and how far it got;
a retry (with or without the same Idempotency-Key) refunds nothing more, and the subscription's
refunds stay readable afterwards."""

from __future__ import annotations

import pytest

from simrenew.payments.models import SandboxRefund
from simrenew.subscriptions.models import Period, Subscription
from tests.api.helpers import ApiClient
from tests.conftest import TestClock
from tests.factories import make_plan, make_subscription, renew

pytestmark = pytest.mark.django_db


def month_and_a_year_ahead(clock: TestClock) -> Subscription:
    subscription = make_subscription(plan=make_plan(price_minor=2500))
    year = make_plan(period_unit="year", price_minor=34900, data_mb=102_400)
    assert renew(subscription, plan=year).status == "succeeded"
    clock.advance(days=10)
    return subscription


def test_cancel_now_answers_with_the_refund_of_the_year_not_started(api: ApiClient, clock: TestClock) -> None:
    subscription = month_and_a_year_ahead(clock)
    year_invoice = Period.objects.get(subscription=subscription, number=2).invoice

    response = api.post(f"subscriptions/{subscription.pk}/cancel", {"when": "now"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["refund_policy"]) == ("cancelled", "unstarted")
    [refund] = body["refunds"]
    assert {
        k: refund[k] for k in ("invoice_id", "invoice_number", "amount_minor", "currency", "status", "to_wallet")
    } == {
        "invoice_id": year_invoice.pk,
        "invoice_number": year_invoice.number,
        "amount_minor": 34900,
        "currency": "USD",
        "status": "succeeded",
        "to_wallet": False,
    }
    assert refund["completed_at"] is not None

    listed = api.get(f"subscriptions/{subscription.pk}/refunds")
    assert listed.status_code == 200
    assert listed.json()["items"] == body["refunds"]


def test_a_retried_cancel_refunds_nothing_more(api: ApiClient, clock: TestClock) -> None:
    subscription = month_and_a_year_ahead(clock)
    url = f"subscriptions/{subscription.pk}/cancel"

    first = api.post(url, {"when": "now"}, headers={"Idempotency-Key": "cancel-once"})
    replayed = api.post(url, {"when": "now"}, headers={"Idempotency-Key": "cancel-once"})
    again = api.post(url, {"when": "now"})

    assert first.json() == replayed.json()
    assert [r["id"] for r in again.json()["refunds"]] == [r["id"] for r in first.json()["refunds"]]
    assert SandboxRefund.objects.count() == 1  # the gateway's books: paid back once


def test_cancel_at_period_end_refunds_nothing(api: ApiClient, clock: TestClock, settings) -> None:
    settings.SIMRENEW_CANCEL_REFUND_POLICY = "prorata"
    subscription = month_and_a_year_ahead(clock)

    body = api.post(f"subscriptions/{subscription.pk}/cancel", {"when": "period_end"}).json()

    assert (body["refund_policy"], body["refunds"]) == ("prorata", [])
    assert api.get(f"subscriptions/{subscription.pk}/refunds").json() == {"items": []}


def test_the_refunds_of_an_unknown_subscription_are_a_404(api: ApiClient, clock: TestClock) -> None:
    assert api.get("subscriptions/777/refunds").status_code == 404
