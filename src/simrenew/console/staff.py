"""Staff accounts for the console: each has one role (support, finance or admin).

A staff member signs in through allauth's login (the console sends them there) with their
email and password; their username is the lower-cased email, as for customers, so an address
names one account only. Their address is recorded as verified (an operator made the account),
and their password is reset by an administrator, never by email.

Where staff MFA is required, a staff member sets up their first authenticator app only with an
administrator's grant, good for MFA_SETUP_GRANT and used up by the setup (console.signin):
creating the account and resetting its password grant it, and `allow_mfa_setup` grants it again
for someone who lost their phone (removing the old app). A stolen password alone therefore
never enrolls the thief's app.
Services never commit: the command (or request) around them does. Creating an account and
giving a role are audited here, for whoever does it (the CLI, the demo command, the console).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, User
from django.db.models import Q

from simrenew.console.models import StaffMfaEnrollmentGrant
from simrenew.console.roles import Role, ensure_roles, role_of
from simrenew.customers.services import normalize_email
from simrenew.kit import clock
from simrenew.kit.audit import SYSTEM_ACTOR, acting_actor, record_change
from simrenew.kit.errors import Conflict, NotFound, ValidationFailed
from simrenew.portal.accounts import verified_login

PASSWORD_BYTES = 18  # 24 URL-safe characters, ~144 bits
# Long enough to pass a new password on over a weekend, short enough not to lie about forever.
MFA_SETUP_GRANT = timedelta(hours=72)


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
    grant = grant_mfa_setup(user)
    record_change(
        action="staff.create",
        target=user,
        after={"email": user.email, "role": role, "is_staff": True, "is_superuser": user.is_superuser},
        reason=f"may set up an authenticator app until {_when(grant.expires_at)}",
    )
    return user, password


def reset_staff_password(user: User) -> str:
    """A new generated password for a staff account (returned once, stored hashed). Every session
    the account had ends with the old password: Django ties a session to the password's hash.
    An authenticator app already set up stays; one not yet set up may be, for MFA_SETUP_GRANT."""
    password = generate_password()
    user.set_password(password)
    user.save(update_fields=["password"])
    grant = grant_mfa_setup(user)
    # Only that it happened: neither the password nor its hash is kept.
    record_change(
        action="staff.reset_password",
        target=user,
        reason=(
            "new password; the account's sessions ended; "
            f"may set up an authenticator app until {_when(grant.expires_at)}"
        ),
    )
    return password


# ---------------------------------------------------------------- setting up an authenticator app


def grant_mfa_setup(user: User) -> StaffMfaEnrollmentGrant:
    """Let `user` set up an authenticator app within MFA_SETUP_GRANT from now (replacing any
    earlier grant). Audited by the callers, with the change it belongs to."""
    now = clock.system_now()
    who = acting_actor()
    grant, _created = StaffMfaEnrollmentGrant.objects.update_or_create(
        user=user,
        defaults={
            "granted_at": now,
            "expires_at": now + MFA_SETUP_GRANT,
            "granted_by": who.label if who is not None else SYSTEM_ACTOR,
        },
    )
    return grant


def _valid_grants(user: Any) -> Any:
    return StaffMfaEnrollmentGrant.objects.filter(user_id=user.pk, expires_at__gt=clock.system_now())


def may_set_up_mfa(user: Any) -> bool:
    """An unexpired, unused grant to set up an authenticator app."""
    return bool(_valid_grants(user).exists())


def use_mfa_setup_grant(user: Any) -> bool:
    """Use the grant up (one setup per grant); False when there was no valid one. One DELETE,
    so two setups racing on one grant cannot both have it."""
    deleted, _ = _valid_grants(user).delete()
    return deleted > 0


def allow_mfa_setup(user: User) -> StaffMfaEnrollmentGrant:
    """For a staff member who lost their authenticator app: the old one is removed (with its
    recovery codes, which belong to it) and they may set up a new one within MFA_SETUP_GRANT.
    Their password stays; a session that already passed the second factor stays open."""
    authenticators = Authenticator.objects.filter(user_id=user.pk)
    had_app = authenticators.filter(type=Authenticator.Type.TOTP).exists()
    had_recovery_codes = authenticators.filter(type=Authenticator.Type.RECOVERY_CODES).exists()
    authenticators.filter(type__in=[Authenticator.Type.TOTP, Authenticator.Type.RECOVERY_CODES]).delete()
    grant = grant_mfa_setup(user)
    record_change(
        action="staff.allow_mfa_setup",
        target=user,
        before={"authenticator_app": had_app, "recovery_codes": had_recovery_codes},
        after={"authenticator_app": False, "recovery_codes": False, "mfa_setup_until": _when(grant.expires_at)},
        reason="an administrator let them set up a new authenticator app",
    )
    return grant


def _when(moment: datetime) -> str:
    return moment.isoformat(timespec="minutes")


def verify_staff_email(user: User) -> bool:
    """Record a staff member's address as verified, as `create_staff` does, for staff made or
    changed elsewhere (the console's user form): allauth's email verification is mandatory and
    staff get no confirmation email. An address someone else verified is never taken over."""
    if not user.is_staff or not user.email:
        return False
    if EmailAddress.objects.filter(email__iexact=user.email, verified=True).exclude(user_id=user.pk).exists():
        return False
    verified_login(user)
    return True


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
