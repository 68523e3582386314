"""How django-allauth fits simrenew: the login is the email (also the username)."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django.http import HttpRequest


class AccountAdapter(DefaultAccountAdapter):
    def populate_username(self, request: HttpRequest, user: Any) -> None:
        # One login name everywhere: the API, the admin and the portal all know a customer by email.
        user.username = (user.email or "").lower()


def verified_login(user: Any) -> None:
    """Record the user's email as verified (for accounts made by an operator or the demo,
    whose address is known good): allauth then lets them log in straight away."""
    from allauth.account.models import EmailAddress

    EmailAddress.objects.update_or_create(user=user, email=user.email, defaults={"verified": True, "primary": True})
