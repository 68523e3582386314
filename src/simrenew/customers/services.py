"""Customers: each tied to a Django user whose login is the email. Services never commit."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo, available_timezones

import phonenumbers
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core import checks
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from simrenew.customers.models import Customer, Locale, NotificationKind, NotificationPreference
from simrenew.kit import clock
from simrenew.kit.audit import changed_only, record_change, snapshot
from simrenew.kit.errors import Conflict, FieldError, ValidationFailed

_ZONES = frozenset(available_timezones())


def normalize_email(value: str) -> str:
    email = value.strip()
    try:
        validate_email(email)
    except DjangoValidationError:
        raise ValidationFailed.on("email", _("Enter a valid email address.")) from None
    local, _at, domain = email.rpartition("@")
    return f"{local}@{domain.lower()}"


def validate_time_zone(value: str) -> str:
    if value not in _ZONES:
        raise ValidationFailed.on(
            "time_zone",
            _("%(zone)s is not an IANA time zone such as America/New_York.") % {"zone": repr(value)},
        )
    ZoneInfo(value)
    return value


def validate_locale(value: str) -> str:
    if value not in Locale.values:
        raise ValidationFailed.on(
            "locale", _("The language must be one of %(languages)s.") % {"languages": ", ".join(Locale.values)}
        )
    return value


def normalize_phone(value: str) -> str:
    if not value:
        return ""
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise ValidationFailed.on(
            "phone", _("Enter the phone number with its country code, e.g. +1 212 555 0100.")
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationFailed.on("phone", _("This phone number is not valid."))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def create_customer(
    *,
    email: str,
    name: str,
    locale: str = "en",
    time_zone: str = "UTC",
    phone: str = "",
    password: str | None = None,
) -> Customer:
    cleaned = _clean_details(
        name=name,
        checks=(
            ("email", normalize_email, email),
            ("locale", validate_locale, locale),
            ("time_zone", validate_time_zone, time_zone),
            ("phone", normalize_phone, phone),
        ),
    )
    name = name.strip()
    email = cleaned["email"]
    user_model = get_user_model()
    if (
        Customer.objects.filter(email__iexact=email).exists()
        or user_model.objects.filter(username__iexact=email).exists()
    ):
        raise Conflict(_("A customer with the email %(email)s already exists.") % {"email": email}, code="email_taken")
    user = user_model(username=email.lower(), email=email)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    customer = _customer_for(user, email=email, name=name, cleaned=cleaned)
    record_change(action="add", target=customer, after=snapshot(customer))
    return customer


def create_customer_for_user(
    user: User, *, name: str, locale: str = "en", time_zone: str = "UTC", phone: str = ""
) -> Customer:
    """The customer behind a login made elsewhere (the portal's sign-up): same checks, same event."""
    cleaned = _clean_details(
        name=name,
        checks=(
            ("locale", validate_locale, locale),
            ("time_zone", validate_time_zone, time_zone),
            ("phone", normalize_phone, phone),
        ),
    )
    email = normalize_email(str(getattr(user, "email", "")))
    if Customer.objects.filter(email__iexact=email).exists():
        raise Conflict(_("A customer with the email %(email)s already exists.") % {"email": email}, code="email_taken")
    return _customer_for(user, email=email, name=name.strip(), cleaned=cleaned)


def _clean_details(*, name: str, checks: tuple[tuple[str, Callable[[str], str], str], ...]) -> dict[str, str]:
    """Run every check and report every bad field at once, not just the first."""
    errors: list[FieldError] = []
    cleaned: dict[str, str] = {}
    for field, check, value in checks:
        try:
            cleaned[field] = check(value)
        except ValidationFailed as exc:
            errors.extend(exc.errors)
    if not name.strip():
        errors.append(FieldError("name", _("Enter the customer's name.")))
    if errors:
        raise ValidationFailed(_("The customer details are not valid."), errors=errors)
    return cleaned


def _customer_for(user: User, *, email: str, name: str, cleaned: dict[str, str]) -> Customer:
    customer = Customer.objects.create(
        user=user,
        email=email,
        name=name[:200],
        locale=cleaned["locale"],
        time_zone=cleaned["time_zone"],
        phone=cleaned["phone"],
        created_at=clock.now(),
    )
    for listener in _on_created:
        listener(customer)
    return customer


# Who hears of a new customer, inside the transaction that creates it. Notifications depend on
# customers (preferences, locale), not the reverse, so the `customer.created` event is written by
# a listener they register (NotificationsConfig.ready).
CustomerListener = Callable[[Customer], None]
_on_created: list[CustomerListener] = []


def register_on_created(listener: CustomerListener) -> None:
    if listener not in _on_created:
        _on_created.append(listener)


def on_created_registered(**kwargs: object) -> list[checks.CheckMessage]:
    """System check (CustomersConfig.ready): with no listener, new customers are created
    and nobody is told (no `customer.created` event)."""
    if _on_created:
        return []
    return [
        checks.Error(
            "No listener hears of new customers: `customer.created` would not be written.",
            hint="NotificationsConfig.ready registers notifications.customer_events; is the app installed?",
            id="customers.E001",
        )
    ]


def update_customer(
    customer: Customer,
    *,
    name: str | None = None,
    locale: str | None = None,
    time_zone: str | None = None,
    phone: str | None = None,
    renew_with_other_methods: bool | None = None,
) -> Customer:
    """Change what was given. Audited when an operator changes it (the API); a customer's own
    change in the portal is theirs, not the trail's (see `kit.audit`). An erased customer
    (privacy.erasure) takes no new details: they would be personal data again."""
    if customer.erased_at is not None:
        raise Conflict(
            _("This customer's account was deleted at their request; it cannot be changed."), code="customer_erased"
        )
    before = snapshot(customer)
    if name is not None:
        if not name.strip():
            raise ValidationFailed.on("name", _("Enter the customer's name."))
        customer.name = name.strip()[:200]
    if locale is not None:
        customer.locale = validate_locale(locale)
    if time_zone is not None:
        customer.time_zone = validate_time_zone(time_zone)
    if phone is not None:
        customer.phone = normalize_phone(phone)
    if renew_with_other_methods is not None:
        customer.renew_with_other_methods = renew_with_other_methods
    customer.save()
    old, new = changed_only(before, snapshot(customer))
    if new:
        record_change(action="change", target=customer, before=old, after=new)
    return customer


@dataclass(frozen=True)
class Channels:
    """How a customer wants one kind of notice delivered."""

    email: bool = NotificationPreference.DEFAULT_EMAIL
    sms: bool = NotificationPreference.DEFAULT_SMS


def notification_preferences(customer: Customer) -> dict[str, Channels]:
    """Every kind of notice with the customer's channels; kinds never chosen have the defaults."""
    chosen = {
        row.kind: Channels(email=row.email, sms=row.sms)
        for row in NotificationPreference.objects.filter(customer=customer)
    }
    return {kind: chosen.get(kind, Channels()) for kind in NotificationKind.values}


def wants_notification(customer: Customer, kind: str, channel: str) -> bool:
    """Whether `customer` wants notices of `kind` on `channel` ("email" or "sms")."""
    if kind not in NotificationKind.values or channel not in ("email", "sms"):
        raise ValueError(f"unknown notification kind or channel: {kind!r}, {channel!r}")
    return channel_wanted(customer, notification_preferences(customer)[kind], channel)


def channel_wanted(customer: Customer, channels: Channels, channel: str) -> bool:
    """The rule behind `wants_notification`, for callers that load preferences in bulk:
    SMS only to a customer with a phone number."""
    if channel == "sms":
        return channels.sms and bool(customer.phone)
    return channels.email


def set_notification_preferences(customer: Customer, choices: Mapping[str, Channels]) -> dict[str, Channels]:
    """Store the customer's channels for the kinds given (others keep theirs). SMS needs a phone number."""
    unknown = sorted(set(choices) - set(NotificationKind.values))
    if unknown:
        raise ValidationFailed.on(
            "notifications", _("Unknown kind of notification: %(kinds)s.") % {"kinds": ", ".join(unknown)}
        )
    if any(channels.sms for channels in choices.values()) and not customer.phone:
        raise ValidationFailed.on("phone", _("Add a phone number to get notifications by SMS."))
    now = clock.now()
    for kind, channels in choices.items():
        NotificationPreference.objects.update_or_create(
            customer=customer, kind=kind, defaults={"email": channels.email, "sms": channels.sms, "updated_at": now}
        )
    return notification_preferences(customer)
