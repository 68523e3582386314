from __future__ import annotations

import re
import time
import types
import xml.etree.ElementTree as ET

import pytest
from django.core import signing
from django.test import Client
from django.urls import NoReverseMatch, include, path, reverse
from pytest_django import Settings as SettingsWrapper

from simrenew import urls as project_urls
from simrenew.esims.models import EsimProfile, ProfileStatus
from simrenew.esims.qr import qr_svg
from simrenew.esims.services import ProfileStateConflict, profile_from_qr_token, qr_token, retire_profile
from simrenew.esims.views import qr_png_url, qr_svg_url
from simrenew.kit.errors import NotFound
from tests.esims.helpers import make_profile
from tests.factories import make_customer

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def esims_routes(settings: SettingsWrapper) -> None:
    """Mount the eSIM routes the way src/simrenew/urls.py does, if it does not yet."""
    try:
        reverse("esims:qr-svg", kwargs={"token": "x"})
    except NoReverseMatch:
        urlconf = types.ModuleType("esims_test_urlconf")
        urlconf.urlpatterns = [  # type: ignore[attr-defined]
            *project_urls.urlpatterns,
            path("esims/", include("simrenew.esims.urls")),
        ]
        settings.ROOT_URLCONF = urlconf


@pytest.fixture
def assigned() -> EsimProfile:
    return make_profile(customer=make_customer(), status=ProfileStatus.ASSIGNED)


def _path(url: str) -> str:
    return url.removeprefix("https://esim.example.com")


def test_links_are_absolute_on_the_public_url(settings: SettingsWrapper, assigned: EsimProfile) -> None:
    settings.SIMRENEW_PUBLIC_URL = "https://esim.example.com"

    svg_url, png_url = qr_svg_url(assigned), qr_png_url(assigned)

    token = qr_token(assigned)
    assert svg_url == f"https://esim.example.com/esims/qr/{token}.svg"
    assert png_url == f"https://esim.example.com/esims/qr/{token}.png"


def test_svg_is_served_without_credentials(client: Client, settings: SettingsWrapper, assigned: EsimProfile) -> None:
    settings.SIMRENEW_PUBLIC_URL = "https://esim.example.com"

    response = client.get(_path(qr_svg_url(assigned)))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert "private" in response["Cache-Control"]
    assert response.content == qr_svg("LPA:" + assigned.activation_code)
    ET.fromstring(response.content)


def test_png_is_served_for_an_installed_profile(
    client: Client, settings: SettingsWrapper, assigned: EsimProfile
) -> None:
    settings.SIMRENEW_PUBLIC_URL = "https://esim.example.com"
    EsimProfile.objects.filter(pk=assigned.pk).update(status=ProfileStatus.INSTALLED)

    response = client.get(_path(qr_png_url(assigned)))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert "private" in response["Cache-Control"]
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("nonsense", id="no-signature"),
        pytest.param("WzEsMV0:forged-signature", id="forged-signature"),
        pytest.param("WzEsMV0", id="payload-only"),
    ],
)
def test_bad_tokens_get_404(client: Client, assigned: EsimProfile, token: str) -> None:
    assert client.get(f"/esims/qr/{token}.svg").status_code == 404
    assert client.get(f"/esims/qr/{token}.png").status_code == 404


def test_a_tampered_token_gets_404(client: Client, assigned: EsimProfile) -> None:
    other = make_profile(customer=make_customer(email="other@example.com"), status=ProfileStatus.ASSIGNED)
    payload, signature = qr_token(assigned).split(":", 1)  # the signature part holds its timestamp
    other_payload = qr_token(other).split(":", 1)[0]

    assert client.get(f"/esims/qr/{other_payload}:{signature}.svg").status_code == 404
    assert client.get(f"/esims/qr/{payload}:{signature}.svg").status_code == 200


def _issued_hours_ago(monkeypatch: pytest.MonkeyPatch, profile: EsimProfile, hours: float) -> str:
    """A QR link as a page showed it `hours` ago (Django's signer stamps links with wall-clock time)."""
    now = time.time()
    monkeypatch.setattr(signing, "time", types.SimpleNamespace(time=lambda: now - hours * 3600))
    token = qr_token(profile)
    monkeypatch.undo()
    return token


def test_a_link_works_for_a_day_after_the_page_showed_it(
    client: Client, monkeypatch: pytest.MonkeyPatch, assigned: EsimProfile
) -> None:
    yesterday_evening = _issued_hours_ago(monkeypatch, assigned, 23.5)

    assert client.get(f"/esims/qr/{yesterday_evening}.svg").status_code == 200
    assert client.get(f"/esims/qr/{yesterday_evening}.png").status_code == 200


def _without_form_state(page: bytes) -> bytes:
    """The 404 page less its language switch's per-request values (a fresh CSRF mask, the
    requested address to come back to), which say nothing about why the link failed."""
    return re.sub(rb'name="(csrfmiddlewaretoken|next)" value="[^"]*"', rb"\1", page)


def test_a_link_older_than_a_day_is_not_found_and_says_no_more(
    client: Client, monkeypatch: pytest.MonkeyPatch, assigned: EsimProfile
) -> None:
    old_link = _issued_hours_ago(monkeypatch, assigned, 24.5)

    expired = client.get(f"/esims/qr/{old_link}.svg")
    forged = client.get("/esims/qr/WzEsMV0:1vQx2c:forged-signature.svg")

    assert expired.status_code == 404
    assert client.get(f"/esims/qr/{old_link}.png").status_code == 404
    # Expired or forged, the answer is the same: nothing tells a finder why.
    assert _without_form_state(expired.content) == _without_form_state(forged.content)
    assert b"expired" not in expired.content.lower()
    with pytest.raises(NotFound):
        profile_from_qr_token(old_link)


def test_each_page_shows_a_freshly_signed_link(monkeypatch: pytest.MonkeyPatch, assigned: EsimProfile) -> None:
    earlier = _issued_hours_ago(monkeypatch, assigned, 2)

    assert qr_token(assigned) != earlier
    assert profile_from_qr_token(qr_token(assigned)) == assigned


def test_a_retired_profile_has_no_qr_code(client: Client, assigned: EsimProfile) -> None:
    token = qr_token(assigned)
    retire_profile(assigned)

    assert client.get(f"/esims/qr/{token}.svg").status_code == 404
    with pytest.raises(NotFound):
        profile_from_qr_token(token)


def test_a_profile_in_inventory_has_no_qr_token() -> None:
    with pytest.raises(ProfileStateConflict):
        qr_token(make_profile())


def test_the_token_round_trips(assigned: EsimProfile) -> None:
    assert profile_from_qr_token(qr_token(assigned)) == assigned


def test_only_get_and_head_are_allowed(client: Client, assigned: EsimProfile) -> None:
    url = f"/esims/qr/{qr_token(assigned)}.svg"

    assert client.head(url).status_code == 200
    assert client.post(url).status_code == 405
