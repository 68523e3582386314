"""The OpenAPI document: complete (every operation explained, every error and schema with an example),
served live, and equal to the committed snapshot so that a change partners see shows in review."""

from __future__ import annotations

import difflib
import json
from typing import Any

import jsonschema_rs
import pytest
from django.test import Client

from simrenew.api.openapi import SNAPSHOT_PATH, document_text, error_statuses

pytestmark = pytest.mark.django_db

UPDATE_COMMAND = ".venv/bin/python scripts/update_openapi_snapshot.py"
HTTP_METHODS = {"get", "put", "post", "patch", "delete"}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(document_text())
    return document


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


def resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return node
    kind, name = ref.removeprefix("#/components/").split("/")
    resolved: dict[str, Any] = spec["components"][kind][name]
    return resolved


def test_the_committed_snapshot_is_the_generated_document() -> None:
    generated = document_text()
    committed = SNAPSHOT_PATH.read_text(encoding="utf-8") if SNAPSHOT_PATH.exists() else ""

    if generated != committed:
        diff = "".join(
            list(
                difflib.unified_diff(
                    committed.splitlines(keepends=True),
                    generated.splitlines(keepends=True),
                    "openapi.json (committed)",
                    "openapi.json (generated)",
                )
            )[:60]
        )
        pytest.fail(
            f"The API changed but src/simrenew/api/openapi.json did not. Run `{UPDATE_COMMAND}`, review the "
            f"diff (it is what partners see) and commit it.\n{diff}"
        )


def test_the_served_document_is_the_snapshot_s(spec: dict[str, Any]) -> None:
    served = Client().get("/api/v1/openapi.json")

    assert served.status_code == 200
    assert served.json() == spec
    assert spec["openapi"].startswith("3.1")


def test_the_openapi_document_describes_the_api(spec: dict[str, Any]) -> None:
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
    default = resolve(spec, create["responses"]["default"])
    assert default["content"]["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
    assert spec["components"]["schemas"]["Problem"]["required"] == ["type", "title", "status", "detail"]
    assert spec["components"]["securitySchemes"]["ApiKeyAuth"] == {"type": "http", "scheme": "bearer"}


def test_every_operation_has_a_summary_and_a_description(spec: dict[str, Any]) -> None:
    missing = [
        f"{method.upper()} {path}"
        for path, method, operation in operations(spec)
        if not operation.get("summary") or not operation.get("description")
    ]

    assert missing == [], "add a summary= and a docstring to these routes"


def test_every_operation_documents_its_problems(spec: dict[str, Any]) -> None:
    for path, method, operation in operations(spec):
        expected = set(error_statuses(path, operation)) | {"default"}
        assert expected <= set(operation["responses"]), (method, path)
        if operation.get("security"):
            assert {"401", "403", "429"} <= set(operation["responses"]), (method, path)
        for status in expected - {"default"}:
            answer = resolve(spec, operation["responses"][status])
            content = answer["content"]["application/problem+json"]
            assert content["schema"] == {"$ref": "#/components/schemas/Problem"}
            assert content["examples"], (method, path, status)


def test_a_429_documents_retry_after_and_the_rate_limit_headers(spec: dict[str, Any]) -> None:
    answer = resolve(spec, spec["paths"]["/api/v1/subscriptions/{subscription_id}"]["get"]["responses"]["429"])

    assert {"Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(answer["headers"])


def test_every_schema_has_an_example_that_it_accepts(spec: dict[str, Any]) -> None:
    for name, schema in spec["components"]["schemas"].items():
        assert schema.get("examples"), name
        validator = jsonschema_rs.validator_for({"$ref": f"#/components/schemas/{name}", **spec})
        for example in schema["examples"]:
            errors = [str(error) for error in validator.iter_errors(example)]
            assert errors == [], (name, example)


def test_every_problem_example_is_a_problem(spec: dict[str, Any]) -> None:
    validator = jsonschema_rs.validator_for({"$ref": "#/components/schemas/Problem", **spec})
    for name, answer in spec["components"]["responses"].items():
        for example in answer["content"]["application/problem+json"].get("examples", {}).values():
            assert validator.is_valid(example["value"]), name


def test_request_bodies_have_hand_written_examples(spec: dict[str, Any]) -> None:
    card = spec["components"]["schemas"]["PaymentMethodIn"]["examples"][0]
    renewal = spec["components"]["schemas"]["SubscriptionIn"]["examples"][0]

    assert card["type"] == "card" and card["number"] == "4242424242424242"
    assert set(renewal) >= {"esim_id", "plan_id", "payment_method_id"}


def test_the_docs_page_is_served() -> None:
    response = Client().get("/api/v1/docs")

    assert response.status_code == 200
    assert b"/api/v1/openapi.json" in response.content


def test_the_api_root_points_at_the_docs() -> None:
    assert Client().get("/api/v1/").json()["docs"] == "/api/v1/docs"


def test_the_docs_page_has_the_pages_content_security_policy() -> None:
    response = Client().get("/api/v1/docs")

    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy and "default-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    # Swagger UI's settings are a JSON data block (never run); every script is a local file.
    page = response.content.decode()
    assert '<script type="application/json" id="swagger-settings">' in page
    assert "<script>" not in page and "http://" not in page.replace("http://testserver", "")
