"""The partner API's hottest read stays lean: GET /subscriptions/{id} with auth and rate limiting costs
at most four queries and writes nothing (a key's last use is recorded at most once a minute)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.api.helpers import ApiClient, make_api_key
from tests.conftest import TestClock
from tests.factories import make_subscription

pytestmark = pytest.mark.django_db


def test_reading_a_subscription_costs_four_queries_and_no_write(clock: TestClock) -> None:
    subscription = make_subscription()
    reader = ApiClient(make_api_key(scopes=("read",)))
    assert reader.get(f"subscriptions/{subscription.pk}").status_code == 200  # records the key's use

    with CaptureQueriesContext(connection) as queries:
        response = reader.get(f"subscriptions/{subscription.pk}")

    assert response.status_code == 200
    assert response["RateLimit-Limit"]
    statements = [query["sql"].lstrip().split()[0].upper() for query in queries.captured_queries]
    assert len(statements) <= 4, queries.captured_queries
    assert set(statements) == {"SELECT"}
