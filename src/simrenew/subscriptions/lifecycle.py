"""The end of a subscription's life (DESIGN.md §4): suspended when its paid time
runs out, warned before termination, terminated (eSIM profile released) once the
retention window has passed. Services never commit; each call does a bounded
batch and returns how many it did, so the worker loops until it returns 0.

"Service end" is `paid_through` for a live subscription, and
min(`ended_at`, `paid_through`) for a cancelled one. A live subscription past
its service end is suspended (a derived status: no state change) and may still
be renewed by hand until it is terminated, SIMRENEW_RETENTION_DAYS after its
service end. The warning goes SIMRENEW_TERMINATION_WARNING_DAYS before that.

A cancelled subscription may have been followed by a new one on the same eSIM
(buying a plan again after the old one ended): it is then "superseded". It is
still terminated in its time, but the eSIM stays with the newer subscription
and no warning is sent (nothing the customer holds will be taken).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet

from simrenew.esims.services import retire_profile
from simrenew.kit import clock
from simrenew.kit.audit import record_change
from simrenew.notifications import payloads
from simrenew.notifications.events import EventType
from simrenew.notifications.services import Event, emit_many
from simrenew.subscriptions.models import ReminderKind, Subscription, SubscriptionState
from simrenew.subscriptions.reminders import not_yet_sent, record_senders, with_last_period
from simrenew.subscriptions.service_changes import ServiceChange, ServiceChangeKind, announce
from simrenew.subscriptions.status import lapsed_q, service_ended_between_q, service_ends_at, service_ends_by_q


def retention() -> timedelta:
    return timedelta(days=settings.SIMRENEW_RETENTION_DAYS)


def termination_warning() -> timedelta:
    return timedelta(days=settings.SIMRENEW_TERMINATION_WARNING_DAYS)


def service_end(subscription: Subscription) -> datetime:
    """`status.service_ends_at` of a subscription that had a paid period."""
    ends = service_ends_at(subscription)
    assert ends is not None, "only subscriptions that had a paid period end"
    return ends


def released_at(subscription: Subscription) -> datetime:
    """When a subscription that had a paid period is terminated and its eSIM number released (by
    `terminate_expired`, at its first run from then on): the retention window after its service end."""
    return service_end(subscription) + retention()


def _superseded() -> Exists:
    """A newer subscription on the same eSIM that is not terminated holds the eSIM now."""
    return Exists(
        Subscription.objects.filter(esim_id=OuterRef("esim_id"), pk__gt=OuterRef("pk")).exclude(
            state=SubscriptionState.TERMINATED
        )
    )


def suspend_lapsed(*, limit: int = 500) -> int:
    """Tell the customer once per lapse ("subscription.suspended", ledger kind
    SUSPENDED keyed by the last period) that a live subscription's paid time ran
    out, and stop its auto-renew schedule (`renewal_due_at` cleared). The status
    is derived, so nothing else changes. Subscriptions already past the retention
    window are left to `terminate_expired`. Returns how many were suspended."""
    with clock.one_instant() as now:
        kind = ReminderKind.SUSPENDED.value
        candidates: QuerySet[Subscription] = with_last_period(
            Subscription.objects.filter(lapsed_q(now, since=now - retention()))
        )
        lapsed = list(candidates.filter(not_yet_sent(kind)).order_by("paid_through", "pk")[:limit])
        numbers = {s.pk: int(s.period_number) for s in lapsed}  # type: ignore[attr-defined]
        winners = sorted(s.pk for s in record_senders(lapsed, kind, also_record=(), now=now))
        if not winners:
            return 0
        # Re-read under the row locks: a renewal that landed meanwhile ends the lapse.
        locked = list(Subscription.objects.select_for_update().filter(lapsed_q(now), pk__in=winners).order_by("pk"))
        Subscription.objects.filter(pk__in=[s.pk for s in locked]).update(renewal_due_at=None)
        # The line stops at the network too (the worker sends these right after this scan).
        announce([ServiceChange(ServiceChangeKind.SUSPEND, s.pk, s.esim_id, "", now) for s in locked])
        emit_many(
            [
                Event(
                    EventType.SUSPENDED,
                    s.customer_id,
                    s.pk,
                    payloads.subscription_suspended(
                        subscription_id=s.pk, period_number=numbers[s.pk], suspended_at=s.paid_through
                    ),
                )
                for s in locked
            ]
        )
        return len(locked)


def stop_ended_cancellations(*, limit: int = 500) -> int:
    """Stop the line of a subscription cancelled at its period end once that end has come (cancelling
    "now" stops it at once, in `cancellation.cancel`): one `stop` service change per subscription,
    made once by the ledger (kind LINE_STOPPED, keyed by the last period). Not when the line was
    already suspended for that period, nor when a newer subscription holds the eSIM (its own start
    keeps the line on). Returns how many lines were stopped."""
    with clock.one_instant() as now:
        kind = ReminderKind.LINE_STOPPED.value
        # Cancelled "now" (ended_at set) stopped at once; after the retention window, terminate_expired deletes.
        ended = Subscription.objects.filter(
            Q(state=SubscriptionState.CANCELLED) & service_ended_between_q(now - retention(), now)
        ).filter(ended_at__isnull=True)
        candidates = list(
            with_last_period(ended)
            .filter(~Q(_superseded()))
            .filter(not_yet_sent(kind))
            .filter(not_yet_sent(ReminderKind.SUSPENDED.value))
            .order_by("paid_through", "pk")[:limit]
        )
        stopping = record_senders(candidates, kind, also_record=(), now=now)
        announce([ServiceChange(ServiceChangeKind.STOP, s.pk, s.esim_id, "", now) for s in stopping])
        return len(stopping)


def warn_before_termination(*, limit: int = 500) -> int:
    """ "subscription.termination_warning" (ledger kind TERMINATION_WARNING, keyed by
    the last period) once the service has been over for the retention window less
    the warning days, and termination has not come yet. Not for superseded
    subscriptions. Returns how many warnings were sent."""
    with clock.one_instant() as now:
        kind = ReminderKind.TERMINATION_WARNING.value
        window = retention()
        warn_after = max(window - termination_warning(), timedelta(0))
        due = with_last_period(Subscription.objects.filter(service_ended_between_q(now - window, now - warn_after)))
        ending = list(due.filter(~Q(_superseded())).filter(not_yet_sent(kind)).order_by("paid_through", "pk")[:limit])
        events = [
            Event(
                EventType.TERMINATION_WARNING,
                s.customer_id,
                s.pk,
                payloads.termination_warning(subscription_id=s.pk, terminates_at=released_at(s)),
            )
            for s in record_senders(ending, kind, also_record=(), now=now)
        ]
        emit_many(events)
        return len(events)


def terminate_expired(*, limit: int = 100) -> int:
    """Terminate live subscriptions whose paid time ran out, and cancelled ones
    whose service ended, more than the retention window ago: state TERMINATED,
    `terminated_at` now, auto-renew schedule cleared, the eSIM
    profile released (unless a newer subscription holds it) and
    "subscription.terminated" emitted. Rows are locked (SKIP LOCKED on
    PostgreSQL, so workers take different ones); a terminated subscription is
    never selected again, so repeating this changes nothing. Returns how many
    were terminated."""
    with clock.one_instant() as now:
        cutoff = now - retention()
        due = Subscription.objects.filter(
            lapsed_q(cutoff) | (Q(state=SubscriptionState.CANCELLED) & service_ends_by_q(cutoff))
        )
        ending = list(
            due.select_for_update(skip_locked=True, of=("self",)).select_related("esim").order_by("pk")[:limit]
        )
        if not ending:
            return 0
        ids = [s.pk for s in ending]
        Subscription.objects.filter(pk__in=ids).update(
            state=SubscriptionState.TERMINATED, terminated_at=now, renewal_due_at=None
        )
        holders = list(
            Subscription.objects.filter(esim_id__in={s.esim_id for s in ending})
            .exclude(state=SubscriptionState.TERMINATED)
            .values_list("esim_id", "pk")
        )
        terminations: list[ServiceChange] = []
        for subscription in ending:
            superseded = any(esim == subscription.esim_id and pk > subscription.pk for esim, pk in holders)
            if not superseded:
                retire_profile(subscription.esim)
                # The line goes for good (a superseded one keeps serving the newer subscription).
                terminations.append(
                    ServiceChange(ServiceChangeKind.TERMINATE, subscription.pk, subscription.esim_id, "", now)
                )
            # The worker's decision, audited like an operator's (one entry per subscription, rarely many).
            record_change(
                action="terminate",
                target=subscription,
                before={"state": subscription.state},
                after={
                    "state": SubscriptionState.TERMINATED,
                    "terminated_at": now,
                    "esim_released": not superseded,
                    "esim_id": subscription.esim_id,
                },
                reason=f"service ended more than {settings.SIMRENEW_RETENTION_DAYS} days ago",
            )
        announce(terminations)
        emit_many(
            [
                Event(
                    EventType.TERMINATED,
                    s.customer_id,
                    s.pk,
                    payloads.subscription_terminated(subscription_id=s.pk, terminated_at=now),
                )
                for s in ending
            ]
        )
        return len(ending)
