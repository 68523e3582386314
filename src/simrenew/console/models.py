from __future__ import annotations

from django.conf import settings
from django.db import models


class ConsoleAccess(models.Model):
    """The holder of the console's own permissions, which the staff roles hand out (see
    console/roles.py): Django ties a permission to a model, and these belong to no data. Its
    table stays empty; it exists because tools that read every model (dumpdata, the scans for
    card numbers) expect one."""

    class Meta:
        default_permissions = ()
        permissions = [
            ("view_overview", "Can open the console overview"),
            ("refund_payment", "Can refund a payment"),
            ("extend_period", "Can extend a period as a goodwill gesture"),
            ("resend_message", "Can resend a message to a customer"),
            ("export_customer_data", "Can download a customer's data for them"),
            ("erase_customer", "Can delete a customer's account on their request"),
        ]

    def __str__(self) -> str:
        return "console access"


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
