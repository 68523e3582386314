"""The partner API's hottest read stays lean: GET /subscriptions/{id} with auth and rate limiting costs
one query once the key is known (the key is trusted for a few seconds per process, its last use
recorded at most once a minute) and writes nothing; the page-only middleware stays out of its way
while its answers keep their security headers."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from simrenew.kit.middleware import API_CONTENT_SECURITY_POLICY
from tests.api.helpers import ApiClient, make_api_key
from tests.conftest import TestClock
from tests.factories import make_subscription

pytestmark = pytest.mark.django_db


def test_reading_a_subscription_costs_one_query_and_no_write(clock: TestClock) -> None:
    subscription = make_subscription()
    reader = ApiClient(make_api_key(scopes=("read",)))
    assert reader.get(f"subscriptions/{subscription.pk}").status_code == 200  # checks the key, records its use

    with CaptureQueriesContext(connection) as queries:
        response = reader.get(f"subscriptions/{subscription.pk}")

    assert response.status_code == 200
    assert response["RateLimit-Limit"]
    statements = [query["sql"].lstrip().split()[0].upper() for query in queries.captured_queries]
    assert statements == ["SELECT"], queries.captured_queries


def test_api_answers_keep_their_security_headers(clock: TestClock) -> None:
    subscription = make_subscription()
    reader = ApiClient(make_api_key(scopes=("read",)))

    for response in (reader.get(f"subscriptions/{subscription.pk}"), reader.get("subscriptions/987654")):
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["X-Frame-Options"] == "DENY"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["Content-Security-Policy"] == API_CONTENT_SECURITY_POLICY


def test_api_requests_skip_language_negotiation_sessions_and_messages(clock: TestClock) -> None:
    subscription = make_subscription()
    reader = ApiClient(make_api_key(scopes=("read",)))

    response = reader.get(f"subscriptions/{subscription.pk}", headers={"Accept-Language": "zh-hans"})

    assert response.status_code == 200
    assert "Content-Language" not in response
    assert "Accept-Language" not in response.get("Vary", "")
    assert not response.cookies
    assert not hasattr(response.wsgi_request, "_messages")
    assert response.wsgi_request.LANGUAGE_CODE == "en"


def test_pages_keep_their_language_and_their_own_policy(db: None) -> None:
    page = Client().get("/accounts/login/", headers={"Accept-Language": "zh-hans"})

    assert page.status_code == 200
    assert page["Content-Language"] == "zh-hans"
    assert "default-src 'self'" in page["Content-Security-Policy"]
    assert page["X-Frame-Options"] == "DENY"


def test_the_api_docs_page_keeps_the_page_handling(db: None) -> None:
    docs = Client().get("/api/v1/docs")

    assert docs.status_code == 200
    assert docs.get("Content-Security-Policy") != API_CONTENT_SECURITY_POLICY  # Swagger UI needs its scripts
