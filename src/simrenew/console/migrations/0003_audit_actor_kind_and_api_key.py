"""Audit entries say which kind of actor made them (staff, API key, CLI, worker, system) and
which API key, if one did.

The append-only triggers of 0002 are dropped around the change and made again after it:
SQLite rebuilds the table to add a NOT NULL column (dropping the old table's triggers), and
the entries written before are told their kind once, which is an UPDATE the triggers refuse.
"""

import importlib

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

append_only = importlib.import_module("simrenew.console.migrations.0002_audit_append_only")


def kinds_of_earlier_entries(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    entries = apps.get_model("console", "AuditEntry").objects.using(schema_editor.connection.alias)
    entries.filter(actor__isnull=False).update(actor_kind="staff")
    entries.filter(actor__isnull=True, actor_label="cli").update(actor_kind="cli")


class Migration(migrations.Migration):
    dependencies = [("console", "0002_audit_append_only")]

    operations = [
        migrations.RunPython(append_only.drop_triggers, append_only.add_triggers),
        migrations.AddField(
            model_name="auditentry",
            name="actor_kind",
            field=models.CharField(
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
        migrations.AddField(
            model_name="auditentry",
            name="api_key_id",
            field=models.BigIntegerField(blank=True, help_text="The API key that made it, if one did.", null=True),
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="actor_label",
            field=models.CharField(
                help_text=(
                    "The staff member's email, 'api_key:<prefix> (<name>)', 'cli:<OS user>', 'worker' or 'system'."
                ),
                max_length=254,
            ),
        ),
        migrations.AddIndex(
            model_name="auditentry",
            index=models.Index(fields=["api_key_id", "at"], name="audit_api_key"),
        ),
        migrations.RunPython(kinds_of_earlier_entries, migrations.RunPython.noop),
        migrations.RunPython(append_only.add_triggers, append_only.drop_triggers),
    ]
