"""Partners buy plans for eSIMs, renew them (every test card), top them up, change, cancel and resume them."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import transaction

from simrenew.api.idempotency import scope_key
from simrenew.api.keys import authenticate
from simrenew.billing.models import Invoice
from simrenew.catalog.models import Plan
from simrenew.customers.models import Customer
from simrenew.payments.charging import attempts_due_for_reconciliation, reconcile
from simrenew.payments.models import AttemptPurpose, PaymentAttempt, SandboxCharge
from simrenew.subscriptions.models import Period, Subscription, TopUp
from simrenew.subscriptions.renewals import begin_renewal
from simrenew.subscriptions.topups import begin_top_up
from tests.api.helpers import ApiClient, assert_problem
from tests.conftest import TestClock
from tests.factories import (
    make_card,
    make_customer,
    make_esim,
    make_plan,
    make_promotion,
    make_subscription,
    make_top_up_pack,
    record_usage,
    renew,
)

pytestmark = pytest.mark.django_db

VISA = "4242424242424242"
NOW = "2026-01-15T12:00:00+00:00"


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def subscribe(
    api: ApiClient,
    *,
    number: str = VISA,
    plan: Plan | None = None,
    customer: Customer | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Any:
    customer = customer or make_customer()
    plan = plan or make_plan()
    esim = make_esim(customer=customer, carrier=plan.carrier.code)
    method = make_card(customer=customer, number=number)
    body = {"esim_id": esim.pk, "plan_id": plan.pk, "payment_method_id": method.pk, "auto_renew": True, **extra}
    return api.post("subscriptions", body, headers=headers)


def renewal(api: ApiClient, subscription: Subscription, body: dict[str, Any] | None = None, *, key: str = "r-1") -> Any:
    return api.post(f"subscriptions/{subscription.pk}/renewals", body or {}, headers={"Idempotency-Key": key})


def facts(subscription: Subscription) -> tuple[Any, ...]:
    """What a renewal may change: the periods, the paid time, the invoices, the state."""
    subscription.refresh_from_db()
    periods = list(Period.objects.filter(subscription=subscription).values_list("number", "starts_at", "ends_at"))
    return (
        periods,
        subscription.paid_through,
        subscription.state,
        subscription.plan_id,
        Invoice.objects.filter(subscription=subscription).count(),
    )


# --- buying the first period --------------------------------------------------------------------


def test_buying_a_plan_pays_the_first_period_and_answers_201(api: ApiClient, clock: TestClock) -> None:
    plan = make_plan(period_unit="month", data_mb=10_240, price_minor=2500)

    response = subscribe(api, plan=plan)

    assert response.status_code == 201, response.content
    subscription = Subscription.objects.get()
    assert response.json() == {
        "id": subscription.pk,
        "customer_id": subscription.customer_id,
        "esim_id": subscription.esim_id,
        "status": "active",
        "plan_id": plan.pk,
        "renewal_plan_id": plan.pk,
        "auto_renew": True,
        "next_auto_renew_attempt_at": "2026-02-12T12:00:00+00:00",  # 72 hours before the end
        "payment_method_id": subscription.payment_method_id,
        "current_period_start": NOW,
        # One calendar month in the customer's zone (America/New_York).
        "current_period_end": "2026-02-15T12:00:00+00:00",
        "paid_through": "2026-02-15T12:00:00+00:00",
        "data_total_mb": 10_240,
        "data_left_mb": 10_240,
        "days_left": 31,
        "cancelled_at": None,
        "ended_at": None,
    }
    assert api.get(f"subscriptions/{subscription.pk}").json() == response.json()
    assert Invoice.objects.get().total_minor == 2500


def test_a_promotion_lowers_the_first_payment_and_adds_bonus_data(api: ApiClient, clock: TestClock) -> None:
    make_promotion(code="WELCOME", percent_off=20, bonus_data_mb=1024)

    response = subscribe(api, plan=make_plan(price_minor=2500, data_mb=10_240), promo_code="welcome")

    assert response.status_code == 201, response.content
    assert response.json()["data_total_mb"] == 11_264
    assert Invoice.objects.get().total_minor == 2000


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("4000000000000002", "card_declined"),
        ("4000000000009995", "insufficient_funds"),
        ("4000000000000069", "expired_card"),
        ("4000000000000119", "processing_error"),
    ],
)
def test_a_refused_first_payment_is_a_402_problem_and_leaves_no_subscription(
    api: ApiClient, clock: TestClock, number: str, code: str
) -> None:
    response = subscribe(api, number=number)

    body = assert_problem(response, status=402, type="/problems/payment-failed")
    assert body["code"] == code
    assert body["detail"] == PaymentAttempt.objects.get().failure_message
    assert "card" in body["detail"].lower()
    assert not Subscription.objects.exists()
    assert not Invoice.objects.exists()


@pytest.mark.parametrize("number", ["4000000000000408", "4000000000000416"])
def test_an_unknown_first_payment_outcome_is_a_202_incomplete_subscription(
    api: ApiClient, clock: TestClock, number: str
) -> None:
    response = subscribe(api, number=number)

    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["status"], body["current_period_start"], body["paid_through"]) == ("incomplete", None, None)
    assert (body["data_left_mb"], body["days_left"]) == (0, 0)


def test_an_incomplete_subscription_becomes_active_once_the_charge_is_found(api: ApiClient, clock: TestClock) -> None:
    subscription_id = subscribe(api, number="4000000000000408").json()["id"]

    clock.advance(minutes=5)
    for attempt in attempts_due_for_reconciliation():
        reconcile(attempt)

    body = api.get(f"subscriptions/{subscription_id}").json()
    assert body["status"] == "active"
    assert SandboxCharge.objects.count() == 1


def test_a_retried_purchase_with_its_key_charges_once(api: ApiClient, clock: TestClock) -> None:
    customer = make_customer()
    plan = make_plan()
    esim = make_esim(customer=customer)
    method = make_card(customer=customer)
    body = {"esim_id": esim.pk, "plan_id": plan.pk, "payment_method_id": method.pk, "auto_renew": False}

    first = api.post("subscriptions", body, headers={"Idempotency-Key": "buy-1"})
    again = api.post("subscriptions", body, headers={"Idempotency-Key": "buy-1"})

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert Subscription.objects.count() == 1
    assert SandboxCharge.objects.count() == 1


def test_an_esim_with_a_subscription_cannot_get_a_second(api: ApiClient, clock: TestClock) -> None:
    subscription = make_subscription()
    method = make_card(customer=subscription.customer)

    response = api.post(
        "subscriptions",
        {"esim_id": subscription.esim_id, "plan_id": subscription.plan_id, "payment_method_id": method.pk},
    )

    assert_problem(response, status=409, type="/problems/renewal-not-allowed")
    assert Subscription.objects.count() == 1


def _purchase_rows() -> tuple[int, int, int]:
    return Subscription.objects.count(), PaymentAttempt.objects.count(), SandboxCharge.objects.count()


def test_bad_purchases_are_refused_and_write_nothing(api: ApiClient, clock: TestClock) -> None:
    customer = make_customer()
    plan = make_plan(carrier="att")
    other_carrier_plan = make_plan(carrier="verizon")
    esim = make_esim(customer=customer)
    method = make_card(customer=customer)
    strangers_card = make_card(customer=make_customer())
    spare_esim = make_esim()
    good = {"esim_id": esim.pk, "plan_id": plan.pk, "payment_method_id": method.pk, "auto_renew": True}

    cases: list[tuple[dict[str, Any], int, str, list[str] | None]] = [
        ({"payment_method_id": strangers_card.pk}, 422, "/problems/validation-error", ["payment_method_id"]),
        ({"plan_id": other_carrier_plan.pk}, 422, "/problems/validation-error", ["plan_id"]),
        ({"esim_id": spare_esim.pk}, 422, "/problems/validation-error", ["esim_id"]),
        ({"promo_code": "NOSUCH"}, 422, "/problems/promotion-not-applicable", ["promo_code"]),
        ({"esim_id": 99999}, 404, "/problems/not-found", None),
        ({"plan_id": 99999}, 404, "/problems/not-found", None),
        ({"payment_method_id": 99999}, 404, "/problems/not-found", None),
        ({"esim_id": -3}, 422, "/problems/validation-error", ["esim_id"]),
        ({"plan_id": "cheap"}, 422, "/problems/validation-error", ["plan_id"]),
        ({"auto_renew": "sometimes"}, 422, "/problems/validation-error", ["auto_renew"]),
        ({"coupon": "X"}, 422, "/problems/validation-error", ["coupon"]),
    ]
    for changes, status, type_, fields in cases:
        response = api.post("subscriptions", {**good, **changes})
        assert_problem(response, status=status, type=type_, fields=fields)
        assert _purchase_rows() == (0, 0, 0), changes

    assert_problem(api.post("subscriptions", raw='{"esim_id": '), status=400, type="/problems/malformed-json")
    assert _purchase_rows() == (0, 0, 0)


def test_an_unknown_subscription_is_a_404_everywhere(api: ApiClient) -> None:
    key = {"Idempotency-Key": "k"}
    for response in (
        api.get("subscriptions/777"),
        api.patch("subscriptions/777", {"auto_renew": False}),
        api.post("subscriptions/777/renewals", {}, headers=key),
        api.get("subscriptions/777/renewals"),
        api.get("subscriptions/777/renewals/1"),
        api.get("subscriptions/777/renewal-preview"),
        api.post("subscriptions/777/top-ups", {"data_mb_pack_id": 1}),
        api.get("subscriptions/777/top-up-options"),
        api.post("subscriptions/777/cancel", {"when": "now"}),
        api.post("subscriptions/777/resume"),
    ):
        assert_problem(response, status=404, type="/problems/not-found")


# --- listing --------------------------------------------------------------------------------------


def test_subscriptions_are_listed_by_customer_and_carrier_in_pages(api: ApiClient, clock: TestClock) -> None:
    ada = make_customer()
    ada_att = [make_subscription(customer=ada, plan=make_plan(carrier="att")) for _ in range(3)]
    ada_vz = make_subscription(customer=ada, plan=make_plan(carrier="verizon"))
    make_subscription()

    first = api.get(f"subscriptions?customer_id={ada.pk}&carrier=att&limit=2").json()
    rest = api.get(f"subscriptions?customer_id={ada.pk}&carrier=att&starting_after={first['next_starting_after']}")

    assert [s["id"] for s in first["items"]] == [s.pk for s in ada_att[:2]] and first["has_more"] is True
    assert [s["id"] for s in rest.json()["items"]] == [ada_att[2].pk]
    assert [s["id"] for s in api.get("subscriptions?carrier=verizon").json()["items"]] == [ada_vz.pk]
    assert_problem(api.get("subscriptions?carrier=sprint"), status=422, type="/problems/validation-error")


def test_subscriptions_are_listed_by_derived_status(api: ApiClient, clock: TestClock) -> None:
    month = make_plan(period_unit="month", data_mb=1000)
    active = make_subscription(plan=month)
    low_on_data = make_subscription(plan=month)
    record_usage(iccid=low_on_data.esim.iccid, mb=950)
    ending_soon = make_subscription(plan=make_plan(period_unit="day", period_count=2))
    cancelled = make_subscription(plan=month)
    api.post(f"subscriptions/{cancelled.pk}/cancel", {"when": "period_end"})
    lapsed = make_subscription(plan=make_plan(period_unit="day", period_count=1))
    clock.advance(hours=25)

    def ids(status: str) -> list[int]:
        response = api.get(f"subscriptions?status={status}")
        assert response.status_code == 200, response.content
        assert all(item["status"] == status for item in response.json()["items"])
        return [item["id"] for item in response.json()["items"]]

    assert ids("active") == [active.pk]
    assert ids("expiring") == [low_on_data.pk, ending_soon.pk]
    assert ids("suspended") == [lapsed.pk]
    assert ids("cancelled") == [cancelled.pk]
    assert ids("incomplete") == []
    assert_problem(api.get("subscriptions?status=asleep"), status=422, type="/problems/validation-error")


def test_a_status_page_skips_rows_of_other_statuses_and_keeps_its_cursor(api: ApiClient, clock: TestClock) -> None:
    plan = make_plan(data_mb=1000)
    subscriptions = [make_subscription(plan=plan) for _ in range(5)]
    for low in subscriptions[1:4]:
        record_usage(iccid=low.esim.iccid, mb=990)

    first = api.get("subscriptions?status=active&limit=1").json()
    second = api.get(f"subscriptions?status=active&limit=1&starting_after={first['next_starting_after']}").json()

    assert [s["id"] for s in first["items"]] == [subscriptions[0].pk] and first["has_more"] is True
    assert [s["id"] for s in second["items"]] == [subscriptions[4].pk] and second["has_more"] is False


def test_subscriptions_expiring_before_an_instant(api: ApiClient, clock: TestClock) -> None:
    week = make_subscription(plan=make_plan(period_unit="day", period_count=7))
    make_subscription(plan=make_plan(period_unit="month"))

    response = api.get("subscriptions?expiring_before=2026-01-25T00:00:00%2B00:00")

    assert [s["id"] for s in response.json()["items"]] == [week.pk]
    for impossible in ("2026-01-25T00:00:00", "9999-12-31T23:59:59-23:59", "2026-13-01T00:00:00Z"):
        assert_problem(
            api.get(f"subscriptions?expiring_before={impossible}"),
            status=422,
            type="/problems/validation-error",
            fields=["expiring_before"],
        )


# --- renewals: every test card ------------------------------------------------------------------


def test_a_renewal_appends_the_next_period_and_answers_201(api: ApiClient, clock: TestClock) -> None:
    subscription = make_subscription(plan=make_plan(period_unit="month", price_minor=2500))

    response = renewal(api, subscription)

    assert response.status_code == 201, response.content
    attempt = PaymentAttempt.objects.get(purpose=AttemptPurpose.RENEWAL)
    invoice = Invoice.objects.get(payment_attempt=attempt)
    assert response.json() == {
        "id": attempt.pk,
        "subscription_id": subscription.pk,
        "status": "succeeded",
        "failure_code": None,
        "failure_message": None,
        "period_start": "2026-02-15T12:00:00+00:00",
        # 07:00 in New York on both dates: EST in February, EDT in March.
        "period_end": "2026-03-15T11:00:00+00:00",
        "amount_minor": 2500,
        "currency": "USD",
        "invoice_id": invoice.pk,
        "invoice_number": invoice.number,
    }
    assert api.get(f"subscriptions/{subscription.pk}").json()["paid_through"] == "2026-03-15T11:00:00+00:00"
    assert SandboxCharge.objects.filter(idempotency_key__endswith=hashlib.sha256(b"r-1").hexdigest()).count() == 1


@pytest.mark.parametrize(
    ("number", "http_status", "status", "failure_code"),
    [
        ("4242424242424242", 201, "succeeded", None),
        ("4000000000000002", 402, "failed", "card_declined"),
        ("4000000000009995", 402, "failed", "insufficient_funds"),
        ("4000000000000069", 402, "failed", "expired_card"),
        ("4000000000000119", 402, "failed", "processing_error"),
        ("4000000000000408", 202, "pending", None),
        ("4000000000000416", 202, "pending", None),
    ],
)
def test_each_test_card_through_a_renewal(
    api: ApiClient,
    clock: TestClock,
    number: str,
    http_status: int,
    status: str,
    failure_code: str | None,
) -> None:
    subscription = make_subscription()
    method = make_card(customer=subscription.customer, number=number)
    before = facts(subscription)

    response = renewal(api, subscription, {"payment_method_id": method.pk})

    assert response.status_code == http_status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert (body["status"], body["failure_code"]) == (status, failure_code)
    assert body["subscription_id"] == subscription.pk
    if status == "succeeded":
        assert body["period_start"] == iso(before[1]) and body["invoice_number"]
        assert facts(subscription) != before
    else:
        # A refused or unanswered payment changes nothing else: same periods, same paid time, no invoice.
        assert (body["period_start"], body["period_end"], body["invoice_id"]) == (None, None, None)
        assert facts(subscription) == before
    if status == "failed":
        assert body["failure_message"] and "card" in body["failure_message"].lower()


def test_a_pending_renewal_is_settled_later_and_shows_its_period(api: ApiClient, clock: TestClock) -> None:
    subscription = make_subscription()
    method = make_card(customer=subscription.customer, number="4000000000000408")
    renewal_id = renewal(api, subscription, {"payment_method_id": method.pk}).json()["id"]

    clock.advance(minutes=5)
    for attempt in attempts_due_for_reconciliation():
        reconcile(attempt)

    body = api.get(f"subscriptions/{subscription.pk}/renewals/{renewal_id}").json()
    assert body["status"] == "succeeded"
    assert body["period_end"] is not None
    assert SandboxCharge.objects.filter(status="succeeded").count() == 2  # the first period and this one


def test_a_renewal_needs_an_idempotency_key(api: ApiClient, clock: TestClock) -> None:
    subscription = make_subscription()

    response = api.post(f"subscriptions/{subscription.pk}/renewals", {})

    assert_problem(response, status=400, type="/problems/idempotency-key-missing")
    assert not PaymentAttempt.objects.filter(purpose=AttemptPurpose.RENEWAL).exists()


def test_a_retried_renewal_replays_the_first_answer_and_charges_once(api: ApiClient, clock: TestClock) -> None:
    subscription = make_subscription()
    charges = SandboxCharge.objects.count()

    first = renewal(api, subscription, {"promo_code": None}, key="renew-feb")
    again = renewal(api, subscription, {"promo_code": None}, key="renew-feb")

    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert SandboxCharge.objects.count() == charges + 1
    assert Period.objects.filter(subscription=subscription).count() == 2


def test_a_retried_refused_renewal_replays_the_402_as_plain_json(api: ApiClient, clock: TestClock) -> None:
    subscription = make_subscription()
    declined = make_card(customer=subscription.customer, number="4000000000000002")
    body = {"payment_method_id": declined.pk}

    first = renewal(api, subscription, body, key="declined-1")
    again = renewal(api, subscription, body, key="declined-1")

    assert first.status_code == again.status_code == 402
    assert again["Content-Type"].startswith("application/json")
    assert again.json() == first.json()
    assert PaymentAttempt.objects.filter(purpose=AttemptPurpose.RENEWAL).count() == 1


def test_a_key_reused_for_another_renewal_body_is_a_409(api: ApiClient, clock: TestClock) -> None:
    subscription = make_subscription()
    other_card = make_card(customer=subscription.customer)
    renewal(api, subscription, {}, key="same")

    response = renewal(api, subscription, {"payment_method_id": other_card.pk}, key="same")

    assert_problem(response, status=409, type="/problems/idempotency-key-reused")
    assert PaymentAttempt.objects.filter(purpose=AttemptPurpose.RENEWAL).count() == 1


def test_a_renewal_may_buy_another_plan_once_from_the_next_period(api: ApiClient, clock: TestClock) -> None:
    month = make_plan(period_unit="month")
    subscription = make_subscription(plan=month)
    year = make_plan(period_unit="year", price_minor=20_000)

    response = renewal(api, subscription, {"plan_id": year.pk})

    assert response.status_code == 201, response.content
    assert (response.json()["period_start"], response.json()["period_end"]) == (
        "2026-02-15T12:00:00+00:00",
        "2027-02-15T12:00:00+00:00",
    )
    assert response.json()["amount_minor"] == 20_000
    shown = api.get(f"subscriptions/{subscription.pk}").json()
    assert (shown["plan_id"], shown["renewal_plan_id"]) == (month.pk, month.pk)  # the month runs, and renews
    clock.set(datetime(2026, 2, 15, 13, 0, tzinfo=UTC))
    shown = api.get(f"subscriptions/{subscription.pk}").json()
    assert (shown["plan_id"], shown["renewal_plan_id"]) == (year.pk, month.pk)


def test_a_day_prepaid_on_a_month_shows_the_month_running_and_renewing(api: ApiClient, clock: TestClock) -> None:
    month = make_plan(code="att-1m", period_unit="month", price_minor=2500)
    day = make_plan(code="att-1d", period_unit="day", data_mb=1024, price_minor=300)
    subscription = make_subscription(plan=month)

    assert renewal(api, subscription, {"plan_id": day.pk}).status_code == 201

    for answer in (
        api.get(f"subscriptions/{subscription.pk}").json(),
        api.get(f"subscriptions?customer_id={subscription.customer_id}").json()["items"][0],
    ):
        assert (answer["plan_id"], answer["renewal_plan_id"]) == (month.pk, month.pk)
        assert answer["data_total_mb"] == month.data_mb


def test_the_renewal_plan_changes_only_when_asked(api: ApiClient, clock: TestClock) -> None:
    month = make_plan(code="att-1m", period_unit="month", price_minor=2500)
    year = make_plan(code="att-1y", period_unit="year", price_minor=24_900)
    verizon = make_plan(carrier="verizon")
    subscription = make_subscription(plan=month)

    refused = api.patch(f"subscriptions/{subscription.pk}", {"renewal_plan_id": verizon.pk})
    response = api.patch(f"subscriptions/{subscription.pk}", {"renewal_plan_id": year.pk})

    assert_problem(refused, status=422, type="/problems/validation-error", fields=["renewal_plan_id"])
    assert response.status_code == 200, response.content
    assert (response.json()["plan_id"], response.json()["renewal_plan_id"]) == (month.pk, year.pk)
    assert renewal(api, subscription, {}).json()["amount_minor"] == 24_900


def test_a_cancelled_subscriptions_renewal_plan_cannot_be_changed(api: ApiClient, clock: TestClock) -> None:
    month = make_plan(code="att-1m", period_unit="month", price_minor=2500)
    year = make_plan(code="att-1y", period_unit="year", price_minor=24_900)
    subscription = make_subscription(plan=month)
    assert api.post(f"subscriptions/{subscription.pk}/cancel", {"when": "period_end"}).status_code == 200

    refused = api.patch(f"subscriptions/{subscription.pk}", {"renewal_plan_id": year.pk})

    assert_problem(refused, status=422, type="/problems/validation-error", fields=["renewal_plan_id"])
    assert api.get(f"subscriptions/{subscription.pk}").json()["renewal_plan_id"] == month.pk


def test_a_cancelled_subscription_shows_no_next_auto_renew_charge(api: ApiClient, clock: TestClock) -> None:
    subscription = make_subscription()
    assert api.get(f"subscriptions/{subscription.pk}").json()["next_auto_renew_attempt_at"] is not None

    response = api.post(f"subscriptions/{subscription.pk}/cancel", {"when": "period_end"})

    assert response.status_code == 200, response.content
    for answer in (
        response.json(),
        api.get(f"subscriptions/{subscription.pk}").json(),
        api.get("subscriptions?status=cancelled").json()["items"][0],
    ):
        assert (answer["status"], answer["auto_renew"], answer["next_auto_renew_attempt_at"]) == (
            "cancelled",
            True,  # the customer's setting, kept for a resume
            None,
        )


def test_bad_renewals_are_refused_and_change_nothing(api: ApiClient, clock: TestClock) -> None:
    subscription = make_subscription(plan=make_plan(carrier="att"))
    strangers_card = make_card(customer=make_customer())
    verizon_plan = make_plan(carrier="verizon")
    make_promotion(code="ONCE", max_redemptions=1)
    renew(make_subscription(), promo_code="ONCE")  # used up by someone else
    before = facts(subscription)
    attempts = PaymentAttempt.objects.count()

    cases: list[tuple[dict[str, Any], int, str, list[str] | None]] = [
        ({"payment_method_id": strangers_card.pk}, 422, "/problems/validation-error", ["payment_method_id"]),
        ({"plan_id": verizon_plan.pk}, 422, "/problems/validation-error", ["plan_id"]),
        ({"promo_code": "ONCE"}, 422, "/problems/promotion-not-applicable", ["promo_code"]),
        ({"plan_id": 99999}, 404, "/problems/not-found", None),
        ({"payment_method_id": 99999}, 404, "/problems/not-found", None),
        ({"plan_id": -1}, 422, "/problems/validation-error", ["plan_id"]),
        ({"payment_method_id": "visa"}, 422, "/problems/validation-error", ["payment_method_id"]),
        ({"amount_minor": 1}, 422, "/problems/validation-error", ["amount_minor"]),
    ]
    for index, (body, status, type_, fields) in enumerate(cases):
        response = renewal(api, subscription, body, key=f"bad-{index}")
        assert_problem(response, status=status, type=type_, fields=fields)
    response = api.post(f"subscriptions/{subscription.pk}/renewals", raw="{", headers={"Idempotency-Key": "malformed"})
    assert_problem(response, status=400, type="/problems/malformed-json")

    assert facts(subscription) == before
    assert PaymentAttempt.objects.count() == attempts


def test_a_cancelled_subscription_is_not_renewed(api: ApiClient, clock: TestClock) -> None:
    subscription = make_subscription()
    api.post(f"subscriptions/{subscription.pk}/cancel", {"when": "period_end"})

    assert_problem(renewal(api, subscription), status=409, type="/problems/renewal-not-allowed")


def test_renewals_are_listed_and_read_one_by_one(api: ApiClient, clock: TestClock) -> None:
    subscription = make_subscription()
    declined = make_card(customer=subscription.customer, number="4000000000000002")
    ok = renewal(api, subscription, key="a").json()
    failed = renewal(api, subscription, {"payment_method_id": declined.pk}, key="b").json()

    listed = api.get(f"subscriptions/{subscription.pk}/renewals").json()

    assert listed == {"items": [ok, failed], "has_more": False, "next_starting_after": None}
    assert api.get(f"subscriptions/{subscription.pk}/renewals/{failed['id']}").json() == failed
    other = make_subscription()
    assert_problem(api.get(f"subscriptions/{other.pk}/renewals/{failed['id']}"), status=404, type="/problems/not-found")


# --- preview --------------------------------------------------------------------------------------


def test_the_renewal_preview_shows_the_next_period_and_price(api: ApiClient, clock: TestClock) -> None:
    subscription = make_subscription(plan=make_plan(price_minor=2500))
    make_promotion(code="SPRING", percent_off=10, bonus_data_mb=500)

    plain = api.get(f"subscriptions/{subscription.pk}/renewal-preview")
    promo = api.get(f"subscriptions/{subscription.pk}/renewal-preview?promo_code=spring")

    assert plain.status_code == 200, plain.content
    assert plain.json() == {
        "plan_id": subscription.plan_id,
        "period_start": "2026-02-15T12:00:00+00:00",
        "period_end": "2026-03-15T11:00:00+00:00",
        "subtotal_minor": 2500,
        "discount_minor": 0,
        "total_minor": 2500,
        "currency": "USD",
        "bonus_data_mb": 0,
    }
    assert {k: promo.json()[k] for k in ("discount_minor", "total_minor", "bonus_data_mb")} == {
        "discount_minor": 250,
        "total_minor": 2250,
        "bonus_data_mb": 500,
    }
    # What the preview promised is what a renewal then buys.
    paid = renewal(api, subscription, {"promo_code": "spring"}).json()
    assert (paid["period_start"], paid["period_end"], paid["amount_minor"]) == (
        promo.json()["period_start"],
        promo.json()["period_end"],
        2250,
    )


def test_the_preview_of_another_plan_and_of_a_lapsed_subscription(api: ApiClient, clock: TestClock) -> None:
    subscription = make_subscription(plan=make_plan(period_unit="day", period_count=1))
    week = make_plan(period_unit="day", period_count=7, price_minor=900)
    clock.advance(days=3)

    body = api.get(f"subscriptions/{subscription.pk}/renewal-preview?plan_id={week.pk}").json()

    # The paid day ended two days ago: a renewal starts now.
    assert (body["plan_id"], body["period_start"], body["total_minor"]) == (week.pk, iso(clock.now()), 900)
    assert body["period_end"] == iso(clock.now() + timedelta(days=7))


@pytest.mark.parametrize(
    ("query", "status", "type_", "reason"),
    [
        ("promo_code=NOPE", 422, "/problems/promotion-not-applicable", "no promotion"),
        ("promo_code=USED", 422, "/problems/promotion-not-applicable", "used up"),
        ("promo_code=LATER", 422, "/problems/promotion-not-applicable", "not valid yet"),
        ("plan_id=other-carrier", 422, "/problems/validation-error", "another carrier"),
        ("plan_id=99999", 404, "/problems/not-found", "99999"),
        ("plan_id=abc", 422, "/problems/validation-error", "integer"),
    ],
)
def test_a_preview_that_cannot_be_bought_says_why(
    api: ApiClient, clock: TestClock, query: str, status: int, type_: str, reason: str
) -> None:
    subscription = make_subscription(plan=make_plan(carrier="att"))
    make_promotion(code="USED", max_redemptions=1)
    renew(make_subscription(), promo_code="USED")
    make_promotion(code="LATER", valid_from=datetime(2027, 1, 1, tzinfo=UTC))
    query = query.replace("other-carrier", str(make_plan(carrier="tmobile").pk))

    body = assert_problem(
        api.get(f"subscriptions/{subscription.pk}/renewal-preview?{query}"), status=status, type=type_
    )

    assert reason in body["detail"]


# --- changing, topping up, cancelling ---------------------------------------------------------------


def test_auto_renew_and_the_paying_method_are_changed(api: ApiClient, clock: TestClock) -> None:
    subscription = make_subscription()
    new_card = make_card(customer=subscription.customer, number="5555555555554444")

    response = api.patch(f"subscriptions/{subscription.pk}", {"auto_renew": False, "payment_method_id": new_card.pk})

    assert response.status_code == 200, response.content
    assert (response.json()["auto_renew"], response.json()["payment_method_id"]) == (False, new_card.pk)
    unchanged = api.patch(f"subscriptions/{subscription.pk}", {}).json()
    assert (unchanged["auto_renew"], unchanged["payment_method_id"]) == (False, new_card.pk)


def test_bad_changes_leave_the_subscription_as_it_was(api: ApiClient, clock: TestClock) -> None:
    subscription = make_subscription()
    strangers_card = make_card(customer=make_customer())
    path = f"subscriptions/{subscription.pk}"

    assert_problem(
        api.patch(path, {"auto_renew": False, "payment_method_id": strangers_card.pk}),
        status=422,
        type="/problems/validation-error",
        fields=["payment_method_id"],
    )
    assert_problem(api.patch(path, {"payment_method_id": 424242}), status=404, type="/problems/not-found")
    assert_problem(
        api.patch(path, {"auto_renew": "maybe"}), status=422, type="/problems/validation-error", fields=["auto_renew"]
    )
    subscription.refresh_from_db()
    assert subscription.auto_renew is True
    assert subscription.payment_method.customer_id == subscription.customer_id


def test_top_up_options_and_a_paid_top_up(api: ApiClient, clock: TestClock) -> None:
    subscription = make_subscription(plan=make_plan(carrier="att", data_mb=10_240))
    small = make_top_up_pack(carrier="att", data_mb=1024, price_minor=500)
    make_top_up_pack(carrier="verizon", data_mb=2048)

    options = api.get(f"subscriptions/{subscription.pk}/top-up-options").json()
    response = api.post(f"subscriptions/{subscription.pk}/top-ups", {"data_mb_pack_id": small.pk})

    assert options == {
        "items": [{"id": small.pk, "name": "1024 MB", "data_mb": 1024, "price_minor": 500, "currency": "USD"}],
        "has_more": False,
        "next_starting_after": None,
    }
    assert response.status_code == 201, response.content
    body = response.json()
    invoice = Invoice.objects.get(top_up__isnull=False)
    assert body == {
        "id": PaymentAttempt.objects.get(purpose=AttemptPurpose.TOP_UP).pk,
        "subscription_id": subscription.pk,
        "status": "succeeded",
        "failure_code": None,
        "failure_message": None,
        "period_start": NOW,
        "period_end": "2026-02-15T12:00:00+00:00",
        "amount_minor": 500,
        "currency": "USD",
        "invoice_id": invoice.pk,
        "invoice_number": invoice.number,
        "data_mb": 1024,
    }
    assert api.get(f"subscriptions/{subscription.pk}").json()["data_total_mb"] == 11_264


def test_a_refused_top_up_is_a_402_and_adds_no_data(api: ApiClient, clock: TestClock) -> None:
    subscription = make_subscription()
    pack = make_top_up_pack()
    declined = make_card(customer=subscription.customer, number="4000000000000002")

    response = api.post(
        f"subscriptions/{subscription.pk}/top-ups", {"data_mb_pack_id": pack.pk, "payment_method_id": declined.pk}
    )

    assert response.status_code == 402
    assert (response.json()["status"], response.json()["failure_code"]) == ("failed", "card_declined")
    assert not TopUp.objects.exists()
    assert api.get(f"subscriptions/{subscription.pk}").json()["data_total_mb"] == 10_240


def test_bad_top_ups_are_refused(api: ApiClient, clock: TestClock) -> None:
    subscription = make_subscription(plan=make_plan(carrier="att"))
    verizon_pack = make_top_up_pack(carrier="verizon")
    path = f"subscriptions/{subscription.pk}/top-ups"

    assert_problem(api.post(path, {"data_mb_pack_id": 9999}), status=404, type="/problems/not-found")
    assert_problem(
        api.post(path, {"data_mb_pack_id": verizon_pack.pk}),
        status=422,
        type="/problems/validation-error",
        fields=["data_mb_pack_id"],
    )
    assert_problem(
        api.post(path, {"data_mb_pack_id": -1}),
        status=422,
        type="/problems/validation-error",
        fields=["data_mb_pack_id"],
    )
    assert_problem(api.post(path, {}), status=422, type="/problems/validation-error", fields=["data_mb_pack_id"])
    assert not PaymentAttempt.objects.filter(purpose=AttemptPurpose.TOP_UP).exists()


def test_cancel_at_period_end_then_resume(api: ApiClient, clock: TestClock) -> None:
    subscription = make_subscription()

    cancelled = api.post(f"subscriptions/{subscription.pk}/cancel", {"when": "period_end"})
    resumed = api.post(f"subscriptions/{subscription.pk}/resume")

    assert cancelled.status_code == 200, cancelled.content
    assert (cancelled.json()["status"], cancelled.json()["cancelled_at"], cancelled.json()["ended_at"]) == (
        "cancelled",
        NOW,
        None,
    )
    assert cancelled.json()["days_left"] == 31  # runs to the end of what is paid
    assert resumed.status_code == 200
    assert (resumed.json()["status"], resumed.json()["cancelled_at"]) == ("active", None)


def test_cancel_now_stops_service_and_cannot_be_resumed(api: ApiClient, clock: TestClock) -> None:
    subscription = make_subscription()

    response = api.post(f"subscriptions/{subscription.pk}/cancel", {"when": "now"})

    assert (response.json()["ended_at"], response.json()["days_left"]) == (NOW, 0)
    assert_problem(
        api.post(f"subscriptions/{subscription.pk}/resume"), status=409, type="/problems/cancellation-not-allowed"
    )


def test_cancel_needs_a_known_moment(api: ApiClient, clock: TestClock) -> None:
    subscription = make_subscription()

    assert_problem(
        api.post(f"subscriptions/{subscription.pk}/cancel", {"when": "tomorrow"}),
        status=422,
        type="/problems/validation-error",
        fields=["when"],
    )
    assert Subscription.objects.get().cancelled_at is None


# --- a retry after a try that died between writing the payment and answering ------------------------


def _gateway_key(raw_api_key: str, key: str) -> str:
    api_key = authenticate(raw_api_key)
    assert api_key is not None
    return scope_key(api_key.pk, key)


def test_a_retried_renewal_settles_the_payment_its_first_try_wrote(
    api: ApiClient, api_key: str, clock: TestClock
) -> None:
    subscription = make_subscription()
    with transaction.atomic():  # step 1 committed, then the process died: no answer was kept
        begun = begin_renewal(subscription=subscription, idempotency_key=_gateway_key(api_key, "crashed"))

    response = renewal(api, subscription, key="crashed")

    assert response.status_code == 201, response.content
    assert response.json()["id"] == begun.pk
    assert PaymentAttempt.objects.filter(purpose=AttemptPurpose.RENEWAL).count() == 1
    assert SandboxCharge.objects.filter(idempotency_key=begun.idempotency_key).count() == 1


def test_a_retried_top_up_settles_the_payment_its_first_try_wrote(
    api: ApiClient, api_key: str, clock: TestClock
) -> None:
    subscription = make_subscription()
    pack = make_top_up_pack()
    with transaction.atomic():
        begun = begin_top_up(
            subscription=subscription,
            pack_id=pack.pk,
            payment_method=None,
            idempotency_key=_gateway_key(api_key, "crashed"),
        )

    response = api.post(
        f"subscriptions/{subscription.pk}/top-ups", {"data_mb_pack_id": pack.pk}, headers={"Idempotency-Key": "crashed"}
    )

    assert response.status_code == 201, response.content
    assert response.json()["id"] == begun.pk
    assert TopUp.objects.count() == 1
    assert SandboxCharge.objects.filter(idempotency_key=begun.idempotency_key).count() == 1


def test_a_partner_sees_when_auto_renew_charges_next_and_when_it_stopped(api: ApiClient, clock: TestClock) -> None:
    from simrenew.subscriptions.cancellation import update_renewal
    from tests.factories import make_card, renew_due

    subscription = make_subscription()
    update_renewal(subscription, payment_method=make_card(customer=subscription.customer, number="4000000000000069"))
    assert api.get(f"subscriptions/{subscription.pk}").json()["next_auto_renew_attempt_at"] == (
        "2026-02-12T12:00:00+00:00"
    )
    clock.set(datetime(2026, 2, 12, 12, 0, tzinfo=UTC))

    renew_due()  # the card has expired: a hard decline stops auto-renew

    body = api.get(f"subscriptions/{subscription.pk}").json()
    assert (body["auto_renew"], body["next_auto_renew_attempt_at"]) == (True, None)
