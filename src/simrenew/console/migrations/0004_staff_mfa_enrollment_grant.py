"""Staff set up their first authenticator app only with an administrator's grant (issue 13)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0003_audit_actor_kind_and_api_key"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="StaffMfaEnrollmentGrant",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("granted_at", models.DateTimeField(help_text="Real time of the grant (system clock).")),
                (
                    "expires_at",
                    models.DateTimeField(help_text="The authenticator app must be set up before then."),
                ),
                (
                    "granted_by",
                    models.CharField(help_text="Who granted it, as the audit trail names them.", max_length=254),
                ),
                (
                    "user",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="mfa_enrollment_grant",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("expires_at__gt", models.F("granted_at"))),
                        name="mfa_grant_expires_after_granted",
                    )
                ],
            },
        ),
    ]
