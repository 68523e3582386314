"""The audit trail's one helper: `record_change`, called by services, never by their callers.

Who acts comes from `kit.actors` (set once at each edge: console and portal requests,
the partner API's key, the CLI, the worker); a caller may still name a staff user with
`actor=`, which wins. Call it inside the transaction that makes the change, so a
rolled-back change leaves no entry and a committed one always has its entry.

What is audited, and what is not:
- Audited: every change an operator side makes to state, whoever that is: a staff member in
  the console, a partner's API key, someone at the command line, and the worker's
  administrative decisions (disabling a failing webhook endpoint, terminating a
  subscription and releasing its eSIM). One entry per change, by the service that makes it:
  API keys, the test clock, inventory imports, refunds, goodwill, resends, staff roles,
  webhook endpoints, customers and subscriptions changed through the API.
- Not audited: a customer's own actions in the portal, and the worker's routine work
  (charges, retries, reminders, deliveries). Those are facts of their own, kept where they
  happen (payment attempts, invoices, periods, the outbox); an entry per row would double
  them and slow the auto-renew hot path. `record_change` skips a customer actor itself, so
  a service shared by the portal and the API records only the API's changes.
- Code running outside every edge (tests' factories, data migrations) has no actor and
  leaves no entry, unless it names one.

The table (`audit.AuditEntry`, its own app) is append-only, down to database triggers.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.apps import apps
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.forms.models import model_to_dict

from simrenew.kit import clock
from simrenew.kit.actors import Actor, ActorKind, current_actor

# Where the entries are kept; named, not imported, so that kit does not depend on an edge.
AUDIT_MODEL = "audit.AuditEntry"
CLI_ACTOR = "cli"
SYSTEM_ACTOR = "system"
# Fields never copied into the trail (secrets stay secret even to auditors).
HIDDEN_FIELDS = frozenset(
    {"password", "secret", "previous_secret", "encrypted_secret", "encrypted_previous_secret", "key_hash", "token"}
)


def snapshot(instance: models.Model | None) -> dict[str, Any]:
    """A JSON-safe picture of `instance`'s own fields, for before/after."""
    if instance is None or instance.pk is None:
        return {}
    data = model_to_dict(instance, fields=[f.name for f in instance._meta.concrete_fields])
    data = {key: value for key, value in data.items() if key not in HIDDEN_FIELDS}
    return json_safe(data)


def json_safe(data: dict[str, Any]) -> dict[str, Any]:
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
    return Actor.for_user(user).label


def acting_actor(actor: Any = None, actor_name: str | None = None) -> Actor | None:
    """Who an entry names: an explicit Actor or signed-in user, else the current actor, else
    `actor_name` (older callers' label, e.g. "cli"), else nobody."""
    if isinstance(actor, Actor):
        return actor
    if getattr(actor, "is_authenticated", False):
        return Actor.for_user(actor)
    found = current_actor()
    if found is not None:
        return found
    if actor_name:
        return Actor(ActorKind.CLI if actor_name == CLI_ACTOR else ActorKind.SYSTEM, actor_name)
    return None


def auditing() -> bool:
    """Whether a change made now would be recorded: a service may skip building its
    before/after picture when nobody (or only a customer) acts."""
    who = current_actor()
    return who is not None and who.kind != ActorKind.CUSTOMER


def record_change(
    *,
    actor: Any = None,
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
    even_for_customer: bool = False,
) -> Any:
    """Append one entry and return it, or None when no operator acts (a customer, or nobody).

    `actor` is a staff user or an `Actor` when the caller knows better than the edge;
    leave it out otherwise. `even_for_customer` keeps a customer's own act too, for the rare
    one the trail must show whoever asked (the erasure of their account). Call it inside the
    transaction that makes the change."""
    who = acting_actor(actor, actor_name)
    if who is None or (who.kind == ActorKind.CUSTOMER and not even_for_customer):
        return None
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or str(target.pk)
    return apps.get_model(AUDIT_MODEL).objects.create(
        at=clock.system_now(),
        actor_id=who.user_id,
        actor_kind=who.kind,
        actor_label=who.label,
        api_key_id=who.api_key_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        target_label=(target_label or (str(target) if target is not None else ""))[:300],
        customer_id=customer_id if customer_id is not None else _customer_of(target),
        before=json_safe(before or {}),
        after=json_safe(after or {}),
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
