from __future__ import annotations

from django.db import models


class WebhookEndpoint(models.Model):
    """A partner's URL that receives events, signed per Standard Webhooks with its secret."""

    url = models.URLField(max_length=500)
    # "whsec_" + base64, as the standardwebhooks library expects; shown once when created.
    secret = models.CharField(max_length=100)
    # Event types to send; empty means every event.
    event_types = models.JSONField(default=list, blank=True)
    description = models.CharField(max_length=200, blank=True)
    enabled = models.BooleanField(default=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"webhook endpoint {self.pk} {self.url}"

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types
