from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class ProfileStatus(models.TextChoices):
    """Inventory profiles go available → reserved/assigned → installed → retired. Profiles ordered from
    an SM-DP+ over ES2+ go released (confirmed, ready to download) → installed, or download_failed, or
    cancelled (the order cancelled at the SM-DP+ before installation). `released` is SGP.22's word;
    until issue 16 today's `retired` was called `released` (migration esims 0003 renamed it)."""

    AVAILABLE = "available", "available"
    RESERVED = "reserved", "reserved"
    ASSIGNED = "assigned", "assigned"
    INSTALLED = "installed", "installed"
    RETIRED = "retired", "retired"
    RELEASED = "released", "released"
    DOWNLOAD_FAILED = "download_failed", "download failed"
    CANCELLED = "cancelled", "cancelled"


# In a customer's hands and usable: its QR code shows, a plan may run on it. (An SM-DP+ profile is
# `released` from confirmation until the phone installs it.)
USABLE_STATUSES: tuple[str, ...] = (ProfileStatus.ASSIGNED, ProfileStatus.RELEASED, ProfileStatus.INSTALLED)


class ProfileSource(models.TextChoices):
    INVENTORY = "inventory", "inventory (CSV import)"
    SMDP = "smdp", "SM-DP+ (ES2+)"


class NetworkState(models.TextChoices):
    """The line's service state at the carrier as last confirmed by a completed TMF641 order, or
    `pending` while an order is in flight; blank when no line was ever ordered."""

    NONE = "", "no line ordered"
    PENDING = "pending", "pending"
    ACTIVE = "active", "active"
    INACTIVE = "inactive", "inactive"
    TERMINATED = "terminated", "terminated"


class EsimProfile(models.Model):
    """An eSIM profile, from inventory or ordered from an SM-DP+; once a customer's it is "their eSIM"."""

    carrier = models.ForeignKey("catalog.Carrier", on_delete=models.PROTECT, related_name="profiles")
    iccid = models.CharField(max_length=20, unique=True)
    eid = models.CharField(max_length=32, blank=True)
    msisdn = models.CharField(
        max_length=16, blank=True, help_text="E.164; blank for an SM-DP+ profile until the carrier gives its number"
    )
    activation_code = models.CharField(max_length=255)
    status = models.CharField(max_length=16, choices=ProfileStatus.choices, default=ProfileStatus.AVAILABLE)
    source = models.CharField(max_length=10, choices=ProfileSource.choices, default=ProfileSource.INVENTORY)
    profile_type = models.CharField(max_length=64, blank=True, help_text="The SM-DP+ profile type it was ordered as.")
    network_state = models.CharField(max_length=12, choices=NetworkState.choices, blank=True, default="")
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, null=True, blank=True, related_name="esims"
    )
    label = models.CharField(max_length=60, blank=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    installed_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    download_failed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name, verbose_name_plural = _("eSIM profile"), _("eSIM profiles")
        ordering = ["id"]
        indexes = [models.Index(fields=["carrier", "status"], name="profile_carrier_status")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status="available", customer__isnull=True)
                | models.Q(
                    status__in=["reserved", "assigned", "installed", "released", "download_failed"],
                    customer__isnull=False,
                )
                | models.Q(status__in=["retired", "cancelled"]),
                name="profile_customer_matches_status",
            ),
            # Inventory rows come with their number; an SM-DP+ profile gets one from the carrier later.
            models.CheckConstraint(
                condition=models.Q(source="smdp") | ~models.Q(msisdn=""), name="profile_msisdn_unless_smdp"
            ),
        ]

    def __str__(self) -> str:
        return self.iccid
