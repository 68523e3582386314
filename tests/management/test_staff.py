"""`simrenew staff`: console accounts. The printed password logs in at /admin/login/;
bad input is a clear error and writes nothing; every change is in the audit log."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from simrenew.console.models import AuditEntry
from simrenew.console.roles import Role, role_of
from tests.factories import make_customer


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
    answer = client.post("/admin/login/", {"username": "sam@simrenew.test", "password": password})
    assert answer.status_code == 302
    assert client.get("/admin/").status_code == 200

    entry = AuditEntry.objects.get(action="staff.create")
    assert entry.actor_label == "cli" and entry.target_id == str(user.pk)
    assert entry.after == {
        "email": "Sam@simrenew.test",
        "role": role,
        "is_staff": True,
        "is_superuser": role == "admin",
    }
    assert password not in str(entry.after)


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
    assert (entry.before, entry.after, entry.actor_label) == ({"role": "admin"}, {"role": "support"}, "cli")


def test_set_role_of_someone_unknown_is_refused(db):
    make_customer(email="ada@example.com")
    with pytest.raises(CommandError, match=r"No staff account has the email 'ada@example\.com'"):
        staff("set-role", "--email", "ada@example.com", "--role", "admin")
    assert not AuditEntry.objects.exists()
