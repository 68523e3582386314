"""Partners read invoices; operators (admin keys) refund them."""

from __future__ import annotations

import pytest

from simrenew.billing.models import Invoice, Refund
from simrenew.payments.models import SandboxCharge, Wallet
from tests.api.helpers import ApiClient, assert_problem, make_api_key
from tests.conftest import TestClock
from tests.factories import make_customer, make_plan, make_subscription, make_wallet, renew

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(db: None) -> ApiClient:
    return ApiClient(make_api_key(scopes=("admin",), name="operator"))


def test_an_invoice_is_read_by_id(api: ApiClient, clock: TestClock) -> None:
    subscription = make_subscription(plan=make_plan(price_minor=2500, name="AT&T 1 month"))
    invoice = Invoice.objects.get()

    response = api.get(f"invoices/{invoice.pk}")

    assert response.status_code == 200
    assert response.json() == {
        "id": invoice.pk,
        "number": invoice.number,
        "customer_id": subscription.customer_id,
        "subscription_id": subscription.pk,
        "description": "AT&T 1 month",
        "subtotal_minor": 2500,
        "discount_minor": 0,
        "total_minor": 2500,
        "refunded_minor": 0,
        "currency": "USD",
        "status": "paid",
        "issued_at": "2026-01-15T12:00:00+00:00",
    }
    assert invoice.number.startswith("SR-")


def test_invoices_are_listed_per_customer_in_pages(api: ApiClient, clock: TestClock) -> None:
    subscription = make_subscription()
    renew(subscription)
    renew(subscription)
    make_subscription()
    theirs = list(Invoice.objects.filter(customer=subscription.customer).values_list("id", flat=True))

    first = api.get(f"invoices?customer_id={subscription.customer_id}&limit=2").json()
    rest = api.get(f"invoices?customer_id={subscription.customer_id}&starting_after={first['next_starting_after']}")

    assert [i["id"] for i in first["items"]] == theirs[:2] and first["has_more"] is True
    assert [i["id"] for i in rest.json()["items"]] == theirs[2:]
    assert len(api.get(f"invoices?subscription_id={subscription.pk}").json()["items"]) == 3


def test_an_unknown_invoice_is_a_404(api: ApiClient, admin: ApiClient) -> None:
    assert_problem(api.get("invoices/31337"), status=404, type="/problems/not-found")
    assert_problem(
        admin.post("invoices/31337/refunds", {"amount_minor": 100, "reason": "x"}),
        status=404,
        type="/problems/not-found",
    )


def test_an_operator_refunds_part_then_the_rest_to_the_card(admin: ApiClient, clock: TestClock) -> None:
    make_subscription(plan=make_plan(price_minor=2500))
    invoice = Invoice.objects.get()

    part = admin.post(f"invoices/{invoice.pk}/refunds", {"amount_minor": 1000, "reason": "Outage on 14 Jan"})
    rest = admin.post(f"invoices/{invoice.pk}/refunds", {"amount_minor": 1500, "reason": "Goodwill"})

    assert part.status_code == 201, part.content
    body = part.json()
    assert {k: body[k] for k in ("amount_minor", "currency", "reason", "to_wallet", "invoice_id")} == {
        "amount_minor": 1000,
        "currency": "USD",
        "reason": "Outage on 14 Jan",
        "to_wallet": False,
        "invoice_id": invoice.pk,
    }
    assert (body["invoice"]["refunded_minor"], body["invoice"]["status"]) == (1000, "partially_refunded")
    assert (rest.json()["invoice"]["refunded_minor"], rest.json()["invoice"]["status"]) == (2500, "refunded")
    assert SandboxCharge.objects.get().refunded_minor == 2500


def test_a_refund_to_the_wallet_credits_it(admin: ApiClient, clock: TestClock) -> None:
    subscription = make_subscription(plan=make_plan(price_minor=2500))
    invoice = Invoice.objects.get()

    response = admin.post(f"invoices/{invoice.pk}/refunds", {"amount_minor": 700, "reason": "x", "to_wallet": True})

    assert response.status_code == 201
    assert response.json()["to_wallet"] is True
    assert Wallet.objects.get(customer=subscription.customer).balance_minor == 700
    assert SandboxCharge.objects.get().refunded_minor == 0


def test_a_wallet_payment_is_refunded_to_the_wallet(admin: ApiClient, clock: TestClock) -> None:
    customer = make_customer()
    wallet = make_wallet(customer=customer, balance_minor=5000)
    subscription = make_subscription(customer=customer, plan=make_plan(price_minor=2500))
    renew(subscription, payment_method=wallet)
    invoice = Invoice.objects.filter(subscription=subscription).last()
    assert invoice is not None

    response = admin.post(f"invoices/{invoice.pk}/refunds", {"amount_minor": 2500, "reason": "x"})

    assert response.json()["to_wallet"] is True
    assert Wallet.objects.get(customer=customer).balance_minor == 5000


def test_refunds_need_an_admin_key(api: ApiClient, clock: TestClock) -> None:
    make_subscription()
    invoice = Invoice.objects.get()

    response = api.post(f"invoices/{invoice.pk}/refunds", {"amount_minor": 100, "reason": "x"})

    assert_problem(response, status=403, type="/problems/insufficient-scope")
    assert not Refund.objects.exists()


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"amount_minor": -100, "reason": "x"}, ["amount_minor"]),
        ({"amount_minor": 0, "reason": "x"}, ["amount_minor"]),
        ({"amount_minor": 2501, "reason": "x"}, ["amount_minor"]),
        ({"amount_minor": "ten", "reason": "x"}, ["amount_minor"]),
        ({"amount_minor": 100, "reason": ""}, ["reason"]),
        ({"amount_minor": 100}, ["reason"]),
        ({"amount_minor": 100, "reason": "x", "to_wallet": "yes please"}, ["to_wallet"]),
    ],
)
def test_bad_refunds_are_a_422_and_refund_nothing(
    admin: ApiClient, clock: TestClock, body: dict[str, object], fields: list[str]
) -> None:
    make_subscription(plan=make_plan(price_minor=2500))
    invoice = Invoice.objects.get()

    assert_problem(
        admin.post(f"invoices/{invoice.pk}/refunds", body), status=422, type="/problems/validation-error", fields=fields
    )
    invoice.refresh_from_db()
    assert (invoice.refunded_minor, Refund.objects.count(), SandboxCharge.objects.get().refunded_minor) == (0, 0, 0)


def test_a_retried_refund_with_its_key_refunds_once(admin: ApiClient, clock: TestClock) -> None:
    make_subscription(plan=make_plan(price_minor=2500))
    invoice = Invoice.objects.get()
    body = {"amount_minor": 500, "reason": "x"}

    first = admin.post(f"invoices/{invoice.pk}/refunds", body, headers={"Idempotency-Key": "refund-1"})
    again = admin.post(f"invoices/{invoice.pk}/refunds", body, headers={"Idempotency-Key": "refund-1"})

    assert again.json() == first.json()
    assert Refund.objects.count() == 1
    assert_problem(admin.post(f"invoices/{invoice.pk}/refunds", raw="{"), status=400, type="/problems/malformed-json")
