"""The bar: no card number reaches the database or the logs.

A story pays (and fails to pay) with every test card, then every text of every
table and every log line, SQL included, is searched for each full card number."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from django.apps import apps
from django.db import connection

from simrenew.billing.models import Invoice
from simrenew.billing.refunds import refund_invoice
from simrenew.billing.wallet_top_ups import begin_wallet_top_up
from simrenew.kit.errors import SimrenewError
from simrenew.payments.charging import attempts_due_for_reconciliation, reconcile, run_charge
from simrenew.payments.models import PaymentAttempt, PaymentMethod
from simrenew.payments.sandbox import TEST_CARDS
from simrenew.payments.services import NewMethod, add_payment_method
from simrenew.subscriptions.renewals import begin_subscription
from tests.factories import make_customer, make_esim, make_plan, make_promotion, make_subscription, renew

# A well-formed number with a wrong check digit: refused, and must not be echoed anywhere either.
BAD_LUHN = "4242424242424241"
NUMBERS = [*TEST_CARDS, BAD_LUHN]


def spellings(number: str) -> list[str]:
    groups = [number[i : i + 4] for i in range(0, len(number), 4)]
    return [number, " ".join(groups), "-".join(groups)]


def database_text() -> str:
    """Every value of every column of every table, as text."""
    chunks: list[str] = []
    for model in apps.get_models(include_auto_created=True):
        columns = [field.attname for field in model._meta.concrete_fields]
        for row in model.objects.values_list(*columns):
            chunks.extend(repr(value) for value in row)
    return "\n".join(chunks)


@pytest.fixture
def sql_logged(caplog) -> Iterator[pytest.LogCaptureFixture]:
    """Capture every log record at DEBUG, including each SQL statement with its parameters."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django.db.backends")
    forced = connection.force_debug_cursor
    connection.force_debug_cursor = True
    try:
        yield caplog
    finally:
        connection.force_debug_cursor = forced


def card(number: str, *, spaced: bool = False, type: str = "card") -> NewMethod:
    shown = " ".join(number[i : i + 4] for i in range(0, len(number), 4)) if spaced else number
    return NewMethod(type=type, number=shown, exp_month=11, exp_year=2039, cvc="321")


def test_no_card_number_reaches_the_database_or_the_logs(clock, sql_logged):
    said_to_customer: list[str] = []  # what an API response or a page would show
    plan = make_plan(price_minor=2500)
    make_promotion(code="HALF", percent_off=50)
    subscription = make_subscription(plan=plan)
    customer = subscription.customer

    for index, number in enumerate(NUMBERS):
        try:
            method = add_payment_method(customer=customer, method=card(number, spaced=index % 2 == 1))
        except SimrenewError as refused:
            said_to_customer += [refused.detail, *(e.message for e in refused.errors)]
            continue
        said_to_customer += [str(method), method.brand, method.last4]
        # A renewal with the card, with a promotion on every other one...
        renewal = renew(subscription, payment_method=method, promo_code="half" if index % 2 else None)
        # ...and a first purchase for a new customer's eSIM with the same number.
        newcomer = make_customer()
        their_method = add_payment_method(customer=newcomer, method=card(number, type="debit"))
        first = run_charge(
            lambda newcomer=newcomer, their_method=their_method, index=index: begin_subscription(
                esim=make_esim(customer=newcomer),
                plan=plan,
                payment_method=their_method,
                auto_renew=True,
                promo_code=None,
                idempotency_key=f"first-{index}",
            )
        )
        top_up = run_charge(
            lambda method=method, index=index: begin_wallet_top_up(
                customer=customer, payment_method=method, amount_minor=1000, idempotency_key=f"wallet-{index}"
            )
        )
        said_to_customer += [a.failure_message for a in (renewal, first, top_up)]

    clock.advance(minutes=5)
    for attempt in attempts_due_for_reconciliation():
        said_to_customer.append(reconcile(attempt).failure_message)
    refund_invoice(invoice=Invoice.objects.order_by("id").last(), amount_minor=500, reason="goodwill")

    # The story really happened: every outcome was met and SQL really was logged.
    outcomes = set(PaymentAttempt.objects.values_list("status", "failure_code"))
    assert {("succeeded", ""), ("failed", "card_declined"), ("failed", "gateway_unreachable")} <= outcomes
    assert PaymentMethod.objects.filter(last4="0416").exists()
    log_text = "\n".join(
        [sql_logged.text, *(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in sql_logged.records)]
    )
    assert "INSERT INTO" in log_text and "payments_paymentmethod" in log_text
    dump = database_text()
    assert "tok_sandbox_" in dump
    response_text = "\n".join(said_to_customer)

    for number in NUMBERS:
        for spelling in spellings(number):
            assert spelling not in dump, f"{spelling} is stored in the database"
            assert spelling not in log_text, f"{spelling} was logged"
            assert spelling not in response_text, f"{spelling} was shown back"


def test_no_card_number_reaches_the_database_the_logs_or_an_api_response(clock, sql_logged):
    from django.test import Client

    from simrenew.api.keys import create_api_key

    _, raw_key = create_api_key(name="card bar", scopes=["write"])
    http = Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    responses: list[str] = []
    keys = iter(range(1_000_000))

    def post(path: str, body: object) -> dict:
        response = http.post(
            f"/api/v1/{path}", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=f"k-{next(keys)}"
        )
        responses.append(f"{response.status_code} {response.headers!r} {response.content.decode()}")
        assert response.status_code < 500, response.content
        return response.json()

    plan = make_plan(carrier="att", price_minor=2500)
    for _ in range(2 * len(NUMBERS) + 1):
        make_esim(carrier="att")  # inventory to hand out
    customer = post("customers", {"email": "card-bar@example.com", "name": "Card Bar", "time_zone": "UTC"})

    def new_esim() -> int:
        return post("esims", {"customer_id": customer["id"], "carrier": "att"})["id"]

    first_method = post(
        "payment-methods",
        {
            "customer_id": customer["id"],
            "type": "card",
            "number": "4242424242424242",
            "exp_month": 12,
            "exp_year": 2040,
            "cvc": "123",
        },
    )
    subscription = post(
        "subscriptions", {"esim_id": new_esim(), "plan_id": plan.pk, "payment_method_id": first_method["id"]}
    )
    assert subscription["status"] == "active"

    for index, number in enumerate(NUMBERS):
        for spelling, kind in ((spellings(number)[index % 2], "card"), (number, "debit")):
            method = post(
                "payment-methods",
                {
                    "customer_id": customer["id"],
                    "type": kind,
                    "number": spelling,
                    "exp_month": 11,
                    "exp_year": 2039,
                    "cvc": "321",
                },
            )
            if "id" not in method:
                assert method["status"] == 422  # the refused (bad check digit) number
                continue
            assert method["last4"] == number[-4:]
            post(f"subscriptions/{subscription['id']}/renewals", {"payment_method_id": method["id"]})
            post("subscriptions", {"esim_id": new_esim(), "plan_id": plan.pk, "payment_method_id": method["id"]})
    # Card numbers sent the wrong way round are refused without being echoed.
    post("payment-methods", {"customer_id": customer["id"], "type": "card", "number": 4000000000000002})
    post("payment-methods", {"customer_id": customer["id"], "type": "paypal", "number": "4000000000009995"})
    post("payment-methods", {"customer_id": customer["id"], "type": "card", "number": "4000000000000069" * 3})
    for path in (
        "payment-methods",
        f"subscriptions/{subscription['id']}",
        f"subscriptions/{subscription['id']}/renewals",
    ):
        response = http.get(f"/api/v1/{path}")
        responses.append(response.content.decode())
    clock.advance(minutes=5)
    for attempt in attempts_due_for_reconciliation():
        reconcile(attempt)

    outcomes = set(PaymentAttempt.objects.values_list("status", "failure_code"))
    assert {("succeeded", ""), ("failed", "expired_card"), ("failed", "gateway_unreachable")} <= outcomes
    log_text = "\n".join(
        [sql_logged.text, *(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in sql_logged.records)]
    )
    assert "api_idempotencyrecord" in log_text
    dump = database_text()
    response_text = "\n".join(responses)
    assert '"last4": "0416"' in response_text

    for number in NUMBERS:
        for spelling in spellings(number):
            assert spelling not in dump, f"{spelling} is stored in the database"
            assert spelling not in log_text, f"{spelling} was logged"
            assert spelling not in response_text, f"{spelling} was in an API response"
