"""The audit log in the console: read by every role, changed by no one (not even a superuser).

Also Django's own staff accounts and groups, registered again here so that every change
to them (a role given or taken, a password set) lands in the audit trail like any other."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from simrenew.audit.models import AuditEntry
from simrenew.console.audit import AuditedAdmin, changed_only, record_change, snapshot
from simrenew.console.staff import verify_staff_email

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


# --- staff accounts and groups -------------------------------------------------------------------


class AuditedWithRelationsAdmin(AuditedAdmin):
    """AuditedAdmin for rows whose many-to-many fields matter (a user's groups are their role):
    those are saved after the row, so the one entry is written once both are."""

    audited_relations: tuple[str, ...] = ()

    def relations(self, obj: Any) -> dict[str, list[str]]:
        return {name: sorted(str(related) for related in getattr(obj, name).all()) for name in self.audited_relations}

    def picture(self, obj: Any) -> dict[str, Any]:
        return {**snapshot(obj), **self.relations(obj)} if obj is not None and obj.pk else {}

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        stored = type(obj)._default_manager.filter(pk=obj.pk).first() if change and obj.pk else None
        request._console_audit_before = self.picture(stored)  # type: ignore[attr-defined]
        admin.ModelAdmin.save_model(self, request, obj, form, change)  # the entry comes in save_related

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        before = getattr(request, "_console_audit_before", {})
        old, new = changed_only(before, self.picture(form.instance))
        if change and not new:
            return  # saved without a difference: nothing happened
        action = "change" if change else "add"
        record_change(actor=request.user, action=action, target=form.instance, before=old, after=new)


User = get_user_model()
for model in (User, Group):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


@admin.register(User)
class StaffUserAdmin(AuditedWithRelationsAdmin, UserAdmin):
    """Django's user admin, audited; the password hash never reaches the trail (HIDDEN_FIELDS)."""

    audited_relations = ("groups", "user_permissions")

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        # Staff sign in through allauth, whose email verification is mandatory.
        verify_staff_email(obj)

    @transaction.atomic
    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> HttpResponse:
        request._console_password_change = True  # type: ignore[attr-defined]
        return super().user_change_password(request, id, form_url)

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        if getattr(request, "_console_password_change", False):
            # Only that it happened: neither the password nor its hash is kept.
            record_change(
                actor=request.user,
                action="password_change",
                target=obj,
                after={"usable_password": obj.has_usable_password()},
            )
        return super().log_change(request, obj, message)


@admin.register(Group)
class StaffGroupAdmin(AuditedWithRelationsAdmin, GroupAdmin):
    audited_relations = ("permissions",)
