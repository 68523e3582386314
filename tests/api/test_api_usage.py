"""Carriers report usage in bulk; each record counts once, against the period it fell in."""

from __future__ import annotations

from typing import Any

import pytest

from simrenew.subscriptions.models import Subscription
from simrenew.usage.models import UsageRecord
from simrenew.usage.services import MAX_BATCH
from tests.api.helpers import ApiClient, assert_problem
from tests.conftest import TestClock
from tests.factories import make_plan, make_subscription

pytestmark = pytest.mark.django_db

MB = 1024 * 1024


def record(iccid: str, record_id: str, *, mb: int = 100, **changes: Any) -> dict[str, Any]:
    return {
        "source": "att-cdr",
        "record_id": record_id,
        "iccid": iccid,
        "bytes": mb * MB,
        "occurred_at": "2026-01-15T12:30:00+00:00",
        **changes,
    }


@pytest.fixture
def subscription(clock: TestClock) -> Subscription:
    """Bought at 12:00; it is now 13:00."""
    bought = make_subscription(plan=make_plan(data_mb=1000))
    clock.advance(hours=1)
    return bought


def test_usage_is_accepted_and_counts_against_data_left(api: ApiClient, subscription: Subscription) -> None:
    iccid = subscription.esim.iccid

    response = api.post("usage", {"records": [record(iccid, "r1", mb=100), record(iccid, "r2", mb=50)]})

    assert response.status_code == 200, response.content
    assert response.json() == {"accepted": 2, "duplicates": 0, "rejected": []}
    assert api.get(f"subscriptions/{subscription.pk}").json()["data_left_mb"] == 850


def test_a_resent_record_is_a_duplicate_and_counts_once(api: ApiClient, subscription: Subscription) -> None:
    iccid = subscription.esim.iccid
    api.post("usage", {"records": [record(iccid, "r1")]})

    response = api.post("usage", {"records": [record(iccid, "r1"), record(iccid, "r2")]})

    assert response.json() == {"accepted": 1, "duplicates": 1, "rejected": []}
    assert api.get(f"subscriptions/{subscription.pk}").json()["data_left_mb"] == 800


def test_records_that_cannot_be_used_are_rejected_one_by_one(api: ApiClient, subscription: Subscription) -> None:
    iccid = subscription.esim.iccid
    records = [
        record(iccid, "ok"),
        record(iccid, "negative", bytes=-5),
        record("8901260000000000000", "stranger"),
        record(iccid, "naive", occurred_at="2026-01-15T12:30:00"),
        record(iccid, "future", occurred_at="2027-01-01T00:00:00+00:00"),
        record(iccid, ""),
    ]

    body = api.post("usage", {"records": records}).json()

    assert body["accepted"] == 1
    assert [(r["index"], r["record_id"]) for r in body["rejected"]] == [
        (1, "negative"),
        (2, "stranger"),
        (3, "naive"),
        (4, "future"),
        (5, ""),
    ]
    reasons = [r["reason"] for r in body["rejected"]]
    assert "negative" in reasons[0] and "unknown ICCID" in reasons[1] and "offset" in reasons[2]
    assert list(UsageRecord.objects.values_list("record_id", flat=True)) == ["ok"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"bytes": "x"}, "records.0.bytes"),
        ({"bytes": 1.5}, "records.0.bytes"),
        ({"bytes": 2**41}, "records.0.bytes"),
        ({"occurred_at": "yesterday"}, "records.0.occurred_at"),
        ({"occurred_at": "2026-02-30T10:00:00+00:00"}, "records.0.occurred_at"),
        # Exists nowhere in UTC: before year 1.
        ({"occurred_at": "0001-01-01T00:00:00+23:59"}, "records.0.occurred_at"),
        ({"iccid": 8901260000000000000}, "records.0.iccid"),
        ({"colour": "red"}, "records.0.colour"),
    ],
)
def test_wrong_json_types_refuse_the_whole_batch(
    api: ApiClient, subscription: Subscription, change: dict[str, Any], field: str
) -> None:
    good = record(subscription.esim.iccid, "good")
    bad = {**record(subscription.esim.iccid, "bad"), **change}

    response = api.post("usage", {"records": [bad, good]})

    assert_problem(response, status=422, type="/problems/validation-error", fields=[field])
    assert not UsageRecord.objects.exists()


def test_a_batch_over_ten_thousand_records_is_refused(api: ApiClient, subscription: Subscription) -> None:
    records = [record(subscription.esim.iccid, f"r{i}", mb=0) for i in range(MAX_BATCH + 1)]

    response = api.post("usage", {"records": records})

    assert_problem(response, status=422, type="/problems/validation-error", fields=["records"])
    assert not UsageRecord.objects.exists()


def test_a_full_batch_is_taken(api: ApiClient, subscription: Subscription) -> None:
    records = [record(subscription.esim.iccid, f"r{i}", mb=0, bytes=1) for i in range(MAX_BATCH)]

    response = api.post("usage", {"records": records})

    assert response.status_code == 200, response.content[:500]
    assert response.json()["accepted"] == MAX_BATCH


@pytest.mark.parametrize("raw", ['{"records": [', '{"records": "all"}', "[]", '{"records": null}'])
def test_a_body_that_is_no_batch_is_refused(api: ApiClient, raw: str) -> None:
    response = api.post("usage", raw=raw)

    assert response.status_code in (400, 422)
    assert response["Content-Type"].startswith("application/problem+json")
    assert not UsageRecord.objects.exists()


def test_an_empty_batch_is_fine(api: ApiClient) -> None:
    assert api.post("usage", {"records": []}).json() == {"accepted": 0, "duplicates": 0, "rejected": []}
