"""The audit trail in the console: `AuditedAdmin`, which every console ModelAdmin that can
change data should inherit, records plain model edits with before/after.

The helper itself (`record_change`, `snapshot`, who acts) lives in `kit.audit`, where
services reach it without depending on the console; it is re-exported here for the
console's own admins.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import transaction
from django.http import HttpRequest

from simrenew.kit.audit import (
    CLI_ACTOR,
    HIDDEN_FIELDS,
    SYSTEM_ACTOR,
    actor_label,
    changed_only,
    record_change,
    snapshot,
)

__all__ = [
    "CLI_ACTOR",
    "HIDDEN_FIELDS",
    "SYSTEM_ACTOR",
    "AuditedAdmin",
    "actor_label",
    "changed_only",
    "record_change",
    "snapshot",
]


class AuditedAdmin(admin.ModelAdmin):
    """A ModelAdmin whose adds, changes and deletes land in the audit trail with before/after."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        before = snapshot(type(obj)._default_manager.filter(pk=obj.pk).first()) if change and obj.pk else {}
        super().save_model(request, obj, form, change)
        old, new = changed_only(before, snapshot(obj))
        if change and not new:
            return  # saved without a difference: nothing happened
        record_change(actor=request.user, action="change" if change else "add", target=obj, before=old, after=new)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        record_change(actor=request.user, action="delete", target=obj, before=snapshot(obj))
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        # One transaction: a delete that fails (a protected row) leaves no entries claiming it happened.
        with transaction.atomic(using=queryset.db):
            for obj in queryset:
                record_change(actor=request.user, action="delete", target=obj, before=snapshot(obj))
            super().delete_queryset(request, queryset)
