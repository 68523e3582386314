from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _


class Locale(models.TextChoices):
    EN = "en", "English"
    ZH_HANS = "zh-hans", "简体中文"


class Customer(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="customer")
    email = models.EmailField(max_length=254)
    name = models.CharField(max_length=200)
    locale = models.CharField(max_length=8, choices=Locale.choices, default=Locale.EN)
    time_zone = models.CharField(max_length=64, default="UTC", help_text="IANA time zone, e.g. America/New_York")
    phone = models.CharField(max_length=20, blank=True, help_text="E.164 contact number for SMS reminders")
    # Auto-renew tries the subscription's method, then the wallet; other saved
    # methods only when the customer said so.
    renew_with_other_methods = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    # Set when the customer's personal data was erased at their request (privacy.erasure): the row
    # stays, pseudonymous, because invoices, payments and periods still point at it.
    erased_at = models.DateTimeField(null=True, blank=True)
    erasure_reference = models.CharField(
        max_length=40,
        blank=True,
        default="",
        db_default="",
        help_text="The pseudonymous reference the erased customer goes by.",
    )

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(Lower("email"), name="customer_email_unique_ci")]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class NotificationKind(models.TextChoices):
    """What a customer can be told about; each kind goes by email and/or SMS as they choose."""

    EXPIRY_REMINDER = "expiry_reminder", _("Expiry reminders")
    AUTO_RENEW_NOTICE = "auto_renew_notice", _("Auto-renew notices")
    LOW_DATA = "low_data", _("Low data")
    PAYMENT_FAILED = "payment_failed", _("Failed payments")
    SERVICE_SUSPENDED = "service_suspended", _("Service suspended")
    RECEIPT = "receipt", _("Receipts")


class NotificationPreference(models.Model):
    """A customer's channels for one kind of notice. No row means the defaults: email on, SMS off."""

    DEFAULT_EMAIL = True
    DEFAULT_SMS = False

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="notification_preferences")
    kind = models.CharField(max_length=32, choices=NotificationKind.choices)
    email = models.BooleanField(default=DEFAULT_EMAIL)
    sms = models.BooleanField(default=DEFAULT_SMS)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["customer_id", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "kind"], name="notification_preference_unique_kind"),
            models.CheckConstraint(
                condition=models.Q(kind__in=[kind.value for kind in NotificationKind]),
                name="notification_preference_known_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.kind}: email={self.email} sms={self.sms}"
