"""Staff sign in to the console the way customers sign in to the portal: through allauth's
login, with its rate limits, its lockout and its second factor. /admin/login/ only sends
people there; a console page needs a staff role and, when staff MFA is required or the staff
member has an authenticator app, a session that passed the second factor. Where staff MFA is
required, a staff member sets up their authenticator app only with an administrator's grant
(made with the account, its password reset, or `simrenew staff allow-mfa-setup`), once: a
stolen password alone enrolls nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from allauth.account.authentication import get_authentication_records
from allauth.core.internal import ratelimit
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from simrenew.console.models import StaffMfaEnrollmentGrant
from simrenew.console.roles import Role
from simrenew.console.staff import MFA_SETUP_GRANT, create_staff
from simrenew.kit.clock import system_now
from tests.customers.console_helpers import sign_in_to_console
from tests.portal.test_accounts_mfa import current_code

EMAIL = "sue@simrenew.test"
CONSOLE = "/admin/"
TOO_MANY = "Too many failed login attempts. Try again later."


@pytest.fixture(autouse=True)
def _fresh_cache(settings: Any) -> Iterator[None]:
    """allauth counts failed logins and used TOTP codes in the cache; each test starts with none."""
    settings.MFA_TOTP_TOLERANCE = 1  # a code from the previous 30 s window still counts
    cache.clear()
    yield
    cache.clear()


def make_staff(role: str = Role.SUPPORT, email: str = EMAIL) -> tuple[User, str]:
    return create_staff(email=email, role=role)


def enroll_totp(user: User) -> str:
    """The staff member has set up an authenticator app; returns its secret."""
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    return secret


def methods(client: Client, user: User) -> list[str]:
    """How this session's user proved who they are, as allauth recorded it."""

    @dataclass
    class Seen:
        session: Any

    return [record["method"] for record in get_authentication_records(Seen(client.session), user)]  # type: ignore[arg-type]


def has_app(user: User) -> bool:
    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


def open_the_setup_page(client: Client, password: str) -> str:
    """Reach allauth's authenticator app setup (it asks the password again first); returns the
    secret the page offers, as an app would read it from the QR code."""
    asked = client.get(reverse("mfa_activate_totp"))
    assert asked["Location"].startswith(reverse("account_reauthenticate"))
    setup = client.post(asked["Location"], {"password": password}, follow=True)
    assert setup.redirect_chain[-1][0] == reverse("mfa_activate_totp")
    assert setup.status_code == 200 and '<label for="id_code">' in setup.content.decode()
    return str(client.session["mfa.totp.secret"])


def console_answer(client: Client, page: str = CONSOLE) -> Any:
    """Where asking for a console page ends up, redirects followed (a loop would raise)."""
    return client.get(page, follow=True)


# ---------------------------------------------------------------- /admin/login/ is only a signpost


def test_the_console_login_sends_everyone_to_allauths_login_and_keeps_where_they_were_going(db):
    client = Client()

    assert client.get("/admin/login/?next=/admin/customers/customer/")["Location"] == (
        "/accounts/login/?next=%2Fadmin%2Fcustomers%2Fcustomer%2F"
    )
    assert client.get(CONSOLE)["Location"] == "/admin/login/?next=/admin/"
    # Elsewhere than the console is not a place it sends anyone.
    for elsewhere in ("https://evil.example/admin/", "//evil.example/admin/", "/accounts/email/"):
        answer = client.get("/admin/login/", {"next": elsewhere})
        assert answer["Location"] == "/accounts/login/?next=%2Fadmin%2F", elsewhere


def test_posting_the_right_password_to_the_console_login_authenticates_nobody(db):
    user, password = make_staff(Role.ADMIN)
    client = Client()

    answer = client.post("/admin/login/", {"username": EMAIL, "password": password, "next": CONSOLE})

    assert answer.status_code == 302 and answer["Location"] == "/accounts/login/?next=%2Fadmin%2F"
    assert "_auth_user_id" not in client.session
    assert client.get(CONSOLE).status_code == 302
    user.refresh_from_db()
    assert user.last_login is None


def test_staff_who_sign_in_without_a_destination_land_on_the_console(db):
    _user, password = make_staff()
    client = Client()

    answer = client.post(reverse("account_login"), {"login": EMAIL, "password": password})

    assert answer["Location"] == CONSOLE
    assert client.get(CONSOLE).status_code == 200


# ---------------------------------------------------------------- guessing is locked out


_monotonic, _sleep = time.monotonic, time.sleep


@dataclass
class RateLimitTime:
    """The clock allauth's rate limits read (time.time()); tests move it instead of sleeping."""

    now: float

    def time(self) -> float:
        return self.now

    def advance(self, *, minutes: float = 0, seconds: float = 0) -> None:
        self.now += minutes * 60 + seconds

    # The cache lock's waits run on real time.
    monotonic = staticmethod(_monotonic)
    sleep = staticmethod(_sleep)


@pytest.fixture
def rate_limit_time(monkeypatch: pytest.MonkeyPatch) -> RateLimitTime:
    fake = RateLimitTime(now=time.time())
    monkeypatch.setattr(ratelimit, "time", fake)
    return fake


def test_twelve_wrong_passwords_lock_a_staff_account_until_the_lockout_ends(db, rate_limit_time):
    _user, password = make_staff(Role.ADMIN)
    guesser = Client()

    answers = []
    for attempt in range(12):
        # Another Host header does not start another count for the account.
        host = "localhost" if attempt % 2 else "testserver"
        page = sign_in_to_console(guesser, EMAIL, f"guess-{attempt}", HTTP_HOST=host).content.decode()
        answers.append("not correct" if "not correct" in page else "too many" if TOO_MANY in page else "?")
    assert answers == ["not correct"] * 5 + ["too many"] * 7

    # The right password now: refused, from the guesser's address and from any other.
    for client, address in ((guesser, "127.0.0.1"), (Client(), "203.0.113.9")):
        answer = sign_in_to_console(client, EMAIL, password, REMOTE_ADDR=address)
        assert answer.status_code == 200 and TOO_MANY in answer.content.decode()
        assert "_auth_user_id" not in client.session
        assert client.get(CONSOLE).status_code == 302

    rate_limit_time.advance(minutes=4, seconds=50)
    still = Client()
    assert TOO_MANY in sign_in_to_console(still, EMAIL, password).content.decode()

    rate_limit_time.advance(seconds=15)  # five minutes after the first failures
    owner = Client()
    answer = sign_in_to_console(owner, EMAIL, password)
    assert answer.status_code == 302 and answer["Location"] == CONSOLE
    assert owner.get(CONSOLE).status_code == 200


# ---------------------------------------------------------------- the second factor


def test_staff_with_an_authenticator_app_enter_its_code_before_the_console_opens(db):
    user, password = make_staff()
    secret = enroll_totp(user)
    client = Client()

    after_password = sign_in_to_console(client, EMAIL, password)

    assert after_password["Location"] == reverse("mfa_authenticate")
    # The password is not enough: the console sends them back to the code.
    assert console_answer(client).redirect_chain[-1][0] == reverse("mfa_authenticate")
    done = client.post(reverse("mfa_authenticate"), {"code": current_code(secret)})
    assert done["Location"] == CONSOLE
    assert client.get(CONSOLE).status_code == 200
    assert methods(client, user) == ["password", "mfa"]


def test_a_session_of_staff_with_an_authenticator_app_that_skipped_the_code_gets_no_console_page(db):
    user, _password = make_staff(Role.ADMIN)
    secret = enroll_totp(user)
    client = Client()
    client.force_login(user)  # signed in without the second factor
    assert methods(client, user) == []

    for page in (CONSOLE, reverse("admin:customers_customer_changelist"), reverse("admin:console_apps")):
        assert client.get(page).status_code == 302, page
    refused = console_answer(client)
    html = refused.content.decode()
    assert refused.status_code == 403 and "Enter a code from your authenticator app" in html
    reauthenticate = f"{reverse('mfa_reauthenticate')}?next=%2Fadmin%2F"
    assert f'href="{reauthenticate}"' in html

    assert client.get(reauthenticate).status_code == 200
    entered = client.post(reauthenticate, {"code": current_code(secret)})

    assert entered["Location"] == CONSOLE
    assert client.get(CONSOLE).status_code == 200
    assert methods(client, user) == ["mfa"]


def test_when_staff_mfa_is_required_new_staff_set_up_the_app_with_the_grant_their_account_came_with(db, settings):
    settings.SIMRENEW_STAFF_MFA = "required"
    user, password = make_staff(Role.FINANCE)  # as `simrenew staff create` makes them
    grant = StaffMfaEnrollmentGrant.objects.get(user=user)
    assert grant.expires_at - grant.granted_at == MFA_SETUP_GRANT == timedelta(hours=72)
    client = Client()
    assert sign_in_to_console(client, EMAIL, password)["Location"] == CONSOLE

    refused = console_answer(client)
    html = refused.content.decode()
    assert refused.status_code == 403 and "Set up the authenticator app" in html
    assert f'href="{reverse("mfa_activate_totp")}"' in html
    assert client.get(reverse("admin:customers_customer_changelist")).status_code == 302

    # The setup page works for staff, who have no customer profile.
    secret = open_the_setup_page(client, password)
    assert client.post(reverse("mfa_activate_totp"), {"code": current_code(secret)}).status_code == 302
    assert has_app(user) and not StaffMfaEnrollmentGrant.objects.filter(user=user).exists()  # used up

    # Set up, but this session has not entered a code yet: the console asks for one.
    asked = console_answer(client)
    assert asked.status_code == 403 and "Enter a code from your authenticator app" in asked.content.decode()
    client.post(f"{reverse('mfa_reauthenticate')}?next=%2Fadmin%2F", {"code": current_code(secret, windows_ahead=1)})
    assert client.get(CONSOLE).status_code == 200


def test_a_stolen_password_of_staff_without_a_grant_cannot_set_up_an_app_nor_open_the_console(db, settings):
    settings.SIMRENEW_STAFF_MFA = "required"
    user, password = make_staff(Role.ADMIN)
    StaffMfaEnrollmentGrant.objects.filter(user=user).delete()  # an account from before grants, say
    thief = Client()
    assert sign_in_to_console(thief, EMAIL, password)["Location"] == CONSOLE

    told = console_answer(thief)
    html = told.content.decode()
    assert told.status_code == 403 and "simrenew staff allow-mfa-setup" in html
    assert reverse("mfa_activate_totp") not in html and "Set up the authenticator app" not in html

    # Straight to allauth's setup page, password again, a right code from their own app: refused.
    secret = open_the_setup_page(thief, password)
    answer = thief.post(reverse("mfa_activate_totp"), {"code": current_code(secret)})

    assert answer.status_code == 200
    assert "only after an administrator allows it" in answer.content.decode()
    assert not Authenticator.objects.filter(user=user).exists()
    for page in (CONSOLE, reverse("admin:customers_customer_changelist"), reverse("admin:console_apps")):
        assert thief.get(page).status_code == 302, page
    assert console_answer(thief).status_code == 403


def test_a_grant_sets_up_one_app_only(db, settings):
    settings.SIMRENEW_STAFF_MFA = "required"
    user, password = make_staff()
    client = Client()
    sign_in_to_console(client, EMAIL, password)
    secret = open_the_setup_page(client, password)
    assert client.post(reverse("mfa_activate_totp"), {"code": current_code(secret)}).status_code == 302

    Authenticator.objects.filter(user=user).delete()  # gone, the grant with it: a second setup needs another
    again = Client()
    sign_in_to_console(again, EMAIL, password)
    assert "simrenew staff allow-mfa-setup" in console_answer(again).content.decode()
    secret = open_the_setup_page(again, password)
    refused = again.post(reverse("mfa_activate_totp"), {"code": current_code(secret)})

    assert refused.status_code == 200 and "only after an administrator allows it" in refused.content.decode()
    assert not Authenticator.objects.filter(user=user).exists()


def test_an_expired_grant_sets_up_nothing(db, settings):
    settings.SIMRENEW_STAFF_MFA = "required"
    user, password = make_staff()
    now = system_now()
    StaffMfaEnrollmentGrant.objects.filter(user=user).update(
        granted_at=now - MFA_SETUP_GRANT - timedelta(minutes=1), expires_at=now - timedelta(minutes=1)
    )
    client = Client()
    sign_in_to_console(client, EMAIL, password)

    assert "simrenew staff allow-mfa-setup" in console_answer(client).content.decode()
    secret = open_the_setup_page(client, password)
    refused = client.post(reverse("mfa_activate_totp"), {"code": current_code(secret)})

    assert refused.status_code == 200 and "only after an administrator allows it" in refused.content.decode()
    assert not Authenticator.objects.filter(user=user).exists()


def test_where_staff_mfa_is_optional_staff_set_up_an_app_without_a_grant(db, settings):
    settings.SIMRENEW_STAFF_MFA = "optional"
    user, password = make_staff()
    StaffMfaEnrollmentGrant.objects.filter(user=user).delete()
    client = Client()
    sign_in_to_console(client, EMAIL, password)

    secret = open_the_setup_page(client, password)

    assert client.post(reverse("mfa_activate_totp"), {"code": current_code(secret)}).status_code == 302
    assert has_app(user)


def test_in_the_sandbox_staff_mfa_is_optional_for_staff_without_an_authenticator_app(db, settings):
    settings.SIMRENEW_STAFF_MFA = "optional"
    _user, password = make_staff()
    client = Client()

    sign_in_to_console(client, EMAIL, password)

    assert client.get(CONSOLE).status_code == 200
    settings.SIMRENEW_STAFF_MFA = "required"
    assert client.get(CONSOLE).status_code == 302
