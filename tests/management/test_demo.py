"""`simrenew demo` seeds a usable sandbox, and running it twice changes nothing."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from simrenew.api.keys import authenticate
from simrenew.catalog.models import Carrier, Plan, TopUpPack
from simrenew.console.roles import role_of
from simrenew.customers.models import Customer
from simrenew.esims.models import EsimProfile
from simrenew.management.commands.demo import (
    DEMO_API_KEY,
    DEMO_EMAIL,
    DEMO_PASSWORD,
    DEMO_STAFF,
    DEMO_STAFF_PASSWORD,
)
from simrenew.subscriptions.models import Subscription
from simrenew.subscriptions.queries import Status, view


def run_demo() -> str:
    out = io.StringIO()
    call_command("demo", stdout=out)
    return out.getvalue()


def counts() -> tuple[int, ...]:
    models = (Carrier, Plan, TopUpPack, EsimProfile, Customer, Subscription, get_user_model())
    return tuple(m.objects.count() for m in models)


@pytest.mark.django_db(transaction=True)
def test_demo_seeds_carriers_plans_inventory_a_customer_with_a_plan_and_an_api_key():
    printed = run_demo()

    assert set(Carrier.objects.values_list("code", flat=True)) == {"att", "tmobile", "verizon"}
    for carrier in ("att", "tmobile", "verizon"):
        plans = Plan.objects.filter(carrier__code=carrier, is_current=True)
        assert sorted((p.period_unit, p.period_count) for p in plans) == [
            ("day", 1),
            ("day", 7),
            ("month", 1),
            ("year", 1),
        ]
        assert all(p.price_minor > 0 and p.currency == "USD" and p.data_mb > 0 for p in plans)
        assert EsimProfile.objects.filter(carrier__code=carrier, status="available").exists()
    customer = Customer.objects.get(email=DEMO_EMAIL)
    assert customer.user.check_password(DEMO_PASSWORD)
    subscription = Subscription.objects.get(customer=customer)
    assert view(subscription).status == Status.ACTIVE
    assert authenticate(DEMO_API_KEY) is not None
    assert DEMO_EMAIL in printed and DEMO_API_KEY in printed and "http://" in printed


@pytest.mark.django_db(transaction=True)
def test_demo_gives_one_console_login_per_staff_role_that_opens_the_overview():
    printed = run_demo()

    for role, email in DEMO_STAFF.items():
        staff = get_user_model().objects.get(username=email)
        assert role_of(staff) == role
        assert f"{email} / {DEMO_STAFF_PASSWORD}" in printed
        console = Client()
        assert console.login(username=email, password=DEMO_STAFF_PASSWORD)
        assert console.get("/admin/").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_running_the_demo_twice_changes_nothing():
    run_demo()
    before = counts()

    run_demo()

    assert counts() == before


@pytest.mark.django_db
def test_the_demo_refuses_to_run_outside_sandbox(settings):
    settings.SIMRENEW_SANDBOX = False

    with pytest.raises(CommandError, match="SIMRENEW_SANDBOX"):
        run_demo()

    assert Carrier.objects.count() == 0
