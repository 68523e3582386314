"""Subscriptions: buy a plan for an eSIM, renew it, top it up, change how it renews, cancel, resume.

Routes that take money call `run_charge`, which owns its transactions (the attempt
is committed before the gateway is called outside any transaction); every other
write runs inside `transaction.atomic()` here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema
from ninja.responses import Status
from pydantic import AfterValidator, AwareDatetime, ConfigDict

from simrenew.api.idempotency import idempotent
from simrenew.api.pagination import MAX_LIMIT, paginate
from simrenew.api.routers.common import (
    PROMO_CODE_MAX,
    SubscriptionId,
    Text,
    gateway_idempotency_key,
    in_utc_range,
    payment_http_status,
    payment_method_ref,
    promo_guard,
    subscription_or_404,
)
from simrenew.api.schemas import ID_MAX, InputSchema, PageQuery
from simrenew.billing.models import Refund, RefundStatus
from simrenew.catalog.models import Carrier
from simrenew.catalog.services import get_plan
from simrenew.esims.models import EsimProfile
from simrenew.kit import clock
from simrenew.kit.errors import NotFound, PaymentFailed, ValidationFailed
from simrenew.payments.charging import run_charge
from simrenew.payments.failures import failure_message
from simrenew.payments.models import AttemptStatus, PaymentAttempt
from simrenew.subscriptions import cancellation
from simrenew.subscriptions.models import Subscription, SubscriptionState
from simrenew.subscriptions.queries import Status as DerivedStatus
from simrenew.subscriptions.queries import SubscriptionView, next_auto_renew_charge, read_view, view
from simrenew.subscriptions.renewals import begin_subscription, choose_renewal_plan
from simrenew.subscriptions.status import (
    in_service_q,
    not_expiring_by_time_q,
    service_ends_before_q,
    suspended_q,
)

router = Router(tags=["subscriptions"])

SubscriptionStatus = Literal["incomplete", "active", "expiring", "suspended", "cancelled", "terminated"]
# A status filter that depends on data used is checked row by row; one request reads at most this many.
STATUS_SCAN_BUDGET = 10 * MAX_LIMIT


# --- shapes -------------------------------------------------------------------------------------


class SubscriptionIn(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"esim_id": 12, "plan_id": 3, "payment_method_id": 18, "auto_renew": True, "promo_code": "WELCOME10"}
            ]
        }
    )

    esim_id: int = Field(..., ge=1, le=ID_MAX)
    plan_id: int = Field(..., ge=1, le=ID_MAX)
    payment_method_id: int = Field(..., ge=1, le=ID_MAX)
    auto_renew: bool = Field(True, description="Renew by itself before each period ends.")
    promo_code: Text | None = Field(None, max_length=PROMO_CODE_MAX)


class SubscriptionPatch(InputSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"auto_renew": False}, {"renewal_plan_id": 4}]})

    auto_renew: bool | None = None
    payment_method_id: int | None = Field(None, ge=1, le=ID_MAX, description="Pays future renewals.")
    renewal_plan_id: int | None = Field(
        None,
        ge=1,
        le=ID_MAX,
        description="What auto-renew and renewals without a `plan_id` buy from now on: a plan of the eSIM's "
        "carrier on sale now. The running and prepaid periods keep their plans.",
    )


class CancelIn(InputSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"when": "period_end"}]})

    when: Literal["period_end", "now"] = Field(
        "period_end",
        description="period_end: service runs to the end of what is paid (reversible until then); "
        "now: service stops at once.",
    )


class SubscriptionOut(Schema):
    id: int
    customer_id: int
    esim_id: int
    status: SubscriptionStatus = Field(
        ...,
        description="active; expiring (3 days or 10 % of data left, or less); suspended (nothing paid "
        "for now); cancelled (runs to its end, no renewals); terminated; incomplete (first payment "
        "not settled yet).",
    )
    plan_id: int = Field(
        ...,
        description="The plan of the period running now. When none runs (suspended, cancelled now, ended), the "
        "plan of the period that ran last; before the first period is paid, the plan being bought.",
    )
    renewal_plan_id: int = Field(
        ...,
        description="What auto-renew and a renewal without a `plan_id` buy. It changes only when asked "
        "(PATCH `renewal_plan_id`); renewing once with another plan does not change it.",
    )
    auto_renew: bool
    next_auto_renew_attempt_at: datetime | None = Field(
        ...,
        description="When auto-renew next tries to charge (72 hours before the end, then the retry "
        "schedule); null when auto-renew is off, the subscription is not live, or auto-renew stopped "
        "after a hard decline or its last retry (renew by hand or change the payment method).",
    )
    payment_method_id: int | None
    current_period_start: datetime | None
    current_period_end: datetime | None
    paid_through: datetime | None = Field(..., description="The end of the last paid period.")
    data_total_mb: int = Field(..., description="This period's allowance with bonus and top-ups.")
    data_left_mb: int
    days_left: int
    cancelled_at: datetime | None
    ended_at: datetime | None = Field(..., description="Set when cancelled now: service stopped here.")


class SubscriptionList(Schema):
    items: list[SubscriptionOut]
    has_more: bool
    next_starting_after: int | None


class SubscriptionQuery(PageQuery):
    customer_id: int | None = Field(None, ge=1, le=ID_MAX, description="Only this customer's subscriptions.")
    esim_id: int | None = Field(None, ge=1, le=ID_MAX, description="Only this eSIM's subscriptions.")
    status: SubscriptionStatus | None = Field(
        None,
        description="active and expiring depend on data used, so they are checked row by row: a page "
        "may then hold fewer than `limit` items while `has_more` is true; follow `next_starting_after`.",
    )
    carrier: Text | None = Field(None, max_length=32, description="Carrier code of the eSIM.")
    expiring_before: Annotated[AwareDatetime, AfterValidator(in_utc_range)] | None = Field(
        None, description="Only those whose service ends before this instant (ISO 8601 with offset)."
    )


# --- reading ------------------------------------------------------------------------------------


def _out(seen: SubscriptionView) -> SubscriptionOut:
    return SubscriptionOut(**_out_fields(seen))


def _out_fields(seen: SubscriptionView) -> dict[str, Any]:
    """A SubscriptionOut's fields, in its order (the order they are rendered in)."""
    subscription, period = seen.subscription, seen.current_period
    return {
        "id": subscription.pk,
        "customer_id": subscription.customer_id,
        "esim_id": subscription.esim_id,
        "status": seen.status,
        "plan_id": seen.plan_id,
        "renewal_plan_id": seen.renewal_plan_id,
        "auto_renew": subscription.auto_renew,
        "next_auto_renew_attempt_at": _next_auto_renew_attempt(subscription, seen.now),
        "payment_method_id": subscription.payment_method_id,
        "current_period_start": period.starts_at if period else None,
        "current_period_end": period.ends_at if period else None,
        "paid_through": subscription.paid_through,
        "data_total_mb": seen.data_total_mb,
        "data_left_mb": seen.data_left_mb,
        "days_left": seen.days_left,
        "cancelled_at": subscription.cancelled_at,
        "ended_at": subscription.ended_at,
    }


def _next_auto_renew_attempt(subscription: Subscription, now: datetime) -> datetime | None:
    return next_auto_renew_charge(subscription, now)  # none for a cancelled subscription


def _subscription_out(subscription_id: int) -> SubscriptionOut:
    return _out(view(subscription_or_404(subscription_id)))


def _carrier_code(value: str) -> str:
    code = value.strip().lower()
    if not Carrier.objects.filter(code=code).exists():
        known = ", ".join(Carrier.objects.order_by("code").values_list("code", flat=True)) or "none yet"
        raise ValidationFailed.on("carrier", f"Unknown carrier {value!r}; known carriers: {known}.")
    return code


def _narrow_to_status(subscriptions: QuerySet[Subscription], status: str, now: datetime) -> QuerySet[Subscription]:
    """What the database can tell of a derived status; rows are still checked one by one after."""
    stored = {
        DerivedStatus.INCOMPLETE: SubscriptionState.INCOMPLETE,
        DerivedStatus.CANCELLED: SubscriptionState.CANCELLED,
        DerivedStatus.TERMINATED: SubscriptionState.TERMINATED,
    }
    if status in stored:
        return subscriptions.filter(state=stored[status])
    live = subscriptions.filter(state=SubscriptionState.LIVE)
    if status == DerivedStatus.SUSPENDED:
        return live.filter(suspended_q(now))
    if status == DerivedStatus.ACTIVE:
        return live.filter(not_expiring_by_time_q(now))
    return live.filter(in_service_q(now))  # expiring: by time or by data


def _page_where(
    subscriptions: QuerySet[Subscription],
    *,
    limit: int,
    starting_after: int | None,
    keep: Callable[[SubscriptionView], bool],
    now: datetime,
) -> dict[str, Any]:
    """A page of the rows whose view passes `keep`, reading at most STATUS_SCAN_BUDGET rows."""
    kept: list[SubscriptionOut] = []
    cursor = starting_after
    scanned = 0
    while True:
        batch = paginate(subscriptions, limit=MAX_LIMIT, starting_after=cursor)
        for index, subscription in enumerate(batch.items):
            cursor = subscription.pk
            scanned += 1
            seen = view(subscription, now=now)
            if keep(seen):
                kept.append(_out(seen))
                if len(kept) == limit:
                    more = batch.has_more or index < len(batch.items) - 1
                    return {"items": kept, "has_more": more, "next_starting_after": cursor if more else None}
        if not batch.has_more:
            return {"items": kept, "has_more": False, "next_starting_after": None}
        if scanned >= STATUS_SCAN_BUDGET:
            return {"items": kept, "has_more": True, "next_starting_after": cursor}


# --- buying and reading -------------------------------------------------------------------------


@router.post(
    "",
    response={201: SubscriptionOut, 202: SubscriptionOut},
    summary="Buy a plan for an eSIM (pays the first period)",
    openapi_extra={
        "responses": {
            "402": {
                "description": "The first payment was refused; `code` says why. No subscription was made.",
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
            }
        }
    },
)
@idempotent()
def create_subscription(request: HttpRequest, payload: SubscriptionIn) -> Status:
    """201 when the first period is paid. A refused payment is a 402 problem (`code` says why) and
    leaves no subscription behind. 202 when the gateway's answer is not known yet: the subscription is
    `incomplete` until the payment is looked up (it is never charged twice)."""
    key = gateway_idempotency_key(request)

    def begin() -> PaymentAttempt:
        esim = EsimProfile.objects.select_related("customer").filter(pk=payload.esim_id).first()
        if esim is None:
            raise NotFound(f"No eSIM with id {payload.esim_id}.", code="esim_id")
        with promo_guard(request, esim.customer_id, payload.promo_code):
            return begin_subscription(
                esim=esim,
                plan=get_plan(payload.plan_id),
                payment_method=payment_method_ref(payload.payment_method_id),
                auto_renew=payload.auto_renew,
                promo_code=payload.promo_code,
                idempotency_key=key,
            )

    attempt = run_charge(begin)
    if attempt.status == AttemptStatus.FAILED or attempt.subscription_id is None:
        raise PaymentFailed(attempt.failure_message or failure_message(attempt.failure_code), code=attempt.failure_code)
    return Status(payment_http_status(attempt), _subscription_out(attempt.subscription_id))


@router.get("", response=SubscriptionList, summary="List subscriptions")
def list_subscriptions(request: HttpRequest, query: Query[SubscriptionQuery]) -> dict[str, Any]:
    """Oldest first, paged by id. Filter by customer, eSIM, carrier, status or `expiring_before` (service
    ends before that instant); filters combine."""
    now = clock.now()
    subscriptions = Subscription.objects.select_related("customer", "esim", "plan", "payment_method")
    if query.customer_id is not None:
        subscriptions = subscriptions.filter(customer_id=query.customer_id)
    if query.esim_id is not None:
        subscriptions = subscriptions.filter(esim_id=query.esim_id)
    if query.carrier is not None:
        subscriptions = subscriptions.filter(esim__carrier__code=_carrier_code(query.carrier))
    if query.expiring_before is not None:
        subscriptions = subscriptions.filter(service_ends_before_q(query.expiring_before))
    if query.status is None:
        page = paginate(subscriptions, limit=query.limit, starting_after=query.starting_after)
        return {
            "items": [_out(view(subscription, now=now)) for subscription in page.items],
            "has_more": page.has_more,
            "next_starting_after": page.next_starting_after,
        }
    wanted = query.status
    return _page_where(
        _narrow_to_status(subscriptions, wanted, now),
        limit=query.limit,
        starting_after=query.starting_after,
        keep=lambda seen: seen.status == wanted,
        now=now,
    )


@router.get("/{subscription_id}", response=SubscriptionOut, summary="Get a subscription")
def get_subscription(request: HttpRequest, subscription_id: SubscriptionId) -> HttpResponse:
    """The subscription as a customer sees it now: status, the running period, data left, days left and
    when auto-renew next charges."""
    # The API's hottest read: one statement (see `read_view`) instead of `view()`'s three, and the
    # fields rendered as they are (they are typed as SubscriptionOut's), not validated a second
    # time; tests/api/test_api_subscription_fast_path.py holds it to the validated answer.
    seen = read_view(subscription_id)
    if seen is None:
        raise NotFound(f"No subscription with id {subscription_id}.")
    from simrenew.api.api import api  # the API's renderer; api.py imports this module

    return api.create_response(request, _out_fields(seen), status=200)


@router.patch("/{subscription_id}", response=SubscriptionOut, summary="Change how a subscription renews")
@idempotent()
def update_subscription(
    request: HttpRequest, subscription_id: SubscriptionId, payload: SubscriptionPatch
) -> SubscriptionOut:
    """Turn auto-renew on or off, choose the method that pays future renewals (it must be the
    customer's), or the plan they buy (`renewal_plan_id`)."""
    with transaction.atomic():
        subscription = subscription_or_404(subscription_id)
        if payload.renewal_plan_id is not None:
            plan = get_plan(payload.renewal_plan_id, field="renewal_plan_id")
            subscription = choose_renewal_plan(subscription, plan, field="renewal_plan_id")
        method = payment_method_ref(payload.payment_method_id) if payload.payment_method_id is not None else None
        cancellation.update_renewal(subscription, auto_renew=payload.auto_renew, payment_method=method)
    return _subscription_out(subscription_id)


# --- cancelling ---------------------------------------------------------------------------------


class SubscriptionRefundOut(Schema):
    id: int
    invoice_id: int
    invoice_number: str = Field(..., description="The invoice (receipt) the money is paid back on.")
    amount_minor: int
    currency: str
    status: RefundStatus = Field(
        ...,
        examples=["succeeded"],
        description="pending (the payment provider has not answered yet; asked again until it does), "
        "succeeded, or failed.",
    )
    to_wallet: bool = Field(
        ..., description="True: back to the wallet; false: to the card or PayPal account that paid."
    )
    reason: str
    created_at: datetime
    completed_at: datetime | None


class SubscriptionRefundList(Schema):
    items: list[SubscriptionRefundOut]


class CancelOut(SubscriptionOut):
    refund_policy: cancellation.RefundPolicy = Field(
        ...,
        examples=["unstarted"],
        description="The operator's rule for cancelling now: none; unstarted (periods paid ahead and not "
        "started, in full); prorata (those, and the unused part of the running period, rounded up).",
    )
    refunds: list[SubscriptionRefundOut] = Field(
        ..., description="What cancelling now paid back (empty for a cancellation at period end)."
    )


def _refund_out(refund: Refund) -> SubscriptionRefundOut:
    return SubscriptionRefundOut(
        id=refund.pk,
        invoice_id=refund.invoice_id,
        invoice_number=refund.invoice.number,
        amount_minor=refund.amount_minor,
        currency=refund.currency,
        status=RefundStatus(refund.status),
        to_wallet=refund.to_wallet,
        reason=refund.reason,
        created_at=refund.created_at,
        completed_at=refund.completed_at,
    )


@router.post("/{subscription_id}/cancel", response=CancelOut, summary="Cancel a subscription")
@idempotent()
def cancel_subscription(request: HttpRequest, subscription_id: SubscriptionId, payload: CancelIn) -> CancelOut:
    """`period_end`: no more renewals, service runs to the end of what is paid, and POST …/resume
    undoes it until then. `now`: service stops at once, and what the operator's refund policy pays
    back (periods paid ahead and not started; under `prorata` the unused part of the running one)
    goes back the way it was paid, listed in `refunds`. Cancelling again, or retrying, refunds nothing
    more: the answer lists the same refunds."""
    with transaction.atomic():
        cancellation.cancel(subscription_or_404(subscription_id), when=payload.when)
    # The gateway is asked after the cancellation (and each refund's first step) committed.
    refunds = cancellation.finish_cancellation_refunds(subscription_id)
    return CancelOut(
        **_subscription_out(subscription_id).model_dump(),
        refund_policy=cancellation.refund_policy(),
        refunds=[_refund_out(refund) for refund in refunds],
    )


@router.get("/{subscription_id}/refunds", response=SubscriptionRefundList, summary="List a subscription's refunds")
def list_subscription_refunds(request: HttpRequest, subscription_id: SubscriptionId) -> SubscriptionRefundList:
    """Every refund on the subscription's invoices, oldest first: those cancelling now made, and
    any an operator made, with what, how much, where to and how far it got."""
    subscription = subscription_or_404(subscription_id)
    refunds = Refund.objects.filter(invoice__subscription_id=subscription.pk).select_related("invoice").order_by("id")
    return SubscriptionRefundList(items=[_refund_out(refund) for refund in refunds])


@router.post("/{subscription_id}/resume", response=SubscriptionOut, summary="Undo a cancellation at period end")
@idempotent()
def resume_subscription(request: HttpRequest, subscription_id: SubscriptionId) -> SubscriptionOut:
    """Undoes a cancellation at period end while the paid period still runs: renewals resume as before.
    A subscription cancelled now, or past its end, is a 409."""
    with transaction.atomic():
        cancellation.resume(subscription_or_404(subscription_id))
    return _subscription_out(subscription_id)
