"""The audit trail moved from the console to its own app without moving a row: an installation
migrated before the move keeps its entries, the append-only triggers, and its staff roles'
permissions (`console.refund_payment` and the others still name them)."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from simrenew.audit.models import AuditEntry
from simrenew.kit import clock

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("migrations_restored")]

BEFORE_THE_MOVE = [("console", "0005_staff_emails_verified"), ("audit", None)]
# The move, and the audit migrations after it (the current model reads their columns).
AFTER_THE_MOVE = [("console", "0006_audit_trail_moves_to_its_own_app"), ("audit", "0002_audit_redaction")]


def migrate(targets: list[tuple[str, str | None]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    ContentType.objects.clear_cache()
    return MigrationExecutor(connection)


def test_an_installation_from_before_the_move_keeps_its_trail_and_its_roles():
    old = migrate(BEFORE_THE_MOVE).loader.project_state(BEFORE_THE_MOVE[0]).apps
    # What an older installation holds: the trail's content type under the console, the
    # console's permissions on it, a role holding one, and an entry.
    trail_type = ContentType.objects.get(app_label="console", model="auditentry")
    refund = Permission.objects.get(content_type=trail_type, codename="refund_payment")
    finance, _ = Group.objects.get_or_create(name="finance-before-the-move")
    finance.permissions.add(refund)
    old.get_model("console", "AuditEntry").objects.create(
        at=clock.system_now(), actor_label="cli", action="refund", target_type="billing.invoice", target_id="7"
    )

    migrate(AFTER_THE_MOVE)

    entry = AuditEntry.objects.get()
    assert (entry.action, entry.target_id) == ("refund", "7")
    assert ContentType.objects.get(app_label="audit", model="auditentry").pk == trail_type.pk
    assert not ContentType.objects.filter(app_label="console", model="auditentry").exists()
    held = finance.permissions.get()
    assert (held.pk, held.content_type.app_label, held.codename) == (refund.pk, "console", "refund_payment")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(reason="rewritten")


def test_going_back_before_the_move_leaves_no_console_access_content_type():
    migrate(AFTER_THE_MOVE)
    ContentType.objects.get_or_create(app_label="console", model="consoleaccess")

    migrate(BEFORE_THE_MOVE)

    assert not ContentType.objects.filter(app_label="console", model="consoleaccess").exists()
    trail_type = ContentType.objects.get(app_label="console", model="auditentry")
    assert Permission.objects.filter(content_type=trail_type, codename="refund_payment").exists()
    migrate(AFTER_THE_MOVE)
