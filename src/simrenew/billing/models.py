from __future__ import annotations

from django.db import models


class InvoiceSequence(models.Model):
    """Gapless numbering: the counter row is locked and bumped inside the
    transaction that issues the invoice, so a rollback gives the number back."""

    name = models.CharField(max_length=20, unique=True)
    last_value = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name} at {self.last_value}"


class InvoiceStatus(models.TextChoices):
    PAID = "paid", "paid"
    PARTIALLY_REFUNDED = "partially_refunded", "partially refunded"
    REFUNDED = "refunded", "refunded"


class Invoice(models.Model):
    number = models.CharField(max_length=20, unique=True)
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="invoices")
    subscription = models.ForeignKey(
        "subscriptions.Subscription", on_delete=models.PROTECT, null=True, blank=True, related_name="invoices"
    )
    payment_attempt = models.OneToOneField("payments.PaymentAttempt", on_delete=models.PROTECT, related_name="invoice")
    description = models.CharField(max_length=200)
    subtotal_minor = models.PositiveIntegerField()
    discount_minor = models.PositiveIntegerField(default=0)
    total_minor = models.PositiveIntegerField()
    refunded_minor = models.PositiveIntegerField(default=0)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=20, choices=InvoiceStatus.choices, default=InvoiceStatus.PAID)
    issued_at = models.DateTimeField()
    # Who was billed, copied from the customer when their account is erased (privacy.erasure): the
    # law keeps an invoice with its billing details for SIMRENEW_INVOICE_RETENTION_YEARS, after
    # which the worker pseudonymizes these too (privacy.retention). Blank while the customer exists:
    # their invoices read the customer's own details.
    # (Database defaults too: the worker's bulk renewals insert invoices with raw SQL.)
    billed_name = models.CharField(max_length=200, blank=True, default="", db_default="")
    billed_email = models.CharField(max_length=254, blank=True, default="", db_default="")
    billed_phone = models.CharField(max_length=20, blank=True, default="", db_default="")
    billing_pseudonymized_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(total_minor=models.F("subtotal_minor") - models.F("discount_minor")),
                name="invoice_total_is_subtotal_less_discount",
            ),
            models.CheckConstraint(
                condition=models.Q(refunded_minor__lte=models.F("total_minor")),
                name="invoice_refund_within_total",
            ),
        ]

    def __str__(self) -> str:
        return self.number


class RefundStatus(models.TextChoices):
    PENDING = "pending", "pending"
    SUCCEEDED = "succeeded", "succeeded"
    FAILED = "failed", "failed"


class Refund(models.Model):
    """Money given back on an invoice. A refund through the gateway is written
    `pending` and committed before the gateway is asked (like a charge), so a
    lost answer is recovered by asking again with the same key."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="refunds")
    amount_minor = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=200)
    to_wallet = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=RefundStatus.choices, default=RefundStatus.PENDING)
    idempotency_key = models.CharField(max_length=64, unique=True)
    gateway_refund_id = models.CharField(max_length=100, blank=True)
    failure_message = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    # A pending refund whose answer was lost is asked about again (billing.refunds.refunds_due):
    # how often so far, and not before when (an exponential backoff while the gateway is down).
    retries = models.PositiveSmallIntegerField(default=0)
    next_retry_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.CheckConstraint(condition=models.Q(amount_minor__gte=1), name="refund_positive")]
        indexes = [models.Index(fields=["status", "created_at"], name="refund_status_created")]

    def __str__(self) -> str:
        return f"refund of {self.amount_minor} on invoice {self.invoice_id}"
