"""The audit trail leaves the console for its own app, so that domains record changes without
depending on an edge. Only Django's picture of the models moves: the table keeps its name
(`console_auditentry`), its rows and its append-only triggers (console migration 0002), on
SQLite and PostgreSQL alike. Console migration 0006 takes the model out of the console's picture.

The content type follows the model, so the permissions on it (and the staff roles holding
them) stay attached; on a fresh database there is none yet and nothing is renamed."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def _rename_content_type(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor, *, old: str, new: str) -> None:
    content_types = apps.get_model("contenttypes", "ContentType").objects.db_manager(schema_editor.connection.alias)
    if content_types.filter(app_label=new, model="auditentry").exists():
        return
    content_types.filter(app_label=old, model="auditentry").update(app_label=new)


def content_type_to_audit(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _rename_content_type(apps, schema_editor, old="console", new="audit")


def content_type_to_console(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _rename_content_type(apps, schema_editor, old="audit", new="console")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("console", "0005_staff_emails_verified"),
        ("customers", "0003_customer_renew_with_other_methods"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="AuditEntry",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"),
                        ),
                        (
                            "at",
                            models.DateTimeField(help_text="Real time of the change (system clock, not the test clock)."),
                        ),
                        (
                            "actor_kind",
                            models.CharField(
                                choices=[
                                    ("staff", "staff member"),
                                    ("api_key", "API key"),
                                    ("cli", "command line"),
                                    ("worker", "worker"),
                                    ("customer", "customer"),
                                    ("system", "system"),
                                ],
                                default="system",
                                help_text="What kind of actor made it.",
                                max_length=16,
                            ),
                        ),
                        (
                            "actor_label",
                            models.CharField(
                                help_text=(
                                    "The staff member's email, 'api_key:<prefix> (<name>)', 'cli:<OS user>', "
                                    "'worker' or 'system'."
                                ),
                                max_length=254,
                            ),
                        ),
                        (
                            "api_key_id",
                            models.BigIntegerField(blank=True, help_text="The API key that made it, if one did.", null=True),
                        ),
                        (
                            "action",
                            models.CharField(help_text="e.g. change, add, delete, refund, goodwill, resend.", max_length=60),
                        ),
                        ("target_type", models.CharField(help_text="app_label.model of what was changed.", max_length=100)),
                        ("target_id", models.CharField(blank=True, max_length=64)),
                        ("target_label", models.CharField(blank=True, max_length=300)),
                        ("before", models.JSONField(blank=True, default=dict)),
                        ("after", models.JSONField(blank=True, default=dict)),
                        ("reason", models.TextField(blank=True)),
                        (
                            "actor",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "customer",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to="customers.customer",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name_plural": "audit entries",
                        "db_table": "console_auditentry",
                        "ordering": ["-id"],
                        "indexes": [
                            models.Index(fields=["target_type", "target_id"], name="audit_target"),
                            models.Index(fields=["customer", "at"], name="audit_customer"),
                            models.Index(fields=["at"], name="audit_at"),
                            models.Index(fields=["api_key_id", "at"], name="audit_api_key"),
                        ],
                    },
                ),
            ],
        ),
        migrations.RunPython(content_type_to_audit, content_type_to_console),
    ]
