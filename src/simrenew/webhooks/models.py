from __future__ import annotations

from django.db import models

from simrenew.kit import crypto


class WebhookEndpoint(models.Model):
    """A partner's URL that receives events, signed per Standard Webhooks with its secret."""

    url = models.URLField(max_length=500)
    # "whsec_" + base64, as the standardwebhooks library expects; shown once when created.
    # Stored encrypted (kit.crypto); `secret` reads and writes the plaintext.
    encrypted_secret = models.CharField(max_length=300)
    # After a rotation the old secret keeps signing (beside the new one) until this time,
    # so the partner can switch without losing an event. Never shown again.
    encrypted_previous_secret = models.CharField(max_length=300, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    # Event types to send; empty means every event.
    event_types = models.JSONField(default=list, blank=True)
    description = models.CharField(max_length=200, blank=True)
    # The API key that registered it: the key (and admin keys) manage it. Null: made in the console.
    owner = models.ForeignKey(
        "api.ApiKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="webhook_endpoints"
    )
    enabled = models.BooleanField(default=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    # The first failure since the last success: an endpoint failing for days is disabled.
    failing_since = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    # Deleted endpoints stay as rows (their deliveries point at them) but are gone for everyone.
    deleted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"webhook endpoint {self.pk} {self.url}"

    @property
    def secret(self) -> str:
        return crypto.decrypt(self.encrypted_secret)

    @secret.setter
    def secret(self, value: str) -> None:
        self.encrypted_secret = crypto.encrypt(value)

    @property
    def previous_secret(self) -> str:
        return crypto.decrypt(self.encrypted_previous_secret) if self.encrypted_previous_secret else ""

    @previous_secret.setter
    def previous_secret(self, value: str) -> None:
        self.encrypted_previous_secret = crypto.encrypt(value) if value else ""

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class EventCounter(models.Model):
    """The last event number given to a subscription's outbox events. Each event gets the
    next number in the transaction that writes it, so a subscription's events are numbered
    1, 2, 3, … without gaps, in the order they were committed: a receiver orders by it and
    sees when one is missing."""

    subscription = models.OneToOneField(
        "subscriptions.Subscription", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    last_value = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"events of subscription {self.subscription_id}: {self.last_value}"
