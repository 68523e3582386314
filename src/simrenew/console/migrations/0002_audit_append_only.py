"""The database itself refuses to rewrite the audit trail: UPDATE on
console_auditentry raises on SQLite and PostgreSQL, and DELETE raises on PostgreSQL.

SQLite keeps DELETE possible because Django empties test tables with DELETE
(PostgreSQL uses TRUNCATE, which row triggers do not see); the model and the admin
refuse deletes there anyway."""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

SQLITE_TRIGGERS = [
    """CREATE TRIGGER console_auditentry_no_update BEFORE UPDATE ON console_auditentry
       BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END""",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS console_auditentry_no_update",
]
POSTGRES_TRIGGERS = [
    """CREATE FUNCTION console_auditentry_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'audit entries are append-only'; END $$""",
    """CREATE TRIGGER console_auditentry_append_only BEFORE UPDATE OR DELETE ON console_auditentry
       FOR EACH ROW EXECUTE FUNCTION console_auditentry_refuse()""",
]
POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS console_auditentry_append_only ON console_auditentry",
    "DROP FUNCTION IF EXISTS console_auditentry_refuse()",
]


def add_triggers(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    statements = POSTGRES_TRIGGERS if schema_editor.connection.vendor == "postgresql" else SQLITE_TRIGGERS
    for statement in statements:
        schema_editor.execute(statement)


def drop_triggers(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    statements = POSTGRES_DROP if schema_editor.connection.vendor == "postgresql" else SQLITE_DROP
    for statement in statements:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("console", "0001_initial")]

    operations = [migrations.RunPython(add_triggers, drop_triggers)]
