"""Whatever is sent to the eSIM, payment, subscription, usage and invoice routes, bad input is a 4xx
problem+json, never a 500, and it writes nothing (on SQLite and PostgreSQL alike)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from simrenew.billing.models import Invoice, Refund
from simrenew.esims.models import EsimProfile
from simrenew.payments.models import PaymentAttempt, PaymentMethod, SandboxCharge, Wallet
from simrenew.subscriptions.models import Period, Subscription, TopUp
from simrenew.usage.models import UsageRecord
from tests.api.helpers import ApiClient, make_api_key
from tests.conftest import TestClock
from tests.factories import make_esim, make_subscription, make_top_up_pack

pytestmark = pytest.mark.django_db

BODIES = [
    "{}",
    "[]",
    '"text"',
    "null",
    "1",
    "{",
    '{"unknown": 1}',
    '{"customer_id": 1e400}',
    '{"esim_id": 99999999999999999999999999, "plan_id": 1, "payment_method_id": 1}',
    '{"customer_id": 1, "carrier": "att\\u0000"}',
    '{"customer_id": 1, "type": "card", "number": "4242\\u00004242", "exp_month": 1, "exp_year": 2030, "cvc": "1"}',
    '{"customer_id": 1, "type": "card", "number": "\\u0664\\u0662\\u0664\\u0662", "exp_month": 1, "exp_year": 2030,'
    ' "cvc": "\\u0661\\u0662\\u0663"}',
    '{"customer_id": 1, "type": "paypal", "paypal_email": "a\\u0000@example.com"}',
    '{"payment_method_id": 1, "amount_minor": -100}',
    '{"esim_id": 1, "plan_id": 1, "payment_method_id": 1, "promo_code": "\\u0000"}',
    '{"plan_id": 0, "promo_code": "x"}',
    '{"auto_renew": "yes", "payment_method_id": -1}',
    '{"data_mb_pack_id": 1, "payment_method_id": 0}',
    '{"when": null}',
    '{"records": [{}]}',
    '{"records": [null]}',
    '{"records": [{"source": "s\\u0000", "record_id": "r", "iccid": "i", "bytes": 1,'
    ' "occurred_at": "2026-01-15T11:00:00Z"}]}',
    '{"records": [{"source": "s", "record_id": "r", "iccid": "i", "bytes": 1,'
    ' "occurred_at": "0001-01-01T00:00+01:00"}]}',
    '{"amount_minor": 100000000000000000000, "reason": "x"}',
    '{"amount_minor": 1, "reason": "\\u0000"}',
]

GETS = [
    "esims?carrier=%00",
    "esims?status=%00",
    "esims?customer_id=abc",
    "payment-methods?customer_id=-1",
    "payment-methods/0",
    "subscriptions?carrier=%00",
    "subscriptions?status=active&limit=0",
    "subscriptions?expiring_before=9999-12-31T23:59:59-23:59",
    "subscriptions/1/renewal-preview?promo_code=%00",
    "subscriptions/1/renewal-preview?plan_id=99999999999999999999999",
    "subscriptions/1/renewals/0",
    "subscriptions/1/renewals?limit=1000",
    "invoices?customer_id=x",
    "invoices/99999999999999999999",
]

TABLES = (
    Subscription,
    Period,
    TopUp,
    PaymentAttempt,
    PaymentMethod,
    SandboxCharge,
    Wallet,
    Invoice,
    Refund,
    UsageRecord,
)


def counts() -> dict[str, Any]:
    return {
        **{model.__name__: model.objects.count() for model in TABLES},
        "assigned esims": EsimProfile.objects.exclude(customer=None).count(),
    }


def test_bad_input_is_never_a_500_and_writes_nothing(clock: TestClock) -> None:
    api = ApiClient(make_api_key(scopes=("admin",)))
    subscription = make_subscription()
    make_top_up_pack()
    make_esim()
    sid, cid = subscription.pk, subscription.customer_id
    writes = [
        ("POST", "esims"),
        ("POST", "payment-methods"),
        ("POST", f"customers/{cid}/wallet/top-ups"),
        ("POST", "subscriptions"),
        ("PATCH", f"subscriptions/{sid}"),
        ("POST", f"subscriptions/{sid}/renewals"),
        ("POST", f"subscriptions/{sid}/top-ups"),
        ("POST", f"subscriptions/{sid}/cancel"),
        ("POST", "usage"),
        ("POST", "invoices/1/refunds"),
    ]
    before = counts()
    answers = []
    for index, ((method, path), body) in enumerate(itertools.product(writes, BODIES)):
        if body == "{}" and (method == "PATCH" or path.endswith(("/cancel", "/renewals"))):
            continue  # valid there: no change, cancel at period end, renew as before
        response = api.request(method, path, raw=body, headers={"Idempotency-Key": f"bad-{index}"})
        answers.append((method, path, body, response))
    for path in GETS:
        answers.append(("GET", path, "", api.get(path)))

    for method, path, body, response in answers:
        assert 400 <= response.status_code < 500, (method, path, body, response.content)
        assert response["Content-Type"].startswith("application/problem+json"), (method, path, body)
    assert counts() == before
