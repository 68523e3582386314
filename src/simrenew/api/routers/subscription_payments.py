"""A subscription's payments over the API: renew it (or preview the next period), top it up,
and read its renewals and top-up options. Buying, reading and cancelling are in
`subscriptions.py`; both routers are mounted at `/subscriptions`.

Routes that take money call `run_charge`, which owns its transactions (the attempt is
committed before the gateway is called, outside any transaction).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpRequest
from ninja import Field, Path, Query, Router, Schema
from ninja.responses import Status
from pydantic import ConfigDict

from simrenew.api.idempotency import idempotent
from simrenew.api.pagination import Page, paginate
from simrenew.api.routers.common import (
    PROMO_CODE_MAX,
    PaymentOutcome,
    SubscriptionId,
    Text,
    gateway_idempotency_key,
    invoice_of,
    payment_http_status,
    payment_method_ref,
    payment_outcome,
    promo_guard,
    replayed_attempt,
    subscription_or_404,
)
from simrenew.api.schemas import ID_MAX, InputSchema, PageQuery
from simrenew.billing.models import Invoice
from simrenew.catalog.models import Plan, TopUpPack
from simrenew.catalog.services import get_plan, quote
from simrenew.kit.errors import NotFound, ValidationFailed
from simrenew.payments.charging import run_charge
from simrenew.payments.models import AttemptPurpose, PaymentAttempt
from simrenew.subscriptions import topups
from simrenew.subscriptions.models import Period, TopUp
from simrenew.subscriptions.renewals import begin_renewal, preview_next_period

router = Router(tags=["subscriptions"])

RenewalId = Annotated[int, Path(ge=1, le=ID_MAX, description="The renewal's (payment's) id.")]


# --- shapes -------------------------------------------------------------------------------------


class RenewalIn(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"plan_id": 4, "payment_method_id": 18}, {"plan_id": 4, "also_renew_with_plan": True}]
        }
    )

    plan_id: int | None = Field(
        None, ge=1, le=ID_MAX, description="Another plan of the same carrier; from the next period on."
    )
    payment_method_id: int | None = Field(None, ge=1, le=ID_MAX, description="Default: the subscription's.")
    promo_code: Text | None = Field(None, max_length=PROMO_CODE_MAX)
    also_renew_with_plan: bool = Field(
        False,
        description="Also renew with `plan_id` from now on: once this renewal is paid, the subscription's "
        "`renewal_plan_id` (what auto-renew and renewals without a `plan_id` buy) becomes `plan_id`, as "
        "PATCH `renewal_plan_id` would make it, unless the renewal plan was changed in the meantime. A "
        "refused payment changes nothing. Without it, paying for another plan buys that period once and "
        "the renewal plan stays. No effect without `plan_id` or when `plan_id` is already the renewal "
        "plan. 422 when `plan_id` is not on sale now or is for another carrier.",
    )


class TopUpIn(InputSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"data_mb_pack_id": 2}]})

    data_mb_pack_id: int = Field(..., ge=1, le=ID_MAX, description="One of GET …/top-up-options.")
    payment_method_id: int | None = Field(None, ge=1, le=ID_MAX, description="Default: the subscription's.")


class RenewalOut(Schema):
    id: int
    subscription_id: int | None
    status: PaymentOutcome = Field(..., description="pending: the gateway's answer is not known yet.")
    failure_code: str | None
    failure_message: str | None
    period_start: datetime | None = Field(..., description="The period paid for (once paid).")
    period_end: datetime | None
    amount_minor: int
    currency: str
    invoice_id: int | None
    invoice_number: str | None


class RenewalList(Schema):
    items: list[RenewalOut]
    has_more: bool
    next_starting_after: int | None


class TopUpOut(RenewalOut):
    data_mb: int = Field(..., description="The data this top-up adds to the period.")


class PreviewQuery(Schema):
    plan_id: int | None = Field(None, ge=1, le=ID_MAX, description="Default: the subscription's plan.")
    promo_code: Text | None = Field(None, max_length=PROMO_CODE_MAX)


class RenewalPreviewOut(Schema):
    plan_id: int
    period_start: datetime
    period_end: datetime
    subtotal_minor: int
    discount_minor: int
    total_minor: int
    currency: str
    bonus_data_mb: int


class TopUpOptionOut(Schema):
    id: int
    name: str
    data_mb: int
    price_minor: int
    currency: str


class TopUpOptionList(Schema):
    items: list[TopUpOptionOut]
    has_more: bool
    next_starting_after: int | None


# --- reading ------------------------------------------------------------------------------------


def _period_of(invoice: Invoice | None) -> Period | None:
    try:
        return invoice.period if invoice is not None else None
    except ObjectDoesNotExist:
        return None


def _payment_fields(attempt: PaymentAttempt, invoice: Invoice | None, period: Period | None) -> dict[str, Any]:
    """What a renewal and a top-up answer alike: the attempt, its invoice and the period it bought into."""
    return {
        "id": attempt.pk,
        "subscription_id": attempt.subscription_id,
        "status": payment_outcome(attempt),
        "failure_code": attempt.failure_code or None,
        "failure_message": attempt.failure_message or None,
        "period_start": period.starts_at if period else None,
        "period_end": period.ends_at if period else None,
        "amount_minor": attempt.amount_minor,
        "currency": attempt.currency,
        "invoice_id": invoice.pk if invoice else None,
        "invoice_number": invoice.number if invoice else None,
    }


def _renewal_out(attempt: PaymentAttempt) -> RenewalOut:
    invoice = invoice_of(attempt)
    return RenewalOut(**_payment_fields(attempt, invoice, _period_of(invoice)))


def _top_up_out(attempt: PaymentAttempt) -> TopUpOut:
    invoice = invoice_of(attempt)
    # The data went to the period running when the payment settled (see subscriptions.topups).
    top_up = TopUp.objects.select_related("period").filter(invoice=invoice).first() if invoice else None
    period = top_up.period if top_up else Period.objects.filter(pk=attempt.purpose_data.get("period_id")).first()
    data_mb = attempt.purpose_data.get("data_mb")
    if data_mb is None:
        pack = TopUpPack.objects.filter(pk=attempt.purpose_data.get("pack_id")).first()
        data_mb = pack.data_mb if pack else 0
    return TopUpOut(**_payment_fields(attempt, invoice, period), data_mb=int(data_mb))


def _settled(attempt: PaymentAttempt) -> PaymentAttempt:
    """The attempt as stored after the charge, with its invoice (if any) in the same read."""
    return PaymentAttempt.objects.select_related("invoice__period").get(pk=attempt.pk)


# --- renewals -----------------------------------------------------------------------------------


@router.post(
    "/{subscription_id}/renewals",
    response={201: RenewalOut, 202: RenewalOut, 402: RenewalOut},
    summary="Renew: pay for the next period",
)
@idempotent(required=True)
def renew_subscription(request: HttpRequest, subscription_id: SubscriptionId, payload: RenewalIn) -> Status:
    """Needs an `Idempotency-Key`. 201 when paid (the new period starts where the paid time ends, or
    now if it already ended). 402 when the payment was refused: the renewal is recorded with
    `failure_code` and `failure_message`, and nothing else changes. 202 when the gateway's answer is
    not known yet (`status: pending`); it is looked up later, never charged twice."""
    key = gateway_idempotency_key(request)  # the client's, scoped: @idempotent(required=True) demands one

    def begin() -> PaymentAttempt:
        subscription = subscription_or_404(subscription_id)
        with promo_guard(request, subscription.customer_id, payload.promo_code):
            return begin_renewal(
                subscription=subscription,
                idempotency_key=key,
                plan=get_plan(payload.plan_id) if payload.plan_id is not None else None,
                payment_method=(
                    payment_method_ref(payload.payment_method_id) if payload.payment_method_id is not None else None
                ),
                promo_code=payload.promo_code,
                also_renew_with_plan=payload.also_renew_with_plan,
            )

    attempt = _settled(run_charge(begin))
    return Status(payment_http_status(attempt), _renewal_out(attempt))


@router.get("/{subscription_id}/renewals", response=RenewalList, summary="List a subscription's renewals")
def list_renewals(request: HttpRequest, subscription_id: SubscriptionId, query: Query[PageQuery]) -> dict[str, Any]:
    """Every renewal payment, paid, refused or pending, oldest first (the first period is not one)."""
    subscription = subscription_or_404(subscription_id)
    attempts = PaymentAttempt.objects.filter(subscription=subscription, purpose=AttemptPurpose.RENEWAL).select_related(
        "invoice"
    )
    page: Page[PaymentAttempt] = paginate(attempts, limit=query.limit, starting_after=query.starting_after)
    return {
        "items": [_renewal_out(attempt) for attempt in page.items],
        "has_more": page.has_more,
        "next_starting_after": page.next_starting_after,
    }


@router.get("/{subscription_id}/renewals/{renewal_id}", response=RenewalOut, summary="Get a renewal")
def get_renewal(request: HttpRequest, subscription_id: SubscriptionId, renewal_id: RenewalId) -> RenewalOut:
    """Poll a `pending` renewal here until the gateway's answer is known."""
    attempt = (
        PaymentAttempt.objects.select_related("invoice__period")
        .filter(pk=renewal_id, subscription_id=subscription_id, purpose=AttemptPurpose.RENEWAL)
        .first()
    )
    if attempt is None:
        raise NotFound(f"Subscription {subscription_id} has no renewal with id {renewal_id}.")
    return _renewal_out(attempt)


@router.get(
    "/{subscription_id}/renewal-preview",
    response=RenewalPreviewOut,
    summary="What the next period would be and cost, before paying",
)
def preview_renewal(
    request: HttpRequest, subscription_id: SubscriptionId, query: Query[PreviewQuery]
) -> RenewalPreviewOut:
    """The period a renewal paid now would buy (it starts where the paid time ends) and its price with
    an optional promotion code, without paying or reserving anything."""
    subscription = subscription_or_404(subscription_id)
    plan: Plan = subscription.plan
    if query.plan_id is not None and query.plan_id != subscription.plan_id:
        plan = get_plan(query.plan_id)
        # The rules begin_renewal applies to another plan, so the preview never promises what it refuses.
        if plan.carrier_id != subscription.esim.carrier_id:
            raise ValidationFailed.on("plan_id", "This plan is for another carrier than the eSIM's.")
        if not plan.is_current:
            raise ValidationFailed.on("plan_id", "This plan version is no longer sold; choose the current one.")
    with promo_guard(request, subscription.customer_id, query.promo_code):
        price = quote(plan=plan, customer=subscription.customer, promo_code=query.promo_code)
    span = preview_next_period(subscription, plan)
    return RenewalPreviewOut(
        plan_id=plan.pk,
        period_start=span.starts_at,
        period_end=span.ends_at,
        subtotal_minor=price.subtotal.amount_minor,
        discount_minor=price.discount.amount_minor,
        total_minor=price.total.amount_minor,
        currency=price.total.currency,
        bonus_data_mb=price.bonus_data_mb,
    )


# --- top-ups ------------------------------------------------------------------------------------


@router.post(
    "/{subscription_id}/top-ups",
    response={201: TopUpOut, 202: TopUpOut, 402: TopUpOut},
    summary="Buy extra data for the current period",
)
@idempotent()
def top_up_subscription(request: HttpRequest, subscription_id: SubscriptionId, payload: TopUpIn) -> Status:
    """The data is valid until the current period ends. Statuses as for renewals: 201 paid,
    402 refused (nothing added), 202 pending."""
    key = gateway_idempotency_key(request)

    def begin() -> PaymentAttempt:
        subscription = subscription_or_404(subscription_id)
        method = payment_method_ref(payload.payment_method_id) if payload.payment_method_id is not None else None

        def same(attempt: PaymentAttempt) -> bool:
            return (
                attempt.subscription_id == subscription.pk
                and attempt.purpose_data.get("pack_id") == payload.data_mb_pack_id
                and (method is None or attempt.payment_method_id == method.pk)
            )

        replayed = replayed_attempt(key, purpose=AttemptPurpose.TOP_UP, customer_id=subscription.customer_id, same=same)
        if replayed is not None:
            return replayed
        return topups.begin_top_up(
            subscription=subscription,
            pack_id=payload.data_mb_pack_id,
            payment_method=method,
            idempotency_key=key,
        )

    attempt = _settled(run_charge(begin))
    return Status(payment_http_status(attempt), _top_up_out(attempt))


@router.get(
    "/{subscription_id}/top-up-options",
    response=TopUpOptionList,
    summary="The data packs this subscription can buy",
)
def list_top_up_options(request: HttpRequest, subscription_id: SubscriptionId) -> dict[str, Any]:
    """The active data packs of the eSIM's carrier. Buy one with POST …/top-ups; GET
    /esims/{id}/top-up-options also lists plans and says whether a top-up is possible now."""
    packs = topups.top_up_options(subscription_or_404(subscription_id))
    return {"items": packs, "has_more": False, "next_starting_after": None}
