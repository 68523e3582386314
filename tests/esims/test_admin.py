from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import Client

from simrenew.audit.models import AuditEntry
from simrenew.esims.models import EsimProfile, ProfileStatus
from simrenew.esims.services import ProfileInUse, retire_profile
from simrenew.subscriptions.cancellation import cancel
from tests.customers.console_helpers import staff_client
from tests.esims.helpers import make_profile
from tests.factories import make_carrier, make_subscription

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client: Client) -> Client:
    admin = get_user_model().objects.create_superuser("operator", "operator@example.com", "correct horse battery")
    client.force_login(admin)
    return client


def test_operator_finds_a_profile_by_iccid(operator: Client) -> None:
    wanted = make_profile()
    make_profile()

    response = operator.get("/admin/esims/esimprofile/", {"q": wanted.iccid})

    assert response.status_code == 200
    assert response.context["cl"].result_count == 1


def test_adding_a_profile_checks_the_identifiers(operator: Client) -> None:
    carrier = make_carrier(code="att")
    form = {
        "carrier": carrier.pk,
        "iccid": "8965880812100011145",
        "eid": "89049032123451234512345678901234",
        "msisdn": "212 555 0100",
        "activation_code": "1$SMDP.EXAMPLE.COM$lower",
        "status": ProfileStatus.AVAILABLE,
    }

    response = operator.post("/admin/esims/esimprofile/add/", form)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"iccid", "eid", "msisdn", "activation_code"}
    assert "Luhn" in errors["iccid"][0]
    assert EsimProfile.objects.count() == 0

    form |= {
        "iccid": "8965 8808 1210 0011 146",
        "eid": "",
        "msisdn": "+1 212 555 0100",
        "activation_code": "LPA:1$SMDP.EXAMPLE.COM$ABC-1",
    }
    response = operator.post("/admin/esims/esimprofile/add/", form)

    assert response.status_code == 302
    profile = EsimProfile.objects.get()
    assert (profile.iccid, profile.msisdn, profile.activation_code) == (
        "8965880812100011146",
        "+12125550100",
        "1$SMDP.EXAMPLE.COM$ABC-1",
    )
    assert profile.created_at is not None


def test_release_action(operator: Client) -> None:
    profile = make_profile()

    response = operator.post(
        "/admin/esims/esimprofile/", {"action": "release_selected", "_selected_action": [profile.pk]}
    )

    assert response.status_code == 302
    profile.refresh_from_db()
    assert profile.status == ProfileStatus.RETIRED


# ---------------------------------------------------------------- releasing from the list


def release(client: Client, *profiles: EsimProfile) -> str:
    response = client.post(
        "/admin/esims/esimprofile/",
        {"action": "release_selected", "_selected_action": [p.pk for p in profiles]},
        follow=True,
    )
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("role", ["support", "finance"])
def test_only_admins_release(clock, role: str) -> None:
    profile = make_profile()
    member = staff_client(role)

    listing = member.get("/admin/esims/esimprofile/").content.decode()
    release(member, profile)

    assert "release_selected" not in listing
    profile.refresh_from_db()
    assert profile.status == ProfileStatus.AVAILABLE
    assert not AuditEntry.objects.exists()


def test_an_esim_a_subscription_still_uses_is_not_released(clock) -> None:
    subscription = make_subscription()
    spare = make_profile()
    admin = staff_client("admin")

    html = release(admin, subscription.esim, spare)

    assert "Released 1 profile(s)." in html
    assert f"Not released: eSIM {subscription.esim.iccid} serves subscription {subscription.pk} (live)" in html
    assert EsimProfile.objects.get(pk=subscription.esim_id).status == ProfileStatus.ASSIGNED
    assert [(e.action, e.target_id) for e in AuditEntry.objects.all()] == [("release", str(spare.pk))]


def test_a_cancelled_subscription_holds_its_esim_until_its_paid_time_runs_out(clock) -> None:
    subscription = cancel(make_subscription(), when="period_end")
    admin = staff_client("admin")

    assert "Not released" in release(admin, subscription.esim)
    assert EsimProfile.objects.get(pk=subscription.esim_id).status == ProfileStatus.ASSIGNED

    assert subscription.paid_through is not None
    clock.set(subscription.paid_through + timedelta(minutes=1))
    assert "Released 1 profile(s)." in release(admin, subscription.esim)
    assert EsimProfile.objects.get(pk=subscription.esim_id).status == ProfileStatus.RETIRED
    assert AuditEntry.objects.get(action="release").target_id == str(subscription.esim_id)


def test_the_service_refuses_too(clock) -> None:
    subscription = make_subscription()

    with pytest.raises(ProfileInUse), transaction.atomic():
        retire_profile(subscription.esim)

    assert EsimProfile.objects.get(pk=subscription.esim_id).status == ProfileStatus.ASSIGNED
