"""Partners save cards, debit cards, PayPal accounts and the wallet as payment methods (tokens only)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import transaction

from simrenew.api.idempotency import scope_key
from simrenew.api.keys import authenticate
from simrenew.billing.models import Invoice
from simrenew.billing.wallet_top_ups import begin_wallet_top_up
from simrenew.customers.models import Customer
from simrenew.payments.models import PaymentAttempt, PaymentMethod, SandboxCharge, Wallet
from tests.api.helpers import ApiClient, assert_problem
from tests.conftest import TestClock
from tests.factories import make_card, make_customer, make_paypal, make_wallet

pytestmark = pytest.mark.django_db

VISA = "4242424242424242"


def card(customer: Customer, number: str = VISA, **extra: Any) -> dict[str, Any]:
    return {
        "customer_id": customer.pk,
        "type": "card",
        "number": number,
        "exp_month": 12,
        "exp_year": 2030,
        "cvc": "123",
        **extra,
    }


def test_a_card_is_saved_as_a_token_and_shown_by_brand_and_last4(api: ApiClient, clock: TestClock) -> None:
    customer = make_customer()

    response = api.post("payment-methods", card(customer))

    assert response.status_code == 201, response.content
    method = PaymentMethod.objects.get()
    assert response.json() == {
        "id": method.pk,
        "customer_id": customer.pk,
        "type": "card",
        "brand": "visa",
        "last4": "4242",
        "exp_month": 12,
        "exp_year": 2030,
        "paypal_email": None,
        "is_default": True,
    }
    assert VISA not in response.content.decode()
    assert method.token.startswith("tok_sandbox_")


def test_a_debit_card_with_spaces_a_paypal_account_and_the_wallet(api: ApiClient, clock: TestClock) -> None:
    customer = make_customer()

    debit = api.post("payment-methods", card(customer, "4000 0566 5566 5556", type="debit")).json()
    paypal = api.post(
        "payment-methods", {"customer_id": customer.pk, "type": "paypal", "paypal_email": "ada@example.com"}
    ).json()
    wallet = api.post("payment-methods", {"customer_id": customer.pk, "type": "wallet"})

    assert (debit["type"], debit["last4"], debit["is_default"]) == ("debit", "5556", True)
    assert (paypal["brand"], paypal["paypal_email"], paypal["last4"], paypal["is_default"]) == (
        "paypal",
        "ada@example.com",
        None,
        False,
    )
    assert wallet.status_code == 201
    assert (wallet.json()["type"], wallet.json()["brand"]) == ("wallet", "wallet")
    assert Wallet.objects.filter(customer=customer).exists()


def test_a_new_default_replaces_the_old_one(api: ApiClient, clock: TestClock) -> None:
    customer = make_customer()
    first = make_card(customer=customer)

    second = api.post("payment-methods", card(customer, "5555555555554444", make_default=True)).json()

    assert second["is_default"] is True
    assert api.get(f"payment-methods/{first.pk}").json()["is_default"] is False
    back = api.post(f"payment-methods/{first.pk}/default")
    assert back.status_code == 200 and back.json()["is_default"] is True
    assert api.get(f"payment-methods/{second['id']}").json()["is_default"] is False


def test_methods_are_listed_per_customer_in_pages_without_removed_ones(api: ApiClient, clock: TestClock) -> None:
    ada, bob = make_customer(), make_customer()
    ada_cards = [make_card(customer=ada) for _ in range(3)]
    make_card(customer=bob)
    api.delete(f"payment-methods/{ada_cards[1].pk}")

    first = api.get(f"payment-methods?customer_id={ada.pk}&limit=1").json()
    rest = api.get(f"payment-methods?customer_id={ada.pk}&starting_after={first['next_starting_after']}").json()

    assert [m["id"] for m in first["items"]] == [ada_cards[0].pk] and first["has_more"] is True
    assert [m["id"] for m in rest["items"]] == [ada_cards[2].pk] and rest["has_more"] is False


def test_a_removed_method_is_gone(api: ApiClient, clock: TestClock) -> None:
    method = make_card(customer=make_customer())

    response = api.delete(f"payment-methods/{method.pk}")

    assert response.status_code == 204
    assert response.content == b""
    method.refresh_from_db()
    assert method.removed_at is not None and method.is_default is False
    assert_problem(api.get(f"payment-methods/{method.pk}"), status=404, type="/problems/not-found")
    assert_problem(api.delete(f"payment-methods/{method.pk}"), status=404, type="/problems/not-found")
    assert_problem(api.post(f"payment-methods/{method.pk}/default"), status=404, type="/problems/not-found")


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"number": "4242424242424241"}, ["number"]),  # Luhn check digit wrong
        ({"number": "not a number"}, ["number"]),
        ({"exp_month": 13}, ["exp_month"]),
        ({"exp_year": 2020}, ["exp_year"]),
        ({"cvc": "12"}, ["cvc"]),
        ({"number": None}, ["number"]),
        ({"number": 4242424242424242}, ["number"]),  # a JSON number, not a string
        ({"exp_month": "December"}, ["exp_month"]),
        ({"type": "bitcoin"}, ["type"]),
        ({"pin": "1234"}, ["pin"]),
    ],
)
def test_bad_card_details_are_a_422_that_never_repeats_the_number(
    api: ApiClient, clock: TestClock, changes: dict[str, Any], fields: list[str]
) -> None:
    customer = make_customer()
    sent = card(customer, **changes)

    response = api.post("payment-methods", sent)

    body = assert_problem(response, status=422, type="/problems/validation-error", fields=fields)
    text = response.content.decode()
    for number in ("4242424242424241", "4242424242424242"):
        assert number not in text
    assert all(set(error) == {"field", "message"} for error in body["errors"])
    assert PaymentMethod.objects.count() == 0


def test_paypal_needs_an_email_and_no_card_fields(api: ApiClient) -> None:
    customer = make_customer()

    assert_problem(
        api.post("payment-methods", {"customer_id": customer.pk, "type": "paypal", "paypal_email": "nope"}),
        status=422,
        type="/problems/validation-error",
        fields=["paypal_email"],
    )
    response = api.post(
        "payment-methods",
        {"customer_id": customer.pk, "type": "paypal", "paypal_email": "a@example.com", "number": VISA, "cvc": "1"},
    )
    assert_problem(response, status=422, type="/problems/validation-error", fields=["number", "cvc"])
    assert_problem(
        api.post("payment-methods", {"customer_id": customer.pk, "type": "wallet", "paypal_email": "a@example.com"}),
        status=422,
        type="/problems/validation-error",
        fields=["paypal_email"],
    )
    assert VISA not in response.content.decode()
    assert PaymentMethod.objects.count() == 0


def test_an_unknown_customer_or_method_is_a_404(api: ApiClient) -> None:
    body = assert_problem(
        api.post("payment-methods", {"customer_id": 9999, "type": "wallet"}), status=404, type="/problems/not-found"
    )
    assert body["code"] == "customer_id"
    assert_problem(api.get("payment-methods/9999"), status=404, type="/problems/not-found")
    assert_problem(api.get("customers/9999/wallet"), status=404, type="/problems/not-found")


def test_malformed_json_is_a_400(api: ApiClient) -> None:
    assert_problem(api.post("payment-methods", raw='{"type": "card"'), status=400, type="/problems/malformed-json")


# --- the wallet ---------------------------------------------------------------------------------


def test_a_new_customer_has_an_empty_wallet_and_reading_it_creates_nothing(api: ApiClient) -> None:
    customer = make_customer()

    response = api.get(f"customers/{customer.pk}/wallet")

    assert response.json() == {"customer_id": customer.pk, "balance_minor": 0, "currency": "USD"}
    assert not Wallet.objects.exists()


def test_a_wallet_top_up_by_card_credits_the_balance(api: ApiClient, clock: TestClock) -> None:
    customer = make_customer()
    method = make_card(customer=customer)

    response = api.post(
        f"customers/{customer.pk}/wallet/top-ups", {"payment_method_id": method.pk, "amount_minor": 2000}
    )

    assert response.status_code == 201, response.content
    body = response.json()
    invoice = Invoice.objects.get()
    assert body == {
        "id": PaymentAttempt.objects.get().pk,
        "customer_id": customer.pk,
        "status": "succeeded",
        "failure_code": None,
        "failure_message": None,
        "amount_minor": 2000,
        "currency": "USD",
        "invoice_id": invoice.pk,
        "invoice_number": invoice.number,
        "balance_minor": 2000,
    }
    assert api.get(f"customers/{customer.pk}/wallet").json()["balance_minor"] == 2000


def test_a_refused_wallet_top_up_is_a_402_and_adds_nothing(api: ApiClient, clock: TestClock) -> None:
    customer = make_customer()
    method = make_card(customer=customer, number="4000000000009995")

    response = api.post(
        f"customers/{customer.pk}/wallet/top-ups", {"payment_method_id": method.pk, "amount_minor": 2000}
    )

    assert response.status_code == 402
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert (body["status"], body["failure_code"], body["balance_minor"]) == ("failed", "insufficient_funds", 0)
    assert "insufficient funds" in body["failure_message"]
    assert not Invoice.objects.exists()


def test_a_wallet_top_up_retried_with_its_key_charges_once(api: ApiClient, clock: TestClock) -> None:
    customer = make_customer()
    method = make_card(customer=customer)
    path = f"customers/{customer.pk}/wallet/top-ups"
    headers = {"Idempotency-Key": "wallet-1"}

    first = api.post(path, {"payment_method_id": method.pk, "amount_minor": 1500}, headers=headers)
    again = api.post(path, {"payment_method_id": method.pk, "amount_minor": 1500}, headers=headers)

    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert SandboxCharge.objects.count() == 1
    assert Wallet.objects.get().balance_minor == 1500


@pytest.mark.parametrize("amount", [-500, 0, 50, "10", 10**7, 2**64, 12.5, None])
def test_a_wallet_top_up_of_a_bad_amount_is_a_422(api: ApiClient, clock: TestClock, amount: object) -> None:
    customer = make_customer()
    method = make_card(customer=customer)

    response = api.post(
        f"customers/{customer.pk}/wallet/top-ups", {"payment_method_id": method.pk, "amount_minor": amount}
    )

    assert_problem(response, status=422, type="/problems/validation-error", fields=["amount_minor"])
    assert not PaymentAttempt.objects.exists()
    assert not Wallet.objects.filter(balance_minor__gt=0).exists()


def test_the_wallet_cannot_top_up_itself_or_take_another_customers_card(api: ApiClient, clock: TestClock) -> None:
    customer = make_customer()
    wallet = make_wallet(customer=customer)
    strangers_card = make_card(customer=make_customer())
    path = f"customers/{customer.pk}/wallet/top-ups"

    assert_problem(
        api.post(path, {"payment_method_id": wallet.pk, "amount_minor": 1000}),
        status=422,
        type="/problems/validation-error",
        fields=["payment_method_id"],
    )
    assert_problem(
        api.post(path, {"payment_method_id": strangers_card.pk, "amount_minor": 1000}),
        status=422,
        type="/problems/validation-error",
        fields=["payment_method_id"],
    )
    assert_problem(
        api.post(path, {"payment_method_id": 99999, "amount_minor": 1000}), status=404, type="/problems/not-found"
    )
    assert not PaymentAttempt.objects.exists()


def test_paypal_tops_up_the_wallet(api: ApiClient, clock: TestClock) -> None:
    customer = make_customer()
    paypal = make_paypal(customer=customer)

    response = api.post(
        f"customers/{customer.pk}/wallet/top-ups", {"payment_method_id": paypal.pk, "amount_minor": 1000}
    )

    assert response.status_code == 201
    assert json.loads(response.content)["balance_minor"] == 1000


def test_a_retried_wallet_top_up_settles_the_payment_its_first_try_wrote(
    api: ApiClient, api_key: str, clock: TestClock
) -> None:
    customer = make_customer()
    method = make_card(customer=customer)
    api_key_row = authenticate(api_key)
    assert api_key_row is not None
    with transaction.atomic():  # step 1 committed, then the process died: no answer was kept
        begun = begin_wallet_top_up(
            customer=customer,
            payment_method=method,
            amount_minor=1000,
            idempotency_key=scope_key(api_key_row.pk, "lost"),
        )

    response = api.post(
        f"customers/{customer.pk}/wallet/top-ups",
        {"payment_method_id": method.pk, "amount_minor": 1000},
        headers={"Idempotency-Key": "lost"},
    )

    assert response.status_code == 201, response.content
    assert response.json()["id"] == begun.pk
    assert Wallet.objects.get().balance_minor == 1000
    assert SandboxCharge.objects.count() == 1


def test_a_lost_wallet_top_up_key_reused_for_another_amount_is_refused(
    api: ApiClient, api_key: str, clock: TestClock
) -> None:
    customer = make_customer()
    method = make_card(customer=customer)
    api_key_row = authenticate(api_key)
    assert api_key_row is not None
    with transaction.atomic():
        begin_wallet_top_up(
            customer=customer,
            payment_method=method,
            amount_minor=1000,
            idempotency_key=scope_key(api_key_row.pk, "lost"),
        )

    response = api.post(
        f"customers/{customer.pk}/wallet/top-ups",
        {"payment_method_id": method.pk, "amount_minor": 5000},
        headers={"Idempotency-Key": "lost"},
    )

    assert_problem(response, status=409, type="/problems/conflict")
    assert PaymentAttempt.objects.count() == 1
    assert not SandboxCharge.objects.exists()
