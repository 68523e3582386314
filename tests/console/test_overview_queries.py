"""The overview's figures, from a story arranged through the real services: who is in
service, what renewed or failed on which UTC day, what came in and went back, who left,
what runs out this week, and what the outbox still owes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext

from simrenew.billing.models import Invoice
from simrenew.billing.refunds import refund_invoice
from simrenew.console import queries
from simrenew.console.queries import DayRenewals, PlanCount, Revenue
from simrenew.notifications.models import Delivery, OutboxMessage
from simrenew.subscriptions.cancellation import cancel
from tests.factories import make_card, make_plan, make_subscription, make_wallet, renew

DECLINED = "4000000000000002"


def at(day: int, hour: int = 12, month: int = 1) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=UTC)


def arrange_january(clock) -> dict[str, object]:
    """Jan 10: five subscriptions; Jan 12: a renewal, a declined renewal, a refund;
    Jan 13: a week plan; Jan 15 (now): one subscription cancelled at once."""
    clock.set(at(10, 9))
    monthly_att = make_plan(carrier="att", code="att-1m", name="AT&T Monthly", price_minor=2500)
    daily_tmo = make_plan(carrier="tmobile", code="tmo-1d", name="T-Mobile Day", period_unit="day", price_minor=300)
    monthly_vzw = make_plan(carrier="verizon", code="vzw-1m", name="Verizon Monthly", price_minor=4000)
    yearly_vzw = make_plan(carrier="verizon", code="vzw-1y", name="Verizon Year", period_unit="year", price_minor=30000)
    renewed = make_subscription(plan=monthly_att)
    declined = make_subscription(plan=monthly_att)
    make_subscription(plan=daily_tmo, auto_renew=False)  # runs out on Jan 11: not in service on the 15th
    leaving = make_subscription(plan=monthly_vzw)
    make_subscription(plan=yearly_vzw)

    clock.set(at(12, 10))
    assert renew(renewed).status == "succeeded"
    bad_card = make_card(customer=declined.customer, number=DECLINED)
    assert renew(declined, payment_method=bad_card).status == "failed"
    refund_invoice(
        invoice=Invoice.objects.filter(subscription=renewed).earliest("id"), amount_minor=500, reason="goodwill"
    )

    clock.set(at(13, 8))
    week = make_plan(carrier="att", code="att-7d", name="AT&T Week", period_unit="day", period_count=7, price_minor=900)
    expiring = make_subscription(plan=week)  # ends Jan 20 08:00: within 7 days of the 15th

    clock.set(at(15))
    cancel(leaving, when="now")
    return {"expiring": expiring}


def test_the_overview_counts_what_is_in_service_renewed_earned_and_expiring(clock):
    arranged = arrange_january(clock)

    figures = queries.overview()

    assert figures.now == at(15)
    assert figures.active_by_plan == [
        PlanCount("AT&T", "att-1m", "AT&T Monthly", 2),
        PlanCount("AT&T", "att-7d", "AT&T Week", 1),
        PlanCount("Verizon", "vzw-1y", "Verizon Year", 1),
    ]
    assert figures.active_by_carrier == [("AT&T", 3), ("Verizon", 1)]
    assert figures.active_total == 4

    assert figures.days[0] == date(2025, 12, 17) and figures.days[-1] == date(2026, 1, 15) and len(figures.days) == 30
    by_day = {row.day: row for row in figures.renewals}
    assert by_day[date(2026, 1, 12)] == DayRenewals(date(2026, 1, 12), succeeded=1, failed=1)
    assert sum(row.succeeded + row.failed for row in figures.renewals) == 2

    daily = dict(zip(figures.days, figures.revenue_daily["USD"], strict=True))
    assert daily[date(2026, 1, 10)] == Revenue(gross_minor=2500 + 2500 + 300 + 4000 + 30000)
    assert daily[date(2026, 1, 12)] == Revenue(gross_minor=2500, refunded_minor=500)
    assert daily[date(2026, 1, 13)] == Revenue(gross_minor=900)
    assert daily[date(2026, 1, 12)].net_minor == 2000
    assert list(figures.revenue_daily) == ["USD"]

    assert figures.months[0] == date(2025, 2, 1) and figures.months[-1] == date(2026, 1, 1)
    january = figures.revenue_monthly["USD"][-1]
    assert january == Revenue(gross_minor=39300 + 2500 + 900, refunded_minor=500)
    assert all(month == Revenue() for month in figures.revenue_monthly["USD"][:-1])

    assert figures.churn[-1].cancelled == 1 and figures.churn[-1].lapsed == 0
    assert figures.churn[-1].active_at_start == 0 and figures.churn[-1].rate_percent is None

    assert figures.expiring.total == 1 and figures.expiring.auto_renew == 1 and figures.expiring.manual == 0
    assert [s.pk for s in queries.expiring_subscriptions(figures.now)] == [arranged["expiring"].pk]  # type: ignore[attr-defined]


def test_moving_the_test_clock_moves_every_window(clock):
    arrange_january(clock)

    clock.set(at(5, 12, month=2))
    figures = queries.overview()

    assert figures.days[-1] == date(2026, 2, 5)
    assert date(2026, 1, 12) in figures.days  # still within 30 days
    assert sum(row.succeeded + row.failed for row in figures.renewals) == 2
    # The week plan ran out on Jan 20; the monthly whose renewal was declined ends Feb 10.
    assert figures.expiring.total == 1
    clock.set(at(15, 12, month=3))
    later = queries.overview()
    assert date(2026, 1, 12) not in later.days
    assert sum(row.succeeded + row.failed for row in later.renewals) == 0
    assert later.revenue_daily == {}
    assert later.revenue_monthly["USD"][-3] == Revenue(gross_minor=42700, refunded_minor=500)  # January


def test_churn_rate_is_those_who_left_over_those_in_service_when_the_month_began(clock):
    clock.set(at(5))
    plan = make_plan(carrier="att", code="att-1m", price_minor=2500)
    staying = [make_subscription(plan=plan) for _ in range(3)]
    leaving = make_subscription(plan=plan)
    lapsing = make_subscription(plan=plan, auto_renew=False)
    for subscription in [*staying, leaving]:
        clock.set(at(4, 12, month=2))
        renew(subscription)

    clock.set(at(10, 12, month=2))
    cancel(leaving, when="period_end")
    # The one that was not renewed ran out on Feb 5; the retention window ends it for good.
    clock.set(at(10, 12, month=2) + timedelta(days=90))
    from simrenew.subscriptions.lifecycle import terminate_expired

    assert terminate_expired() == 1
    lapsing.refresh_from_db()
    figures = queries.overview()
    february = next(m for m in figures.churn if m.month == date(2026, 2, 1))
    assert (february.cancelled, february.lapsed, february.active_at_start) == (1, 0, 5)
    assert february.rate_percent == 20.0
    terminated_in = lapsing.terminated_at.date().replace(day=1)  # type: ignore[union-attr]
    month_of_lapse = next(m for m in figures.churn if m.month == terminated_in)
    assert month_of_lapse.lapsed == 1


def test_wallet_top_ups_count_when_the_balance_is_spent_not_when_loaded(clock):
    clock.set(at(10))
    plan = make_plan(carrier="att", code="att-1m", price_minor=2500)
    subscription = make_subscription(plan=plan)
    wallet = make_wallet(customer=subscription.customer, balance_minor=5000)
    renew(subscription, payment_method=wallet)

    figures = queries.overview()

    assert figures.revenue_daily["USD"][-1] == Revenue(gross_minor=2500 + 2500)


def test_the_outbox_backlog_and_dead_letters(clock):
    make_subscription()  # writes events, not yet dispatched
    undispatched = OutboxMessage.objects.filter(status="pending").count()
    assert undispatched >= 1
    event = OutboxMessage.objects.earliest("id")
    kinds = [("pending", 0), ("pending", 0), ("pending", 2), ("dead", 9), ("sent", 1)]
    for number, (status, attempts) in enumerate(kinds):
        Delivery.objects.create(
            message=event,
            channel="email",
            recipient=f"r{number}@example.com",
            status=status,
            attempts=attempts,
            next_attempt_at=clock.now(),
            created_at=clock.now(),
        )

    outbox = queries.overview().outbox

    assert outbox.undispatched_events == undispatched
    assert outbox.oldest_undispatched_at == event.created_at
    assert (outbox.deliveries_pending, outbox.deliveries_retrying, outbox.dead_letters) == (2, 1, 1)


def test_the_overview_asks_the_same_number_of_queries_however_much_there_is(clock):
    clock.set(at(10))
    make_subscription()
    with CaptureQueriesContext(connection) as few:
        queries.overview()
    for carrier in ("att", "tmobile", "verizon"):
        for _ in range(3):
            renew(make_subscription(plan=make_plan(carrier=carrier)))
    clock.advance(days=40)
    with CaptureQueriesContext(connection) as many:
        queries.overview()

    assert len(few) == len(many) <= 20  # 17, and 3 for what the eSIM world leaves to operators


def test_the_search_box_finds_a_customer_by_email_phone_or_iccid(clock):
    from simrenew.customers.services import update_customer

    subscription = make_subscription()
    customer = update_customer(subscription.customer, phone="+12125550147")
    iccid = subscription.esim.iccid
    make_subscription()  # someone else

    assert queries.find_customer_ids(customer.email.upper()) == [customer.pk]
    assert queries.find_customer_ids("(212) 555-0147") == [customer.pk]
    assert queries.find_customer_ids("+1 212 555 0147") == [customer.pk]
    assert queries.find_customer_ids(f"{iccid[:4]} {iccid[4:]}") == [customer.pk]
    assert queries.find_customer_ids("example.com") == []
    assert queries.find_customer_ids("   ") == []
