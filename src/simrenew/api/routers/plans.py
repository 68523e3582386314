"""The plan catalog: what can be bought, per carrier."""

from __future__ import annotations

from typing import Annotated

from django.http import HttpRequest
from ninja import Field, Path, Query, Router, Schema

from simrenew.api.pagination import MAX_LIMIT, Page, paginate
from simrenew.api.schemas import ID_MAX, PageQuery
from simrenew.catalog.models import Carrier, PeriodUnit, Plan
from simrenew.kit.errors import NotFound, ValidationFailed

router = Router(tags=["plans"])


class PlanOut(Schema):
    id: int
    carrier: str = Field(..., description="Carrier code, e.g. att, tmobile, verizon.")
    code: str = Field(..., description="Stable across versions, e.g. att-1m.")
    version: int
    is_current: bool = Field(..., description="Whether this version is the one sold to new buyers.")
    name: str
    period_unit: PeriodUnit
    period_count: int
    data_mb: int
    price_minor: int = Field(..., description="Price in minor units (cents) of `currency`.")
    currency: str

    @staticmethod
    def resolve_carrier(plan: Plan) -> str:
        return plan.carrier.code


class PlanList(Schema):
    items: list[PlanOut]
    has_more: bool
    next_starting_after: int | None


class PlanQuery(PageQuery):
    limit: int = Field(MAX_LIMIT, ge=1, le=MAX_LIMIT, description="How many items, 1 to 100.")
    carrier: str | None = Field(None, description="Only this carrier's plans (its code).")


@router.get("", response=PlanList, summary="List the plans on sale")
def list_plans(request: HttpRequest, query: Query[PlanQuery]) -> Page[Plan]:
    """The current version of every plan, ordered by id."""
    plans = Plan.objects.filter(is_current=True).select_related("carrier")
    if query.carrier is not None:
        code = query.carrier.strip().lower()
        if not Carrier.objects.filter(code=code).exists():
            known = ", ".join(Carrier.objects.order_by("code").values_list("code", flat=True)) or "none yet"
            raise ValidationFailed.on("carrier", f"Unknown carrier {query.carrier!r}; known carriers: {known}.")
        plans = plans.filter(carrier__code=code)
    return paginate(plans, limit=query.limit, starting_after=query.starting_after)


@router.get("/{plan_id}", response=PlanOut, summary="Get a plan (any version)")
def get_plan(request: HttpRequest, plan_id: Annotated[int, Path(ge=1, le=ID_MAX)]) -> Plan:
    """Any version, current or not: a subscription's `plan_id` may name one no longer sold."""
    plan = Plan.objects.select_related("carrier").filter(pk=plan_id).first()
    if plan is None:
        raise NotFound(f"No plan with id {plan_id}.")
    return plan
