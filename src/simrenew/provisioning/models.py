from __future__ import annotations

from django.db import models


class TestMessage(models.Model):
    """The sandbox carrier's ledger of test SMS: what a real carrier keeps on its
    side. Delivery is simulated from `sent_at` and the (test) clock."""

    __test__ = False  # not a pytest class, whatever its name

    message_id = models.CharField(max_length=40, unique=True)
    msisdn = models.CharField(max_length=16, help_text="E.164")
    text = models.CharField(max_length=320)
    status = models.CharField(
        max_length=10, default="queued", help_text="Last status reported: queued, delivered, failed."
    )
    sent_at = models.DateTimeField()
    status_changed_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["msisdn", "sent_at"], name="testmessage_msisdn_sent")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["queued", "delivered", "failed"]), name="testmessage_status_known"
            )
        ]

    def __str__(self) -> str:
        return f"{self.message_id} to {self.msisdn} ({self.status})"


class ConnectionCheck(models.Model):
    """A test SMS a customer sent to one of their eSIMs ("check my connection"), kept on our side
    whatever carrier sent it: the rows the check's limits count (provisioning.connection_checks)."""

    esim = models.ForeignKey("esims.EsimProfile", on_delete=models.CASCADE, related_name="connection_checks")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="connection_checks")
    message_id = models.CharField(max_length=64, help_text="The carrier's id for the message.")
    sent_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["esim", "sent_at"], name="conncheck_esim_sent"),
            models.Index(fields=["customer", "sent_at"], name="conncheck_customer_sent"),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} to eSIM {self.esim_id} at {self.sent_at:%Y-%m-%d %H:%M}"
