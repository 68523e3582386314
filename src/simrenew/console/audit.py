"""The audit trail: every change made through the console or the CLI is recorded
here, with who made it, what it was before and after, when, and why.

Services that operators act through (refunds, goodwill extensions, resends) call
`record_change` inside the same transaction as the change, so a rolled-back change
leaves no entry and a committed one always has its entry. Plain model editing in
the admin is covered by `AuditedAdmin`, which every console ModelAdmin that can
change data should inherit.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.contrib import admin
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.forms.models import model_to_dict
from django.http import HttpRequest

from simrenew.console.models import AuditEntry
from simrenew.kit import clock

CLI_ACTOR = "cli"
SYSTEM_ACTOR = "system"
# Fields never copied into the trail (secrets stay secret even to auditors).
HIDDEN_FIELDS = frozenset({"password", "secret", "previous_secret", "key_hash", "token"})


def snapshot(instance: models.Model | None) -> dict[str, Any]:
    """A JSON-safe picture of `instance`'s own fields, for before/after."""
    if instance is None or instance.pk is None:
        return {}
    data = model_to_dict(instance, fields=[f.name for f in instance._meta.concrete_fields])
    data = {key: value for key, value in data.items() if key not in HIDDEN_FIELDS}
    return _json_safe(data)


def _json_safe(data: dict[str, Any]) -> dict[str, Any]:
    safe: dict[str, Any] = json.loads(json.dumps(data, cls=_Encoder))
    return safe


class _Encoder(DjangoJSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, models.Model):
            return o.pk
        if isinstance(o, (UUID, Decimal)):
            return str(o)
        if isinstance(o, (bytes, memoryview)):
            return f"<{len(bytes(o))} bytes>"
        try:
            return super().default(o)
        except TypeError:
            return str(o)


def changed_only(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Keep only the fields whose value differs (all of them for an add or delete)."""
    if not before or not after:
        return before, after
    keys = [key for key in after if before.get(key) != after.get(key)]
    return {key: before.get(key) for key in keys}, {key: after[key] for key in keys}


def actor_label(user: Any) -> str:
    if user is None or not getattr(user, "is_authenticated", False):
        return SYSTEM_ACTOR
    return str(getattr(user, "email", "") or user.get_username())


def record_change(
    *,
    actor: Any,
    action: str,
    target: models.Model | None = None,
    target_type: str = "",
    target_id: str = "",
    target_label: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
    customer_id: int | None = None,
    actor_name: str | None = None,
) -> AuditEntry:
    """Append one entry. `actor` is the staff user (None with `actor_name="cli"` for commands).

    Call it inside the transaction that makes the change."""
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or str(target.pk)
    user = actor if getattr(actor, "is_authenticated", False) else None
    return AuditEntry.objects.create(
        at=clock.system_now(),
        actor=user,
        actor_label=actor_name or actor_label(user),
        action=action,
        target_type=target_type,
        target_id=target_id,
        target_label=(target_label or (str(target) if target is not None else ""))[:300],
        customer_id=customer_id if customer_id is not None else _customer_of(target),
        before=_json_safe(before or {}),
        after=_json_safe(after or {}),
        reason=reason,
    )


def _customer_of(target: models.Model | None) -> int | None:
    """The customer a changed row belongs to, when it says so plainly."""
    if target is None:
        return None
    if target._meta.label_lower == "customers.customer":
        return int(target.pk)
    customer_id = getattr(target, "customer_id", None)
    return int(customer_id) if isinstance(customer_id, int) else None


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
