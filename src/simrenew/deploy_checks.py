"""Checks that a live server is fit to face customers, run by `simrenew check --deploy` and before
`simrenew serve` and `simrenew worker` start outside the sandbox.

Settings problems (a missing secret key, public URL, database or email URL…) stop every command
earlier, in settings.py (simrenew.kit.config). What is checked here needs the database: the demo's
known logins and key, seeded by `make run`'s `simrenew demo`, must not exist on a live server
(`simrenew demo --remove` takes them out).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.checks import CheckMessage, Error, Warning, register
from django.core.management import call_command
from django.db import DatabaseError

from simrenew.api.keys import hash_key
from simrenew.api.models import ApiKey
from simrenew.catalog.models import Carrier
from simrenew.demo_accounts import DEMO_API_KEY, DEMO_EMAIL, DEMO_STAFF
from simrenew.provisioning.connections import network_live_problems, smdp_live_problems
from simrenew.provisioning.models import NetworkConnection, SmdpConnection
from simrenew.subscriptions.cancellation import RefundPolicy

REMOVE_HINT = "Run `simrenew demo --remove`, or start live mode on a database of its own (SIMRENEW_DATABASE_URL)."


def demo_logins() -> list[str]:
    """The demo's email logins that can still sign in (active, with a password)."""
    emails = [DEMO_EMAIL, *DEMO_STAFF.values()]
    users = get_user_model().objects.filter(username__in=[e.lower() for e in emails], is_active=True)
    return sorted(user.username for user in users if user.has_usable_password())


def demo_key_live() -> bool:
    return ApiKey.objects.filter(key_hash=hash_key(DEMO_API_KEY), revoked_at__isnull=True).exists()


@register("simrenew", deploy=True)
def no_demo_leftovers(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if settings.SIMRENEW_SANDBOX:
        return []  # the sandbox is where the demo belongs
    try:
        logins, key = demo_logins(), demo_key_live()
    except DatabaseError as exc:
        return [Error(f"The database did not answer: {type(exc).__name__}.", id="simrenew.E100")]
    found: list[CheckMessage] = []
    if logins:
        found.append(
            Error(
                f"The demo's logins, whose passwords are published, can sign in: {', '.join(logins)}.",
                hint=REMOVE_HINT,
                id="simrenew.E101",
            )
        )
    if key:
        found.append(Error("The demo's published API key is not revoked.", hint=REMOVE_HINT, id="simrenew.E102"))
    return found


@register("simrenew", deploy=True)
def staff_second_factor(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if settings.SIMRENEW_SANDBOX or settings.SIMRENEW_STAFF_MFA == "required":
        return []
    return [
        Warning(
            "Staff may open the console with a password alone (SIMRENEW_STAFF_MFA=optional).",
            hint="Unset SIMRENEW_STAFF_MFA (or set it to 'required') so that every console session passed TOTP.",
            id="simrenew.W101",
        )
    ]


@register("simrenew")
def refund_policies_agree(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """settings.py refuses a misspelt SIMRENEW_CANCEL_REFUND_POLICY before Django (and so
    `RefundPolicy`) can load, with its own list of the values: the list must be the enum's."""
    policies = [policy.value for policy in RefundPolicy]
    listed = list(settings.CANCEL_REFUND_POLICIES)
    if listed == policies and settings.SIMRENEW_CANCEL_REFUND_POLICY in policies:
        return []
    return [
        Error(
            f"settings.CANCEL_REFUND_POLICIES {listed} (policy {settings.SIMRENEW_CANCEL_REFUND_POLICY!r}) does not "
            f"match subscriptions.cancellation.RefundPolicy {policies}.",
            hint="List exactly the RefundPolicy values in settings.py.",
            id="simrenew.E103",
        )
    ]


@register("simrenew", deploy=True)
def carrier_connections(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Each carrier's SM-DP+ and network connections work outside the sandbox: the rules they were
    saved with (provisioning.connections), judged in live mode and against the files as they are now."""
    if settings.SIMRENEW_SANDBOX:
        return []  # sandbox: URLs and local test servers belong there
    try:
        smdp = list(SmdpConnection.objects.filter(enabled=True).select_related("carrier").order_by("carrier__code"))
        networks = list(NetworkConnection.objects.select_related("carrier").order_by("carrier__code"))
        unconnected = list(Carrier.objects.filter(network__isnull=True).order_by("code").values_list("code", flat=True))
    except DatabaseError as exc:
        return [Error(f"The database did not answer: {type(exc).__name__}.", id="simrenew.E100")]
    found: list[CheckMessage] = []
    for smdp_connection in smdp:
        for problem in smdp_live_problems(smdp_connection):
            found.append(
                Error(
                    f"{smdp_connection.carrier.code}'s SM-DP+ connection cannot work on a live server: {problem}",
                    hint="Fix it with `simrenew smdp connect` (or in the console), or disconnect it.",
                    id="simrenew.E110",
                )
            )
    for network_connection in networks:
        for problem in network_live_problems(network_connection):
            found.append(
                Error(
                    f"{network_connection.carrier.code}'s network connection cannot work on a live server: {problem}",
                    hint="Fix it with `simrenew network connect` (or in the console), or disconnect it.",
                    id="simrenew.E111",
                )
            )
    for code in unconnected:
        found.append(
            Warning(
                f"{code} has no network connection: its lines are switched on and off only in the sandbox network, "
                "not at the carrier.",
                hint=f"Connect it with `simrenew network connect {code} --url https://…/tmf-api/serviceOrdering/v4`.",
                id="simrenew.W110",
            )
        )
    return found


def preflight(stdout: Any) -> None:
    """Refuse to start a live process that `check --deploy` finds unsafe (warnings are shown, errors stop)."""
    if settings.SIMRENEW_SANDBOX:
        return
    call_command("check", deploy=True, fail_level="ERROR", stdout=stdout)
