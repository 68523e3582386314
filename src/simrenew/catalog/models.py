from __future__ import annotations

from django.db import models
from django.db.models.functions import Upper
from django.utils.translation import gettext_lazy as _

from simrenew.catalog.labels import plan_display_name


class Carrier(models.Model):
    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.name


class PeriodUnit(models.TextChoices):
    DAY = "day", "day"
    MONTH = "month", "month"
    YEAR = "year", "year"


class Plan(models.Model):
    """One version of a plan. A price or allowance change makes a new version;
    subscribers keep the version they bought (their periods point at it)."""

    carrier = models.ForeignKey(Carrier, on_delete=models.PROTECT, related_name="plans")
    code = models.SlugField(max_length=64, help_text="Stable across versions, e.g. att-1m.")
    version = models.PositiveIntegerField(default=1)
    name = models.CharField(max_length=100)
    period_unit = models.CharField(max_length=8, choices=PeriodUnit.choices)
    period_count = models.PositiveSmallIntegerField()
    data_mb = models.PositiveIntegerField()
    price_minor = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, default="USD")
    is_current = models.BooleanField(default=True, help_text="The version sold to new buyers.")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["carrier__code", "period_unit", "period_count", "id"]
        constraints = [
            models.UniqueConstraint(fields=["code", "version"], name="plan_code_version_unique"),
            models.UniqueConstraint(
                fields=["code"], condition=models.Q(is_current=True), name="plan_one_current_version"
            ),
            models.CheckConstraint(condition=models.Q(period_count__gte=1), name="plan_period_count_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} (v{self.version})"

    @property
    def display_name(self) -> str:
        """The name customers read, in the active language (catalog.labels): pages, emails, receipts."""
        return plan_display_name(self, self.carrier.name)


class TopUpPack(models.Model):
    """Extra data bought within a period; valid until the period ends."""

    carrier = models.ForeignKey(Carrier, on_delete=models.PROTECT, related_name="top_up_packs")
    name = models.CharField(max_length=100)
    data_mb = models.PositiveIntegerField()
    price_minor = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, default="USD")
    is_active = models.BooleanField(default=True)

    class Meta:
        verbose_name, verbose_name_plural = _("top-up pack"), _("top-up packs")
        ordering = ["carrier__code", "data_mb", "id"]
        constraints = [models.CheckConstraint(condition=models.Q(data_mb__gte=1), name="topup_pack_data_positive")]

    def __str__(self) -> str:
        return self.name


class DiscountKind(models.TextChoices):
    PERCENT = "percent", "percent"
    FIXED = "fixed", "fixed amount"


class Promotion(models.Model):
    code = models.CharField(max_length=40)
    description = models.CharField(max_length=200, blank=True)
    discount_kind = models.CharField(max_length=8, choices=DiscountKind.choices, default=DiscountKind.PERCENT)
    percent_off = models.PositiveSmallIntegerField(default=0)
    amount_off_minor = models.PositiveIntegerField(default=0)
    currency = models.CharField(max_length=3, default="USD")
    bonus_data_mb = models.PositiveIntegerField(default=0)
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    max_redemptions = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: no limit.")
    max_per_customer = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: no limit.")
    # Counted with a conditional UPDATE so concurrent redemptions never pass the limit.
    redemptions_count = models.PositiveIntegerField(default=0)
    eligible_plan_codes = models.JSONField(default=list, blank=True, help_text="Empty: every plan.")
    is_active = models.BooleanField(default=True)
    # Codes are secret unless the operator publishes them: a code for one partner's customers
    # must not be listed to everyone.
    is_public = models.BooleanField(
        default=False, help_text="Listed to every customer on the help page and when choosing a plan."
    )
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(Upper("code"), name="promotion_code_unique_ci"),
            models.CheckConstraint(condition=models.Q(percent_off__lte=100), name="promotion_percent_max_100"),
            models.CheckConstraint(
                condition=models.Q(max_redemptions__isnull=True)
                | models.Q(redemptions_count__lte=models.F("max_redemptions")),
                name="promotion_redemptions_within_limit",
            ),
        ]

    def __str__(self) -> str:
        return self.code


class PromotionRedemption(models.Model):
    promotion = models.ForeignKey(Promotion, on_delete=models.PROTECT, related_name="redemptions")
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="+")
    payment_attempt = models.OneToOneField(
        "payments.PaymentAttempt", on_delete=models.PROTECT, related_name="promotion_redemption"
    )
    discount_minor = models.PositiveIntegerField()
    bonus_data_mb = models.PositiveIntegerField()
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["promotion", "customer"], name="redemption_promo_customer")]

    def __str__(self) -> str:
        return f"redemption of promotion {self.promotion_id} by customer {self.customer_id}"
