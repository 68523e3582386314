from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from simrenew.esims.models import ProfileStatus
from simrenew.esims.services import (
    NoProfileAvailable,
    ProfileStateConflict,
    assign_profile,
    mark_installed,
    retire_profile,
)
from simrenew.kit.errors import ValidationFailed
from tests.conftest import TestClock
from tests.esims.helpers import make_profile
from tests.factories import make_carrier, make_customer

pytestmark = pytest.mark.django_db


def test_assign_gives_the_customer_the_oldest_available_profile_of_that_carrier(clock: TestClock) -> None:
    att, verizon = make_carrier(code="att"), make_carrier(code="verizon")
    make_profile(carrier=verizon)
    make_profile(carrier=att, status=ProfileStatus.RETIRED)
    oldest = make_profile(carrier=att)
    make_profile(carrier=att)
    customer = make_customer()

    with transaction.atomic():
        profile = assign_profile(customer=customer, carrier_code="att")

    assert profile.pk == oldest.pk
    profile.refresh_from_db()
    assert profile.status == ProfileStatus.ASSIGNED
    assert profile.customer == customer
    assert profile.assigned_at == clock.now()


def test_assign_refuses_when_the_carrier_has_no_profile_left() -> None:
    att = make_carrier(code="att")
    make_profile(carrier=att, customer=make_customer(email="first@example.com"), status=ProfileStatus.ASSIGNED)
    make_profile(carrier=make_carrier(code="tmobile"))

    with pytest.raises(NoProfileAvailable) as refused:
        assign_profile(customer=make_customer(), carrier_code="att")

    assert refused.value.status == 409
    assert "No AT&T eSIM is available" in refused.value.detail


def test_assign_refuses_an_unknown_carrier() -> None:
    make_carrier(code="att")
    make_carrier(code="verizon")

    with pytest.raises(ValidationFailed) as refused:
        assign_profile(customer=make_customer(), carrier_code="sprint")

    assert refused.value.errors[0].field == "carrier"
    assert refused.value.detail == "Unknown carrier 'sprint'; choose one of: att, verizon."


def test_installing_then_releasing(clock: TestClock) -> None:
    profile = make_profile(customer=make_customer(), status=ProfileStatus.ASSIGNED)

    installed_at = clock.now()
    mark_installed(profile)
    assert (profile.status, profile.installed_at) == (ProfileStatus.INSTALLED, installed_at)
    clock.advance(hours=1)
    mark_installed(profile)  # repeating is harmless
    assert profile.installed_at == installed_at

    later = clock.advance(days=30)
    retire_profile(profile)
    assert (profile.status, profile.retired_at) == (ProfileStatus.RETIRED, later)
    retire_profile(profile)
    assert profile.retired_at == later


def test_an_available_profile_cannot_be_marked_installed() -> None:
    profile = make_profile()

    with pytest.raises(ProfileStateConflict):
        mark_installed(profile)

    profile.refresh_from_db()
    assert profile.status == ProfileStatus.AVAILABLE


def test_a_retired_profile_is_never_assigned_again() -> None:
    profile = make_profile()
    retire_profile(profile)

    with pytest.raises(NoProfileAvailable):
        assign_profile(customer=make_customer(), carrier_code="att")


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_assignments_take_different_profiles() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    att = make_carrier(code="att")
    make_profile(carrier=att)
    make_profile(carrier=att)
    first_customer = make_customer(email="first@example.com")
    second_customer = make_customer(email="second@example.com")
    holding, done = threading.Event(), threading.Event()
    taken: dict[str, int] = {}

    def first_buyer() -> None:
        try:
            with transaction.atomic():
                taken["first"] = assign_profile(customer=first_customer, carrier_code="att").pk
                holding.set()
                done.wait(timeout=10)
        finally:
            connection.close()

    thread = threading.Thread(target=first_buyer)
    thread.start()
    assert holding.wait(timeout=10)
    with transaction.atomic():
        taken["second"] = assign_profile(customer=second_customer, carrier_code="att").pk
    done.set()
    thread.join()

    assert taken["first"] != taken["second"]


def test_an_unused_profile_goes_back_to_stock_but_an_installed_one_does_not(db, clock):
    from simrenew.esims.services import ProfileStateConflict, mark_installed, return_unused_profile
    from tests.factories import make_customer, make_esim

    unused = make_esim(customer=make_customer())
    returned = return_unused_profile(unused)
    assert (returned.status, returned.customer_id, returned.assigned_at) == ("available", None, None)

    installed = mark_installed(make_esim(customer=make_customer()))
    with pytest.raises(ProfileStateConflict):
        return_unused_profile(installed)
    installed.refresh_from_db()
    assert installed.status == "installed"
