"""Auto-renew steps 1 and 3 in bulk: write a batch's attempts with their keys (committed
before the gateway is called), then record the gateway's answers and apply the paid
periods, invoices and events in one transaction per batch. The rules are in autorenew.py;
the functions that say "(edge)" own their transactions, like `charging.execute`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction

from simrenew.billing.services import InvoiceLine, issue_invoices
from simrenew.kit import clock, rows
from simrenew.notifications.events import EventType
from simrenew.notifications.services import Event, emit_many, take_sequences
from simrenew.payments.charging import RECONCILE_SCHEDULE, reconcile_at
from simrenew.payments.failures import failure_message
from simrenew.payments.gateway import ChargeRequest, ChargeResult, ChargeStatus
from simrenew.payments.models import OPEN_ATTEMPT_STATUSES, AttemptPurpose, AttemptStatus, PaymentAttempt
from simrenew.subscriptions.autorenew import GatewayCharge
from simrenew.subscriptions.models import Period, Subscription, SubscriptionState
from simrenew.subscriptions.paid_periods import PERIOD_FIELDS, SUBSCRIPTION_FIELDS, PaidPeriod, append_paid_period
from simrenew.subscriptions.queries import RenewalLock, lock_for_renewal
from simrenew.subscriptions.renewals import line_change_of_period, on_period_paid, period_paid_event_data
from simrenew.subscriptions.service_changes import ServiceChange, ServiceChangeKind, announce

log = logging.getLogger(__name__)


# --- step 1 and 3 in bulk -----------------------------------------------------------------------------------------


def begin_charges(charges: Sequence[GatewayCharge]) -> list[GatewayCharge]:
    """(edge) Step 1 for a batch: the attempts with their keys, committed in one
    COPY/INSERT. If another worker inserted one of these keys first (it took the
    batch over), each is written alone and the ones already there are left to it."""
    if not charges:
        return []
    with clock.one_instant() as now:
        reconcile_after = now + RECONCILE_SCHEDULE[0]
        for charge in charges:
            charge.created_at = now
        values = [_attempt_row(charge, now, reconcile_after) for charge in charges]
    try:
        with transaction.atomic():
            ids = rows.insert_many(PaymentAttempt, _ATTEMPT_COLUMNS, values)
        for charge, pk in zip(charges, ids, strict=True):
            charge.attempt_id = pk
        return list(charges)
    except IntegrityError:
        pass
    written = []
    for charge, row in zip(charges, values, strict=True):
        try:
            with transaction.atomic():
                (charge.attempt_id,) = rows.insert_many(PaymentAttempt, _ATTEMPT_COLUMNS, [row])
            written.append(charge)
        except IntegrityError:
            log.info("auto-renew key %s already used; left to its owner", charge.key)
    return written


_ATTEMPT_COLUMNS = (
    "customer_id",
    "subscription_id",
    "payment_method_id",
    "purpose",
    "purpose_data",
    "amount_minor",
    "currency",
    "idempotency_key",
    "status",
    "failure_code",
    "failure_message",
    "gateway",
    "gateway_charge_id",
    "created_at",
    "completed_at",
    "reconcile_after",
    "reconcile_count",
)


def _attempt_row(charge: GatewayCharge, now: datetime, reconcile_after: datetime) -> tuple[object, ...]:
    return (
        charge.customer_id,
        charge.subscription_id,
        charge.method_id,
        AttemptPurpose.AUTO_RENEWAL.value,
        charge.purchase.purpose_data(),
        charge.amount_minor,
        charge.currency,
        charge.key,
        AttemptStatus.PENDING.value,
        "",
        "",
        charge.gateway,
        "",
        now,
        None,
        reconcile_after,
        0,
    )


def charge_requests(charges: Sequence[GatewayCharge]) -> list[ChargeRequest]:
    return [
        ChargeRequest(
            token=charge.token,
            amount_minor=charge.amount_minor,
            currency=charge.currency,
            idempotency_key=charge.key,
            description=f"simrenew {AttemptPurpose.AUTO_RENEWAL.value} {charge.attempt_id}",
            provider_customer=charge.provider_customer,
        )
        for charge in charges
    ]


@dataclass(frozen=True, slots=True)
class SettledBatch:
    succeeded: int
    failed: int
    unknown: int
    released: tuple[int, ...] = ()  # subscriptions whose claims were given back with their new period


def settle_charges(charges: Sequence[GatewayCharge], results: Sequence[ChargeResult]) -> SettledBatch:
    """(edge) Step 3 for a batch, in one transaction: the outcomes, then the
    periods, invoices and events of the paid ones, in a few statements."""
    succeeded: list[GatewayCharge] = []
    failed = unknown = 0
    with transaction.atomic(), clock.one_instant() as now:
        outcomes = [_outcome(charge, result, now) for charge, result in zip(charges, results, strict=True)]
        # Only attempts still open change: one settled meanwhile (reconciliation) keeps its outcome.
        changed = rows.update_many(
            PaymentAttempt, _OUTCOME_COLUMNS, outcomes, where_in={"status": [s.value for s in OPEN_ATTEMPT_STATUSES]}
        )
        for charge, outcome in zip(charges, outcomes, strict=True):
            if charge.attempt_id not in changed:
                continue
            if outcome[0] == AttemptStatus.SUCCEEDED:
                succeeded.append(charge)
            elif outcome[0] == AttemptStatus.FAILED:
                failed += 1
            else:
                unknown += 1
        released = apply_paid_periods(succeeded, now)
    return SettledBatch(len(succeeded), failed, unknown, released)


_OUTCOME_COLUMNS = ("status", "gateway_charge_id", "failure_code", "failure_message", "completed_at", "reconcile_after")


def _outcome(charge: GatewayCharge, result: ChargeResult, now: datetime) -> tuple[object, ...]:
    """The attempt's `_OUTCOME_COLUMNS` and id, as `charging.settle` records them."""
    # Off-session, nobody can answer a bank's check: a gateway asking for one has not charged, and
    # the look-up settles it (as failed: authentication_required) like an answer never received.
    if result.status in (ChargeStatus.UNKNOWN, ChargeStatus.ACTION_REQUIRED):
        assert charge.created_at is not None
        return (
            AttemptStatus.UNKNOWN.value,
            result.charge_id,  # a pending answer may name the charge: the look-up reads it by id
            "",
            "",
            None,
            reconcile_at(charge.created_at, 0, now),
            charge.attempt_id,
        )
    if result.status == ChargeStatus.FAILED:
        message = (result.failure_message or failure_message(result.failure_code))[:300]
        return (
            AttemptStatus.FAILED.value,
            result.charge_id,
            result.failure_code,
            message,
            now,
            None,
            charge.attempt_id,
        )
    return (AttemptStatus.SUCCEEDED.value, result.charge_id, result.failure_code, "", now, None, charge.attempt_id)


def apply_paid_periods(charges: list[GatewayCharge], now: datetime) -> tuple[int, ...]:
    """`renewals.on_period_paid` for a batch of paid renewals of live subscriptions,
    with the same rows and events; anything unusual (cancelled, ended or moved to
    another plan while the charge was in flight) takes `on_period_paid` itself.
    Returns the subscriptions whose claims the same write gave back."""
    if not charges:
        return ()
    locked = lock_for_renewal(sorted({c.subscription_id for c in charges}))
    usual: list[GatewayCharge] = []
    for charge in charges:
        row = locked[charge.subscription_id]
        if row.state == SubscriptionState.LIVE and row.ended_at is None and row.plan_id == charge.plan_id:
            usual.append(charge)
        else:
            on_period_paid(
                PaymentAttempt.objects.select_related("subscription__plan", "customer", "payment_method").get(
                    pk=charge.attempt_id
                )
            )
    if not usual:
        return ()
    appended: list[PaidPeriod] = []
    changes: list[tuple[object, ...]] = []
    for charge in usual:
        paid = append_paid_period(
            last=locked[charge.subscription_id].last,
            ended_at=None,
            renewal_plan_id=locked[charge.subscription_id].plan_id,
            purchase=charge.purchase,
            plan_data_mb=charge.data_mb,
            period_unit=charge.period_unit,
            period_count=charge.period_count,
            time_zone=charge.time_zone,
            now=now,
        )
        appended.append(paid)
        # One write per subscription: what the payment makes of it, and its claim given back.
        changes.append((*paid.subscription_values(), "", None, charge.subscription_id))
    rows.update_many(Subscription, (*SUBSCRIPTION_FIELDS, "claimed_by", "claim_expires_at"), changes)
    sequences = take_sequences([c.subscription_id for c in usual])
    # The invoice numbers are taken last: their counter row stays locked until this
    # transaction commits (numbers without gaps), and the worker's other settler, busy
    # with another batch, waits for it only from here on.
    attempts = [_PaidAttempt.of(c) for c in usual]  # the invoices' and events' view: only the columns they read
    invoices = issue_invoices(
        [
            InvoiceLine(
                attempt=a,
                description=c.plan_name,
                subtotal_minor=c.purchase.subtotal_minor,
                discount_minor=c.purchase.discount_minor,
            )
            for a, c in zip(attempts, usual, strict=True)
        ]
    )
    periods: list[tuple[object, ...]] = []
    events: list[Event] = []
    for charge, paid, attempt, invoice in zip(usual, appended, attempts, invoices, strict=True):
        periods.append((charge.subscription_id, *paid.period_values(), 0, 0, invoice.id, now))
        events.append(
            Event(
                EventType.SUBSCRIPTION_RENEWED,
                customer_id=charge.customer_id,
                subscription_id=charge.subscription_id,
                data=period_paid_event_data(attempt, paid=paid, invoice_number=invoice.number, first=False),
            )
        )
    rows.insert_many(Period, _PERIOD_COLUMNS, periods, returning=False)
    emit_many(events, sequences=sequences)
    _announce_plan_changes(usual, appended, locked, now)
    return tuple(c.subscription_id for c in usual)


def _announce_plan_changes(
    usual: list[GatewayCharge], appended: list[PaidPeriod], locked: dict[int, RenewalLock], now: datetime
) -> None:
    """`renewals.line_change_of_period` for the batch: an auto-renewal buys a live subscription's next
    period (never a first one, never after a lapse: the due rule needs paid time left), so only a
    plan change can reach the network. No query unless a charge bought another plan than the last."""
    other_plan = [
        (charge, paid)
        for charge, paid in zip(usual, appended, strict=True)
        if (last := locked[charge.subscription_id].last) is not None and last.plan_id != charge.plan_id
    ]
    if not other_plan:
        return
    # The charge's plan is the subscription's renewal plan (`usual` checked it): read its code there.
    found = {
        pk: (esim_id, code)
        for pk, esim_id, code in Subscription.objects.filter(
            pk__in=[charge.subscription_id for charge, _ in other_plan]
        ).values_list("pk", "esim_id", "plan__code")
    }
    changes: list[ServiceChange] = []
    for charge, paid in other_plan:
        last = locked[charge.subscription_id].last
        esim_id, code = found[charge.subscription_id]
        kind = line_change_of_period(first=False, last=last, plan_code=code, now=now)
        if kind is not None:
            effective_at = paid.span.starts_at if kind == ServiceChangeKind.CHANGE_PLAN else now
            changes.append(ServiceChange(kind, charge.subscription_id, esim_id, code, effective_at))
    announce(changes)


@dataclass(frozen=True, slots=True)
class _PaidAttempt:
    """A paid attempt as `billing.issue_invoices` and `renewals.period_paid_event_data`
    read it (they take a PaymentAttempt and read only these): a model instance
    per renewal cost more Python time than writing the invoice."""

    pk: int
    customer_id: int
    subscription_id: int
    purpose: str
    amount_minor: int
    currency: str

    @classmethod
    def of(cls, charge: GatewayCharge) -> _PaidAttempt:
        return cls(
            charge.attempt_id,
            charge.customer_id,
            charge.subscription_id,
            AttemptPurpose.AUTO_RENEWAL.value,
            charge.amount_minor,
            charge.currency,
        )


_PERIOD_COLUMNS = ("subscription_id", *PERIOD_FIELDS, "top_up_mb", "used_bytes", "invoice_id", "created_at")
