"""The bar, through the HTTP API: no card number comes back in any response, nor reaches the
database or the logs by way of a request.

A partner adds every test card (and a number the gateway refuses) with POST /payment-methods,
buys, renews, tops up and refunds with them; every response body is kept and searched for each
full card number, in every spelling. tests/payments/test_no_card_numbers.py tells the same story
through the services; its searches of the database and the logs are reused here."""

from __future__ import annotations

from typing import Any

import pytest

from simrenew.payments.charging import attempts_due_for_reconciliation, reconcile
from simrenew.payments.models import PaymentAttempt
from simrenew.payments.sandbox import TEST_CARDS
from tests.api.helpers import ApiClient, make_api_key
from tests.conftest import TestClock
from tests.factories import make_customer, make_esim, make_plan, make_promotion, make_top_up_pack
from tests.payments.test_no_card_numbers import BAD_LUHN, NUMBERS, database_text, spellings, sql_logged

pytestmark = pytest.mark.django_db

__all__ = ["sql_logged"]  # the fixture, imported to be used here


class RecordingClient(ApiClient):
    """Keeps the body of every response it gets."""

    def __init__(self, raw_key: str | None, seen: list[str]) -> None:
        super().__init__(raw_key)
        self.seen = seen

    def request(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        response = (
            super().request(method, path, body, **kwargs)
            if body is not None
            else super().request(method, path, **kwargs)
        )
        self.seen.append(f"{response.status_code} {response.content.decode()}")
        self.seen.extend(f"{name}: {value}" for name, value in response.items())
        return response


def card_body(customer_id: int, number: str, *, index: int) -> dict[str, Any]:
    shown = number if index % 2 == 0 else " ".join(number[i : i + 4] for i in range(0, len(number), 4))
    return {
        "customer_id": customer_id,
        "type": "debit" if index % 3 == 0 else "card",
        "number": shown,
        "exp_month": 11,
        "exp_year": 2039,
        "cvc": "321",
    }


def test_no_card_number_comes_back_from_the_api(clock: TestClock, sql_logged: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []
    api = RecordingClient(make_api_key(scopes=("write",)), seen)
    admin = RecordingClient(make_api_key(scopes=("admin",), name="operator"), seen)
    plan = make_plan(carrier="att", price_minor=2500)
    pack = make_top_up_pack(carrier="att")
    make_promotion(code="HALF", percent_off=50)
    customer_id = api.post("customers", {"email": "ada@example.com", "name": "Ada"}).json()["id"]
    make_esim(carrier="att")
    esim_id = api.post("esims", {"customer_id": customer_id, "carrier": "att"}).json()["id"]
    first_card = api.post("payment-methods", card_body(customer_id, "4242424242424242", index=0)).json()
    subscription_id = api.post(
        "subscriptions",
        {"esim_id": esim_id, "plan_id": plan.pk, "payment_method_id": first_card["id"], "auto_renew": True},
    ).json()["id"]

    outcomes: set[int] = set()
    for index, number in enumerate(NUMBERS):
        added = api.post("payment-methods", card_body(customer_id, number, index=index))
        if number == BAD_LUHN:
            assert added.status_code == 422
            continue
        assert added.status_code == 201, added.content
        method_id = added.json()["id"]
        api.get(f"payment-methods/{method_id}")
        renewal = api.post(
            f"subscriptions/{subscription_id}/renewals",
            {"payment_method_id": method_id, "promo_code": "half" if index % 2 else None},
            headers={"Idempotency-Key": f"renew-{index}"},
        )
        outcomes.add(renewal.status_code)
        api.post(
            f"subscriptions/{subscription_id}/top-ups",
            {"data_mb_pack_id": pack.pk, "payment_method_id": method_id},
        )
        api.post(
            f"customers/{customer_id}/wallet/top-ups",
            {"payment_method_id": method_id, "amount_minor": 1000},
            headers={"Idempotency-Key": f"wallet-{index}"},
        )
        # A newcomer's first purchase with the same number.
        newcomer = make_customer()
        their_method = api.post("payment-methods", card_body(newcomer.pk, number, index=index + 1)).json()
        api.post(
            "subscriptions",
            {
                "esim_id": make_esim(customer=newcomer, carrier="att").pk,
                "plan_id": plan.pk,
                "payment_method_id": their_method["id"],
            },
        )
        # Bad requests carrying the number: refused without repeating it.
        good = card_body(customer_id, number, index=0)
        for bad in (
            {**good, "number": int(number)},  # a JSON number where a string belongs
            {**good, "type": "paypal", "paypal_email": "ada@example.com"},  # card fields on PayPal
            {**good, "cvc": 12},
            {**good, "pin": "1"},
        ):
            assert api.post("payment-methods", bad).status_code == 422

    clock.advance(minutes=5)
    for attempt in attempts_due_for_reconciliation():
        reconcile(attempt)
    api.get(f"payment-methods?customer_id={customer_id}&limit=100")
    api.get(f"subscriptions/{subscription_id}/renewals?limit=100")
    api.get(f"subscriptions/{subscription_id}")
    api.get(f"customers/{customer_id}/wallet")
    invoices = api.get(f"invoices?customer_id={customer_id}&limit=100").json()["items"]
    admin.post(f"invoices/{invoices[-1]['id']}/refunds", {"amount_minor": 100, "reason": "goodwill"})

    # The story really happened: refusals, successes and pending outcomes were all met.
    assert {201, 202, 402} <= outcomes
    assert {code for code in PaymentAttempt.objects.values_list("failure_code", flat=True)} >= {
        "card_declined",
        "insufficient_funds",
        "expired_card",
        "processing_error",
    }
    responses = "\n".join(seen)
    assert '"last4": "4242"' in responses
    log_text = "\n".join(
        [sql_logged.text, *(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in sql_logged.records)]
    )
    assert "INSERT INTO" in log_text
    dump = database_text()
    for number in [*TEST_CARDS, BAD_LUHN]:
        for spelling in spellings(number):
            assert spelling not in responses, f"{spelling} came back in a response"
            assert spelling not in dump, f"{spelling} is stored in the database"
            assert spelling not in log_text, f"{spelling} was logged"
