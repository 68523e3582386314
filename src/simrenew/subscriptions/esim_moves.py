"""Moving a customer's plans from one eSIM to another of theirs: a replacement for an eSIM whose
download failed keeps every subscription that holds the old one, with its paid time."""

from __future__ import annotations

from simrenew.esims.models import EsimProfile
from simrenew.kit import clock
from simrenew.kit.errors import Conflict
from simrenew.subscriptions.models import Subscription
from simrenew.subscriptions.status import holds_esim_q


def move_to_esim(old: EsimProfile, new: EsimProfile) -> list[int]:
    """Point the subscriptions that still hold `old` at `new` (same customer and carrier); returns
    their ids. Runs inside the caller's transaction."""
    if (old.customer_id, old.carrier_id) != (new.customer_id, new.carrier_id) or old.customer_id is None:
        raise Conflict(f"eSIM {new.iccid} is not the same customer's eSIM of the same carrier as {old.iccid}.")
    holding = Subscription.objects.filter(esim_id=old.pk).filter(holds_esim_q(clock.now()))
    moved = list(holding.values_list("pk", flat=True))
    Subscription.objects.filter(pk__in=moved).update(esim_id=new.pk)
    return moved
