"""A customer's erasure may redact their personal values from the audit trail, once per entry.

The append-only triggers (console migration 0002) now let one UPDATE through: the one that sets
`redacted_at` for the first time and leaves who acted, what was done, to what and when exactly as
they were. Every other UPDATE, and DELETE on PostgreSQL, is refused as before."""

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

# What a redaction may never change: who, what, to what, when.
_KEPT = ("id", "at", "actor_id", "actor_kind", "actor_label", "api_key_id", "action", "target_type", "target_id",
         "customer_id")

_SQLITE_SAME = " AND ".join(f'NEW."{column}" IS OLD."{column}"' for column in _KEPT)
SQLITE_REDACTABLE = [
    "DROP TRIGGER IF EXISTS console_auditentry_no_update",
    f"""CREATE TRIGGER console_auditentry_no_update BEFORE UPDATE ON console_auditentry
       WHEN NOT (OLD.redacted_at IS NULL AND NEW.redacted_at IS NOT NULL AND {_SQLITE_SAME})
       BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END""",
]
SQLITE_APPEND_ONLY = [
    "DROP TRIGGER IF EXISTS console_auditentry_no_update",
    """CREATE TRIGGER console_auditentry_no_update BEFORE UPDATE ON console_auditentry
       BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END""",
]
_POSTGRES_SAME = " AND ".join(f'NEW."{column}" IS NOT DISTINCT FROM OLD."{column}"' for column in _KEPT)
POSTGRES_REDACTABLE = [
    f"""CREATE OR REPLACE FUNCTION console_auditentry_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_OP = 'UPDATE' AND OLD.redacted_at IS NULL AND NEW.redacted_at IS NOT NULL AND {_POSTGRES_SAME} THEN
           RETURN NEW;
         END IF;
         RAISE EXCEPTION 'audit entries are append-only';
       END $$""",
]
POSTGRES_APPEND_ONLY = [
    """CREATE OR REPLACE FUNCTION console_auditentry_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'audit entries are append-only'; END $$""",
]


def _run(statements_by_vendor: dict[str, list[str]], schema_editor: BaseDatabaseSchemaEditor) -> None:
    vendor = "postgresql" if schema_editor.connection.vendor == "postgresql" else "sqlite"
    for statement in statements_by_vendor[vendor]:
        schema_editor.execute(statement)


def allow_redaction(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _run({"postgresql": POSTGRES_REDACTABLE, "sqlite": SQLITE_REDACTABLE}, schema_editor)


def refuse_redaction(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _run({"postgresql": POSTGRES_APPEND_ONLY, "sqlite": SQLITE_APPEND_ONLY}, schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
        ("console", "0006_audit_trail_moves_to_its_own_app"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditentry",
            name="redacted_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(allow_redaction, refuse_redaction),
    ]
