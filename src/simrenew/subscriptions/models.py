from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models.functions import Cast
from django.db.models.lookups import GreaterThanOrEqual

MB = 1024 * 1024  # plans count data in MiB, as carriers' "1 GB = 1024 MB" does


# The shares of a period's data whose use the customer is told about (reminders.DATA_THRESHOLDS)
# and the dashboard's bar shows (status.data_level: amber when low, red when critical).
DATA_LOW_PERCENT = 80
DATA_CRITICAL_PERCENT = 95


def _used_and_share(used_bytes: Any, allowance_mb: Any, percent: int) -> tuple[Any, Any]:
    """The two sides of "usage reached `percent` of the allowance", in whole numbers (used * 100
    against allowance * percent), for plain numbers and SQL expressions alike."""
    return used_bytes * 100, allowance_mb * MB * percent


def data_used_at_least(percent: int) -> GreaterThanOrEqual:
    """A period's usage reached `percent` of its allowance (its data plus top-ups), as SQL."""
    allowance_mb = Cast("data_mb", models.BigIntegerField()) + Cast("top_up_mb", models.BigIntegerField())
    return GreaterThanOrEqual(*_used_and_share(models.F("used_bytes"), allowance_mb, percent))


def used_at_least(percent: int, *, used_bytes: int, allowance_mb: int) -> bool:
    """`data_used_at_least` for figures already read (the allowance with its top-ups)."""
    used, share = _used_and_share(used_bytes, allowance_mb, percent)
    return used >= share


class SubscriptionState(models.TextChoices):
    """What the operator or customer decided; the status a customer sees is
    derived from this, the periods and the time: the rules (in service, suspended,
    expiring, due for auto-renew) are in subscriptions.status, and
    subscriptions.queries.derive_status puts them together."""

    INCOMPLETE = "incomplete", "incomplete"  # first payment still pending or unknown
    LIVE = "live", "live"
    CANCELLED = "cancelled", "cancelled"
    TERMINATED = "terminated", "terminated"


class Subscription(models.Model):
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="subscriptions")
    esim = models.ForeignKey("esims.EsimProfile", on_delete=models.PROTECT, related_name="subscriptions")
    # The renewal plan: what auto-renew and "Renew" buy. Only the customer's choice changes it
    # (renewals.choose_renewal_plan, or a renewal paid with `also_renew_with_plan`); the plan shown
    # is the running period's (queries.SubscriptionView.plan_id), never this one by itself.
    plan = models.ForeignKey(
        "catalog.Plan",
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The renewal plan: the plan version auto-renew and renewals buy.",
    )
    payment_method = models.ForeignKey(
        "payments.PaymentMethod", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    auto_renew = models.BooleanField(default=True)
    state = models.CharField(max_length=12, choices=SubscriptionState.choices, default=SubscriptionState.INCOMPLETE)
    # End of the last paid period: the moment service stops unless renewed.
    paid_through = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    # Set when cancelled "now": service stops here even though periods ran longer.
    ended_at = models.DateTimeField(null=True, blank=True)
    terminated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    # When the worker next tries the auto-renew charge (T-72h, then the retry
    # schedule); only read while the subscription is live with auto-renew on.
    renewal_due_at = models.DateTimeField(null=True, blank=True)
    # A worker's claim on the subscription's due work; an expired claim (by the
    # system clock, so a frozen test clock never pins it) is taken over.
    claimed_by = models.CharField(max_length=64, blank=True)
    claim_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["state", "paid_through"], name="subscription_state_paid"),
            models.Index(fields=["customer", "state"], name="subscription_customer_state"),
            models.Index(
                fields=["renewal_due_at"],
                condition=models.Q(state="live", auto_renew=True),
                name="subscription_renewal_due",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["esim"],
                condition=models.Q(state__in=["incomplete", "live"]),
                name="subscription_one_open_per_esim",
            ),
        ]

    def __str__(self) -> str:
        return f"subscription {self.pk}"


class Period(models.Model):
    """A paid stretch of service: a fact that never changes once written, except
    its usage counter and a goodwill extension (which moves `ends_at`, and every
    later period, by whole days and is recorded in `PeriodExtension`)."""

    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="periods")
    number = models.PositiveIntegerField(help_text="1 for the first period, then 2, 3, …")
    plan = models.ForeignKey("catalog.Plan", on_delete=models.PROTECT, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    # Calendar anchor: month and year periods count from here in the customer's
    # zone, so Jan 31 → Feb 28 → Mar 31 rather than drifting to the 28th.
    anchor_at = models.DateTimeField()
    anchor_offset = models.PositiveIntegerField(help_text="Units from the anchor to this period's start.")
    time_zone = models.CharField(max_length=64)
    data_mb = models.PositiveIntegerField(help_text="Allowance, with any promotion bonus.")
    top_up_mb = models.PositiveIntegerField(default=0, help_text="Data added by top-ups in this period.")
    used_bytes = models.PositiveBigIntegerField(default=0)
    # Kept by the database (a stored generated column), so that the data reminders find these
    # periods through an index of their own and the planner knows from the column's statistics
    # how few they are. Usage updates leave the indexes alone (HOT on PostgreSQL) unless it flips.
    data_running_low = models.GeneratedField(
        expression=data_used_at_least(DATA_LOW_PERCENT),
        output_field=models.BooleanField(),
        db_persist=True,
    )
    invoice = models.OneToOneField("billing.Invoice", on_delete=models.PROTECT, related_name="period")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["subscription_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["subscription", "number"], name="period_number_unique"),
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")), name="period_ends_after_start"
            ),
        ]
        indexes = [
            models.Index(fields=["subscription", "starts_at", "ends_at"], name="period_time_range"),
            # The periods whose data is running low, by end: the worker's data reminders read the
            # running ones here instead of every live subscription's current period.
            models.Index(fields=["ends_at"], name="period_data_running_low", condition=models.Q(data_running_low=True)),
        ]

    def __str__(self) -> str:
        return f"period {self.number} of subscription {self.subscription_id}"


class TopUp(models.Model):
    period = models.ForeignKey(Period, on_delete=models.PROTECT, related_name="top_ups")
    pack = models.ForeignKey("catalog.TopUpPack", on_delete=models.PROTECT, related_name="+")
    data_mb = models.PositiveIntegerField()
    invoice = models.OneToOneField("billing.Invoice", on_delete=models.PROTECT, related_name="top_up")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.data_mb} MB top-up of period {self.period_id}"


class ReminderKind(models.TextChoices):
    # The expiry kinds count back from `paid_through`, the end of paid service (every prepaid period).
    EXPIRING_7_DAYS = "expiring_7d", "service ending in 7 days"
    EXPIRING_3_DAYS = "expiring_3d", "service ending in 3 days"
    EXPIRING_1_DAY = "expiring_1d", "service ending in 1 day"
    FINAL_WARNING = "expiring_6h", "service ending in 6 hours (SMS)"
    AUTO_RENEW_UPCOMING = "auto_renew_upcoming", "auto-renew charge coming"
    SUSPENDED = "suspended", "service suspended"
    DATA_80 = "data_80", "80 % of data used"
    DATA_95 = "data_95", "95 % of data used"
    CARD_EXPIRING = "card_expiring", "card expires before the next renewal"
    TERMINATION_WARNING = "termination_warning", "termination coming"
    # Not a message: the ledger that stops a cancelled subscription's line once, when its service ends.
    LINE_STOPPED = "line_stopped", "line stopped at the network"


class Reminder(models.Model):
    """The ledger that makes each reminder go out once per period and kind:
    the unique constraint, not a check-then-write, decides who sends it. The end-bound
    kinds (expiry, auto-renew notice, card expiring) are keyed by the last period, the one
    ending at `paid_through`: a renewal appends a period, so they come again for the new end."""

    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="reminders")
    kind = models.CharField(max_length=24, choices=ReminderKind.choices)
    period_number = models.PositiveIntegerField(help_text="The period the reminder is about.")
    sent_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["subscription", "kind", "period_number"], name="reminder_once_per_period"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for period {self.period_number} of subscription {self.subscription_id}"


class PeriodExtension(models.Model):
    """A goodwill extension an operator granted: the period it lengthened, by how
    much and why. The period's `ends_at` (and every later period) moved by `days`;
    this row keeps the end it had before, so the period history tells both."""

    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="extensions")
    period = models.ForeignKey(Period, on_delete=models.PROTECT, related_name="extensions")
    days = models.PositiveSmallIntegerField()
    reason = models.TextField()
    previous_ends_at = models.DateTimeField()
    new_ends_at = models.DateTimeField()
    granted_by = models.CharField(max_length=254, help_text="The staff member's email (or 'cli').")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(days__gte=1, days__lte=31), name="period_extension_days_1_to_31"),
            models.CheckConstraint(
                condition=models.Q(new_ends_at__gt=models.F("previous_ends_at")),
                name="period_extension_moves_end_later",
            ),
        ]

    def __str__(self) -> str:
        return f"+{self.days} d on period {self.period_id} (goodwill)"
