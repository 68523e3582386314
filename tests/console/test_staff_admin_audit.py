"""Staff accounts and groups changed in the console land in the audit trail like any other
change (a role given, a password set), and never with the password or its hash; a bulk
delete and its entries are one transaction."""

from __future__ import annotations

import json

import pytest
from django.contrib import admin as django_admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission, User
from django.db.models import ProtectedError
from django.test import Client, RequestFactory

from simrenew.audit.models import AuditEntry
from simrenew.catalog.models import Carrier
from simrenew.console.roles import ensure_roles
from tests.customers.console_helpers import staff_client
from tests.factories import make_plan

pytestmark = pytest.mark.django_db
PASSWORD = "a long and unguessable pass phrase"


def trail_text() -> str:
    return json.dumps(list(AuditEntry.objects.values("before", "after")))


def test_adding_a_user_is_audited_without_the_password(clock):
    admin = staff_client("admin")

    response = admin.post(
        "/admin/auth/user/add/",
        {"username": "grace", "usable_password": "true", "password1": PASSWORD, "password2": PASSWORD},
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    grace = User.objects.get(username="grace")
    entry = AuditEntry.objects.get(action="add", target_type="auth.user")
    assert entry.target_id == str(grace.pk) and entry.after["username"] == "grace"
    assert "password" not in entry.after and grace.password not in trail_text()


def test_giving_a_role_is_audited_with_the_groups_before_and_after(clock):
    groups = ensure_roles()
    user = get_user_model().objects.create_user("linus", "linus@example.com", PASSWORD, is_staff=True)
    admin = staff_client("admin")
    form = admin.get(f"/admin/auth/user/{user.pk}/change/").context["adminform"].form
    joined = form["date_joined"].value()
    data = {
        "username": user.username,
        "email": user.email,
        "is_active": "on",
        "is_staff": "on",
        "groups": [groups["finance"].pk],
        "date_joined_0": joined.date().isoformat(),
        "date_joined_1": joined.time().isoformat(timespec="seconds"),
    }

    response = admin.post(f"/admin/auth/user/{user.pk}/change/", data)

    assert response.status_code == 302, response.content.decode()[:3000]
    entry = AuditEntry.objects.get(action="change", target_type="auth.user")
    assert (entry.before["groups"], entry.after["groups"]) == ([], ["finance"])
    assert user.password not in trail_text()


def test_setting_a_password_is_audited_as_a_fact_only(clock):
    user = get_user_model().objects.create_user("ken", "ken@example.com", PASSWORD)
    admin = staff_client("admin")
    new = "another long pass phrase entirely"

    response = admin.post(
        f"/admin/auth/user/{user.pk}/password/", {"usable_password": "true", "password1": new, "password2": new}
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    user.refresh_from_db()
    assert user.check_password(new)
    entry = AuditEntry.objects.get(action="password_change")
    assert entry.target_id == str(user.pk) and entry.after == {"usable_password": True}
    assert user.password not in trail_text() and new not in trail_text()


def test_a_group_and_its_permissions_are_audited(clock):
    admin = staff_client("admin")
    permission = Permission.objects.get(codename="view_customer")

    response = admin.post("/admin/auth/group/add/", {"name": "auditors", "permissions": [permission.pk]})

    assert response.status_code == 302, response.content.decode()[:3000]
    entry = AuditEntry.objects.get(action="add", target_type="auth.group")
    assert entry.after["name"] == "auditors" and entry.after["permissions"] == [str(permission)]
    assert Group.objects.filter(name="auditors").exists()


def test_support_cannot_open_the_staff_accounts(clock):
    support = staff_client("support")
    assert support.get("/admin/auth/user/").status_code == 403
    assert support.get("/admin/auth/group/").status_code == 403


def test_only_admins_get_the_password_form_on_a_staff_members_page_and_it_ends_their_sessions(clock):
    ensure_roles()
    member = get_user_model().objects.create_user("ken", "ken@example.com", PASSWORD, is_staff=True)
    member.groups.add(Group.objects.get(name="support"))
    member_console = Client()
    member_console.force_login(member)
    assert member_console.get("/admin/").status_code == 200
    password_form = f"/admin/auth/user/{member.pk}/password/"

    for role in ("support", "finance"):
        reader = staff_client(role)
        assert reader.get(f"/admin/auth/user/{member.pk}/change/").status_code == 403, role
        assert reader.get(password_form).status_code == 403, role
        new = "a password set by someone who may not"
        assert (
            reader.post(password_form, {"usable_password": "true", "password1": new, "password2": new}).status_code
            == 403
        )
    member.refresh_from_db()
    assert member.check_password(PASSWORD)

    admin = staff_client("admin")
    page = admin.get(f"/admin/auth/user/{member.pk}/change/").content.decode()
    assert 'href="../password/"' in page
    new = "another long pass phrase entirely"
    assert admin.post(password_form, {"usable_password": "true", "password1": new, "password2": new}).status_code == 302
    assert member_console.get("/admin/").status_code == 302  # their session ended with the old password


def test_a_bulk_delete_that_fails_leaves_no_entries(clock):
    make_plan(carrier="att")  # the plan protects its carrier
    operator = get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    request = RequestFactory().post("/admin/catalog/carrier/")
    request.user = operator
    carriers = django_admin.site._registry[Carrier]

    with pytest.raises(ProtectedError):
        carriers.delete_queryset(request, Carrier.objects.all())

    assert Carrier.objects.exists() and not AuditEntry.objects.exists()
