"""Staff for console tests: one logged-in Django test client per role."""

from __future__ import annotations

import itertools

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from simrenew.console.roles import Role, ensure_roles

_serial = itertools.count(1)


def staff_client(role: str) -> Client:
    """A client logged in as a staff member with `role` (admin is a superuser, as in the console)."""
    ensure_roles()
    number = next(_serial)
    email = f"{role}{number}@staff.example.com"
    users = get_user_model().objects
    if role == Role.ADMIN:
        user = users.create_superuser(f"{role}{number}", email, "correct horse battery")
    else:
        user = users.create_user(f"{role}{number}", email, "correct horse battery", is_staff=True)
        user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    return client
