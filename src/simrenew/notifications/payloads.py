"""What each event's payload holds: one typed shape per event type and the one function
that builds it. Services call the builder and hand the result to `notifications.services.emit`
(or `emit_many`), which checks it against its event type's shape (`notifications.events`).

The shapes are what partners' webhooks carry under `data` (plus `event_id`, `customer_id`,
`subscription_id` and `sequence`, added on sending), so a field is never renamed or dropped.
The webhook documentation (the OpenAPI document's `webhooks`) is generated from these classes.

Timestamps: a field typed `datetime` is written by the outbox's JSON encoder
(`2026-01-15T12:00:00Z`, milliseconds at most); a `Timestamp` field is already an ISO 8601 string
(`2026-01-15T12:00:00+00:00`). Both are documented as date-times; which one a field is stays as
it always was, so receivers see the same text as before. Amounts are minor units with their currency.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, TypedDict, Unpack

# An ISO 8601 date-time string with an offset, written by the builder.
Timestamp = Annotated[str, "date-time"]
# A `payments.failures.FailureCode` value, or a payment provider's own code kept as it was given.
FailureCodeText = Annotated[str, "failure-code"]

# What the customer should do about a failed renewal.
# confirm_payment: the bank wants the customer to confirm the payment themselves (3-D Secure):
# they renew on their plan's page, where the bank's check runs.
RenewalAction = Literal["wait_for_retry", "update_payment_method", "renew_by_hand", "confirm_payment"]
CancelWhen = Literal["period_end", "now"]


def _iso(moment: datetime | None) -> Timestamp | None:
    return moment.isoformat() if moment is not None else None


# --- customers and eSIMs ----------------------------------------------------------------------


class CustomerCreated(TypedDict):
    customer_id: int
    email: str


def customer_created(*, customer_id: int, email: str) -> CustomerCreated:
    return {"customer_id": customer_id, "email": email}


class EsimChanged(TypedDict):
    """esim.assigned and esim.installed; never the activation code (that is the customer's)."""

    esim_id: int
    customer_id: int | None
    carrier: str
    iccid: str
    msisdn: str
    status: str
    assigned_at: Timestamp | None
    installed_at: Timestamp | None


def esim_changed(
    *,
    esim_id: int,
    customer_id: int | None,
    carrier: str,
    iccid: str,
    msisdn: str,
    status: str,
    assigned_at: datetime | None,
    installed_at: datetime | None,
) -> EsimChanged:
    return {
        "esim_id": esim_id,
        "customer_id": customer_id,
        "carrier": carrier,
        "iccid": iccid,
        "msisdn": msisdn,
        "status": status,
        "assigned_at": _iso(assigned_at),
        "installed_at": _iso(installed_at),
    }


class EsimDownloadFailed(TypedDict):
    """esim.download_failed: the SM-DP+ reported that the phone could not download or install it."""

    esim_id: int
    customer_id: int | None
    carrier: str
    iccid: str
    status: str
    notification_point: int
    reason: str  # the SM-DP+'s words (statusCodeData message), for support; may be empty


def esim_download_failed(
    *, esim_id: int, customer_id: int | None, carrier: str, iccid: str, status: str, point: int, reason: str
) -> EsimDownloadFailed:
    return {
        "esim_id": esim_id,
        "customer_id": customer_id,
        "carrier": carrier,
        "iccid": iccid,
        "status": status,
        "notification_point": point,
        "reason": reason,
    }


class EsimPortCompleted(TypedDict):
    """esim.port_completed: the carrier moved the customer's number to the new eSIM (porting)."""

    esim_id: int
    customer_id: int | None
    carrier: str  # the new eSIM's carrier
    msisdn: str  # the number moved, which the eSIM has now
    old_subscription_id: int | None  # the plan the number came from
    old_plan_ended: bool  # whether moving the number ended that plan now
    completed_at: Timestamp | None


def esim_port_completed(
    *,
    esim_id: int,
    customer_id: int | None,
    carrier: str,
    msisdn: str,
    old_subscription_id: int | None,
    old_plan_ended: bool,
    completed_at: datetime | None,
) -> EsimPortCompleted:
    return {
        "esim_id": esim_id,
        "customer_id": customer_id,
        "carrier": carrier,
        "msisdn": msisdn,
        "old_subscription_id": old_subscription_id,
        "old_plan_ended": old_plan_ended,
        "completed_at": _iso(completed_at),
    }


class EsimPortFailed(TypedDict):
    """esim.port_failed: the carrier could not move the number; never the account number or PIN."""

    esim_id: int
    customer_id: int | None
    carrier: str
    msisdn: str  # the number that was to move
    esim_msisdn: str  # the number the new eSIM has instead (may be empty until the carrier gives one)
    reason: str  # the carrier's words


def esim_port_failed(
    *, esim_id: int, customer_id: int | None, carrier: str, msisdn: str, esim_msisdn: str, reason: str
) -> EsimPortFailed:
    return {
        "esim_id": esim_id,
        "customer_id": customer_id,
        "carrier": carrier,
        "msisdn": msisdn,
        "esim_msisdn": esim_msisdn,
        "reason": reason,
    }


# --- paid periods and payments ----------------------------------------------------------------


# The period a payment bought, as `subscription.created` / `.renewed` tell it. (A comment, not a
# docstring: a TypedDict's docstring becomes its description in the webhook documentation.)
class PeriodPayload(TypedDict):
    number: int
    starts_at: datetime
    ends_at: datetime


class SubscriptionCreated(TypedDict):
    subscription_id: int
    period: PeriodPayload
    plan_id: int
    invoice: str
    amount_minor: int
    currency: str


class SubscriptionRenewed(SubscriptionCreated):
    auto_renewed: bool


class PeriodPaidArgs(TypedDict):
    """The keyword arguments of the builders of `subscription.created` and `.renewed` (not a
    payload: the period's fields come flat and the builder nests them)."""

    subscription_id: int
    period_number: int
    starts_at: datetime
    ends_at: datetime
    plan_id: int
    invoice: str
    amount_minor: int
    currency: str


def subscription_created(**paid: Unpack[PeriodPaidArgs]) -> SubscriptionCreated:
    return {
        "subscription_id": paid["subscription_id"],
        "period": {"number": paid["period_number"], "starts_at": paid["starts_at"], "ends_at": paid["ends_at"]},
        "plan_id": paid["plan_id"],
        "invoice": paid["invoice"],
        "amount_minor": paid["amount_minor"],
        "currency": paid["currency"],
    }


def subscription_renewed(*, auto_renewed: bool, **paid: Unpack[PeriodPaidArgs]) -> SubscriptionRenewed:
    """`subscription.created`'s payload, and whether the worker renewed it (else the customer did)."""
    return {**subscription_created(**paid), "auto_renewed": auto_renewed}


class RenewalFailed(TypedDict):
    """A renewal the customer paid by hand, or an automatic try, failed. `failure_code` is one of
    `payments.failures.FailureCode` (or a gateway's own code), `failure_message` its English words;
    `next_retry_at` is null when no automatic try follows; `expires_at` is when the paid service ends."""

    subscription_id: int
    failure_code: FailureCodeText
    failure_message: str
    amount_minor: int
    currency: str
    next_retry_at: Timestamp | None
    action: RenewalAction
    expires_at: Timestamp | None


def renewal_failed(
    *,
    subscription_id: int,
    failure_code: str,
    failure_message: str,
    amount_minor: int,
    currency: str,
    expires_at: datetime | None,
    next_retry_at: datetime | None = None,
    action: RenewalAction | None = None,
) -> RenewalFailed:
    """Without an `action`: wait for the next automatic try if there is one, else update the
    payment method (what a customer whose own payment failed is asked to do)."""
    if action is None:
        action = "wait_for_retry" if next_retry_at is not None else "update_payment_method"
    return {
        "subscription_id": subscription_id,
        "failure_code": failure_code,
        "failure_message": failure_message,
        "amount_minor": amount_minor,
        "currency": currency,
        "next_retry_at": _iso(next_retry_at),
        "action": action,
        "expires_at": _iso(expires_at),
    }


class PaymentRefunded(TypedDict):
    invoice: str
    refund_id: int
    amount_minor: int
    currency: str
    to_wallet: bool


def payment_refunded(
    *, invoice: str, refund_id: int, amount_minor: int, currency: str, to_wallet: bool
) -> PaymentRefunded:
    return {
        "invoice": invoice,
        "refund_id": refund_id,
        "amount_minor": amount_minor,
        "currency": currency,
        "to_wallet": to_wallet,
    }


class SubscriptionToppedUp(TypedDict):
    subscription_id: int
    data_mb: int
    invoice: str


def subscription_topped_up(*, subscription_id: int, data_mb: int, invoice: str) -> SubscriptionToppedUp:
    return {"subscription_id": subscription_id, "data_mb": data_mb, "invoice": invoice}


# --- reminders ----------------------------------------------------------------------------------


class SubscriptionExpiring(TypedDict):
    """The paid service (every prepaid period, `expires_at` its end) ends in about `days_left`
    days and nothing will renew it: no auto-renew, or auto-renew without a method it can charge."""

    subscription_id: int
    period_number: int
    expires_at: datetime
    days_left: int  # 7, 3 or 1


def subscription_expiring(
    *, subscription_id: int, period_number: int, expires_at: datetime, days_left: int
) -> SubscriptionExpiring:
    return {
        "subscription_id": subscription_id,
        "period_number": period_number,
        "expires_at": expires_at,
        "days_left": days_left,
    }


class SubscriptionExpiringSoon(TypedDict):
    """The paid service (every prepaid period) ends within `hours_left` hours and nothing will
    renew it: the last warning, sent by SMS."""

    subscription_id: int
    period_number: int
    expires_at: datetime
    hours_left: int


def subscription_expiring_soon(
    *, subscription_id: int, period_number: int, expires_at: datetime, hours_left: int
) -> SubscriptionExpiringSoon:
    return {
        "subscription_id": subscription_id,
        "period_number": period_number,
        "expires_at": expires_at,
        "hours_left": hours_left,
    }


class AutoRenewUpcoming(TypedDict):
    subscription_id: int
    period_number: int
    charge_at: datetime
    expires_at: datetime
    amount_minor: int
    currency: str
    payment_method: str  # as the customer knows it ("Visa •••• 4242"), "" when none is saved


def auto_renew_upcoming(
    *,
    subscription_id: int,
    period_number: int,
    charge_at: datetime,
    expires_at: datetime,
    amount_minor: int,
    currency: str,
    payment_method: str,
) -> AutoRenewUpcoming:
    return {
        "subscription_id": subscription_id,
        "period_number": period_number,
        "charge_at": charge_at,
        "expires_at": expires_at,
        "amount_minor": amount_minor,
        "currency": currency,
        "payment_method": payment_method,
    }


class PaymentMethodExpiring(TypedDict):
    subscription_id: int
    period_number: int
    payment_method_id: int
    payment_method: str
    exp_month: int | None
    exp_year: int | None
    renews_at: datetime


def payment_method_expiring(
    *,
    subscription_id: int,
    period_number: int,
    payment_method_id: int,
    payment_method: str,
    exp_month: int | None,
    exp_year: int | None,
    renews_at: datetime,
) -> PaymentMethodExpiring:
    return {
        "subscription_id": subscription_id,
        "period_number": period_number,
        "payment_method_id": payment_method_id,
        "payment_method": payment_method,
        "exp_month": exp_month,
        "exp_year": exp_year,
        "renews_at": renews_at,
    }


class UsageThresholdReached(TypedDict):
    subscription_id: int
    period_number: int
    percent: int  # 80 or 95
    data_total_mb: int
    data_left_mb: int


def usage_threshold_reached(
    *, subscription_id: int, period_number: int, percent: int, data_total_mb: int, data_left_mb: int
) -> UsageThresholdReached:
    return {
        "subscription_id": subscription_id,
        "period_number": period_number,
        "percent": percent,
        "data_total_mb": data_total_mb,
        "data_left_mb": data_left_mb,
    }


# --- the end of service and changes by the customer or the operator -----------------------------


class SubscriptionSuspended(TypedDict):
    subscription_id: int
    period_number: int
    suspended_at: datetime | None


def subscription_suspended(
    *, subscription_id: int, period_number: int, suspended_at: datetime | None
) -> SubscriptionSuspended:
    return {"subscription_id": subscription_id, "period_number": period_number, "suspended_at": suspended_at}


class TerminationWarning(TypedDict):
    subscription_id: int
    terminates_at: datetime


def termination_warning(*, subscription_id: int, terminates_at: datetime) -> TerminationWarning:
    return {"subscription_id": subscription_id, "terminates_at": terminates_at}


class SubscriptionTerminated(TypedDict):
    subscription_id: int
    terminated_at: datetime


def subscription_terminated(*, subscription_id: int, terminated_at: datetime) -> SubscriptionTerminated:
    return {"subscription_id": subscription_id, "terminated_at": terminated_at}


class SubscriptionCancelled(TypedDict):
    """`refund_minor` is what cancelling now pays back under the operator's `refund_policy`:
    periods paid ahead and not started, in full, and under `prorata` the unused part of the
    running period (`refund_unused_minor` of it); `refund_to_wallet_minor` of it goes to the
    wallet, the rest to the card or PayPal account that paid. Each refund is reported again by
    `payment.refunded` once it is done."""

    subscription_id: int
    when: CancelWhen
    service_ends_at: datetime | None
    refund_policy: Literal["none", "unstarted", "prorata"]
    refund_minor: int
    refund_unused_minor: int
    refund_to_wallet_minor: int
    refund_currency: str | None


def subscription_cancelled(
    *,
    subscription_id: int,
    when: CancelWhen,
    service_ends_at: datetime | None,
    refund_policy: Literal["none", "unstarted", "prorata"] = "unstarted",
    refund_minor: int = 0,
    refund_unused_minor: int = 0,
    refund_to_wallet_minor: int = 0,
    refund_currency: str | None = None,
) -> SubscriptionCancelled:
    return {
        "subscription_id": subscription_id,
        "when": when,
        "service_ends_at": service_ends_at,
        "refund_policy": refund_policy,
        "refund_minor": refund_minor,
        "refund_unused_minor": refund_unused_minor,
        "refund_to_wallet_minor": refund_to_wallet_minor,
        "refund_currency": refund_currency,
    }


class SubscriptionResumed(TypedDict):
    subscription_id: int
    paid_through: datetime | None


def subscription_resumed(*, subscription_id: int, paid_through: datetime | None) -> SubscriptionResumed:
    return {"subscription_id": subscription_id, "paid_through": paid_through}


class SubscriptionExtended(TypedDict):
    """An operator's goodwill: the current period ends `days` later."""

    subscription_id: int
    period_number: int
    days: int
    previous_ends_at: Timestamp
    ends_at: Timestamp


def subscription_extended(
    *, subscription_id: int, period_number: int, days: int, previous_ends_at: datetime, ends_at: datetime
) -> SubscriptionExtended:
    return {
        "subscription_id": subscription_id,
        "period_number": period_number,
        "days": days,
        "previous_ends_at": previous_ends_at.isoformat(),
        "ends_at": ends_at.isoformat(),
    }
