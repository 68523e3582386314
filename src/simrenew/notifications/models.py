from __future__ import annotations

import uuid

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils.translation import gettext_lazy as _


class OutboxStatus(models.TextChoices):
    PENDING = "pending", "pending"  # its deliveries are not planned yet
    DISPATCHED = "dispatched", "dispatched"  # one Delivery per channel and recipient written


class OutboxMessage(models.Model):
    """An event written in the same transaction as the change it reports, and
    delivered later at least once; `event_id` lets receivers deduplicate."""

    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    event_type = models.CharField(max_length=60)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    subscription = models.ForeignKey(
        "subscriptions.Subscription", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    sequence = models.PositiveBigIntegerField(default=0, help_text="Per-subscription order.")
    payload = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    status = models.CharField(max_length=10, choices=OutboxStatus.choices, default=OutboxStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField()
    # The W3C trace context of the span that wrote the event (kit.tracing), when one was recording:
    # its deliveries continue that trace. NULL when tracing is off (nearly always): adding the column
    # leaves the existing rows as they are, and "no trace" is not a value that could pass for one.
    traceparent = models.CharField(max_length=55, null=True, blank=True, editable=False)  # noqa: DJ001

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="outbox_due")]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"


class DeliveryChannel(models.TextChoices):
    EMAIL = "email", "email"
    SMS = "sms", "SMS"
    WEBHOOK = "webhook", "webhook"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "pending"  # due at next_attempt_at (first try or a retry)
    SENT = "sent", "sent"
    DEAD = "dead", "dead"  # retries exhausted: the operator looks at it


class Delivery(models.Model):
    """One message on one channel to one recipient, tried until it is sent or dead."""

    message = models.ForeignKey(OutboxMessage, on_delete=models.PROTECT, related_name="deliveries")
    channel = models.CharField(max_length=8, choices=DeliveryChannel.choices)
    # An email address, an E.164 number, or a webhook endpoint's id.
    recipient = models.CharField(max_length=300)
    endpoint = models.ForeignKey(
        "webhooks.WebhookEndpoint", on_delete=models.PROTECT, null=True, blank=True, related_name="deliveries"
    )
    status = models.CharField(max_length=8, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.CharField(max_length=500, blank=True)
    # What the provider called it (SMTP Message-ID, SMS id, HTTP status), for support.
    provider_reference = models.CharField(max_length=200, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=64, blank=True)
    claim_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name, verbose_name_plural = _("delivery"), _("deliveries")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["message", "channel", "recipient"], name="delivery_once_per_recipient"),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due"),
            # Each endpoint's queue in event order: its head is found without a scan.
            models.Index(
                fields=["endpoint", "message", "id"],
                condition=models.Q(status="pending"),
                name="delivery_endpoint_queue",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} of {self.message_id} to {self.recipient}: {self.status}"


class SandboxSms(models.Model):
    """The sandbox SMS provider's own record of what it was asked to send."""

    message_id = models.CharField(max_length=40, unique=True)
    to = models.CharField(max_length=20)
    text = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        verbose_name, verbose_name_plural = _("sandbox SMS"), _("sandbox SMS")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"SMS {self.message_id} to {self.to}"
