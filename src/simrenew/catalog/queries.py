"""Read paths of the catalog: what is on sale for a carrier."""

from __future__ import annotations

from simrenew.catalog.models import Plan, TopUpPack


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
