from __future__ import annotations

from django.db import models


class UsageRecord(models.Model):
    """A carrier's report of data used; `(source, record_id)` makes a resend harmless."""

    source = models.CharField(max_length=40)
    record_id = models.CharField(max_length=100)
    esim = models.ForeignKey("esims.EsimProfile", on_delete=models.PROTECT, related_name="usage_records")
    # The period the bytes fell in; empty when no paid period covered that moment.
    period = models.ForeignKey(
        "subscriptions.Period", on_delete=models.PROTECT, null=True, blank=True, related_name="usage_records"
    )
    bytes = models.PositiveBigIntegerField()
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "record_id"], name="usage_record_unique")]
        indexes = [models.Index(fields=["esim", "occurred_at"], name="usage_esim_time")]

    def __str__(self) -> str:
        return f"{self.source}/{self.record_id}"
