"""What a notice says about a subscription and the period an invoice paid for.

Notifications render the events subscriptions write to the outbox but do not import
subscriptions (the arrow points from subscriptions to notifications); these lookups are
registered with `notifications.facts` when the app is ready. Each is one query, run once per
delivery by the worker.
"""

from __future__ import annotations

from django.db.models import JSONField, OuterRef, Subquery
from django.db.models.functions import Coalesce, JSONObject

from simrenew.catalog.labels import PlanValues, plan_value_paths
from simrenew.kit import clock
from simrenew.notifications.facts import (
    PeriodFacts,
    SubscriptionFacts,
    register_paid_period_lookup,
    register_subscription_lookup,
)
from simrenew.subscriptions.models import Period, Subscription, SubscriptionState
from simrenew.subscriptions.status import period_runs_q


def _plan_values() -> JSONObject:
    """What the plan's customer-facing name is made of (catalog.labels.PlanValues), as one value:
    a subquery yields one column, and the name is composed in Python, in the reader's language."""
    return JSONObject(**plan_value_paths("plan__"))


def subscription_facts(subscription_id: int) -> SubscriptionFacts | None:
    """One query: the subscription with the plan of its period running now (else of its last
    period, else the plan it renews with) and the plan renewals buy, both named in the language
    active now (rendering runs this under the customer's)."""
    now = clock.now()
    periods = Period.objects.filter(subscription_id=OuterRef("pk"))
    running = periods.filter(period_runs_q(now)).order_by("number").values(facts=_plan_values())[:1]
    last = periods.order_by("-number").values(facts=_plan_values())[:1]
    row = (
        Subscription.objects.filter(pk=subscription_id)
        .annotate(
            shown_plan=Coalesce(Subquery(running), Subquery(last), _plan_values(), output_field=JSONField()),
            renewal_plan=_plan_values(),
        )
        .values(
            "id", "customer_id", "shown_plan", "renewal_plan", "esim__msisdn", "paid_through", "auto_renew", "state"
        )
        .first()
    )
    if row is None:
        return None
    return SubscriptionFacts(
        id=row["id"],
        customer_id=row["customer_id"],
        plan_name=PlanValues(**row["shown_plan"]).display_name,
        esim_number=row["esim__msisdn"],
        paid_through=row["paid_through"],
        renews_automatically=row["auto_renew"] and row["state"] == SubscriptionState.LIVE,
        renewal_plan_name=PlanValues(**row["renewal_plan"]).display_name,
    )


def paid_period_facts(invoice_id: int) -> PeriodFacts | None:
    row = Period.objects.filter(invoice_id=invoice_id).values("starts_at", "ends_at").first()
    if row is None:
        return None
    return PeriodFacts(starts_at=row["starts_at"], ends_at=row["ends_at"])


def register() -> None:
    register_subscription_lookup(subscription_facts)
    register_paid_period_lookup(paid_period_facts)
