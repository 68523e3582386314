from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class ProfileStatus(models.TextChoices):
    AVAILABLE = "available", "available"
    RESERVED = "reserved", "reserved"
    ASSIGNED = "assigned", "assigned"
    INSTALLED = "installed", "installed"
    RELEASED = "released", "released"


class EsimProfile(models.Model):
    """An eSIM profile from inventory; once assigned to a customer it is "their eSIM"."""

    carrier = models.ForeignKey("catalog.Carrier", on_delete=models.PROTECT, related_name="profiles")
    iccid = models.CharField(max_length=20, unique=True)
    eid = models.CharField(max_length=32, blank=True)
    msisdn = models.CharField(max_length=16, help_text="E.164")
    activation_code = models.CharField(max_length=255)
    status = models.CharField(max_length=10, choices=ProfileStatus.choices, default=ProfileStatus.AVAILABLE)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, null=True, blank=True, related_name="esims"
    )
    label = models.CharField(max_length=60, blank=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    installed_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name, verbose_name_plural = _("eSIM profile"), _("eSIM profiles")
        ordering = ["id"]
        indexes = [models.Index(fields=["carrier", "status"], name="profile_carrier_status")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status="available", customer__isnull=True)
                | models.Q(status__in=["reserved", "assigned", "installed"], customer__isnull=False)
                | models.Q(status="released"),
                name="profile_customer_matches_status",
            ),
        ]

    def __str__(self) -> str:
        return self.iccid
