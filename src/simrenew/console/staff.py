"""Staff accounts for the console: each has one role (support, finance or admin).

A staff member signs in through allauth's login (the console sends them there) with their
email and password; their username is the lower-cased email, as for customers, so an address
names one account only. Their address is recorded as verified (an operator made the account),
and their password is reset by an administrator, never by email.
Services never commit: the command (or request) around them does. Creating an account and
giving a role are audited here, for whoever does it (the CLI, the demo command, the console).
"""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, User
from django.db.models import Q

from simrenew.console.roles import Role, ensure_roles, role_of
from simrenew.customers.services import normalize_email
from simrenew.kit.audit import record_change
from simrenew.kit.errors import Conflict, NotFound, ValidationFailed
from simrenew.portal.accounts import verified_login

PASSWORD_BYTES = 18  # 24 URL-safe characters, ~144 bits


def generate_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


def _check_role(role: str) -> str:
    if role not in Role.ALL:
        raise ValidationFailed.on("role", f"{role!r} is not a staff role; choose one of {', '.join(Role.ALL)}.")
    return role


def create_staff(*, email: str, role: str) -> tuple[User, str]:
    """A new staff account with `role` and a generated password (returned once, stored hashed)."""
    role = _check_role(role)
    email = normalize_email(email)
    users = get_user_model()
    if users.objects.filter(Q(username__iexact=email) | Q(email__iexact=email)).exists():
        raise Conflict(f"An account with the email {email} already exists.", code="email_taken")
    groups = ensure_roles()
    password = generate_password()
    user = users(username=email.lower(), email=email, is_staff=True, is_superuser=role == Role.ADMIN)
    user.set_password(password)
    user.save()
    user.groups.set([groups[role]])
    verified_login(user)
    record_change(
        action="staff.create",
        target=user,
        after={"email": user.email, "role": role, "is_staff": True, "is_superuser": user.is_superuser},
    )
    return user, password


def reset_staff_password(user: User) -> str:
    """A new generated password for a staff account (returned once, stored hashed). Every session
    the account had ends with the old password: Django ties a session to the password's hash."""
    password = generate_password()
    user.set_password(password)
    user.save(update_fields=["password"])
    # Only that it happened: neither the password nor its hash is kept.
    record_change(action="staff.reset_password", target=user, reason="new password; the account's sessions ended")
    return password


def find_staff(email: str) -> User:
    user = get_user_model().objects.filter(username__iexact=email.strip(), is_staff=True).first()
    if user is None:
        raise NotFound(f"No staff account has the email {email.strip()!r}; see `simrenew staff list`.")
    return user


def set_role(user: User, role: str) -> str | None:
    """Give `user` exactly `role` (admin makes a superuser); returns the role they had."""
    role = _check_role(role)
    previous = role_of(user)
    groups = ensure_roles()
    user.is_superuser = role == Role.ADMIN
    user.is_staff = True
    user.save(update_fields=["is_superuser", "is_staff"])
    user.groups.remove(*Group.objects.filter(name__in=Role.ALL))
    user.groups.add(groups[role])
    record_change(action="staff.set_role", target=user, before={"role": previous}, after={"role": role})
    return previous


def staff_accounts() -> list[User]:
    return list(get_user_model().objects.filter(is_staff=True).prefetch_related("groups").order_by("username"))
