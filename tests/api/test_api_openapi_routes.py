"""Every route of the partner API is in the OpenAPI document, with its methods."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

ROUTES = {
    "/api/v1/esims": {"get", "post"},
    "/api/v1/esims/{esim_id}": {"get"},
    "/api/v1/esims/{esim_id}/installed": {"post"},
    "/api/v1/esims/{esim_id}/usage": {"get"},
    "/api/v1/esims/{esim_id}/install": {"get"},
    "/api/v1/esims/{esim_id}/top-up-options": {"get"},
    "/api/v1/esims/{esim_id}/packages": {"get"},
    "/api/v1/payment-methods": {"get", "post"},
    "/api/v1/payment-methods/{method_id}": {"get", "delete"},
    "/api/v1/payment-methods/{method_id}/default": {"post"},
    "/api/v1/customers/{customer_id}/wallet": {"get"},
    "/api/v1/customers/{customer_id}/wallet/top-ups": {"post"},
    "/api/v1/customers/{customer_id}/data-export": {"get"},
    "/api/v1/customers/{customer_id}/erasure": {"post"},
    "/api/v1/subscriptions": {"get", "post"},
    "/api/v1/subscriptions/{subscription_id}": {"get", "patch"},
    "/api/v1/subscriptions/{subscription_id}/renewals": {"get", "post"},
    "/api/v1/subscriptions/{subscription_id}/renewals/{renewal_id}": {"get"},
    "/api/v1/subscriptions/{subscription_id}/renewal-preview": {"get"},
    "/api/v1/subscriptions/{subscription_id}/top-ups": {"post"},
    "/api/v1/subscriptions/{subscription_id}/top-up-options": {"get"},
    "/api/v1/subscriptions/{subscription_id}/cancel": {"post"},
    "/api/v1/subscriptions/{subscription_id}/resume": {"post"},
    "/api/v1/usage": {"post"},
    "/api/v1/invoices": {"get"},
    "/api/v1/invoices/{invoice_id}": {"get"},
    "/api/v1/invoices/{invoice_id}/refunds": {"post"},
}


@pytest.fixture
def spec() -> dict:
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_every_route_is_documented_with_its_methods(spec: dict) -> None:
    for path, methods in ROUTES.items():
        assert path in spec["paths"], path
        assert methods <= set(spec["paths"][path]), (path, set(spec["paths"][path]))


def test_operation_ids_are_unique(spec: dict) -> None:
    ids = [op["operationId"] for item in spec["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


def test_every_schema_reference_resolves(spec: dict) -> None:
    components = spec["components"]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                assert ref.startswith("#/components/"), ref
                kind, name = ref.removeprefix("#/components/").split("/")
                assert name in components.get(kind, {}), ref
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)


def test_renewals_require_an_idempotency_key_and_document_each_outcome(spec: dict) -> None:
    renew = spec["paths"]["/api/v1/subscriptions/{subscription_id}/renewals"]["post"]

    header = next(p for p in renew["parameters"] if p["name"] == "Idempotency-Key")
    assert header["required"] is True
    assert {"201", "202", "402", "409", "422"} <= set(renew["responses"])


def test_refunds_are_for_admin_keys_and_card_numbers_are_write_only(spec: dict) -> None:
    refund = spec["paths"]["/api/v1/invoices/{invoice_id}/refunds"]["post"]
    method_out = spec["components"]["schemas"]["PaymentMethodOut"]["properties"]

    assert refund["security"]
    assert "number" not in method_out and "cvc" not in method_out


def test_a_refused_first_payment_is_documented_as_a_problem(spec: dict) -> None:
    create = spec["paths"]["/api/v1/subscriptions"]["post"]

    assert create["responses"]["402"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"
    }
    assert [p["name"] for p in create["parameters"]] == ["Idempotency-Key"]
