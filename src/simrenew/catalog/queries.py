"""Read paths of the catalog: what is on sale for a carrier."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from django.db.models import F, Q

from simrenew.catalog.models import Plan, Promotion, TopUpPack


def plans_on_sale(carrier_id: int) -> list[Plan]:
    """The current version of every plan of the carrier, cheapest period first within each unit."""
    return list(
        Plan.objects.filter(carrier_id=carrier_id, is_current=True).order_by(
            "period_unit", "period_count", "price_minor", "id"
        )
    )


def top_up_packs_on_sale(carrier_id: int) -> list[TopUpPack]:
    """The carrier's active top-up packs, smallest first."""
    return list(TopUpPack.objects.filter(carrier_id=carrier_id, is_active=True).order_by("data_mb", "id"))


def public_promotions(now: datetime, *, plan_codes: Collection[str] | None = None) -> list[Promotion]:
    """The codes the operator publishes (`is_public`) that anyone could use at `now`: active,
    started, not expired, not used up; with `plan_codes`, only those that apply to one of them."""
    within_limit = Q(max_redemptions__isnull=True) | Q(redemptions_count__lt=F("max_redemptions"))
    promotions = Promotion.objects.filter(
        within_limit,
        Q(valid_from__isnull=True) | Q(valid_from__lte=now),
        Q(valid_until__isnull=True) | Q(valid_until__gt=now),
        is_public=True,
        is_active=True,
    ).order_by("valid_until", "code")
    if plan_codes is None:
        return list(promotions)
    wanted = set(plan_codes)
    return [p for p in promotions if not p.eligible_plan_codes or wanted & set(p.eligible_plan_codes)]
