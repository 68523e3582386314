"""The audit trail is now the `audit` app's (see audit migration 0001): the console forgets the
model, the table stays. Its four permissions were the console's, not the trail's: they move to
`ConsoleAccess` (an empty table), keeping their codenames, so `console.refund_payment` and the
others still name them and the staff roles keep them."""

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

CONSOLE_PERMISSIONS = ("view_overview", "refund_payment", "extend_period", "resend_message")


def _move_permissions(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor, *, to_console: bool) -> None:
    alias = schema_editor.connection.alias
    content_types = apps.get_model("contenttypes", "ContentType").objects.db_manager(alias)
    permissions = apps.get_model("auth", "Permission").objects.db_manager(alias)
    trail = content_types.filter(app_label="audit", model="auditentry").first()
    if trail is None:
        return  # a fresh database: Django creates the permissions after migrating
    holder, _ = content_types.get_or_create(app_label="console", model="consoleaccess")
    source, target = (trail, holder) if to_console else (holder, trail)
    permissions.filter(content_type=source, codename__in=CONSOLE_PERMISSIONS).update(content_type=target)


def permissions_to_console(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _move_permissions(apps, schema_editor, to_console=True)


def permissions_to_trail(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _move_permissions(apps, schema_editor, to_console=False)
    # ConsoleAccess goes with this migration: its content type would otherwise outlive it
    # (its permissions are back on the trail, so deleting it takes no grant with it).
    content_types = apps.get_model("contenttypes", "ContentType").objects.db_manager(schema_editor.connection.alias)
    content_types.filter(app_label="console", model="consoleaccess").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0005_staff_emails_verified"),
        ("audit", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.CreateModel(
            name="ConsoleAccess",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
            ],
            options={
                "permissions": [
                    ("view_overview", "Can open the console overview"),
                    ("refund_payment", "Can refund a payment"),
                    ("extend_period", "Can extend a period as a goodwill gesture"),
                    ("resend_message", "Can resend a message to a customer"),
                ],
                "default_permissions": (),
            },
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[migrations.DeleteModel(name="AuditEntry")],
        ),
        migrations.RunPython(permissions_to_console, permissions_to_trail),
    ]
