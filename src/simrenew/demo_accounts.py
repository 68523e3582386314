"""The demo's known logins and API key (`simrenew demo`, sandbox only), and their removal.

Their passwords and key are printed by `make run` and written in the README: they are public. A
live server refuses to start while any of them could still be used (simrenew.deploy_checks).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model

from simrenew.api.keys import hash_key, revoke_api_key
from simrenew.api.models import ApiKey
from simrenew.console.audit import CLI_ACTOR, record_change
from simrenew.console.roles import Role
from simrenew.provisioning.models import SmdpConnection

DEMO_EMAIL = "demo@simrenew.test"
DEMO_PASSWORD = "simrenew-demo-2026"
# A fixed key so that every run can print it; it opens only sandbox servers (sr_test_).
DEMO_API_KEY = "sr_test_demo_0123456789abcdefghijklmnopqrstuvwxyz"
# One console login per role, with known passwords (sandbox only), to try what each may do.
DEMO_STAFF_PASSWORD = "simrenew-staff-2026"
DEMO_STAFF = {role: f"{role}@simrenew.test" for role in (Role.ADMIN, Role.SUPPORT, Role.FINANCE)}


def remove_demo_access() -> list[str]:
    """Close every door the demo opened: its logins can no longer sign in (inactive, no password)
    and its API key is revoked. Rows stay (invoices and periods refer to them); returns what was
    closed, for the command to say."""
    closed: list[str] = []
    emails = [DEMO_EMAIL.lower(), *(email.lower() for email in DEMO_STAFF.values())]
    for user in get_user_model().objects.filter(username__in=emails).order_by("username"):
        if not user.is_active and not user.has_usable_password():
            continue
        user.is_active = False
        user.set_unusable_password()
        user.save(update_fields=["is_active", "password"])
        record_change(actor=None, actor_name=CLI_ACTOR, action="demo login removed", target=user)
        closed.append(f"login {user.username}")
    key = ApiKey.objects.filter(key_hash=hash_key(DEMO_API_KEY), revoked_at__isnull=True).first()
    if key is not None:
        revoke_api_key(key)
        closed.append(f"API key {key.prefix}…")
    # The demo's sandbox SM-DP+ cannot serve a live database (check --deploy refuses it).
    for connection in SmdpConnection.objects.filter(base_url__startswith="sandbox:").select_related("carrier"):
        record_change(actor=None, actor_name=CLI_ACTOR, action="sandbox SM-DP+ disconnected", target=connection)
        connection.delete()
        closed.append(f"sandbox SM-DP+ of {connection.carrier.code}")
    return closed
