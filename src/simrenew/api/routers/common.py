"""What the routers share, in one place so that no router imports another.

Input types: text the database can store, instants it can compare. PostgreSQL refuses text
holding NUL (U+0000) and a timestamp that leaves the years 1 to 9999 once moved to UTC
(0001-01-01T00:00+23:59); without these checks such input would reach the database and fail
there (a 500). Here it is a 422 naming the field.

Then the rules every paying route shares (renewals, top-ups, wallet top-ups): how a payment
attempt is shown, which HTTP status its outcome gets and which idempotency key goes to the
gateway; and how a route finds the customer, payment method or subscription a request names.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Annotated, Literal

from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpRequest
from ninja import Path
from pydantic import AfterValidator

from simrenew.api.auth import request_api_key
from simrenew.api.idempotency import scoped_idempotency_key
from simrenew.api.schemas import ID_MAX
from simrenew.billing.models import Invoice
from simrenew.catalog import promotion_attempts
from simrenew.customers.models import Customer
from simrenew.kit import logs
from simrenew.kit.errors import NotFound, ValidationFailed
from simrenew.payments.models import AttemptStatus, PaymentAttempt, PaymentMethod
from simrenew.payments.queries import attempt_for_key
from simrenew.subscriptions.models import Subscription

# --- input types ---------------------------------------------------------------------------------


def no_nul(value: str) -> str:
    # Never repeats the value: it may be a card number.
    if "\x00" in value:
        raise ValueError("Text may not contain the NUL character (\\u0000).")
    return value


def in_utc_range(value: datetime) -> datetime:
    """An instant with an offset that still exists in UTC. A time without an offset is left
    for the service to judge (it may be a per-record rejection rather than a refusal)."""
    if value.tzinfo is None:
        return value
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("This time lies outside the years 1 to 9999 once moved to UTC.") from None


Text = Annotated[str, AfterValidator(no_nul)]
StorableDatetime = Annotated[datetime, AfterValidator(in_utc_range)]


# --- shared by every route that takes money ------------------------------------------------------

PaymentOutcome = Literal["succeeded", "failed", "pending"]


def gateway_idempotency_key(request: HttpRequest) -> str:
    """The key the gateway sees: the client's `Idempotency-Key` scoped to its API key, so a
    retried request can never charge twice; without one, a fresh key (the request is new)."""
    return scoped_idempotency_key(request) or f"api:auto:{uuid.uuid4()}"


def payment_outcome(attempt: PaymentAttempt) -> PaymentOutcome:
    """An attempt still `pending` or `unknown` is reported as `pending`: its outcome is looked up later."""
    if attempt.status == AttemptStatus.SUCCEEDED:
        return "succeeded"
    if attempt.status == AttemptStatus.FAILED:
        return "failed"
    return "pending"


def payment_http_status(attempt: PaymentAttempt) -> int:
    """201 paid, 402 refused (the refusal is a recorded fact, not a problem), 202 outcome not known yet."""
    return {"succeeded": 201, "failed": 402, "pending": 202}[payment_outcome(attempt)]


def invoice_of(attempt: PaymentAttempt) -> Invoice | None:
    """The invoice a paid attempt issued; None before it is paid (or when it paid nothing new,
    e.g. a renewal that landed after a cancellation and went to the wallet)."""
    try:
        return attempt.invoice
    except ObjectDoesNotExist:
        return None


def customer_or_404(customer_id: int, *, field: str | None = "customer_id") -> Customer:
    """`field` names the body field that held the id (the problem's `code`); None for a path id."""
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        raise NotFound(f"No customer with id {customer_id}.", code=field)
    logs.bind(customer_id=customer.pk)
    return customer


def replayed_attempt(
    key: str, *, purpose: str, customer_id: int, same: Callable[[PaymentAttempt], bool]
) -> PaymentAttempt | None:
    """The attempt an earlier try of this very request already wrote, so that a retry settles that one
    (the gateway answers a repeated key with the first outcome) instead of being refused as a reused key.
    Reached only when the first try ended without an answer the idempotency record could keep; an attempt
    that `same` does not recognise is left alone, and writing a new one with its key is refused (409)."""
    attempt = attempt_for_key(key)
    if attempt is None or attempt.purpose != purpose or attempt.customer_id != customer_id:
        return None
    return attempt if same(attempt) else None


def payment_method_ref(method_id: int, *, field: str = "payment_method_id") -> PaymentMethod:
    """A payment method named in a request body. Whether it may pay for this customer is
    the service's call (422); an id that names nothing is a 404."""
    method = PaymentMethod.objects.filter(pk=method_id).first()
    if method is None:
        raise NotFound(f"No payment method with id {method_id}.", code=field)
    if method.removed_at is not None:
        raise ValidationFailed.on(field, f"Payment method {method_id} was removed; choose another.")
    return method


# --- subscriptions -------------------------------------------------------------------------------

SubscriptionId = Annotated[int, Path(ge=1, le=ID_MAX, description="The subscription's id.")]
PROMO_CODE_MAX = 40


def promo_guard(request: HttpRequest, customer_id: int | None, promo_code: str | None) -> AbstractContextManager[None]:
    """Failed promotion codes are counted per customer and per API key (a partner's server sends
    every customer's requests from one address); over the limit: 429, the code not looked up."""
    client = f"api-key:{request_api_key(request).pk}"
    return promotion_attempts.guard(customer_id=customer_id, client=client, code=promo_code, request=request)


def subscription_or_404(subscription_id: int) -> Subscription:
    subscription = (
        Subscription.objects.select_related("customer", "esim", "plan", "payment_method")
        .filter(pk=subscription_id)
        .first()
    )
    if subscription is None:
        raise NotFound(f"No subscription with id {subscription_id}.")
    logs.bind(customer_id=subscription.customer_id)
    return subscription
