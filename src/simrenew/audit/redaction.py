"""The one rewrite the audit trail allows: a customer's erasure takes their personal values out of
the entries about them (`before`, `after`, the label and the reason), once per entry, leaving who
acted, what they did, to what and when (audit migration 0002 lets exactly this UPDATE through)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db.models import Q

from simrenew.audit.models import AuditEntry


def entries_about(*, customer_id: int, user_id: int | None) -> Q:
    about = Q(customer_id=customer_id) | Q(target_type="customers.customer", target_id=str(customer_id))
    if user_id is not None:
        about |= Q(target_type="auth.user", target_id=str(user_id))
    return about


def redact(entries: Q, *, text: Callable[[str], str], data: Callable[[Any], Any], at: datetime) -> int:
    """Rewrite the matching entries' personal values with `text` / `data`; returns how many changed."""
    done = 0
    for entry in AuditEntry.objects.filter(entries, redacted_at__isnull=True).iterator():
        changes = {
            "before": data(entry.before),
            "after": data(entry.after),
            "target_label": text(entry.target_label),
            "reason": text(entry.reason),
        }
        if all(changes[name] == getattr(entry, name) for name in changes):
            continue
        AuditEntry.objects.filter(pk=entry.pk).update(redacted_at=at, **changes)
        done += 1
    return done
