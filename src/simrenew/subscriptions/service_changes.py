"""What a subscription's life means for the line at the carrier's network, announced where it happens.

Subscriptions decide when service starts, stops, comes back or changes plan; provisioning (a layer
above, import-linter keeps it so) turns each change into a TMF641 service order. Subscriptions
cannot import provisioning, so provisioning registers a listener here (ProvisioningConfig.ready),
and each place that changes service calls `announce` inside its own transaction: the listener
writes its outbox rows in that same transaction, so a rollback drops them and a commit keeps them
(STYLE §5). No call to the network ever happens here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from django.core import checks


class ServiceChangeKind(StrEnum):
    START = "start"  # the first period of a subscription is paid: the line starts (add, or back to active)
    SUSPEND = "suspend"  # paid time ran out: the line stops until a payment
    RESTORE = "restore"  # a payment after suspension: the line starts again (with the new plan if it changed)
    CHANGE_PLAN = "change_plan"  # a period of another plan begins at `effective_at`
    STOP = "stop"  # a cancelled subscription's service ended
    TERMINATE = "terminate"  # the retention window after the end passed: the line goes for good


@dataclass(frozen=True, slots=True)
class ServiceChange:
    kind: ServiceChangeKind
    subscription_id: int
    esim_id: int
    plan_code: str  # the plan that runs after the change
    effective_at: datetime  # when it takes effect (a plan change waits for its period)


ServiceListener = Callable[[Sequence[ServiceChange]], None]
_listeners: list[ServiceListener] = []


def register_service_listener(listener: ServiceListener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def announce(changes: Sequence[ServiceChange]) -> None:
    """Tell the listeners, inside the caller's transaction, about changes just written."""
    if not changes:
        return
    for listener in _listeners:
        listener(changes)


def listener_registered(**kwargs: object) -> list[checks.CheckMessage]:
    """System check: with no listener, service would stop and start in our rows only, and the
    carrier's network would never hear of it."""
    if _listeners:
        return []
    return [
        checks.Error(
            "No service-change listener is registered: the carrier's network would never hear of suspensions.",
            hint="ProvisioningConfig.ready registers provisioning.lines; is the app installed?",
            id="subscriptions.E002",
        )
    ]
