"""The facts a notice refers to (its subscription, the invoice it names, the period that
invoice paid for), looked up through the domains that hold them.

Subscriptions and billing write events to the outbox, so they depend on notifications and
not the reverse. They register their lookups here when their app is ready
(`subscriptions.notification_facts`, `billing.notification_facts`), as other domains do with
`payments.charging.register_purpose`. Rendering runs once per delivery in the worker: each
lookup is the one query rendering made before, and returns a plain record of what a
message shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.core import checks


@dataclass(frozen=True)
class SubscriptionFacts:
    id: int
    customer_id: int
    # The plan of the period running now (after the service ended: of the last period paid),
    # as the dashboard shows it; never what the next purchase will be.
    plan_name: str
    esim_number: str
    paid_through: datetime | None
    # Auto-renew is on and the subscription is live: the next period will be charged by itself.
    renews_automatically: bool
    # What auto-renew and "Renew" buy (the plan an auto-renew notice or failed renewal names).
    renewal_plan_name: str = ""


@dataclass(frozen=True)
class InvoiceFacts:
    id: int
    total_minor: int
    currency: str
    # The invoice's line as written when it was issued, in the catalogue's language: the record.
    description: str = ""
    # What that payment bought (the plan of the period it paid for, the top-up pack), named in
    # the language active when the lookup ran (the reader's), whatever the subscription holds since.
    item: str = ""


@dataclass(frozen=True)
class PeriodFacts:
    starts_at: datetime
    ends_at: datetime


SubscriptionLookup = Callable[[int], SubscriptionFacts | None]
"""The subscription with this id, or None when there is none."""
InvoiceLookup = Callable[[str], InvoiceFacts | None]
"""The invoice with this number, or None when there is none."""
PaidPeriodLookup = Callable[[int], PeriodFacts | None]
"""The period the invoice with this id paid for, or None when it paid for no period."""


@dataclass
class _Lookups:
    subscription: SubscriptionLookup | None = None
    invoice: InvoiceLookup | None = None
    paid_period: PaidPeriodLookup | None = None


_lookups = _Lookups()


class FactsUnavailable(RuntimeError):
    """No domain registered the lookup a notice needs (its app is not installed or not ready)."""


def register_subscription_lookup(lookup: SubscriptionLookup) -> None:
    _lookups.subscription = lookup


def register_invoice_lookup(lookup: InvoiceLookup) -> None:
    _lookups.invoice = lookup


def register_paid_period_lookup(lookup: PaidPeriodLookup) -> None:
    _lookups.paid_period = lookup


def lookups_registered(**kwargs: object) -> list[checks.CheckMessage]:
    """System check (NotificationsConfig.ready): a lookup missing is found at startup, not by
    the first delivery that needs it (which would fail with FactsUnavailable)."""
    owners = {"subscription": "subscriptions", "invoice": "billing", "paid_period": "subscriptions"}
    return [
        checks.Error(
            f"No {name.replace('_', ' ')} lookup is registered: notices naming one cannot be rendered.",
            hint=f"{owners[name].capitalize()}Config.ready registers it; is simrenew.{owners[name]} installed?",
            id=f"notifications.E00{number}",
        )
        for number, name in enumerate(owners, start=1)
        if getattr(_lookups, name) is None
    ]


def subscription_facts(subscription_id: int) -> SubscriptionFacts | None:
    if _lookups.subscription is None:
        raise FactsUnavailable("no subscription lookup registered (subscriptions app not ready)")
    return _lookups.subscription(subscription_id)


def invoice_facts(number: str) -> InvoiceFacts | None:
    if _lookups.invoice is None:
        raise FactsUnavailable("no invoice lookup registered (billing app not ready)")
    return _lookups.invoice(number)


def paid_period_facts(invoice_id: int) -> PeriodFacts | None:
    if _lookups.paid_period is None:
        raise FactsUnavailable("no paid period lookup registered (subscriptions app not ready)")
    return _lookups.paid_period(invoice_id)
