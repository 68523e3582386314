"""The audit trail: who changed what, when and why. Written only through `kit.audit.record_change`
(by the services), read by the console. Its own app so that domains record changes without
depending on the console, an edge."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from simrenew.kit.actors import ActorKind


class AuditEntry(models.Model):
    """One change an operator (or the CLI) made: who, what, before/after, when, and why.

    Append-only: the model refuses to save an existing row or delete one, and the
    database refuses UPDATE and DELETE with a trigger (console migration 0002), so not
    even a raw query or the admin can rewrite history.
    """

    at = models.DateTimeField(help_text="Real time of the change (system clock, not the test clock).")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor_kind = models.CharField(
        max_length=16, choices=ActorKind.choices, default=ActorKind.SYSTEM, help_text="What kind of actor made it."
    )
    # Kept beside the foreign key so the entry still reads right if the account is renamed.
    actor_label = models.CharField(
        max_length=254,
        help_text="The staff member's email, 'api_key:<prefix> (<name>)', 'cli:<OS user>', 'worker' or 'system'.",
    )
    # The API key's id (api.ApiKey), a plain number so the trail depends on no other app.
    api_key_id = models.BigIntegerField(null=True, blank=True, help_text="The API key that made it, if one did.")
    action = models.CharField(max_length=60, help_text="e.g. change, add, delete, refund, goodwill, resend.")
    target_type = models.CharField(max_length=100, help_text="app_label.model of what was changed.")
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=300, blank=True)
    # The customer the change concerns, if any, so their page can show their trail.
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)
    # Set when a customer's erasure removed their personal values from this entry (audit.redaction):
    # the only rewrite the database lets through, once, and never of who, what or when.
    redacted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # The table kept its first name when the trail left the console (no data moved).
        db_table = "console_auditentry"
        ordering = ["-id"]
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["target_type", "target_id"], name="audit_target"),
            models.Index(fields=["customer", "at"], name="audit_customer"),
            models.Index(fields=["at"], name="audit_at"),
            models.Index(fields=["api_key_id", "at"], name="audit_api_key"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.target_type} {self.target_id}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None and not self._state.adding:
            raise AuditEntryIsFinal("An audit entry cannot be changed once written.")
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise AuditEntryIsFinal("An audit entry cannot be deleted.")


class AuditEntryIsFinal(Exception):
    """Raised on any attempt to rewrite the audit trail."""
