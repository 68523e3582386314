"""Staff roles for the operator console.

- support: reads everything, resends messages, extends a period as a goodwill gesture, downloads a
  customer's data for them and deletes their account on their request;
- finance: reads everything, refunds payments;
- admin: everything (a superuser), including catalog, inventory, API keys, webhooks.

Roles are Django groups holding permissions; `ensure_roles()` (run after every
migrate) keeps the groups' permissions as listed here, so a code change to a role
reaches every installation.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps as global_apps
from django.contrib.auth.models import Group, Permission
from django.db.models import Q

CONSOLE_APP = "console"


class Role:
    SUPPORT = "support"
    FINANCE = "finance"
    ADMIN = "admin"
    ALL = (SUPPORT, FINANCE, ADMIN)


# Apps whose data support and finance may read.
READABLE_APPS = (
    "catalog",
    "customers",
    "esims",
    "provisioning",
    "subscriptions",
    "payments",
    "billing",
    "usage",
    "notifications",
    "webhooks",
    "console",
    "audit",
)
# Custom permissions (console.ConsoleAccess Meta) per role, besides reading.
ROLE_ACTIONS: dict[str, tuple[str, ...]] = {
    Role.SUPPORT: ("view_overview", "resend_message", "extend_period", "export_customer_data", "erase_customer"),
    Role.FINANCE: ("view_overview", "refund_payment"),
    Role.ADMIN: (
        "view_overview",
        "refund_payment",
        "extend_period",
        "resend_message",
        "export_customer_data",
        "erase_customer",
    ),
}


def role_permissions(role: str) -> list[Permission]:
    readable = Q(content_type__app_label__in=READABLE_APPS, codename__startswith="view_")
    actions = Q(content_type__app_label=CONSOLE_APP, codename__in=ROLE_ACTIONS[role])
    return list(Permission.objects.filter(readable | actions).distinct())


def ensure_roles() -> dict[str, Group]:
    """Create the role groups if missing and set each one's permissions to what is listed here."""
    groups: dict[str, Group] = {}
    for role in Role.ALL:
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set(role_permissions(role))
        groups[role] = group
    return groups


def ensure_roles_after_migrate(sender: Any, **kwargs: Any) -> None:
    # Only once the console's own permissions exist (post_migrate of this app, after the
    # auth app has created permissions for every model).
    if global_apps.is_installed("django.contrib.auth"):
        ensure_roles()


def role_of(user: Any) -> str | None:
    """The user's staff role, or None for customers and staff without one."""
    if not getattr(user, "is_authenticated", False) or not user.is_staff:
        return None
    if user.is_superuser:
        return Role.ADMIN
    names = set(user.groups.values_list("name", flat=True))
    for role in (Role.ADMIN, Role.FINANCE, Role.SUPPORT):
        if role in names:
            return role
    return None
