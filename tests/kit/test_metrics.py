"""What each process counts (kit.metrics): requests by the URL pattern that answered, never by the
path (ids in paths would make a series per customer), and gateway calls by provider, operation and
outcome, timed. Counters live for the whole test run: each test reads how much they moved."""

from __future__ import annotations

import pytest
from django.test import Client
from prometheus_client import REGISTRY

from simrenew.kit import metrics
from simrenew.payments.models import AttemptStatus
from tests.api.helpers import make_api_key
from tests.factories import make_card, make_customer, make_plan, make_subscription, renew


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.django_db
def test_a_request_is_counted_and_timed_under_its_route_template():
    route = "/api/v1/plans/<plan_id>"
    before = value("simrenew_http_requests_total", route=route, method="GET", status="404")
    timed = value("simrenew_http_request_duration_seconds_count", route=route, method="GET")
    key = make_api_key(scopes=["read"])

    for plan_id in (424242, 515151):
        answer = Client().get(f"/api/v1/plans/{plan_id}", headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 404

    assert value("simrenew_http_requests_total", route=route, method="GET", status="404") == before + 2
    assert value("simrenew_http_request_duration_seconds_count", route=route, method="GET") == timed + 2
    # No series names the ids themselves.
    assert not any("424242" in str(sample.labels) for family in REGISTRY.collect() for sample in family.samples)


@pytest.mark.django_db
def test_a_path_no_pattern_matches_is_counted_as_unmatched_and_an_odd_method_as_other():
    before = value("simrenew_http_requests_total", route="unmatched", method="GET", status="404")
    odd = value("simrenew_http_requests_total", route="/healthz", method="other", status="405")

    assert Client().get("/no/such/page/9f8e7d").status_code == 404
    assert Client().generic("BREW", "/healthz").status_code == 405

    assert value("simrenew_http_requests_total", route="unmatched", method="GET", status="404") == before + 1
    assert value("simrenew_http_requests_total", route="/healthz", method="other", status="405") == odd + 1


def test_a_gateway_call_that_raises_counts_as_an_error_and_is_timed():
    before = value("simrenew_gateway_calls_total", provider="testgw", operation="refund", outcome="error")
    timed = value("simrenew_gateway_call_duration_seconds_count", provider="testgw", operation="refund")

    with pytest.raises(ConnectionError), metrics.gateway_call("testgw", "refund"):
        raise ConnectionError("the line dropped")

    assert value("simrenew_gateway_calls_total", provider="testgw", operation="refund", outcome="error") == before + 1
    assert value("simrenew_gateway_call_duration_seconds_count", provider="testgw", operation="refund") == timed + 1


@pytest.mark.django_db
def test_renewals_by_hand_count_their_outcome_and_the_sandbox_charge_its_own():
    subscription = make_subscription()
    declining = make_card(customer=subscription.customer, number="4000000000000002")
    paid = value("simrenew_renewals_total", path="portal", outcome="succeeded")
    refused = value("simrenew_renewals_total", path="portal", outcome="failed")
    charged = value("simrenew_gateway_calls_total", provider="sandbox", operation="charge", outcome="succeeded")
    declined = value("simrenew_gateway_calls_total", provider="sandbox", operation="charge", outcome="failed")

    assert renew(subscription).status == AttemptStatus.SUCCEEDED
    assert renew(subscription, payment_method=declining).status == AttemptStatus.FAILED

    # Outside the API (here: no actor at all) a renewal by hand is the portal's.
    assert value("simrenew_renewals_total", path="portal", outcome="succeeded") == paid + 1
    assert value("simrenew_renewals_total", path="portal", outcome="failed") == refused + 1
    assert value("simrenew_gateway_calls_total", provider="sandbox", operation="charge", outcome="succeeded") == (
        charged + 1
    )
    assert value("simrenew_gateway_calls_total", provider="sandbox", operation="charge", outcome="failed") == (
        declined + 1
    )


def test_counts_of_zero_add_no_series():
    metrics.record_counts(metrics.REMINDERS_SENT, never_sent_kind=0)

    assert REGISTRY.get_sample_value("simrenew_reminders_sent_total", {"kind": "never_sent_kind"}) is None


@pytest.mark.django_db
def test_a_plan_bought_first_is_no_renewal():
    plan = make_plan()
    customer = make_customer()
    before = sum(
        value("simrenew_renewals_total", path=path, outcome=outcome)
        for path in ("portal", "api")
        for outcome in ("succeeded", "failed", "unknown", "action_required")
    )

    make_subscription(customer=customer, plan=plan)

    after = sum(
        value("simrenew_renewals_total", path=path, outcome=outcome)
        for path in ("portal", "api")
        for outcome in ("succeeded", "failed", "unknown", "action_required")
    )
    assert after == before
