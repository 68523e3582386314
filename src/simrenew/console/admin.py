"""The audit log in the console: read by every role, changed by no one (not even a superuser)."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from simrenew.console.models import AuditEntry

NOTHING = "—"


def _readable(value: Any) -> str:
    if value is None or value == "":
        return NOTHING
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def titled(title: str) -> type[admin.AllValuesFieldListFilter]:
    """A filter on a field's distinct values, under a plainer heading than the field's name."""

    class Titled(admin.AllValuesFieldListFilter):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.title = title

    return Titled


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("at", "who", "action", "target", "customer", "summary")
    list_filter = (
        ("action", titled("action")),
        ("actor_label", titled("who")),
        ("target_type", titled("what kind of thing")),
    )
    search_fields = ("actor_label", "action", "target_label", "=target_id", "reason", "customer__email")
    list_select_related = ("customer",)
    date_hierarchy = "at"
    ordering = ("-id",)
    fields = ("at", "who", "action", "target", "customer", "reason", "changes")
    readonly_fields = fields
    actions = None

    # Nobody writes here through the console: entries come from the changes themselves.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="who", ordering="actor_label")
    def who(self, entry: AuditEntry) -> str:
        return entry.actor_label

    @admin.display(description="target")
    def target(self, entry: AuditEntry) -> str:
        label = f" {entry.target_label}" if entry.target_label else ""
        ident = f" #{entry.target_id}" if entry.target_id else ""
        return f"{entry.target_type}{ident}{label}"

    @admin.display(description="what changed")
    def summary(self, entry: AuditEntry) -> str:
        fields = sorted(set(entry.before) | set(entry.after))
        text = ", ".join(fields[:4]) + (f" +{len(fields) - 4}" if len(fields) > 4 else "")
        if entry.reason:
            text = f"{text} — {entry.reason}" if text else entry.reason
        return text[:120] or NOTHING

    @admin.display(description="before → after")
    def changes(self, entry: AuditEntry) -> SafeString | str:
        fields = sorted(set(entry.before) | set(entry.after))
        if not fields:
            return NOTHING
        rows = format_html_join(
            "",
            "<tr><th scope='row'>{}</th><td>{}</td><td>{}</td></tr>",
            ((name, _readable(entry.before.get(name)), _readable(entry.after.get(name))) for name in fields),
        )
        return format_html(
            "<table class='audit-changes'><thead><tr><th scope='col'>field</th><th scope='col'>before</th>"
            "<th scope='col'>after</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )
