"""Read paths for the console overview: every figure is an aggregate query.

The overview asks a fixed number of queries however much data there is (one per
figure group, none per row). Days and months are UTC calendar days and months, and
"now" is `kit.clock.now()`, so moving the sandbox test clock moves every window.

What the figures mean:
- *active*: in service right now — live, or cancelled but still running to the end
  of the paid period (as card processors count "active" subscriptions);
- *renewals*: renewal charges (by hand or automatic) that completed that day, split
  into succeeded and failed (an auto-renew retried three times counts each try);
- *revenue*: invoiced sales (periods, renewals, data top-ups) less refunds paid out
  that day, per currency; wallet top-ups are balance the customer still holds, so
  they count when the balance buys something, not when it is loaded;
- *churn*: subscriptions cancelled in the month, plus those terminated without a
  cancellation (they ran out and were never renewed); the rate divides that by the
  subscriptions in service at the start of the month;
- *expiring*: in-service subscriptions whose service ends within the next 7 days;
- *worker*: the newest tick of any worker (system time); none for 5 minutes means nothing
  scheduled happens (renewals, reminders, emails);
- *eSIM stock*: profiles available to sell, per carrier (every carrier listed, even at 0);
- *suspended*: live subscriptions whose paid time ran out and that the customer may still
  renew: their eSIM number is released when the retention window after the end passes;
- *refunds owed*: refunds not paid out yet, pending (the gateway's answer awaited) or failed
  (the customer is still owed the money), per status and currency.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import phonenumbers
from django.db.models import Count, Exists, Max, Min, OuterRef, Q, Subquery, Sum
from django.db.models.functions import TruncDate, TruncMonth

from simrenew.billing.models import Invoice, Refund, RefundStatus
from simrenew.catalog.models import Carrier
from simrenew.customers.models import Customer
from simrenew.esims.models import EsimProfile, ProfileStatus
from simrenew.kit import clock
from simrenew.notifications.models import Delivery, DeliveryStatus, OutboxMessage, OutboxStatus
from simrenew.payments.models import AttemptPurpose, AttemptStatus, PaymentAttempt
from simrenew.provisioning.models import LINE_ORDER_OPEN_STATUSES, LineOrder, ProfileOrder, SmdpConnection
from simrenew.subscriptions.lifecycle import released_at
from simrenew.subscriptions.models import Period, Subscription, SubscriptionState
from simrenew.subscriptions.status import in_service_q, lapsed_q, period_ran_q, period_runs_q, upcoming_expiry_q
from simrenew.worker.heartbeat import Liveness, liveness

DAYS = 30
MONTHS = 12
RENEWAL_PURPOSES = (AttemptPurpose.RENEWAL, AttemptPurpose.AUTO_RENEWAL)
_PHONE_LIKE = re.compile(r"^\+?[\d\s().\-]{7,}$")
_DIGITS_LIKE = re.compile(r"^[\d\s\-]{8,}$")
# Fewer eSIM profiles than this left for a carrier: the overview flags its stock as low.
LOW_STOCK = 10
SHOWN_SUSPENDED = 10


@dataclass(frozen=True, slots=True)
class PlanCount:
    carrier: str
    code: str
    name: str
    count: int


@dataclass(frozen=True, slots=True)
class DayRenewals:
    day: date
    succeeded: int
    failed: int


@dataclass(frozen=True, slots=True)
class Revenue:
    """Money for one day or month in one currency, in minor units."""

    gross_minor: int = 0
    refunded_minor: int = 0

    @property
    def net_minor(self) -> int:
        return self.gross_minor - self.refunded_minor


@dataclass(frozen=True, slots=True)
class MonthChurn:
    month: date
    cancelled: int
    lapsed: int
    active_at_start: int

    @property
    def churned(self) -> int:
        return self.cancelled + self.lapsed

    @property
    def rate_percent(self) -> float | None:
        """Churned as a share of those in service when the month began (None: nobody was)."""
        if not self.active_at_start:
            return None
        return round(100 * self.churned / self.active_at_start, 1)


@dataclass(frozen=True, slots=True)
class Expiring:
    total: int
    auto_renew: int

    @property
    def manual(self) -> int:
        return self.total - self.auto_renew


@dataclass(frozen=True, slots=True)
class Outbox:
    undispatched_events: int
    oldest_undispatched_at: datetime | None
    deliveries_pending: int  # due for a first try
    deliveries_retrying: int  # failed at least once, will be tried again
    dead_letters: int


@dataclass(frozen=True, slots=True)
class Stock:
    carrier: str
    available: int
    from_smdp: bool = False  # ordered from an SM-DP+ one at a time: no stock to run low

    @property
    def low(self) -> bool:
        return not self.from_smdp and self.available < LOW_STOCK


@dataclass(frozen=True, slots=True)
class SuspendedSubscription:
    subscription_id: int
    customer_id: int
    customer_email: str
    msisdn: str
    ended_at: datetime  # when paid service ran out
    released_at: datetime  # when the number goes back to the carrier unless renewed


@dataclass(frozen=True, slots=True)
class Suspended:
    total: int
    soonest: list[SuspendedSubscription]  # the SHOWN_SUSPENDED whose numbers go first


@dataclass(frozen=True, slots=True)
class RefundsOwed:
    status: str  # pending or failed
    currency: str
    count: int
    amount_minor: int


@dataclass(frozen=True, slots=True)
class Provisioning:
    """What the eSIM world leaves for an operator (issue 16)."""

    line_orders_failed: int  # the carrier failed or refused them: later changes of their lines wait
    line_orders_stuck: int  # sent over an hour ago and still not finished at the carrier
    profile_orders_lost: int  # a profile may be reserved at an SM-DP+ that we cannot name or give back
    downloads_failed: int  # eSIMs whose download failed: the customer waits for a replacement

    @property
    def attention(self) -> int:
        return self.line_orders_failed + self.line_orders_stuck + self.profile_orders_lost + self.downloads_failed


@dataclass(frozen=True, slots=True)
class Overview:
    now: datetime
    days: list[date]
    months: list[date]
    active_by_plan: list[PlanCount]
    renewals: list[DayRenewals]
    # currency -> one Revenue per entry of `days` / `months`
    revenue_daily: dict[str, list[Revenue]]
    revenue_monthly: dict[str, list[Revenue]]
    churn: list[MonthChurn]
    expiring: Expiring
    outbox: Outbox
    active_by_carrier: list[tuple[str, int]] = field(default_factory=list)
    worker: Liveness | None = None
    esim_stock: list[Stock] = field(default_factory=list)
    suspended: Suspended = field(default_factory=lambda: Suspended(0, []))
    refunds_owed: list[RefundsOwed] = field(default_factory=list)
    provisioning: Provisioning = field(default_factory=lambda: Provisioning(0, 0, 0, 0))

    @property
    def low_stock(self) -> list[Stock]:
        return [stock for stock in self.esim_stock if stock.low]

    @property
    def active_total(self) -> int:
        return sum(count for _carrier, count in self.active_by_carrier)

    @property
    def currencies(self) -> list[str]:
        return sorted(set(self.revenue_daily) | set(self.revenue_monthly))


# ------------------------------------------------------------------ windows


def utc_day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def last_days(now: datetime, count: int = DAYS) -> list[date]:
    today = now.astimezone(UTC).date()
    return [today - timedelta(days=back) for back in range(count - 1, -1, -1)]


def add_months(month: date, delta: int) -> date:
    index = month.year * 12 + (month.month - 1) + delta
    return date(index // 12, index % 12 + 1, 1)


def last_months(now: datetime, count: int = MONTHS) -> list[date]:
    this_month = now.astimezone(UTC).date().replace(day=1)
    return [add_months(this_month, -back) for back in range(count - 1, -1, -1)]


def in_service_at(moment: datetime) -> Q:
    """Subscriptions a customer can use at `moment` (see the module docstring)."""
    return in_service_q(moment)


# ------------------------------------------------------------------ the overview


def overview() -> Overview:
    now = clock.now()
    days = last_days(now)
    months = last_months(now)
    by_plan = active_by_plan(now)
    return Overview(
        now=now,
        days=days,
        months=months,
        active_by_plan=by_plan,
        active_by_carrier=roll_up_by_carrier(by_plan),
        renewals=renewals_per_day(days),
        revenue_daily=revenue(days, by="day"),
        revenue_monthly=revenue(months, by="month"),
        churn=churn_per_month(months),
        expiring=expiring_soon(now),
        outbox=outbox_backlog(),
        worker=liveness(),
        esim_stock=esim_stock(),
        suspended=suspended_awaiting_renewal(now),
        refunds_owed=refunds_owed(),
        provisioning=provisioning_attention(),
    )


def active_by_plan(now: datetime) -> list[PlanCount]:
    """Subscriptions in service by the plan running now (the period running, not the plan renewals
    buy: a day prepaid on a month counts as the month until the day starts)."""
    rows = (
        Period.objects.filter(period_runs_q(now))
        .values("plan__carrier__name", "plan__code")
        .annotate(count=Count("subscription_id", distinct=True), name=Max("plan__name"))
        .order_by("plan__carrier__name", "plan__code")
    )
    return [PlanCount(row["plan__carrier__name"], row["plan__code"], row["name"], row["count"]) for row in rows]


def roll_up_by_carrier(plans: list[PlanCount]) -> list[tuple[str, int]]:
    totals: dict[str, int] = defaultdict(int)
    for plan in plans:
        totals[plan.carrier] += plan.count
    return sorted(totals.items())


def renewals_per_day(days: list[date]) -> list[DayRenewals]:
    rows = (
        PaymentAttempt.objects.filter(
            purpose__in=RENEWAL_PURPOSES,
            status__in=[AttemptStatus.SUCCEEDED, AttemptStatus.FAILED],
            completed_at__gte=utc_day_start(days[0]),
            completed_at__lt=utc_day_start(days[-1] + timedelta(days=1)),
        )
        .annotate(day=TruncDate("completed_at", tzinfo=UTC))
        .values("day", "status")
        .annotate(count=Count("id"))
        .order_by()
    )
    counts: dict[tuple[date, str], int] = {(_as_date(row["day"]), row["status"]): row["count"] for row in rows}
    return [
        DayRenewals(day, counts.get((day, AttemptStatus.SUCCEEDED), 0), counts.get((day, AttemptStatus.FAILED), 0))
        for day in days
    ]


def revenue(buckets: list[date], *, by: str) -> dict[str, list[Revenue]]:
    """Sales less refunds per bucket (`by` = "day" or "month") and currency: two queries."""
    if by == "day":
        start, end = utc_day_start(buckets[0]), utc_day_start(buckets[-1] + timedelta(days=1))
        sales_bucket: Any = TruncDate("issued_at", tzinfo=UTC)
        refund_bucket: Any = TruncDate("completed_at", tzinfo=UTC)
    else:
        start, end = utc_day_start(buckets[0]), utc_day_start(add_months(buckets[-1], 1))
        sales_bucket = TruncMonth("issued_at", tzinfo=UTC)
        refund_bucket = TruncMonth("completed_at", tzinfo=UTC)
    sales = (
        Invoice.objects.filter(issued_at__gte=start, issued_at__lt=end)
        .exclude(payment_attempt__purpose=AttemptPurpose.WALLET_TOP_UP)
        .annotate(bucket=sales_bucket)
        .values("bucket", "currency")
        .annotate(total=Sum("total_minor"))
        .order_by()
    )
    refunds = (
        Refund.objects.filter(status=RefundStatus.SUCCEEDED, completed_at__gte=start, completed_at__lt=end)
        .exclude(invoice__payment_attempt__purpose=AttemptPurpose.WALLET_TOP_UP)
        .annotate(bucket=refund_bucket)
        .values("bucket", "currency")
        .annotate(total=Sum("amount_minor"))
        .order_by()
    )
    gross: dict[tuple[str, date], int] = {(r["currency"], _as_date(r["bucket"])): int(r["total"]) for r in sales}
    back: dict[tuple[str, date], int] = {(r["currency"], _as_date(r["bucket"])): int(r["total"]) for r in refunds}
    currencies = sorted({currency for currency, _ in gross} | {currency for currency, _ in back})
    return {
        currency: [Revenue(gross.get((currency, b), 0), back.get((currency, b), 0)) for b in buckets]
        for currency in currencies
    }


def churn_per_month(months: list[date]) -> list[MonthChurn]:
    """Two queries: churn counts per month, and who was in service at each month's start."""
    bounds = [(utc_day_start(m), utc_day_start(add_months(m, 1))) for m in months]
    churn_counts: dict[str, Any] = {}
    active_counts: dict[str, Any] = {}
    for index, (start, end) in enumerate(bounds):
        churn_counts[f"cancelled_{index}"] = Count("id", filter=Q(cancelled_at__gte=start, cancelled_at__lt=end))
        churn_counts[f"lapsed_{index}"] = Count(
            "id", filter=Q(cancelled_at__isnull=True, terminated_at__gte=start, terminated_at__lt=end)
        )
        active_counts[f"active_{index}"] = Count(
            "subscription",
            distinct=True,
            filter=Q(starts_at__lte=start, ends_at__gt=start)
            & (Q(subscription__ended_at__isnull=True) | Q(subscription__ended_at__gt=start)),
        )
    churned = Subscription.objects.aggregate(**churn_counts)
    active = Period.objects.filter(starts_at__lte=bounds[-1][0], ends_at__gt=bounds[0][0]).aggregate(**active_counts)
    return [
        MonthChurn(
            month,
            int(churned[f"cancelled_{i}"] or 0),
            int(churned[f"lapsed_{i}"] or 0),
            int(active[f"active_{i}"] or 0),
        )
        for i, month in enumerate(months)
    ]


def expiring_filter(now: datetime) -> Q:
    """In service and ending within `status.UPCOMING_EXPIRY_WITHIN` (7 days)."""
    return upcoming_expiry_q(now)


def expiring_soon(now: datetime) -> Expiring:
    counts = Subscription.objects.filter(expiring_filter(now)).aggregate(
        total=Count("id"), auto_renew=Count("id", filter=Q(auto_renew=True, state=SubscriptionState.LIVE))
    )
    return Expiring(total=int(counts["total"] or 0), auto_renew=int(counts["auto_renew"] or 0))


def expiring_subscriptions(now: datetime, *, limit: int = 500) -> list[Subscription]:
    """The list behind the overview's expiring count, soonest first; each with `running_plan_name`,
    the plan running now (not the one renewals buy)."""
    return list(
        Subscription.objects.filter(expiring_filter(now))
        .annotate(running_plan_name=running_plan_name(now))
        .select_related("customer", "plan", "plan__carrier", "esim")
        .order_by("paid_through", "id")[:limit]
    )


def running_plan_name(now: datetime) -> Subquery:
    """For a subscription queryset: the name of the plan shown (`status.period_ran_q`'s last period:
    the running one, else the one that ran last), as the console's "Plan" column shows it."""
    shown = Period.objects.filter(period_ran_q(now), subscription_id=OuterRef("pk")).order_by("-number")
    return Subquery(shown.values("plan__name")[:1])


def outbox_backlog() -> Outbox:
    events = OutboxMessage.objects.aggregate(
        undispatched=Count("id", filter=Q(status=OutboxStatus.PENDING)),
        oldest=Min("created_at", filter=Q(status=OutboxStatus.PENDING)),
    )
    deliveries = Delivery.objects.aggregate(
        pending=Count("id", filter=Q(status=DeliveryStatus.PENDING, attempts=0)),
        retrying=Count("id", filter=Q(status=DeliveryStatus.PENDING, attempts__gt=0)),
        dead=Count("id", filter=Q(status=DeliveryStatus.DEAD)),
    )
    return Outbox(
        undispatched_events=int(events["undispatched"] or 0),
        oldest_undispatched_at=events["oldest"],
        deliveries_pending=int(deliveries["pending"] or 0),
        deliveries_retrying=int(deliveries["retrying"] or 0),
        dead_letters=int(deliveries["dead"] or 0),
    )


def provisioning_attention() -> Provisioning:
    """Three queries: the line orders' counts in one aggregate, SM-DP+ orders lost, failed downloads."""
    stuck_before = clock.system_now() - timedelta(hours=1)
    lines = LineOrder.objects.filter(
        Q(status__in=("failed", "rejected")) | Q(status__in=LINE_ORDER_OPEN_STATUSES, sent_at__lt=stuck_before)
    ).aggregate(
        failed=Count("pk", filter=Q(status__in=("failed", "rejected"))),
        stuck=Count("pk", filter=Q(status__in=LINE_ORDER_OPEN_STATUSES)),
    )
    return Provisioning(
        line_orders_failed=int(lines["failed"] or 0),
        line_orders_stuck=int(lines["stuck"] or 0),
        profile_orders_lost=ProfileOrder.objects.filter(status="lost").count(),
        downloads_failed=EsimProfile.objects.filter(status=ProfileStatus.DOWNLOAD_FAILED).count(),
    )


def esim_stock() -> list[Stock]:
    """Profiles available to sell per carrier, carriers without any included (one query). A carrier
    connected to an SM-DP+ has no stock of its own: its profiles are ordered as customers need them."""
    rows = Carrier.objects.annotate(
        available=Count("profiles", filter=Q(profiles__status=ProfileStatus.AVAILABLE)),
        from_smdp=Exists(SmdpConnection.objects.filter(carrier=OuterRef("pk"), enabled=True)),
    ).values_list("name", "available", "from_smdp")
    return [Stock(name, int(available), bool(from_smdp)) for name, available, from_smdp in sorted(rows)]


def suspended_awaiting_renewal(now: datetime) -> Suspended:
    """Suspended subscriptions not terminated yet, those whose numbers are released first
    listed (two queries). A release time already past means no worker terminated it yet."""
    waiting = Subscription.objects.filter(lapsed_q(now))
    soonest = waiting.select_related("customer", "esim").order_by("paid_through", "id")[:SHOWN_SUSPENDED]
    return Suspended(
        total=waiting.count(),
        soonest=[
            SuspendedSubscription(
                subscription_id=s.pk,
                customer_id=s.customer_id,
                customer_email=s.customer.email,
                msisdn=s.esim.msisdn,
                ended_at=s.paid_through,
                released_at=released_at(s),
            )
            for s in soonest
            if s.paid_through is not None  # lapsed_q says so; the type checker cannot know
        ],
    )


def refunds_owed() -> list[RefundsOwed]:
    """Refunds not paid out, per status and currency (one query). A refused refund stops being
    owed once a newer refund of the same invoice (a cancellation asking again) has been paid."""
    paid_later = Refund.objects.filter(
        invoice_id=OuterRef("invoice_id"), status=RefundStatus.SUCCEEDED, id__gt=OuterRef("id")
    )
    rows = (
        Refund.objects.filter(status__in=[RefundStatus.PENDING, RefundStatus.FAILED])
        .filter(~Q(status=RefundStatus.FAILED) | ~Exists(paid_later))
        .values("status", "currency")
        .annotate(count=Count("id"), total=Sum("amount_minor"))
        .order_by("status", "currency")
    )
    return [RefundsOwed(row["status"], row["currency"], row["count"], int(row["total"] or 0)) for row in rows]


def _as_date(value: date | datetime) -> date:
    """TruncDate gives a date, TruncMonth an aware datetime (in UTC, as asked)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).date()
    return value


# ------------------------------------------------------------------ the search box


def phone_as_e164(term: str) -> str | None:
    """ "+1 (415) 555-0100" → "+14155550100"; None when the term does not read as a phone number.

    Lenient on purpose (possible, not necessarily valid, numbers; US when there is no
    country code): an operator types what the customer tells them, and an eSIM's MSISDN
    from a test range is not always a "valid" number in phonenumbers' tables."""
    if not _PHONE_LIKE.match(term):
        return None
    try:
        number = phonenumbers.parse(term, None if term.startswith("+") else "US")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def iccid_digits(term: str) -> str | None:
    """An ICCID (or a long enough part of one), as printed with spaces or dashes."""
    if not _DIGITS_LIKE.match(term):
        return None
    return re.sub(r"[\s\-]", "", term)


def find_customer_ids(term: str, *, limit: int = 2) -> list[int]:
    """Customers whose email, phone number, eSIM ICCID or eSIM number (MSISDN) is exactly
    `term` (one query).

    The console goes straight to the customer when exactly one matches; otherwise
    it shows the customer list searched for the term (partial matches too)."""
    term = term.strip()
    if not term:
        return []
    compact = "".join(ch for ch in term if ch not in " -().")
    match = Q(email__iexact=term) | Q(esims__iccid=compact)
    phone = phone_as_e164(term)
    if phone:
        match |= Q(phone=phone) | Q(esims__msisdn=phone)
    return list(Customer.objects.filter(match).values_list("id", flat=True).distinct().order_by("id")[:limit])
