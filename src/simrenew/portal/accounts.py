"""How django-allauth fits simrenew: the login is the email (also the username), every
email allauth sends speaks the customer's own language, and every link in it starts with
SIMRENEW_PUBLIC_URL, never with the Host header of the request that caused it.

Staff sign in here too (the console sends them here), but their passwords are not reset by
email: an administrator resets them (`simrenew staff reset-password`)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from allauth.account.adapter import DefaultAccountAdapter, get_adapter
from allauth.account.forms import UserTokenForm
from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from django.utils import translation

from simrenew.console.roles import role_of
from simrenew.customers.models import Customer


def on_public_url(url: str) -> str:
    """`url` (absolute, whatever host it names, or a path) re-rooted on SIMRENEW_PUBLIC_URL:
    its path, query and fragment kept, its scheme and host replaced by the public ones."""
    public = urlsplit(settings.SIMRENEW_PUBLIC_URL)
    parts = urlsplit(url)
    path = parts.path if parts.path.startswith("/") else f"/{parts.path}"
    return urlunsplit((public.scheme, public.netloc, path, parts.query, parts.fragment))


@dataclass(frozen=True)
class PublicSite:
    """What allauth's emails call `current_site`: the public address, not the request's Host."""

    domain: str
    name: str

    @classmethod
    def current(cls) -> PublicSite:
        host = urlsplit(settings.SIMRENEW_PUBLIC_URL).netloc
        return cls(domain=host, name=host)

    def __str__(self) -> str:
        return self.domain


def is_staff_account(user: Any) -> bool:
    """Staff (console roles or not) are never reset through the customers' email flow."""
    return bool(getattr(user, "is_staff", False) or getattr(user, "is_superuser", False))


class AccountAdapter(DefaultAccountAdapter):
    def populate_username(self, request: HttpRequest, user: Any) -> None:
        # One login name everywhere: the API, the admin and the portal all know a customer by email.
        user.username = (user.email or "").lower()

    def format_email_subject(self, subject: str) -> str:
        # Our subjects name simrenew themselves; allauth's "[host] " prefix would only add noise.
        return subject

    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        # Links: allauth builds some (the unknown-account mail's signup_url, the already-exists
        # mail's password_reset_url) from the request, whose Host a visitor chooses.
        pinned = {
            key: on_public_url(value)
            for key, value in context.items()
            if key.endswith("_url") and isinstance(value, str) and value
        }
        context = {**context, **pinned, "current_site": PublicSite.current()}
        # The request speaks the visitor's browser language; the email speaks the customer's.
        with translation.override(email_language(email, context.get("user"))):
            super().send_mail(template_prefix, email, context)

    def get_reset_password_from_key_url(self, key: str) -> str:
        path = reverse("account_reset_password_from_key", kwargs={"uidb36": "UID", "key": "KEY"})
        return on_public_url(path.replace("UID-KEY", quote(key)))

    def get_email_confirmation_url(self, request: HttpRequest | None, emailconfirmation: Any) -> str:
        return on_public_url(reverse("account_confirm_email", args=[emailconfirmation.key]))

    def send_password_reset_mail(self, user: Any, email: str, context: dict[str, Any]) -> None:
        # From outside this looks like any other reset (same page, one email); the email carries
        # no key, only who resets staff passwords.
        if is_staff_account(user):
            self.send_mail("account/email/staff_password_reset", email, {"user": user})
            return
        super().send_password_reset_mail(user, email, context)

    def get_login_redirect_url(self, request: HttpRequest) -> str:
        # Staff signing in without a `next` go to the console, not to a customer's dashboard.
        if role_of(request.user) is not None:
            return reverse("admin:index")
        return super().get_login_redirect_url(request)

    def _get_login_attempts_cache_key(self, request: HttpRequest, **credentials: Any) -> str:
        # allauth keys an account's failed logins by the request's site, i.e. its Host header:
        # a guesser changing Host would get a fresh count. One count per account, whatever Host.
        login = str(credentials.get("email", credentials.get("username", ""))).lower()
        return f"{PublicSite.current().domain}:{login}"

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

    # allauth keeps addresses lower-cased and looks them up so (an address's case means nothing).
    email = user.email.lower()
    # One primary address per user (allauth's constraint): an older one stops being it.
    EmailAddress.objects.filter(user=user, primary=True).exclude(email=email).update(primary=False)
    EmailAddress.objects.update_or_create(user=user, email=email, defaults={"verified": True, "primary": True})


class CustomerResetTokenForm(UserTokenForm):
    """The reset-from-key page refuses staff even with a valid key (one sent before staff
    resets moved to administrators, say): same answer as a bad or used link."""

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean()
        if is_staff_account(getattr(self, "reset_user", None)):
            self.reset_user = None
            raise get_adapter().validation_error("invalid_password_reset")
        return cleaned


class ResendOutcome(enum.Enum):
    SENT = "sent"
    TOO_SOON = "too_soon"  # allauth's cooldown between confirmation emails to one address
    NO_SIGN_UP = "no_sign_up"  # no sign-up (or login) waiting for confirmation in this browser


def resend_confirmation(request: HttpRequest) -> ResendOutcome:
    """Send the confirmation link again, to the address of the sign-up (or login) under way in
    this browser, so that following the new link still signs the customer in. Nobody else's
    address can be asked for here (no typed address: nothing to learn about who has an account);
    without a sign-up under way, logging in sends a new link (allauth does, for an unconfirmed
    address). allauth's limit of one email per address per cooldown applies."""
    from allauth.account.internal.flows.email_verification import (
        consume_email_verification_rate_limit,
        send_verification_email_to_address,
    )
    from allauth.account.internal.stagekit import unstash_login
    from allauth.account.models import EmailAddress

    pending = unstash_login(request, peek=True)
    if pending is None or pending.user is None:
        return ResendOutcome.NO_SIGN_UP
    address = EmailAddress.objects.filter(user_id=pending.user.pk, verified=False).order_by("-primary").first()
    if address is None:
        return ResendOutcome.NO_SIGN_UP
    if not consume_email_verification_rate_limit(request, address.email, dry_run=True):
        return ResendOutcome.TOO_SOON
    send_verification_email_to_address(request, address)
    return ResendOutcome.SENT
