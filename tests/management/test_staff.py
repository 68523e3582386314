"""`simrenew staff`: console accounts. The printed password signs in to the console (through
allauth's login, where /admin/ sends staff); bad input is a clear error and writes nothing;
every change is in the audit log. Staff passwords are reset here, never by email, and a staff
member who lost their authenticator app may set up a new one only once `allow-mfa-setup` lets them."""

from __future__ import annotations

import getpass
from datetime import timedelta
from io import StringIO

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from simrenew.audit.models import AuditEntry
from simrenew.console.models import StaffMfaEnrollmentGrant
from simrenew.console.roles import Role, role_of
from simrenew.kit.clock import system_now
from tests.customers.console_helpers import sign_in_to_console
from tests.factories import make_customer
from tests.portal.test_accounts_mfa import current_code

CLI_USER = f"cli:{getpass.getuser()}"  # who ran the command, as the audit trail names them


def staff(*args: str) -> list[str]:
    out = StringIO()
    call_command("staff", *args, stdout=out)
    return out.getvalue().strip().splitlines()


@pytest.mark.parametrize("role", Role.ALL)
def test_create_prints_a_password_that_logs_in_at_the_console(db, role):
    lines = staff("create", "--email", "Sam@Simrenew.test", "--role", role)

    password = lines[-1]
    assert len(password) >= 20 and " " not in password
    user = get_user_model().objects.get(email="Sam@simrenew.test")
    assert user.username == "sam@simrenew.test" and user.is_staff and user.is_active
    assert user.is_superuser == (role == Role.ADMIN)
    assert role_of(user) == role and list(user.groups.values_list("name", flat=True)) == [role]
    assert user.password.startswith("argon2$") and password not in user.password

    client = Client()
    answer = sign_in_to_console(client, "sam@simrenew.test", password)
    assert answer.status_code == 302 and answer["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200

    entry = AuditEntry.objects.get(action="staff.create")
    assert (entry.actor_kind, entry.actor_label) == ("cli", CLI_USER) and entry.target_id == str(user.pk)
    assert entry.after == {
        "email": "Sam@simrenew.test",
        "role": role,
        "is_staff": True,
        "is_superuser": role == "admin",
    }
    assert password not in str(entry.after)
    grant = StaffMfaEnrollmentGrant.objects.get(user=user)  # they may set up their authenticator app
    assert grant.granted_by == CLI_USER and grant.expires_at - grant.granted_at == timedelta(hours=72)
    assert "may set up an authenticator app until" in entry.reason


def test_each_account_gets_its_own_password(db):
    first = staff("create", "--email", "a@simrenew.test", "--role", "support")[-1]
    second = staff("create", "--email", "b@simrenew.test", "--role", "support")[-1]
    assert first != second


@pytest.mark.parametrize(
    "args, message",
    [
        (["--email", "taken@simrenew.test", "--role", "support"], "already exists"),
        (["--email", "TAKEN@simrenew.test", "--role", "finance"], "already exists"),
        (["--email", "ada@example.com", "--role", "support"], "already exists"),  # a customer's login
        (["--email", "not-an-email", "--role", "support"], "valid email"),
        (["--email", "x@simrenew.test", "--role", "owner"], "invalid choice: 'owner'"),
        (["--role", "support"], "--email"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(db, args, message):
    make_customer(email="ada@example.com")
    staff("create", "--email", "taken@simrenew.test", "--role", "admin")
    users, entries = get_user_model().objects.count(), AuditEntry.objects.count()

    with pytest.raises(CommandError, match=message):
        staff("create", *args)

    assert get_user_model().objects.count() == users and AuditEntry.objects.count() == entries


def test_list_shows_staff_and_their_roles_but_not_customers(db):
    make_customer(email="ada@example.com")
    staff("create", "--email", "sue@simrenew.test", "--role", "support")
    staff("create", "--email", "fin@simrenew.test", "--role", "finance")

    lines = staff("list")

    assert lines[0].split() == ["EMAIL", "ROLE", "ACTIVE", "LAST", "LOGIN"]
    rows = [line.split()[:3] for line in lines[1:]]
    assert rows == [["fin@simrenew.test", "finance", "yes"], ["sue@simrenew.test", "support", "yes"]]


def test_list_says_how_to_start_when_there_is_nobody(db):
    assert "simrenew staff create" in staff("list")[0]


def test_set_role_moves_an_account_to_another_role_and_is_audited(db):
    staff("create", "--email", "sue@simrenew.test", "--role", "admin")

    lines = staff("set-role", "--email", "SUE@simrenew.test", "--role", "support")

    user = get_user_model().objects.get(username="sue@simrenew.test")
    assert role_of(user) == "support" and not user.is_superuser
    assert list(user.groups.values_list("name", flat=True)) == ["support"]
    assert "now has the support role (was admin)" in lines[-1]
    entry = AuditEntry.objects.get(action="staff.set_role")
    assert (entry.before, entry.after, entry.actor_label) == ({"role": "admin"}, {"role": "support"}, CLI_USER)


def test_set_role_of_someone_unknown_is_refused(db):
    make_customer(email="ada@example.com")
    with pytest.raises(CommandError, match=r"No staff account has the email 'ada@example\.com'"):
        staff("set-role", "--email", "ada@example.com", "--role", "admin")
    assert not AuditEntry.objects.exists()


def test_reset_password_prints_a_new_password_and_ends_the_accounts_sessions(db):
    old_password = staff("create", "--email", "sue@simrenew.test", "--role", "support")[-1]
    console = Client()
    sign_in_to_console(console, "sue@simrenew.test", old_password)
    assert console.get("/admin/").status_code == 200

    lines = staff("reset-password", "--email", "SUE@simrenew.test")

    new_password = lines[-1]
    assert len(new_password) >= 20 and new_password != old_password
    assert "sue@simrenew.test" in lines[0] and "every session it had has ended" in lines[0]
    assert console.get("/admin/").status_code == 302  # the old session is over
    assert "not correct" in sign_in_to_console(Client(), "sue@simrenew.test", old_password).content.decode()
    fresh = Client()
    assert sign_in_to_console(fresh, "sue@simrenew.test", new_password)["Location"] == "/admin/"
    assert fresh.get("/admin/").status_code == 200
    entry = AuditEntry.objects.get(action="staff.reset_password")
    user = get_user_model().objects.get(username="sue@simrenew.test")
    assert (entry.actor_kind, entry.actor_label) == ("cli", CLI_USER) and entry.target_id == str(user.pk)
    trail = str([entry.before, entry.after, entry.reason])
    assert new_password not in trail and old_password not in trail and user.password not in trail


@pytest.mark.parametrize("email", ["ada@example.com", "nobody@simrenew.test", "  "])
def test_reset_password_of_anyone_but_staff_is_refused(db, email):
    customer = make_customer(email="ada@example.com")
    before = customer.user.password

    with pytest.raises(CommandError, match="No staff account has the email"):
        staff("reset-password", "--email", email)

    customer.user.refresh_from_db()
    assert customer.user.password == before and not AuditEntry.objects.exists()


# ---------------------------------------------------------------- a lost authenticator app


def test_allow_mfa_setup_removes_the_lost_app_and_lets_a_new_one_be_set_up_once(db, settings):
    settings.SIMRENEW_STAFF_MFA = "required"
    settings.MFA_TOTP_TOLERANCE = 1
    password = staff("create", "--email", "sue@simrenew.test", "--role", "support")[-1]
    user = get_user_model().objects.get(username="sue@simrenew.test")
    TOTP.activate(user, generate_totp_secret())  # set up, on the phone now lost
    RecoveryCodes.activate(user)
    StaffMfaEnrollmentGrant.objects.filter(user=user).delete()  # the account's grant was used

    lines = staff("allow-mfa-setup", "--email", "SUE@simrenew.test")

    assert "sue@simrenew.test may set up an authenticator app in the next 72 hours" in lines[-1]
    assert not Authenticator.objects.filter(user=user).exists()
    grant = StaffMfaEnrollmentGrant.objects.get(user=user)
    assert grant.granted_by == CLI_USER and grant.expires_at > system_now() + timedelta(hours=71)
    entry = AuditEntry.objects.get(action="staff.allow_mfa_setup")
    assert (entry.actor_kind, entry.actor_label, entry.target_id) == ("cli", CLI_USER, str(user.pk))
    assert entry.before == {"authenticator_app": True, "recovery_codes": True}
    assert entry.after["authenticator_app"] is False and entry.after["mfa_setup_until"]

    # Their password still signs in; the console leads them to the setup, which now works.
    client = Client()
    assert sign_in_to_console(client, "sue@simrenew.test", password)["Location"] == "/admin/"
    assert "Set up the authenticator app" in client.get("/admin/second-factor/").content.decode()
    asked = client.get("/accounts/2fa/totp/activate/")
    client.post(asked["Location"], {"password": password})
    client.get("/accounts/2fa/totp/activate/")
    secret = client.session["mfa.totp.secret"]
    assert client.post("/accounts/2fa/totp/activate/", {"code": current_code(secret)}).status_code == 302
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
    assert not StaffMfaEnrollmentGrant.objects.filter(user=user).exists()


def test_reset_password_keeps_the_authenticator_app_and_grants_a_setup_for_those_without_one(db):
    staff("create", "--email", "sue@simrenew.test", "--role", "support")
    user = get_user_model().objects.get(username="sue@simrenew.test")
    TOTP.activate(user, generate_totp_secret())
    StaffMfaEnrollmentGrant.objects.filter(user=user).delete()

    staff("reset-password", "--email", "sue@simrenew.test")

    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
    assert StaffMfaEnrollmentGrant.objects.get(user=user).expires_at > system_now() + timedelta(hours=71)


@pytest.mark.parametrize("email", ["ada@example.com", "nobody@simrenew.test"])
def test_allow_mfa_setup_for_anyone_but_staff_is_refused(db, email):
    make_customer(email="ada@example.com")

    with pytest.raises(CommandError, match="No staff account has the email"):
        staff("allow-mfa-setup", "--email", email)

    assert not StaffMfaEnrollmentGrant.objects.exists() and not AuditEntry.objects.exists()
