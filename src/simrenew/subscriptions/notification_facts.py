"""What a notice says about a subscription and the period an invoice paid for.

Notifications render the events subscriptions write to the outbox but do not import
subscriptions (the arrow points from subscriptions to notifications); these lookups are
registered with `notifications.facts` when the app is ready. Each is one query, run once per
delivery by the worker.
"""

from __future__ import annotations

from simrenew.notifications.facts import (
    PeriodFacts,
    SubscriptionFacts,
    register_paid_period_lookup,
    register_subscription_lookup,
)
from simrenew.subscriptions.models import Period, Subscription, SubscriptionState


def subscription_facts(subscription_id: int) -> SubscriptionFacts | None:
    row = (
        Subscription.objects.filter(pk=subscription_id)
        .values("id", "customer_id", "plan__name", "esim__msisdn", "paid_through", "auto_renew", "state")
        .first()
    )
    if row is None:
        return None
    return SubscriptionFacts(
        id=row["id"],
        customer_id=row["customer_id"],
        plan_name=row["plan__name"],
        esim_number=row["esim__msisdn"],
        paid_through=row["paid_through"],
        renews_automatically=row["auto_renew"] and row["state"] == SubscriptionState.LIVE,
    )


def paid_period_facts(invoice_id: int) -> PeriodFacts | None:
    row = Period.objects.filter(invoice_id=invoice_id).values("starts_at", "ends_at").first()
    if row is None:
        return None
    return PeriodFacts(starts_at=row["starts_at"], ends_at=row["ends_at"])


def register() -> None:
    register_subscription_lookup(subscription_facts)
    register_paid_period_lookup(paid_period_facts)
