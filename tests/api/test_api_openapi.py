"""The OpenAPI document and the docs page."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_openapi_document_describes_the_api() -> None:
    response = Client().get("/api/v1/openapi.json")

    assert response.status_code == 200
    spec = response.json()
    assert spec["info"] == {**spec["info"], "title": "simrenew partner API", "version": "1"}
    assert {
        "/api/v1/plans",
        "/api/v1/customers",
        "/api/v1/customers/{customer_id}",
        "/api/v1/test-clock",
    } <= set(spec["paths"])
    create = spec["paths"]["/api/v1/customers"]["post"]
    assert create["operationId"] == "create_customer"
    assert {k: v for k, v in create["parameters"][0].items() if k in ("name", "in", "required")} == {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
    }
    assert create["responses"]["default"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"
    }
    assert spec["components"]["schemas"]["Problem"]["required"] == ["type", "title", "status", "detail"]
    assert spec["components"]["securitySchemes"]["ApiKeyAuth"] == {"type": "http", "scheme": "bearer"}


def test_the_docs_page_is_served() -> None:
    response = Client().get("/api/v1/docs")

    assert response.status_code == 200
    assert b"/api/v1/openapi.json" in response.content


def test_the_api_root_points_at_the_docs() -> None:
    assert Client().get("/api/v1/").json()["docs"] == "/api/v1/docs"
