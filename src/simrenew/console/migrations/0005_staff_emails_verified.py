"""Staff made before their addresses were recorded as verified (or through the console's user
form) could not sign in: allauth's email verification is mandatory, and staff receive no
confirmation emails. An operator made each of these accounts, so their address is known good:
recorded verified and primary, lower-cased, as `portal.accounts.verified_login` does."""

from django.conf import settings
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def staff_emails_verified(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    alias = schema_editor.connection.alias
    users = apps.get_model(settings.AUTH_USER_MODEL).objects.using(alias)
    addresses = apps.get_model("account", "EmailAddress").objects.using(alias)
    for user in users.filter(is_staff=True).exclude(email=""):
        email = user.email.lower()
        if addresses.filter(email__iexact=email, verified=True).exclude(user_id=user.pk).exists():
            continue  # someone else's verified address: left as it is, never taken over
        addresses.filter(user_id=user.pk, primary=True).exclude(email=email).update(primary=False)
        addresses.update_or_create(user_id=user.pk, email=email, defaults={"verified": True, "primary": True})


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0004_staff_mfa_enrollment_grant"),
        ("account", "0009_emailaddress_unique_primary_email"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(staff_emails_verified, migrations.RunPython.noop)]
