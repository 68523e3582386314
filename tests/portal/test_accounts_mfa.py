"""The optional second factor: an authenticator app (TOTP), set up from the settings page."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY, format_hotp_value, hotp_value
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from tests.portal.test_accounts import PASSWORD, log_in, make_login


@pytest.fixture(autouse=True)
def _fresh_cache(settings: Any) -> Iterator[None]:
    """allauth keeps rate limits and used TOTP codes in the cache; each test starts with none.
    A code from the previous 30 s window is accepted, so a test crossing a window boundary passes."""
    settings.MFA_TOTP_TOLERANCE = 1
    cache.clear()
    yield
    cache.clear()


def current_code(secret: str, *, windows_ahead: int = 0) -> str:
    """What an authenticator app shows now (RFC 6238: 30 s windows, 6 digits)."""
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30 + windows_ahead))


def activate_totp(client: Client) -> str:
    """Set up an authenticator app from the settings page; returns its secret."""
    settings_page = client.get(reverse("portal:settings")).content.decode()
    assert reverse("mfa_index") in settings_page
    index = client.get(reverse("mfa_index"))
    assert reverse("mfa_activate_totp") in index.content.decode()
    # Turning on a second factor asks for the password again first.
    asked = client.get(reverse("mfa_activate_totp"))
    assert asked.status_code == 302
    assert asked["Location"].startswith(reverse("account_reauthenticate"))
    page = client.post(asked["Location"], {"password": PASSWORD}, follow=True)
    assert page.redirect_chain[-1][0] == reverse("mfa_activate_totp")
    assert '<label for="id_code">' in page.content.decode()
    secret = client.session[SECRET_SESSION_KEY]
    response = client.post(reverse("mfa_activate_totp"), {"code": current_code(secret)})
    assert response.status_code == 302, response.content.decode()
    return str(secret)


def test_an_authenticator_app_is_set_up_from_settings_and_then_asked_for_at_login(clock):
    customer = make_login(email="mei@example.com")
    client = Client()
    log_in(client, email="mei@example.com")

    secret = activate_totp(client)

    assert Authenticator.objects.filter(user=customer.user, type=Authenticator.Type.TOTP).exists()
    client.post(reverse("account_logout"))

    again = Client()
    after_password = again.post(reverse("account_login"), {"login": "mei@example.com", "password": PASSWORD})
    assert after_password["Location"] == reverse("mfa_authenticate")
    assert again.get(reverse("portal:dashboard")).status_code == 302  # the password alone is not enough

    wrong = again.post(
        reverse("mfa_authenticate"), {"code": "000000" if current_code(secret) != "000000" else "111111"}
    )
    assert wrong.status_code == 200
    assert "Incorrect code." in wrong.content.decode()

    done = again.post(reverse("mfa_authenticate"), {"code": current_code(secret)}, follow=True)
    assert done.redirect_chain[-1][0] == reverse("portal:dashboard")
    assert again.get(reverse("portal:dashboard")).status_code == 200


def test_without_a_second_factor_the_password_is_enough(clock):
    make_login(email="sam@example.com")

    response = Client().post(reverse("account_login"), {"login": "sam@example.com", "password": PASSWORD})

    assert response["Location"] == reverse("portal:dashboard")
