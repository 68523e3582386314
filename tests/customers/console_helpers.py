"""Staff for console tests: one Django test client per role, signed in the way staff sign in
(the console sends them to allauth's login page)."""

from __future__ import annotations

import itertools
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from simrenew.console.roles import Role, ensure_roles
from simrenew.portal.accounts import verified_login

_serial = itertools.count(1)
STAFF_PASSWORD = "correct horse battery"


def sign_in_to_console(client: Client, email: str, password: str, *, page: str = "/admin/", **headers: Any) -> Any:
    """Open a console page, get sent to allauth's login, sign in there: the answer to the
    login form (a redirect back to `page` when it worked)."""
    to_console_login = client.get(page)
    assert to_console_login.status_code == 302, to_console_login.status_code
    to_allauth = client.get(to_console_login["Location"])
    assert to_allauth.status_code == 302 and to_allauth["Location"].startswith("/accounts/login/?next=")
    return client.post(to_allauth["Location"], {"login": email, "password": password}, **headers)


def staff_client(role: str) -> Client:
    """A client signed in as a staff member with `role` (admin is a superuser, as in the console)."""
    ensure_roles()
    number = next(_serial)
    email = f"{role}{number}@staff.example.com"
    users = get_user_model().objects
    if role == Role.ADMIN:
        user = users.create_superuser(f"{role}{number}", email, STAFF_PASSWORD)
    else:
        user = users.create_user(f"{role}{number}", email, STAFF_PASSWORD, is_staff=True)
        user.groups.add(Group.objects.get(name=role))
    verified_login(user)
    client = Client()
    signed_in = sign_in_to_console(client, email, STAFF_PASSWORD)
    assert signed_in.status_code == 302 and signed_in["Location"] == "/admin/", signed_in.content.decode()[:2000]
    return client
