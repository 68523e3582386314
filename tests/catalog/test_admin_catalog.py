"""Catalog in the console: a changed plan is a new version (buyers keep theirs);
promotions are checked; only admins change anything, and every change is audited."""

from __future__ import annotations

import pytest

from simrenew.audit.models import AuditEntry
from simrenew.catalog.models import Plan, Promotion
from simrenew.subscriptions.models import Period
from tests.customers.console_helpers import staff_client
from tests.factories import make_plan, make_promotion, make_subscription

pytestmark = pytest.mark.django_db


def plan_form(plan: Plan, **changes: object) -> dict[str, object]:
    return {"name": plan.name, "data_mb": plan.data_mb, "price_minor": plan.price_minor} | changes


def test_a_price_change_makes_a_new_version_and_keeps_the_bought_one(clock):
    plan = make_plan(code="att-1m", price_minor=2500)
    subscription = make_subscription(plan=plan)
    admin = staff_client("admin")

    response = admin.post(f"/admin/catalog/plan/{plan.pk}/change/", plan_form(plan, price_minor=2900), follow=True)

    assert "Saved as version 2 of att-1m" in response.content.decode()
    old, new = Plan.objects.filter(code="att-1m").order_by("version")
    assert (old.price_minor, old.is_current) == (2500, False)
    assert (new.price_minor, new.version, new.is_current) == (2900, 2, True)
    assert Period.objects.get(subscription=subscription).plan_id == old.pk
    entry = AuditEntry.objects.get(action="plan_revised")
    assert (entry.before["price_minor"], entry.after["price_minor"]) == (2500, 2900)

    # The version buyers hold can no longer be edited at all.
    assert admin.post(f"/admin/catalog/plan/{old.pk}/change/", plan_form(old, price_minor=1)).status_code == 403
    assert Plan.objects.get(pk=old.pk).price_minor == 2500


def test_saving_without_a_change_makes_no_version(clock):
    plan = make_plan(code="att-1d")
    staff_client("admin").post(f"/admin/catalog/plan/{plan.pk}/change/", plan_form(plan))
    assert Plan.objects.filter(code="att-1d").count() == 1 and not AuditEntry.objects.exists()


def test_bad_plan_input_is_refused(clock):
    plan = make_plan(code="att-1y")
    response = staff_client("admin").post(f"/admin/catalog/plan/{plan.pk}/change/", plan_form(plan, data_mb=0))
    assert response.status_code == 200 and "at least 1 MB" in response.content.decode()
    assert Plan.objects.filter(code="att-1y").count() == 1


@pytest.mark.parametrize("role", ["support", "finance"])
def test_other_roles_read_the_catalog_but_cannot_change_it(clock, role):
    plan = make_plan(code="att-7d")
    promotion = make_promotion(code="SPRING")
    client = staff_client(role)
    assert client.get(f"/admin/catalog/plan/{plan.pk}/change/").status_code == 200
    assert client.post(f"/admin/catalog/plan/{plan.pk}/change/", plan_form(plan, price_minor=1)).status_code == 403
    assert client.post(f"/admin/catalog/promotion/{promotion.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Plan.objects.get(code="att-7d").price_minor == plan.price_minor and Promotion.objects.exists()


def promotion_form(**changes: object) -> dict[str, object]:
    return {
        "code": "summer",
        "description": "",
        "discount_kind": "percent",
        "percent_off": 20,
        "amount_off_minor": 0,
        "currency": "USD",
        "bonus_data_mb": 0,
        "eligible_plan_codes": "",
        "is_active": "on",
    } | changes


def test_promotions_are_validated_and_audited(clock):
    make_plan(code="att-1m")
    make_promotion(code="WELCOME10")
    admin = staff_client("admin")
    url = "/admin/catalog/promotion/add/"

    for bad, message in [
        ({"percent_off": 120}, "between 0 and 100"),
        ({"discount_kind": "fixed", "percent_off": 0, "amount_off_minor": 0}, "at least 1"),
        ({"code": "welcome10"}, "already used"),
        ({"eligible_plan_codes": "att-1m, nope"}, "No plan has the code nope"),
        (
            {
                "valid_from_0": "2026-02-01",
                "valid_from_1": "00:00",
                "valid_until_0": "2026-01-01",
                "valid_until_1": "00:00",
            },
            "must come after",
        ),
    ]:
        response = admin.post(url, promotion_form(**bad))
        assert response.status_code == 200 and message in response.content.decode(), bad
    assert Promotion.objects.count() == 1

    response = admin.post(url, promotion_form(eligible_plan_codes="att-1m"))
    assert response.status_code == 302
    created = Promotion.objects.get(code="SUMMER")
    assert created.eligible_plan_codes == ["att-1m"]
    assert AuditEntry.objects.get(action="add").target_id == str(created.pk)
