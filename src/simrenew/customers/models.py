from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower


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
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(Lower("email"), name="customer_email_unique_ci")]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"
