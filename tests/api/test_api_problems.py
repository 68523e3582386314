"""Every error is RFC 9457 problem+json; bad input is never a 500 and leaves nothing half-written."""

from __future__ import annotations

import logging

import pytest
from django.contrib.auth import get_user_model

from simrenew.api.problems import field_message, field_name
from simrenew.customers.models import Customer
from tests.api.helpers import ApiClient, assert_problem

pytestmark = pytest.mark.django_db


def _nothing_written() -> None:
    assert Customer.objects.count() == 0
    assert get_user_model().objects.count() == 0


def test_malformed_json_is_a_400_that_says_where(api: ApiClient) -> None:
    response = api.post("customers", raw='{"email": "a@example.com", "name": }')

    body = assert_problem(response, status=400, type="/problems/malformed-json")
    assert "line 1, column 36" in body["detail"]
    _nothing_written()


def test_a_body_that_is_not_an_object_is_a_validation_problem(api: ApiClient) -> None:
    response = api.post("customers", raw='["a@example.com"]')

    assert_problem(response, status=422, type="/problems/validation-error", fields=["body"])
    _nothing_written()


def test_a_missing_body_is_a_validation_problem(api: ApiClient) -> None:
    response = api.post("customers")

    body = assert_problem(response, status=422, type="/problems/validation-error", fields=["body"])
    assert body["errors"][0]["message"] == "A JSON object body is required."


def test_a_form_body_is_an_unsupported_media_type(api: ApiClient) -> None:
    response = api.post("customers", raw="email=a@example.com&name=A", content_type="application/x-www-form-urlencoded")

    body = assert_problem(response, status=415, type="/problems/unsupported-media-type")
    assert "application/json" in body["detail"]
    _nothing_written()


def test_wrong_types_missing_and_unknown_fields_are_each_named(api: ApiClient) -> None:
    response = api.post("customers", {"email": 42, "nmae": "Typo"})

    body = assert_problem(response, status=422, type="/problems/validation-error", fields=["email", "name", "nmae"])
    messages = {e["field"]: e["message"] for e in body["errors"]}
    assert messages == {
        "email": "Input should be a valid string.",
        "name": "This field is required.",
        "nmae": "This field is not recognised.",
    }
    assert body["detail"] == "3 fields are not valid; see `errors`."
    _nothing_written()


def test_a_bad_query_parameter_is_named(api: ApiClient) -> None:
    response = api.get("customers?limit=lots")

    assert_problem(response, status=422, type="/problems/validation-error", fields=["limit"])


def test_an_unknown_id_is_a_404(api: ApiClient) -> None:
    body = assert_problem(api.get("customers/4242"), status=404, type="/problems/not-found")

    assert "4242" in body["detail"]


@pytest.mark.parametrize("bad_id", ["abc", "0", "-1", "99999999999999999999999"])
def test_an_id_that_cannot_be_one_is_a_422_not_a_500(api: ApiClient, bad_id: str) -> None:
    assert_problem(
        api.get(f"customers/{bad_id}"), status=422, type="/problems/validation-error", fields=["customer_id"]
    )


@pytest.mark.parametrize("path", ["/api/v1/nowhere", "/api/v1/customers/1/nothing", "/api/v1/plans/"])
def test_an_unknown_route_is_a_404_problem(api: ApiClient, path: str) -> None:
    body = assert_problem(api.get(path), status=404, type="/problems/not-found")

    assert path in body["detail"]


def test_an_unknown_route_is_a_404_problem_even_without_a_key(db: None) -> None:
    assert_problem(ApiClient(None).post("/api/v1/nowhere"), status=404, type="/problems/not-found")


def test_a_wrong_method_is_a_405_problem_with_allow(api: ApiClient) -> None:
    response = api.delete("plans")

    assert_problem(response, status=405, type="/problems/method-not-allowed")
    assert response["Allow"] == "GET"


def test_an_unexpected_error_is_a_500_problem_that_leaks_nothing(
    api: ApiClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from simrenew.api.routers import customers

    def explode(**kwargs: object) -> None:
        raise RuntimeError("password=hunter2 in the connection string")

    monkeypatch.setattr(customers.services, "create_customer", explode)

    with caplog.at_level(logging.ERROR, logger="simrenew.api"):
        response = api.post("customers", {"email": "a@example.com", "name": "A"})

    body = assert_problem(response, status=500, type="/problems/internal-error")
    assert "hunter2" not in response.content.decode()
    assert "RuntimeError" not in body["detail"]
    assert any("hunter2" in (r.exc_text or "") or r.exc_info for r in caplog.records)


def test_a_does_not_exist_from_a_service_is_a_404(api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from simrenew.api.routers import customers

    def missing(**kwargs: object) -> None:
        raise Customer.DoesNotExist("Customer matching query does not exist.")

    monkeypatch.setattr(customers.services, "create_customer", missing)

    body = assert_problem(
        api.post("customers", {"email": "a@example.com", "name": "A"}), status=404, type="/problems/not-found"
    )
    assert body["detail"] == "No customer with that id."


def test_a_problem_carries_its_code_when_there_is_one(api: ApiClient) -> None:
    api.post("customers", {"email": "a@example.com", "name": "A"})

    body = assert_problem(
        api.post("customers", {"email": "A@EXAMPLE.com", "name": "A"}), status=409, type="/problems/conflict"
    )
    assert body["code"] == "email_taken"
    assert "errors" not in body


def test_nested_locations_become_dotted_field_names() -> None:
    assert field_name(("body", "payload", "records", 0, "bytes"), single_body_param="payload") == "records.0.bytes"
    assert field_name(("query", "limit")) == "limit"
    assert field_name(("body", "payload"), single_body_param="payload") == "body"
    assert field_message({"type": "value_error", "msg": "Value error, bytes must be positive"}) == (
        "Bytes must be positive."
    )
