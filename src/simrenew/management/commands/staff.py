"""`simrenew staff create|list|set-role|reset-password|allow-mfa-setup`: console accounts, their
roles, passwords and authenticator apps."""

from __future__ import annotations

from argparse import ArgumentParser
from collections.abc import Callable
from typing import Any

from django.db import transaction

from simrenew.console.roles import Role, role_of
from simrenew.console.staff import (
    MFA_SETUP_GRANT,
    allow_mfa_setup,
    create_staff,
    find_staff,
    reset_staff_password,
    set_role,
    staff_accounts,
)
from simrenew.management.base import VerbCommand


class Command(VerbCommand):
    help = (
        "Create console staff accounts and set their roles (support, finance, admin). "
        "`create` and `reset-password` print the account's new password once, as the last line; "
        "they, and `allow-mfa-setup`, let the account set up an authenticator app for a while."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        verbs = parser.add_subparsers(
            dest="verb", required=True, metavar="create|list|set-role|reset-password|allow-mfa-setup"
        )
        create = verbs.add_parser("create", help="Create a staff account and print its generated password.")
        create.add_argument("--email", required=True, help="The staff member's email; they log in with it.")
        create.add_argument("--role", required=True, choices=Role.ALL, help="support, finance or admin.")
        verbs.add_parser("list", help="List staff accounts and their roles.")
        change = verbs.add_parser("set-role", help="Give a staff account another role.")
        change.add_argument("--email", required=True)
        change.add_argument("--role", required=True, choices=Role.ALL)
        reset = verbs.add_parser(
            "reset-password",
            help="Give a staff account a new generated password (staff cannot reset theirs by email).",
        )
        reset.add_argument("--email", required=True)
        allow = verbs.add_parser(
            "allow-mfa-setup",
            help=(
                "Let a staff member set up a new authenticator app (a lost phone, say): "
                "their old one is removed. Staff cannot set one up without this where staff MFA is required."
            ),
        )
        allow.add_argument("--email", required=True)

    def verbs(self) -> dict[str, Callable[[dict[str, Any]], None]]:
        return {
            "create": lambda options: self._create(options["email"], options["role"]),
            "list": lambda options: self._list(),
            "set-role": lambda options: self._set_role(options["email"], options["role"]),
            "reset-password": lambda options: self._reset_password(options["email"]),
            "allow-mfa-setup": lambda options: self._allow_mfa_setup(options["email"]),
        }

    def _create(self, email: str, role: str) -> None:
        with transaction.atomic():
            user, password = create_staff(email=email, role=role)  # audited by the service
        self.stdout.write(
            f"Created staff account {user.email} with the {role} role; log in at /admin/. "
            "Its password is shown only now; pass it on safely:"
        )
        self.stdout.write(password)

    def _list(self) -> None:
        accounts = staff_accounts()
        if not accounts:
            self.stdout.write("No staff accounts yet; create one with `simrenew staff create --email E --role R`.")
            return
        self.stdout.write(f"{'EMAIL':<40} {'ROLE':<8} {'ACTIVE':<6} LAST LOGIN")
        for user in accounts:
            last = user.last_login.isoformat(timespec="seconds") if user.last_login else "never"
            role = role_of(user) or "none"
            self.stdout.write(
                f"{user.email or user.username:<40} {role:<8} {'yes' if user.is_active else 'no':<6} {last}"
            )

    def _set_role(self, email: str, role: str) -> None:
        with transaction.atomic():
            user = find_staff(email)
            previous = set_role(user, role)  # audited by the service
        self.stdout.write(f"{user.email or user.username} now has the {role} role (was {previous or 'none'}).")

    def _reset_password(self, email: str) -> None:
        with transaction.atomic():
            user = find_staff(email)
            password = reset_staff_password(user)  # audited by the service
        self.stdout.write(
            f"New password for {user.email or user.username}; every session it had has ended. "
            "It is shown only now; pass it on safely:"
        )
        self.stdout.write(password)

    def _allow_mfa_setup(self, email: str) -> None:
        with transaction.atomic():
            user = find_staff(email)
            grant = allow_mfa_setup(user)  # audited by the service
        hours = int(MFA_SETUP_GRANT.total_seconds() // 3600)
        self.stdout.write(
            f"{user.email or user.username} may set up an authenticator app in the next {hours} hours "
            f"(until {grant.expires_at.isoformat(timespec='minutes')}); any old one was removed. "
            "They sign in with their password, and the console leads them to the setup."
        )
