"""What a notice says about a subscription and the period an invoice paid for.

Notifications render the events subscriptions write to the outbox but do not import
subscriptions (the arrow points from subscriptions to notifications); these lookups are
registered with `notifications.facts` when the app is ready. Each is one query, run once per
delivery by the worker.
"""

from __future__ import annotations

from django.db.models import F, OuterRef, Subquery
from django.db.models.functions import Coalesce

from simrenew.kit import clock
from simrenew.notifications.facts import (
    PeriodFacts,
    SubscriptionFacts,
    register_paid_period_lookup,
    register_subscription_lookup,
)
from simrenew.subscriptions.models import Period, Subscription, SubscriptionState


def subscription_facts(subscription_id: int) -> SubscriptionFacts | None:
    """One query: the subscription with the plan of its period running now (else of its last
    period, else the plan it renews with) and the plan renewals buy."""
    now = clock.now()
    periods = Period.objects.filter(subscription_id=OuterRef("pk"))
    running = periods.filter(starts_at__lte=now, ends_at__gt=now).order_by("number").values("plan__name")[:1]
    last = periods.order_by("-number").values("plan__name")[:1]
    row = (
        Subscription.objects.filter(pk=subscription_id)
        .annotate(shown_plan=Coalesce(Subquery(running), Subquery(last), F("plan__name")))
        .values("id", "customer_id", "shown_plan", "plan__name", "esim__msisdn", "paid_through", "auto_renew", "state")
        .first()
    )
    if row is None:
        return None
    return SubscriptionFacts(
        id=row["id"],
        customer_id=row["customer_id"],
        plan_name=row["shown_plan"],
        esim_number=row["esim__msisdn"],
        paid_through=row["paid_through"],
        renews_automatically=row["auto_renew"] and row["state"] == SubscriptionState.LIVE,
        renewal_plan_name=row["plan__name"],
    )


def paid_period_facts(invoice_id: int) -> PeriodFacts | None:
    row = Period.objects.filter(invoice_id=invoice_id).values("starts_at", "ends_at").first()
    if row is None:
        return None
    return PeriodFacts(starts_at=row["starts_at"], ends_at=row["ends_at"])


def register() -> None:
    register_subscription_lookup(subscription_facts)
    register_paid_period_lookup(paid_period_facts)
