from __future__ import annotations

from django.conf import settings
from django.db import models

from simrenew.kit.actors import ActorKind


class AuditEntry(models.Model):
    """One change an operator (or the CLI) made: who, what, before/after, when, and why.

    Append-only: the model refuses to save an existing row or delete one, and the
    database refuses UPDATE and DELETE with a trigger (see migration 0002), so not
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

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["target_type", "target_id"], name="audit_target"),
            models.Index(fields=["customer", "at"], name="audit_customer"),
            models.Index(fields=["at"], name="audit_at"),
            models.Index(fields=["api_key_id", "at"], name="audit_api_key"),
        ]
        # Custom permissions the staff roles hand out (see console/roles.py).
        permissions = [
            ("view_overview", "Can open the console overview"),
            ("refund_payment", "Can refund a payment"),
            ("extend_period", "Can extend a period as a goodwill gesture"),
            ("resend_message", "Can resend a message to a customer"),
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


class StaffMfaEnrollmentGrant(models.Model):
    """An administrator's leave for one staff member to set up their first authenticator app.

    Where staff MFA is required, a password alone must not be enough to enroll one: whoever
    stole a not-yet-enrolled staff password would enroll their own app and open the console.
    `simrenew staff create`, `reset-password` and `allow-mfa-setup` grant it; activating an
    authenticator app uses it up; past `expires_at` (system time) it is worth nothing.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mfa_enrollment_grant")
    granted_at = models.DateTimeField(help_text="Real time of the grant (system clock).")
    expires_at = models.DateTimeField(help_text="The authenticator app must be set up before then.")
    granted_by = models.CharField(max_length=254, help_text="Who granted it, as the audit trail names them.")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("granted_at")), name="mfa_grant_expires_after_granted"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} may set up an authenticator app until {self.expires_at:%Y-%m-%d %H:%M}"
