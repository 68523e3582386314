"""`{% public_promotions %}`: the promotion codes the operator publishes, with their terms in the
customer's language; for the help page, the plan picker and the first purchase."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from django import template

from simrenew.catalog.labels import promotion_offer
from simrenew.catalog.queries import public_promotions as promotions_on_offer
from simrenew.kit import clock

register = template.Library()


@dataclass(frozen=True)
class OfferRow:
    code: str
    terms: str


@register.inclusion_tag("portal/public_promotions.html")
def public_promotions(plan_codes: Collection[str] | None = None, *, heading: bool = True) -> dict[str, Any]:
    """Every published code on offer now (with `plan_codes`, those that apply to one of them)."""
    offers = [OfferRow(p.code, promotion_offer(p)) for p in promotions_on_offer(clock.now(), plan_codes=plan_codes)]
    return {"offers": offers, "heading": heading}
