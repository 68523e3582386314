"""Cancel (at period end, reversible until then; or now), resume, and how a subscription renews.

Cancelling now pays back what the customer will not get (DESIGN.md §1, trust rules), under the
operator's `SIMRENEW_CANCEL_REFUND_POLICY` (`RefundPolicy`): periods paid ahead and not started
are refunded in full (`unstarted`, the default, and `prorata`); the running period is kept
(`none`, `unstarted`) or its unused part is refunded (`prorata`: the amount paid for the period
times the unused share of its length, rounded up to the minor unit, so any rounding favours the
customer). Each refund goes back the way its period was paid (card or PayPal through the gateway,
the wallet to the wallet) and is step 1 of the three-step refund (billing.refunds), written in the
cancellation's own transaction under a key made of the subscription and the invoice, so a second
cancellation, a retried request or a race can never refund a period twice. The edge calls the
gateway after commit (`finish_cancellation_refunds`); a crash in between leaves the refund
pending, and the reconciler (`simrenew reconcile`, the worker) finishes it.

Each change is audited when an operator makes it (a partner's API key, say); the customer's
own, in the portal, is not (see `kit.audit`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from django.conf import settings

from simrenew.billing.models import Invoice, Refund, RefundStatus
from simrenew.billing.refunds import execute_refund, paid_internally, refundable_minor, request_refund
from simrenew.catalog.services import release_redemption
from simrenew.kit import clock
from simrenew.kit.audit import record_change
from simrenew.kit.errors import ValidationFailed
from simrenew.notifications import payloads
from simrenew.notifications.events import EventType
from simrenew.notifications.services import emit
from simrenew.payments.models import PaymentMethod
from simrenew.subscriptions.errors import CancellationNotAllowed
from simrenew.subscriptions.models import Period, Subscription, SubscriptionState
from simrenew.subscriptions.schedule import due_after_change
from simrenew.subscriptions.service_changes import ServiceChange, ServiceChangeKind, announce
from simrenew.subscriptions.status import running_to_period_end, service_ends_at

CancelWhen = Literal["period_end", "now"]
# What the audit trail shows of a subscription before and after.
_AUDITED = ("state", "cancelled_at", "ended_at", "auto_renew", "payment_method_id", "renewal_due_at")


def _picture(subscription: Subscription) -> dict[str, Any]:
    return {name: getattr(subscription, name) for name in _AUDITED}


def _record(action: str, subscription: Subscription, before: dict[str, Any]) -> None:
    after = _picture(subscription)
    changed = [name for name in _AUDITED if before[name] != after[name]]
    record_change(
        action=action,
        target=subscription,
        before={name: before[name] for name in changed},
        after={name: after[name] for name in changed},
    )


def _locked(subscription: Subscription) -> Subscription:
    return Subscription.objects.select_for_update().select_related("customer").get(pk=subscription.pk)


# --- what cancelling now refunds ------------------------------------------------------------------------------------


class RefundPolicy(StrEnum):
    """The operator's `SIMRENEW_CANCEL_REFUND_POLICY` (settings.py refuses any other value)."""

    NONE = "none"  # nothing is refunded
    UNSTARTED = "unstarted"  # periods paid ahead and not started, in full
    PRORATA = "prorata"  # those, and the unused part of the running period


def refund_policy() -> RefundPolicy:
    return RefundPolicy(settings.SIMRENEW_CANCEL_REFUND_POLICY)


class RefundPart(StrEnum):
    UNSTARTED = "unstarted"  # a period paid ahead that has not started
    RUNNING = "running"  # the period running now


# A customer who saw the refund on the cancel page and confirms within this long gets what the
# page said: the pro rata part is worked out at the moment shown, never later (it only shrinks).
QUOTE_HONOURED_FOR = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class PeriodRefund:
    """One period that cancelling now cuts short, and what of it is paid back (0: nothing)."""

    period: Period
    invoice: Invoice
    part: RefundPart
    amount_minor: int
    to_wallet: bool  # else back to the card or PayPal account that paid

    @property
    def currency(self) -> str:
        return self.invoice.currency

    @property
    def in_full(self) -> bool:
        return self.amount_minor > 0 and self.amount_minor == self.invoice.total_minor


@dataclass(frozen=True, slots=True)
class CancelNowRefund:
    """What cancelling now at `as_of` refunds: the running period first (if any), then the periods
    paid ahead. Periods already refunded, or free, are left out."""

    policy: RefundPolicy
    as_of: datetime
    periods: tuple[PeriodRefund, ...]

    @property
    def refunded(self) -> tuple[PeriodRefund, ...]:
        return tuple(line for line in self.periods if line.amount_minor > 0)

    @property
    def total_minor(self) -> int:
        return sum(line.amount_minor for line in self.periods)

    @property
    def unused_minor(self) -> int:
        """What of the total pays back the unused part of the running period (`prorata` only)."""
        return sum(line.amount_minor for line in self.periods if line.part == RefundPart.RUNNING)

    @property
    def to_wallet_minor(self) -> int:
        """What of the total goes back to the wallet (the rest to the card or PayPal that paid)."""
        return sum(line.amount_minor for line in self.periods if line.to_wallet)

    @property
    def currency(self) -> str | None:
        return self.periods[0].currency if self.periods else None


def unused_share_minor(*, paid_minor: int, starts_at: datetime, ends_at: datetime, at: datetime) -> int:
    """The part of `paid_minor` for the time from `at` to `ends_at` of a period, pro rata to the
    microsecond and rounded up to the minor unit (in the customer's favour)."""
    length = (ends_at - starts_at) // timedelta(microseconds=1)
    unused = (ends_at - max(at, starts_at)) // timedelta(microseconds=1)
    if length <= 0 or unused <= 0:
        return 0
    return min(paid_minor, -(-paid_minor * unused // length))


def _honoured(as_of: datetime | None, now: datetime) -> datetime:
    if as_of is None or as_of > now or as_of < now - QUOTE_HONOURED_FOR:
        return now
    return as_of


def cancel_now_refund(subscription: Subscription, *, as_of: datetime | None = None) -> CancelNowRefund:
    """What cancelling `subscription` now would refund (nothing changes). `as_of` is when the customer
    was shown it: honoured for `QUOTE_HONOURED_FOR`, else now. Which periods are running and which
    have not started is always decided now (a period that started or ended since the page showed
    is cut short as it is now); `as_of` only fixes the pro rata share of the period running now."""
    policy = refund_policy()
    now = clock.now()
    at = _honoured(as_of, now)
    if subscription.state not in (SubscriptionState.LIVE, SubscriptionState.CANCELLED) or (
        subscription.ended_at is not None
    ):
        return CancelNowRefund(policy, at, ())
    periods = (
        Period.objects.filter(subscription_id=subscription.pk, ends_at__gt=now)
        .select_related("plan", "invoice__payment_attempt__payment_method")
        .order_by("number")
    )
    lines: list[PeriodRefund] = []
    for period in periods:
        invoice = period.invoice
        left = refundable_minor(invoice)
        if invoice.total_minor <= 0 or left <= 0:
            continue  # nothing was paid, or it has been refunded already
        running = period.starts_at <= now
        if running:
            # The quoted moment counts only for a period that was already running then.
            share_at = at if period.starts_at <= at else now
            amount = (
                unused_share_minor(
                    paid_minor=invoice.total_minor, starts_at=period.starts_at, ends_at=period.ends_at, at=share_at
                )
                if policy == RefundPolicy.PRORATA
                else 0
            )
        else:
            amount = invoice.total_minor if policy != RefundPolicy.NONE else 0
        lines.append(
            PeriodRefund(
                period=period,
                invoice=invoice,
                part=RefundPart.RUNNING if running else RefundPart.UNSTARTED,
                amount_minor=min(amount, left),
                to_wallet=paid_internally(invoice.payment_attempt),
            )
        )
    return CancelNowRefund(policy, at, tuple(lines))


def _refund_key_prefix(subscription_id: int) -> str:
    return f"cancel_{subscription_id}_"


def cancellation_refund_key(subscription_id: int, invoice_id: int) -> str:
    """The refund's idempotency key (ours and the gateway's): one refund per invoice per cancellation."""
    return f"{_refund_key_prefix(subscription_id)}{invoice_id}"


def cancellation_refunds(subscription_id: int) -> list[Refund]:
    """The refunds cancelling now made for this subscription, oldest first."""
    return list(
        Refund.objects.filter(
            invoice__subscription_id=subscription_id,
            idempotency_key__startswith=_refund_key_prefix(subscription_id),
        )
        .select_related("invoice")
        .order_by("id")
    )


def finish_cancellation_refunds(subscription_id: int) -> list[Refund]:
    """Steps 2 and 3 of the refunds a cancellation wrote (an edge helper: run it after the
    cancellation has committed; it owns its transactions). Running it again, or after the
    reconciler, asks the gateway again with the same keys: nothing is paid back twice."""
    return [execute_refund(refund) for refund in cancellation_refunds(subscription_id)]


def _refund_cut_short(subscription: Subscription, owed: CancelNowRefund, now: datetime) -> None:
    for line in owed.refunded:
        where = "not started, in full" if line.part == RefundPart.UNSTARTED else "unused part"
        request_refund(
            invoice=line.invoice,
            amount_minor=line.amount_minor,
            reason=f"cancelled now: period {line.period.number} ({where})",
            idempotency_key=cancellation_refund_key(subscription.pk, line.invoice.pk),
        )
        if line.part == RefundPart.UNSTARTED and line.in_full:
            # The promotion that period used was never enjoyed: the customer may use it again.
            release_redemption(line.invoice.payment_attempt_id)
    # A period a promotion made free is not refunded (nothing was paid), but if it has not started
    # its promotion was never enjoyed either: given back like that of a paid period.
    for attempt_id in Period.objects.filter(
        subscription_id=subscription.pk, starts_at__gt=now, invoice__total_minor=0
    ).values_list("invoice__payment_attempt_id", flat=True):
        release_redemption(attempt_id)


def _retry_refused_refunds(subscription: Subscription) -> None:
    """Cancelling now again asks once more for each cancellation refund the gateway refused
    (under a new key, see `request_refund`); refunds pending or paid are left as they are."""
    latest: dict[int, Refund] = {}
    for refund in cancellation_refunds(subscription.pk):
        latest[refund.invoice_id] = refund
    for refund in latest.values():
        if refund.status == RefundStatus.FAILED:
            request_refund(
                invoice=refund.invoice,
                amount_minor=refund.amount_minor,
                reason=refund.reason,
                idempotency_key=cancellation_refund_key(subscription.pk, refund.invoice_id),
            )


def retry_refused_refunds(subscription: Subscription) -> None:
    """The retry cancelling now again makes, on its own (the portal's "Try the refund again"; a
    subscription ended and terminated since can no longer be cancelled), inside the caller's
    transaction; the caller runs `finish_cancellation_refunds` after commit."""
    _retry_refused_refunds(_locked(subscription))


# --- cancelling, resuming ----------------------------------------------------------------------------------------


def cancel(subscription: Subscription, *, when: CancelWhen, refund_as_of: datetime | None = None) -> Subscription:
    """Inside the caller's transaction. Cancelling now also writes the refunds of `cancel_now_refund`
    (step 1); the caller runs `finish_cancellation_refunds` once it has committed."""
    if when not in ("period_end", "now"):
        raise ValidationFailed.on("when", "Say when to cancel: period_end or now.")
    subscription = _locked(subscription)
    if subscription.state in (SubscriptionState.INCOMPLETE, SubscriptionState.TERMINATED):
        raise CancellationNotAllowed(f"A {subscription.state} subscription cannot be cancelled.")
    now = clock.now()
    already_ended = subscription.ended_at is not None
    if subscription.state == SubscriptionState.CANCELLED and (when == "period_end" or already_ended):
        # Cancelling twice changes nothing and refunds nothing again; it only asks again for a
        # refund the gateway refused.
        if when == "now" and already_ended:
            _retry_refused_refunds(subscription)
        return subscription
    owed = cancel_now_refund(subscription, as_of=refund_as_of) if when == "now" else None
    before = _picture(subscription)
    subscription.state = SubscriptionState.CANCELLED
    subscription.cancelled_at = subscription.cancelled_at or now
    stops_service = when == "now" and (subscription.paid_through is None or subscription.paid_through > now)
    if stops_service:
        subscription.ended_at = now
    subscription.save(update_fields=["state", "cancelled_at", "ended_at"])
    if stops_service and subscription.paid_through is not None:
        # The line stops at the network now (a lapsed one was already suspended).
        announce([ServiceChange(ServiceChangeKind.STOP, subscription.pk, subscription.esim_id, "", now)])
    if owed is not None:
        _refund_cut_short(subscription, owed, now)
    emit(
        EventType.CANCELLED,
        customer=subscription.customer,
        subscription=subscription,
        data=payloads.subscription_cancelled(
            subscription_id=subscription.pk,
            when=when,
            service_ends_at=service_ends_at(subscription),
            refund_policy=refund_policy().value,
            refund_minor=owed.total_minor if owed is not None else 0,
            refund_unused_minor=owed.unused_minor if owed is not None else 0,
            refund_to_wallet_minor=owed.to_wallet_minor if owed is not None else 0,
            refund_currency=owed.refunded[0].currency if owed is not None and owed.refunded else None,
        ),
    )
    _record(f"cancel.{when}", subscription, before)
    return subscription


def resume(subscription: Subscription) -> Subscription:
    """Undo a cancellation at period end, while the period still runs."""
    subscription = _locked(subscription)
    if subscription.state == SubscriptionState.LIVE:
        return subscription
    now = clock.now()
    if not running_to_period_end(subscription, now):
        raise CancellationNotAllowed(
            "Only a subscription cancelled at period end can be resumed, and only before that period ends."
        )
    if Subscription.objects.filter(esim_id=subscription.esim_id, state__in=["incomplete", "live"]).exists():
        raise CancellationNotAllowed("This eSIM has another subscription now.")
    before = _picture(subscription)
    subscription.state = SubscriptionState.LIVE
    subscription.cancelled_at = None
    subscription.renewal_due_at = due_after_change(subscription.paid_through, now)
    subscription.save(update_fields=["state", "cancelled_at", "renewal_due_at"])
    emit(
        EventType.RESUMED,
        customer=subscription.customer,
        subscription=subscription,
        data=payloads.subscription_resumed(subscription_id=subscription.pk, paid_through=subscription.paid_through),
    )
    _record("resume", subscription, before)
    return subscription


def update_renewal(
    subscription: Subscription, *, auto_renew: bool | None = None, payment_method: PaymentMethod | None = None
) -> Subscription:
    subscription = _locked(subscription)
    before = _picture(subscription)
    fields = []
    if payment_method is not None:
        if payment_method.customer_id != subscription.customer_id or payment_method.removed_at is not None:
            raise ValidationFailed.on("payment_method_id", "This payment method does not belong to the customer.")
        subscription.payment_method = payment_method
        fields.append("payment_method")
    if auto_renew is not None:
        if auto_renew and subscription.state in (SubscriptionState.CANCELLED, SubscriptionState.TERMINATED):
            raise CancellationNotAllowed("Resume the subscription before turning auto-renew on.")
        if auto_renew and subscription.payment_method is None:
            raise ValidationFailed.on("payment_method_id", "Auto-renew needs a payment method.")
        subscription.auto_renew = auto_renew
        fields.append("auto_renew")
    if fields:
        if subscription.auto_renew:
            # A new method or auto-renew turned on: the schedule starts afresh
            # (at once, inside the charging window), after any hard decline.
            subscription.renewal_due_at = due_after_change(subscription.paid_through, clock.now())
            fields.append("renewal_due_at")
        subscription.save(update_fields=fields)
        _record("update_renewal", subscription, before)
    return subscription
