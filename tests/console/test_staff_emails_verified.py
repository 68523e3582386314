"""Staff sign in through allauth, whose email verification is mandatory, and get no
confirmation email: every staff member's address is recorded as verified, whether the account
is older than that rule (the migration) or made in the console's user form."""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from simrenew.console.roles import ensure_roles
from tests.customers.console_helpers import sign_in_to_console, staff_client
from tests.factories import make_customer

PASSWORD = "a long and unguessable pass phrase"
BEFORE, AFTER = ("console", "0004_staff_mfa_enrollment_grant"), ("console", "0005_staff_emails_verified")


def addresses(user: User) -> list[tuple[str, bool, bool]]:
    return list(EmailAddress.objects.filter(user=user).order_by("email").values_list("email", "verified", "primary"))


@pytest.mark.django_db(transaction=True)
def test_the_migration_records_every_staff_members_address_as_verified():
    MigrationExecutor(connection).migrate([BEFORE])
    try:
        users = get_user_model().objects
        sue = users.create_user("sue", "Sue@Simrenew.test", PASSWORD, is_staff=True)
        moved = users.create_user("moved", "new@simrenew.test", PASSWORD, is_staff=True)
        EmailAddress.objects.create(user=moved, email="old@simrenew.test", verified=True, primary=True)
        nameless = users.create_user("nameless", "", PASSWORD, is_staff=True)
        customer = make_customer(email="ada@example.com")
        EmailAddress.objects.create(user=customer.user, email="ada@example.com", verified=False, primary=True)
    finally:
        # Forward to the latest of every app: going back to BEFORE also undid what depends on
        # AFTER (the audit trail's move to its own app), which later tests need.
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    assert addresses(sue) == [("sue@simrenew.test", True, True)]
    assert addresses(moved) == [("new@simrenew.test", True, True), ("old@simrenew.test", True, False)]
    assert addresses(nameless) == []
    assert [verified for _email, verified, _primary in addresses(customer.user)] == [False]  # not staff
    answer = sign_in_to_console(Client(), "sue@simrenew.test", PASSWORD)
    assert answer.status_code == 302 and answer["Location"] == "/admin/"


@pytest.mark.django_db
def test_staff_made_in_the_consoles_user_form_can_sign_in(clock):
    groups = ensure_roles()
    admin = staff_client("admin")
    added = admin.post(
        "/admin/auth/user/add/",
        {"username": "grace", "usable_password": "true", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert added.status_code == 302, added.content.decode()[:3000]
    grace = get_user_model().objects.get(username="grace")
    joined = admin.get(f"/admin/auth/user/{grace.pk}/change/").context["adminform"].form["date_joined"].value()

    changed = admin.post(
        f"/admin/auth/user/{grace.pk}/change/",
        {
            "username": "grace",
            "email": "Grace@Simrenew.test",
            "is_active": "on",
            "is_staff": "on",
            "groups": [groups["support"].pk],
            "date_joined_0": joined.date().isoformat(),
            "date_joined_1": joined.time().isoformat(timespec="seconds"),
        },
    )

    assert changed.status_code == 302, changed.content.decode()[:3000]
    assert addresses(grace) == [("grace@simrenew.test", True, True)]
    answer = sign_in_to_console(Client(), "grace@simrenew.test", PASSWORD)
    assert answer.status_code == 302 and answer["Location"] == "/admin/"
