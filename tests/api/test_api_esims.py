"""Partners give customers eSIMs from inventory and show them how to install them."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest
from django.test import Client

from simrenew.esims.models import EsimProfile, ProfileStatus
from tests.api.helpers import ApiClient, assert_problem
from tests.conftest import TestClock
from tests.factories import make_carrier, make_customer, make_esim

pytestmark = pytest.mark.django_db


def _assigned() -> int:
    return EsimProfile.objects.exclude(customer=None).count()


def test_a_customer_gets_an_available_esim_with_its_install_details(api: ApiClient, clock: TestClock) -> None:
    customer = make_customer()
    make_carrier(code="verizon")
    profile = make_esim(carrier="att")

    response = api.post("esims", {"customer_id": customer.pk, "carrier": "ATT"})

    assert response.status_code == 201, response.content
    body = response.json()
    lpa = f"LPA:{profile.activation_code}"
    assert body == {
        **body,
        "id": profile.pk,
        "customer_id": customer.pk,
        "carrier": "att",
        "iccid": profile.iccid,
        "eid": None,
        "msisdn": profile.msisdn,
        "activation_code": profile.activation_code,
        "lpa_string": lpa,
        "ios_install_url": f"https://esimsetup.apple.com/esim_qrcode_provisioning?carddata={quote(lpa, safe='')}",
        "status": "assigned",
    }
    assert body["qr_svg_url"].endswith(".svg") and body["qr_png_url"].endswith(".png")
    profile.refresh_from_db()
    assert (profile.status, profile.customer_id) == (ProfileStatus.ASSIGNED, customer.pk)


def test_the_qr_link_serves_the_code_without_an_api_key(api: ApiClient, settings) -> None:
    settings.SIMRENEW_PUBLIC_URL = "http://testserver"
    customer = make_customer()
    make_esim()

    body = api.post("esims", {"customer_id": customer.pk, "carrier": "att"}).json()
    image = Client().get(body["qr_svg_url"].removeprefix("http://testserver"))

    assert image.status_code == 200
    assert image["Content-Type"] == "image/svg+xml"


def test_an_esim_is_read_back_and_listed_by_customer_carrier_and_status(api: ApiClient) -> None:
    ada, bob = make_customer(), make_customer()
    ada_att = make_esim(customer=ada, carrier="att")
    ada_tmo = make_esim(customer=ada, carrier="tmobile")
    make_esim(customer=bob, carrier="att")
    spare = make_esim(carrier="att")

    assert api.get(f"esims/{ada_att.pk}").json()["iccid"] == ada_att.iccid
    assert [e["id"] for e in api.get(f"esims?customer_id={ada.pk}").json()["items"]] == [ada_att.pk, ada_tmo.pk]
    assert [e["id"] for e in api.get(f"esims?customer_id={ada.pk}&carrier=tmobile").json()["items"]] == [ada_tmo.pk]
    available = api.get("esims?status=available").json()
    assert [e["id"] for e in available["items"]] == [spare.pk]
    assert available["items"][0]["qr_svg_url"] is None  # nobody's yet: no QR link
    assert available["items"][0]["customer_id"] is None


def test_esims_list_in_pages(api: ApiClient) -> None:
    customer = make_customer()
    ids = [make_esim(customer=customer).pk for _ in range(3)]

    first = api.get("esims?limit=2").json()
    rest = api.get(f"esims?limit=2&starting_after={first['next_starting_after']}").json()

    assert [e["id"] for e in first["items"]] == ids[:2] and first["has_more"] is True
    assert [e["id"] for e in rest["items"]] == ids[2:] and rest["has_more"] is False


def test_marking_an_esim_installed_is_recorded_once(api: ApiClient, clock: TestClock) -> None:
    profile = make_esim(customer=make_customer())

    first = api.post(f"esims/{profile.pk}/installed")
    clock.advance(hours=1)
    again = api.post(f"esims/{profile.pk}/installed")

    assert first.status_code == 200, first.content
    assert again.json()["status"] == "installed"
    profile.refresh_from_db()
    assert profile.installed_at == clock.now() - timedelta(hours=1)


def test_an_esim_nobody_holds_cannot_be_installed(api: ApiClient) -> None:
    profile = make_esim()

    assert_problem(api.post(f"esims/{profile.pk}/installed"), status=409, type="/problems/profile-state-conflict")


def test_an_unknown_customer_is_a_404_and_takes_no_profile(api: ApiClient) -> None:
    make_esim()

    body = assert_problem(
        api.post("esims", {"customer_id": 999, "carrier": "att"}), status=404, type="/problems/not-found"
    )

    assert body["code"] == "customer_id"
    assert _assigned() == 0


def test_an_unknown_carrier_names_the_known_ones(api: ApiClient) -> None:
    customer = make_customer()
    make_esim(carrier="att")
    make_esim(carrier="verizon")

    body = assert_problem(
        api.post("esims", {"customer_id": customer.pk, "carrier": "sprint"}),
        status=422,
        type="/problems/validation-error",
        fields=["carrier"],
    )

    assert "att, verizon" in body["detail"]
    assert _assigned() == 0


def test_when_none_is_left_it_is_a_409(api: ApiClient) -> None:
    customer = make_customer()
    make_esim(customer=make_customer(), carrier="att")  # the only one is taken

    assert_problem(
        api.post("esims", {"customer_id": customer.pk, "carrier": "att"}),
        status=409,
        type="/problems/no-profile-available",
    )


def test_an_unknown_esim_is_a_404(api: ApiClient) -> None:
    assert_problem(api.get("esims/4242"), status=404, type="/problems/not-found")
    assert_problem(api.post("esims/4242/installed"), status=404, type="/problems/not-found")


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"customer_id": "one", "carrier": "att"}, ["customer_id"]),
        ({"customer_id": -1, "carrier": "att"}, ["customer_id"]),
        ({"carrier": "att"}, ["customer_id"]),
        ({"customer_id": 1, "carrier": ["att"]}, ["carrier"]),
        ({"customer_id": 1, "carrier": "att", "colour": "red"}, ["colour"]),
    ],
)
def test_wrong_types_are_a_422_that_takes_no_profile(
    api: ApiClient, body: dict[str, object], fields: list[str]
) -> None:
    make_customer()
    make_esim()

    assert_problem(api.post("esims", body), status=422, type="/problems/validation-error", fields=fields)
    assert _assigned() == 0


def test_malformed_json_is_a_400(api: ApiClient) -> None:
    assert_problem(api.post("esims", raw='{"customer_id": 1,'), status=400, type="/problems/malformed-json")


def test_a_list_filter_on_an_unknown_status_or_carrier_is_refused(api: ApiClient) -> None:
    make_carrier(code="att")

    assert_problem(api.get("esims?status=lost"), status=422, type="/problems/validation-error", fields=["status"])
    assert_problem(api.get("esims?carrier=sprint"), status=422, type="/problems/validation-error", fields=["carrier"])
