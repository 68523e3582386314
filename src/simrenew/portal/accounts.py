"""How django-allauth fits simrenew: the login is the email (also the username), and
every email allauth sends speaks the customer's own language."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django.http import HttpRequest
from django.utils import translation

from simrenew.customers.models import Customer


class AccountAdapter(DefaultAccountAdapter):
    def populate_username(self, request: HttpRequest, user: Any) -> None:
        # One login name everywhere: the API, the admin and the portal all know a customer by email.
        user.username = (user.email or "").lower()

    def format_email_subject(self, subject: str) -> str:
        # Our subjects name simrenew themselves; allauth's "[host] " prefix would only add noise.
        return subject

    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        # The request speaks the visitor's browser language; the email speaks the customer's.
        with translation.override(email_language(email, context.get("user"))):
            super().send_mail(template_prefix, email, context)

    def add_message(
        self,
        request: HttpRequest,
        level: int,
        message_template: str | None = None,
        message_context: dict[str, Any] | None = None,
        extra_tags: str = "",
        message: str | None = None,
    ) -> None:
        # "Signed in as …" is written by the request that logged the customer in, which
        # still speaks the browser's language; the page that shows it speaks the customer's.
        user = getattr(request, "user", None)
        customer = (
            Customer.objects.filter(user_id=user.pk).only("locale").first()
            if user is not None and user.is_authenticated
            else None
        )
        with translation.override(customer.locale if customer else translation.get_language()):
            super().add_message(request, level, message_template, message_context, extra_tags, message)


def email_language(email: str, user: Any = None) -> str:
    """The language of a customer's emails: the one they chose (at sign-up or in settings);
    for an address we do not know, the language of the page that asked."""
    customers = Customer.objects.all()
    if user is not None and getattr(user, "pk", None) is not None:
        customer = customers.filter(user_id=user.pk).only("locale").first()
    else:
        customer = customers.filter(email__iexact=email).only("locale").first()
    return customer.locale if customer is not None else (translation.get_language() or "en")


def verified_login(user: Any) -> None:
    """Record the user's email as verified (for accounts made by an operator or the demo,
    whose address is known good): allauth then lets them log in straight away."""
    from allauth.account.models import EmailAddress

    EmailAddress.objects.update_or_create(user=user, email=user.email, defaults={"verified": True, "primary": True})
