"""What a page shows of the domain, formatted for the customer (locale, zone)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.numbers import format_decimal

from simrenew.customers.models import Customer
from simrenew.esims.models import EsimProfile
from simrenew.kit.money import BABEL_LOCALES
from simrenew.subscriptions.models import Subscription, SubscriptionState
from simrenew.subscriptions.queries import Status, view


def babel_locale(customer: Customer) -> str:
    return BABEL_LOCALES.get(customer.locale, "en_US")


def local_datetime(moment: datetime, customer: Customer) -> str:
    return format_datetime(moment, "medium", tzinfo=ZoneInfo(customer.time_zone), locale=babel_locale(customer))


def gigabytes(mb: int, customer: Customer) -> str:
    return format_decimal(round(mb / 1024, 1), format="#,##0.#", locale=babel_locale(customer))


@dataclass(frozen=True)
class EsimCard:
    esim: EsimProfile
    subscription: Subscription | None
    status: str
    plan_name: str
    data_left: str
    data_total: str
    data_left_percent: int
    days_left: int
    expires_at: str
    needs_renewal: bool


def esim_cards(customer: Customer) -> list[EsimCard]:
    cards = []
    esims = EsimProfile.objects.filter(customer=customer).select_related("carrier").order_by("id")
    latest: dict[int, Subscription] = {}
    for subscription in (
        Subscription.objects.filter(customer=customer)
        .exclude(state=SubscriptionState.INCOMPLETE)
        .select_related("plan", "esim")
        .order_by("id")
    ):
        latest[subscription.esim_id] = subscription
    for esim in esims:
        current = latest.get(esim.pk)
        if current is None:
            cards.append(EsimCard(esim, None, "none", "", "0", "0", 0, 0, "", False))
            continue
        subscription = current
        shown = view(subscription)
        service_ends = subscription.ended_at or subscription.paid_through
        cards.append(
            EsimCard(
                esim=esim,
                subscription=subscription,
                status=shown.status,
                plan_name=subscription.plan.name,
                data_left=gigabytes(shown.data_left_mb, customer),
                data_total=gigabytes(shown.data_total_mb, customer),
                data_left_percent=round(100 * shown.data_left_mb / shown.data_total_mb) if shown.data_total_mb else 0,
                days_left=shown.days_left,
                expires_at=local_datetime(service_ends, customer) if service_ends else "",
                needs_renewal=shown.status in (Status.EXPIRING, Status.SUSPENDED),
            )
        )
    return cards
