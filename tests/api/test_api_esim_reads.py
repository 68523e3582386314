"""What a partner app shows about one eSIM, as Airalo's partner API does: its usage, how to install it,
what can be bought for it now and what was bought before."""

from __future__ import annotations

import base64
from datetime import datetime
from urllib.parse import quote

import pytest
from django.db import transaction
from django.test import Client

from simrenew.esims.models import EsimProfile
from simrenew.subscriptions.cancellation import cancel
from tests.api.helpers import ApiClient, assert_problem
from tests.conftest import TestClock
from tests.factories import (
    buy_top_up,
    make_customer,
    make_esim,
    make_plan,
    make_subscription,
    make_top_up_pack,
    record_usage,
    renew,
)

pytestmark = pytest.mark.django_db


# --- usage ----------------------------------------------------------------------------------------


def test_usage_tells_total_used_remaining_expiry_and_status(api: ApiClient, clock: TestClock) -> None:
    subscription = make_subscription(plan=make_plan(data_mb=2048, period_unit="month"))
    record_usage(iccid=subscription.esim.iccid, mb=500)
    clock.advance(days=1)

    body = api.get(f"esims/{subscription.esim_id}/usage").json()

    assert body == {
        **body,
        "esim_id": subscription.esim_id,
        "subscription_id": subscription.pk,
        "status": "active",
        "data_total_mb": 2048,
        "data_used_mb": 500,
        "data_remaining_mb": 1548,
        "days_left": 30,
    }
    assert body["expires_at"] == subscription.paid_through.isoformat()
    assert datetime.fromisoformat(body["expires_at"]).utcoffset() is not None
    assert body["period_end"] == body["expires_at"]


def test_usage_counts_top_ups_and_turns_expiring_when_data_runs_low(api: ApiClient, clock: TestClock) -> None:
    subscription = make_subscription(plan=make_plan(data_mb=1024))
    buy_top_up(subscription, pack=make_top_up_pack(data_mb=1024))
    record_usage(iccid=subscription.esim.iccid, mb=1900)

    body = api.get(f"esims/{subscription.esim_id}/usage").json()

    assert (body["data_total_mb"], body["data_used_mb"], body["data_remaining_mb"]) == (2048, 1900, 148)
    assert body["status"] == "expiring"


def test_usage_after_expiry_is_zero_and_suspended(api: ApiClient, clock: TestClock) -> None:
    subscription = make_subscription(plan=make_plan(period_unit="day", period_count=1), auto_renew=False)
    clock.advance(days=2)

    body = api.get(f"esims/{subscription.esim_id}/usage").json()

    assert body["status"] == "suspended"
    assert (body["data_total_mb"], body["data_remaining_mb"], body["days_left"]) == (0, 0, 0)
    assert body["period_start"] is None
    assert body["expires_at"] == subscription.paid_through.isoformat()


def test_usage_of_an_esim_without_a_plan_is_empty_not_an_error(api: ApiClient, clock: TestClock) -> None:
    profile = make_esim(customer=make_customer())

    body = api.get(f"esims/{profile.pk}/usage").json()

    assert body["subscription_id"] is None and body["status"] is None and body["expires_at"] is None
    assert body["data_total_mb"] == 0


def test_usage_of_an_unknown_esim_is_a_404(api: ApiClient) -> None:
    assert_problem(api.get("esims/999999/usage"), status=404, type="/problems/not-found")


# --- install --------------------------------------------------------------------------------------


def test_install_gives_the_qr_the_manual_codes_the_ios_link_and_steps(api: ApiClient, settings) -> None:
    settings.SIMRENEW_PUBLIC_URL = "http://testserver"
    profile = make_esim(customer=make_customer())

    body = api.get(f"esims/{profile.pk}/install").json()

    lpa = f"LPA:{profile.activation_code}"
    assert body["activation_code"] == profile.activation_code
    assert body["lpa_string"] == lpa
    assert body["manual_entry"] == {
        "smdp_address": "smdp.example.com",
        "matching_id": profile.activation_code.rsplit("$", 1)[1],
        "activation_code": profile.activation_code,
        "confirmation_code_required": False,
    }
    assert body["ios_install_url"] == (
        f"https://esimsetup.apple.com/esim_qrcode_provisioning?carddata={quote(lpa, safe='')}"
    )
    prefix = "data:image/svg+xml;base64,"
    assert body["qr_code_data_uri"].startswith(prefix)
    svg = base64.b64decode(body["qr_code_data_uri"].removeprefix(prefix))
    served = Client().get(body["qr_svg_url"].removeprefix("http://testserver"))
    assert served.status_code == 200 and served.content == svg
    assert any("smdp.example.com" in step for step in body["steps"]["ios"])
    assert any(profile.activation_code in step for step in body["steps"]["android"])
    assert "Back up" in body["backup_reminder"]


def test_an_esim_still_in_stock_cannot_be_installed(api: ApiClient) -> None:
    profile = make_esim()

    response = api.get(f"esims/{profile.pk}/install")

    assert_problem(response, status=409, type="/problems/profile-state-conflict")
    assert profile.activation_code not in response.content.decode()


# --- top-up options -------------------------------------------------------------------------------


def test_top_up_options_list_packs_and_plans_with_prices_for_a_renewal(api: ApiClient, clock: TestClock) -> None:
    monthly = make_plan(carrier="att", code="att-month", data_mb=10_240, price_minor=2500)
    daily = make_plan(carrier="att", code="att-day", period_unit="day", data_mb=1024, price_minor=300)
    make_plan(carrier="verizon", code="vz-month")
    small = make_top_up_pack(carrier="att", data_mb=1024, price_minor=500)
    big = make_top_up_pack(carrier="att", data_mb=5120, price_minor=1500)
    make_top_up_pack(carrier="verizon")
    subscription = make_subscription(plan=monthly)

    body = api.get(f"esims/{subscription.esim_id}/top-up-options").json()

    assert body["subscription_id"] == subscription.pk
    assert [(p["id"], p["data_mb"], p["price_minor"], p["currency"]) for p in body["top_ups"]] == [
        (small.pk, 1024, 500, "USD"),
        (big.pk, 5120, 1500, "USD"),
    ]
    assert body["top_ups_unavailable_reason"] is None
    assert [(p["id"], p["is_current_plan"]) for p in body["plans"]] == [(daily.pk, False), (monthly.pk, True)]
    assert body["plans"][1]["price_minor"] == 2500
    assert (body["plan_purchase"], body["plans_unavailable_reason"]) == ("renewal", None)


def test_an_esim_without_a_plan_can_buy_plans_but_no_top_ups(api: ApiClient, clock: TestClock) -> None:
    make_plan(carrier="att")
    make_top_up_pack(carrier="att")
    profile = make_esim(customer=make_customer())

    body = api.get(f"esims/{profile.pk}/top-up-options").json()

    assert body["top_ups"] == [] and "no plan" in body["top_ups_unavailable_reason"]
    assert body["plan_purchase"] == "new_subscription"
    assert len(body["plans"]) == 1


def test_a_lapsed_plan_offers_renewal_but_no_top_ups(api: ApiClient, clock: TestClock) -> None:
    subscription = make_subscription(plan=make_plan(period_unit="day"), auto_renew=False)
    make_top_up_pack(carrier="att")
    clock.advance(days=3)

    body = api.get(f"esims/{subscription.esim_id}/top-up-options").json()

    assert body["top_ups"] == [] and "renew" in body["top_ups_unavailable_reason"]
    assert body["plan_purchase"] == "renewal"


def test_a_plan_cancelled_at_period_end_must_be_resumed_before_renewing(api: ApiClient, clock: TestClock) -> None:
    subscription = make_subscription()
    make_top_up_pack(carrier="att")
    with transaction.atomic():
        cancel(subscription, when="period_end")

    body = api.get(f"esims/{subscription.esim_id}/top-up-options").json()

    assert body["plan_purchase"] == "resume_first"
    assert len(body["top_ups"]) == 1  # data can still be added while the period runs


# --- package history ------------------------------------------------------------------------------


def test_package_history_lists_periods_with_their_top_ups_and_prices(api: ApiClient, clock: TestClock) -> None:
    plan = make_plan(period_unit="month", price_minor=2500, data_mb=10_240)
    subscription = make_subscription(plan=plan)
    pack = make_top_up_pack(data_mb=1024, price_minor=500)
    buy_top_up(subscription, pack=pack)
    record_usage(iccid=subscription.esim.iccid, mb=300)
    assert renew(subscription).status == "succeeded"

    body = api.get(f"esims/{subscription.esim_id}/packages").json()

    assert body["has_more"] is False and body["next_starting_after"] is None
    first, second = body["items"]
    assert (first["number"], first["state"], second["number"], second["state"]) == (1, "current", 2, "upcoming")
    assert (first["price_minor"], first["currency"], first["plan_id"], first["used_mb"]) == (2500, "USD", plan.pk, 300)
    assert first["ends_at"] == second["starts_at"]
    assert [(t["data_mb"], t["price_minor"]) for t in first["top_ups"]] == [(1024, 500)]
    assert first["top_up_mb"] == 1024
    assert second["top_ups"] == []


def test_package_history_pages_with_starting_after_and_spans_subscriptions(api: ApiClient, clock: TestClock) -> None:
    subscription = make_subscription(plan=make_plan(period_unit="day"), auto_renew=False)
    for _ in range(4):
        renew(subscription)
    clock.advance(days=10)

    pages: list[list[int]] = []
    cursor: int | None = None
    while True:
        query = f"?limit=2&starting_after={cursor}" if cursor else "?limit=2"
        page = api.get(f"esims/{subscription.esim_id}/packages{query}").json()
        pages.append([item["number"] for item in page["items"]])
        if not page["has_more"]:
            break
        cursor = page["next_starting_after"]

    assert pages == [[1, 2], [3, 4], [5]]


def test_package_history_calls_periods_that_never_ran_cancelled(api: ApiClient, clock: TestClock) -> None:
    subscription = make_subscription(plan=make_plan(period_unit="day"))
    renew(subscription)
    clock.advance(hours=2)
    with transaction.atomic():
        cancel(subscription, when="now")

    items = api.get(f"esims/{subscription.esim_id}/packages").json()["items"]

    assert [item["state"] for item in items] == ["past", "cancelled"]


def test_an_esim_that_never_had_a_plan_has_an_empty_history(api: ApiClient) -> None:
    profile = make_esim()

    assert api.get(f"esims/{profile.pk}/packages").json() == {
        "items": [],
        "has_more": False,
        "next_starting_after": None,
    }


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "starting_after=-1", "limit=abc"])
def test_bad_paging_of_the_history_is_a_422(api: ApiClient, query: str) -> None:
    profile = make_esim()

    assert_problem(api.get(f"esims/{profile.pk}/packages?{query}"), status=422, type="/problems/validation-error")


def test_reads_about_an_esim_need_only_a_read_key(clock: TestClock) -> None:
    from tests.api.helpers import make_api_key

    reader = ApiClient(make_api_key(scopes=("read",)))
    profile: EsimProfile = make_esim(customer=make_customer())

    for path in ("usage", "install", "top-up-options", "packages"):
        assert reader.get(f"esims/{profile.pk}/{path}").status_code == 200, path
