from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from simrenew.esims.models import EsimProfile, ProfileStatus
from tests.esims.helpers import make_profile
from tests.factories import make_carrier

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
    assert profile.status == ProfileStatus.RELEASED
