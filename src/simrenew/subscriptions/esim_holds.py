"""Whether a subscription still holds an eSIM profile, so that the profile may not be released.

eSIMs know nothing of subscriptions (the arrow points from subscriptions to eSIMs); this check
is registered with `esims.services.register_hold_check` when the app is ready.
"""

from __future__ import annotations

from simrenew.esims.models import EsimProfile
from simrenew.esims.services import register_hold_check
from simrenew.kit import clock
from simrenew.subscriptions.models import Subscription
from simrenew.subscriptions.status import holds_esim_q


def subscription_holding(profile: EsimProfile) -> str | None:
    """Why `profile` must stay with its customer, or None when no open subscription holds it."""
    open_subscription = (
        Subscription.objects.filter(esim_id=profile.pk).filter(holds_esim_q(clock.now())).order_by("-id").first()
    )
    if open_subscription is None:
        return None
    return (
        f"eSIM {profile.iccid} serves subscription {open_subscription.pk} ({open_subscription.state}), "
        "which is still open; cancel it and let it run out (or terminate it) before releasing the eSIM."
    )


def register() -> None:
    register_hold_check(subscription_holding)
