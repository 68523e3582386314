from __future__ import annotations

from django.db import models


class MethodType(models.TextChoices):
    CARD = "card", "credit card"
    DEBIT = "debit", "debit card"
    PAYPAL = "paypal", "PayPal"
    WALLET = "wallet", "wallet balance"
    # Paid on the provider's page each time (Stripe's redirect and QR methods), never saved, never
    # charged without the customer: one row per customer and type, only for the attempts to name.
    ALIPAY = "alipay", "Alipay"
    WECHAT_PAY = "wechat_pay", "WeChat Pay"


ONE_OFF_TYPES = (MethodType.ALIPAY, MethodType.WECHAT_PAY)


class SavedMethods(models.Manager["PaymentMethod"]):
    """The methods a customer keeps (cards, PayPal, the wallet): every list, default and auto-renew
    reads these. One-off methods (Alipay, WeChat Pay) are reached only through `PaymentMethod.every`
    and through the attempts that name them."""

    def get_queryset(self) -> models.QuerySet[PaymentMethod]:
        return super().get_queryset().exclude(type__in=ONE_OFF_TYPES)


class PaymentMethod(models.Model):
    """A gateway token with what a customer needs to recognise it. Never a card number."""

    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="payment_methods")
    type = models.CharField(max_length=16, choices=MethodType.choices)
    gateway = models.CharField(max_length=16, blank=True)
    token = models.CharField(max_length=100, blank=True)
    brand = models.CharField(max_length=20, blank=True)
    last4 = models.CharField(max_length=4, blank=True)
    exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    paypal_email = models.EmailField(blank=True)
    # The gateway's customer the method is saved under (Stripe's `cus_…`): charges must name it.
    provider_customer = models.CharField(max_length=100, blank=True, default="", db_default="")
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    removed_at = models.DateTimeField(null=True, blank=True)

    # The default manager: lists, defaults, auto-renew, the console (attempts reach theirs through
    # the base manager, so a one-off method is always found from its attempt).
    objects = SavedMethods()
    every: models.Manager[PaymentMethod] = models.Manager()  # one-off methods too

    class Meta:
        ordering = ["id"]
        default_manager_name = "objects"
        constraints = [
            models.UniqueConstraint(
                fields=["customer"],
                condition=models.Q(is_default=True, removed_at__isnull=True),
                name="payment_method_one_default",
            ),
        ]

    def __str__(self) -> str:
        if self.type == MethodType.WALLET:
            return "wallet balance"
        if self.type == MethodType.PAYPAL:
            return f"PayPal {self.paypal_email}"
        if self.type in ONE_OFF_TYPES:
            return str(self.get_type_display())
        return f"{self.brand} •••• {self.last4}"


class AttemptStatus(models.TextChoices):
    PENDING = "pending", "pending"
    SUCCEEDED = "succeeded", "succeeded"
    FAILED = "failed", "failed"
    UNKNOWN = "unknown", "unknown"


AUTHENTICATE = "authenticate"  # PaymentAttempt.next_action: the bank's check waits for the customer
PAY_ELSEWHERE = "pay_elsewhere"  # PaymentAttempt.next_action: paid on Alipay's page or by WeChat's code

# An attempt whose outcome is not settled yet: it is reconciled by asking the gateway, never retried blindly.
OPEN_ATTEMPT_STATUSES = (AttemptStatus.PENDING, AttemptStatus.UNKNOWN)


class AttemptPurpose(models.TextChoices):
    FIRST_PERIOD = "first_period", "first period"
    RENEWAL = "renewal", "renewal"
    AUTO_RENEWAL = "auto_renewal", "automatic renewal"
    TOP_UP = "top_up", "data top-up"
    WALLET_TOP_UP = "wallet_top_up", "wallet top-up"


class PaymentAttempt(models.Model):
    """Step (1) of a charge, written and committed before the gateway is called.

    Its `idempotency_key` goes to the gateway, so a lost answer is recovered by
    asking the gateway about that key, never by charging again."""

    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="payment_attempts")
    subscription = models.ForeignKey(
        "subscriptions.Subscription",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="payment_attempts",
    )
    payment_method = models.ForeignKey(PaymentMethod, on_delete=models.PROTECT, related_name="attempts")
    purpose = models.CharField(max_length=16, choices=AttemptPurpose.choices)
    # What to do when the charge succeeds (plan version, promotion, top-up pack, …).
    purpose_data = models.JSONField(default=dict)
    amount_minor = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    idempotency_key = models.CharField(max_length=200, unique=True)
    status = models.CharField(max_length=10, choices=AttemptStatus.choices, default=AttemptStatus.PENDING)
    failure_code = models.CharField(max_length=40, blank=True)
    failure_message = models.CharField(max_length=300, blank=True)
    gateway = models.CharField(max_length=16, blank=True)
    gateway_charge_id = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    reconcile_after = models.DateTimeField(null=True, blank=True)
    reconcile_count = models.PositiveSmallIntegerField(default=0)
    # What the customer must do before the gateway can settle an open attempt: AUTHENTICATE (answer
    # their bank's 3-D Secure check on the confirmation page) or PAY_ELSEWHERE (on Alipay's page, or
    # scan WeChat Pay's code). Empty once settled.
    # (db_default: the worker writes attempts in bulk with the columns it knows.)
    next_action = models.CharField(max_length=20, blank=True, default="", db_default="")

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["status", "reconcile_after"], name="attempt_reconcile_due"),
            models.Index(fields=["subscription", "status"], name="attempt_subscription_status"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.pk} {self.status}"


class Wallet(models.Model):
    customer = models.OneToOneField("customers.Customer", on_delete=models.PROTECT, related_name="wallet")
    currency = models.CharField(max_length=3, default="USD")
    balance_minor = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(balance_minor__gte=0), name="wallet_balance_not_negative")
        ]

    def __str__(self) -> str:
        return f"wallet of customer {self.customer_id}"


class WalletEntry(models.Model):
    """The wallet's ledger: the balance is always the sum of its entries."""

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="entries")
    amount_minor = models.BigIntegerField(help_text="Positive: credit; negative: debit.")
    reason = models.CharField(max_length=40)
    payment_attempt = models.ForeignKey(
        PaymentAttempt, on_delete=models.PROTECT, null=True, blank=True, related_name="wallet_entries"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.amount_minor:+} {self.reason}"


class ProviderCustomer(models.Model):
    """Our customer's customer at a gateway (one Stripe Customer each): saved cards hang off it."""

    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="provider_customers")
    gateway = models.CharField(max_length=16)
    external_id = models.CharField(max_length=100)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "gateway"], name="provider_customer_one_per_gateway"),
        ]

    def __str__(self) -> str:
        return f"{self.gateway} {self.external_id}"


class DisputeStatus(models.TextChoices):
    OPEN = "open", "open: evidence due"
    UNDER_REVIEW = "under_review", "under review: evidence sent"
    WON = "won", "won: the money stays"
    LOST = "lost", "lost: the money went back to the cardholder"
    CLOSED = "closed", "closed otherwise"


OPEN_DISPUTE_STATUSES = (DisputeStatus.OPEN, DisputeStatus.UNDER_REVIEW)


class Dispute(models.Model):
    """A payment the cardholder (or PayPal buyer) disputed with their bank or PayPal, as the provider
    reported it. The paid period stays paid unless the operator decides otherwise; finance may send
    evidence before `due_by`; the provider's outcome is recorded when it closes."""

    attempt = models.ForeignKey(PaymentAttempt, on_delete=models.PROTECT, related_name="disputes")
    gateway = models.CharField(max_length=16)
    external_id = models.CharField(max_length=100)
    reason = models.CharField(max_length=80)  # the provider's own code (Stripe's, PayPal's)
    amount_minor = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=DisputeStatus.choices, default=DisputeStatus.OPEN)
    due_by = models.DateTimeField(null=True, blank=True)
    evidence_note = models.TextField(blank=True)
    evidence_sent_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=80, blank=True)  # the provider's words for how it closed
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["gateway", "external_id"], name="dispute_once_per_provider")]

    def __str__(self) -> str:
        return f"dispute {self.external_id} ({self.status})"


class ProviderEvent(models.Model):
    """A webhook event a gateway sent us, kept by its id: each is acted on once, however often
    the gateway delivers it (they deliver at least once)."""

    gateway = models.CharField(max_length=16)
    event_id = models.CharField(max_length=100)
    type = models.CharField(max_length=80)
    received_at = models.DateTimeField()
    # What we did with it: "settled attempt 12", "ignored: unknown type", … (for support).
    outcome = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["gateway", "event_id"], name="provider_event_once")]

    def __str__(self) -> str:
        return f"{self.gateway} {self.event_id} {self.type}"


class SandboxToken(models.Model):
    """The sandbox gateway's vault: what a real gateway would keep on its side.
    It records how a test card behaves, never the card number itself."""

    token = models.CharField(max_length=100, unique=True)
    behaviour = models.CharField(max_length=32)
    brand = models.CharField(max_length=20)
    last4 = models.CharField(max_length=4)
    # A card past its expiry month is declined as a real one is (PayPal tokens have none).
    exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.brand} {self.last4} ({self.behaviour})"


class SandboxRefund(models.Model):
    """The sandbox gateway's ledger of refunds, keyed by idempotency key."""

    idempotency_key = models.CharField(max_length=200, unique=True)
    refund_id = models.CharField(max_length=100, unique=True)
    charge_id = models.CharField(max_length=100)
    amount_minor = models.PositiveIntegerField()
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.refund_id} of {self.charge_id}"


class SandboxCharge(models.Model):
    """The sandbox gateway's own ledger of charges, keyed by idempotency key like a real gateway's."""

    idempotency_key = models.CharField(max_length=200, unique=True)
    charge_id = models.CharField(max_length=100, unique=True)
    token = models.CharField(max_length=100)
    amount_minor = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10)
    failure_code = models.CharField(max_length=40, blank=True)
    refunded_minor = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.charge_id} {self.status}"
