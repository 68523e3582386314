"""Goodwill: an operator gives a customer a few more days of their current period, free."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model

from simrenew.audit.models import AuditEntry
from simrenew.billing.models import Invoice
from simrenew.kit.errors import ValidationFailed
from simrenew.notifications.models import OutboxMessage
from simrenew.payments.models import PaymentAttempt
from simrenew.subscriptions.goodwill import GoodwillNotAllowed, extend_current_period
from simrenew.subscriptions.models import Period, PeriodExtension, Subscription
from simrenew.subscriptions.schedule import first_try_at
from tests.api.helpers import ApiClient, make_api_key
from tests.factories import make_card, make_plan, make_subscription, renew, renew_due

pytestmark = pytest.mark.django_db


@pytest.fixture
def support_agent():  # type: ignore[no-untyped-def]
    return get_user_model().objects.create_user("agent", "agent@example.com", "pw", is_staff=True)


def test_the_current_period_ends_later_and_the_api_shows_it(clock, support_agent):
    subscription = make_subscription()
    old_end = subscription.paid_through
    assert old_end is not None
    invoices = Invoice.objects.count()

    extension = extend_current_period(subscription=subscription, days=5, reason="Outage in Ohio", actor=support_agent)

    subscription.refresh_from_db()
    period = Period.objects.get(subscription=subscription)
    assert period.ends_at == old_end + timedelta(days=5) == subscription.paid_through
    assert (extension.previous_ends_at, extension.new_ends_at) == (old_end, period.ends_at)
    assert subscription.renewal_due_at == first_try_at(old_end + timedelta(days=5))
    assert Invoice.objects.count() == invoices  # no money
    entry = AuditEntry.objects.get(action="goodwill")
    assert entry.reason == "Outage in Ohio" and entry.actor_label == "agent@example.com"
    assert entry.customer_id == subscription.customer_id
    assert entry.before["paid_through"] == old_end.isoformat().replace("+00:00", "Z")
    assert entry.after["days"] == 5

    api = ApiClient(make_api_key(scopes=["read"]))
    shown = api.get(f"/api/v1/subscriptions/{subscription.pk}").json()
    assert shown["paid_through"].startswith((old_end + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M"))


def test_partners_are_told_of_the_extension_in_the_subscriptions_event_order(clock, support_agent):
    subscription = make_subscription()
    old_end = subscription.paid_through
    assert old_end is not None
    earlier = OutboxMessage.objects.filter(subscription=subscription).order_by("-sequence").first()

    extend_current_period(subscription=subscription, days=3, reason="Slow support answer", actor=support_agent)

    event = OutboxMessage.objects.get(subscription=subscription, event_type="subscription.extended")
    assert event.sequence == (earlier.sequence if earlier else 0) + 1
    assert event.payload["days"] == 3
    assert event.payload["previous_ends_at"] == old_end.isoformat()
    assert event.payload["ends_at"] == (old_end + timedelta(days=3)).isoformat()


def test_the_auto_renew_charge_moves_with_the_end(clock, support_agent):
    subscription = make_subscription(plan=make_plan(period_unit="month"))
    assert subscription.paid_through is not None
    old_first_try = first_try_at(subscription.paid_through)
    extend_current_period(subscription=subscription, days=10, reason="Goodwill", actor=support_agent)

    clock.set(old_first_try + timedelta(minutes=1))
    renew_due()
    assert PaymentAttempt.objects.filter(purpose="auto_renewal").count() == 0  # not yet: the end moved

    subscription.refresh_from_db()
    assert subscription.paid_through is not None
    clock.set(first_try_at(subscription.paid_through) + timedelta(minutes=1))
    renew_due()
    assert PaymentAttempt.objects.filter(purpose="auto_renewal", status="succeeded").count() == 1
    second = Period.objects.get(subscription=subscription, number=2)
    assert second.starts_at == subscription.paid_through  # starts at the extended end: no lost days
    starts, ends = (moment.astimezone(ZoneInfo("America/New_York")) for moment in (second.starts_at, second.ends_at))
    assert (ends.month, ends.day, ends.hour) == (starts.month + 1, starts.day, starts.hour)  # a whole local month


def test_prepaid_periods_move_as_a_block(clock, support_agent):
    subscription = make_subscription(plan=make_plan(period_unit="day", period_count=7))
    renew(subscription)
    first, second = Period.objects.filter(subscription=subscription).order_by("number")
    assert second.starts_at == first.ends_at

    extend_current_period(subscription=subscription, days=3, reason="Slow support answer", actor=support_agent)

    moved_first, moved_second = Period.objects.filter(subscription=subscription).order_by("number")
    assert moved_first.ends_at == first.ends_at + timedelta(days=3) == moved_second.starts_at
    assert moved_second.ends_at == second.ends_at + timedelta(days=3)
    subscription.refresh_from_db()
    assert subscription.paid_through == moved_second.ends_at


@pytest.mark.parametrize(("days", "reason"), [(0, "why"), (32, "why"), (5, "   ")])
def test_bad_input_changes_nothing(clock, support_agent, days, reason):
    subscription = make_subscription()
    with pytest.raises(ValidationFailed):
        extend_current_period(subscription=subscription, days=days, reason=reason, actor=support_agent)
    assert Subscription.objects.get(pk=subscription.pk).paid_through == subscription.paid_through
    assert not PeriodExtension.objects.exists() and not AuditEntry.objects.exists()


def test_a_suspended_subscription_has_no_period_to_extend(clock, support_agent):
    subscription = make_subscription(auto_renew=False)
    assert subscription.paid_through is not None
    clock.set(subscription.paid_through + timedelta(hours=1))

    with pytest.raises(GoodwillNotAllowed, match="no current period"):
        extend_current_period(subscription=subscription, days=2, reason="Sorry", actor=support_agent)
    assert not AuditEntry.objects.exists()


def test_an_extension_across_a_dst_change_keeps_the_local_end_time(clock, support_agent):
    """New York moves its clocks on 8 March 2026: five local days from 5 March 07:00 EST
    end on 10 March 07:00 EDT, 119 hours later, not 120."""
    new_york = ZoneInfo("America/New_York")
    clock.set(datetime(2026, 2, 26, 12, 0, tzinfo=UTC))
    subscription = make_subscription(plan=make_plan(period_unit="day", period_count=7))
    renew(subscription)  # a prepaid second week moves too
    first = Period.objects.get(subscription=subscription, number=1)
    assert first.ends_at.astimezone(new_york).replace(tzinfo=None) == datetime(2026, 3, 5, 7, 0)

    extend_current_period(subscription=subscription, days=5, reason="Outage", actor=support_agent)

    moved_first, moved_second = Period.objects.filter(subscription=subscription).order_by("number")
    local = [moment.astimezone(new_york).replace(tzinfo=None) for moment in (moved_first.ends_at, moved_second.ends_at)]
    # (A week of days is 168 hours: the second week, over the change, ended at 08:00 EDT.)
    assert local == [datetime(2026, 3, 10, 7, 0), datetime(2026, 3, 17, 8, 0)]
    assert moved_first.ends_at - first.ends_at == timedelta(hours=119)
    assert moved_second.starts_at == moved_first.ends_at
    subscription.refresh_from_db()
    assert subscription.paid_through == moved_second.ends_at
    assert subscription.renewal_due_at == first_try_at(moved_second.ends_at)


def _spend_the_schedule(clock, subscription: Subscription, card: str) -> None:  # type: ignore[no-untyped-def]
    subscription.payment_method = make_card(customer=subscription.customer, number=card)
    subscription.save(update_fields=["payment_method"])
    assert subscription.paid_through is not None
    for hours in (72, 24, 6, 1):
        clock.set(subscription.paid_through - timedelta(hours=hours))
        renew_due()
    subscription.refresh_from_db()
    assert subscription.renewal_due_at is None and subscription.state == "live"


def test_an_extension_restarts_a_schedule_spent_by_soft_declines(clock, support_agent):
    subscription = make_subscription(plan=make_plan(period_unit="month"))
    _spend_the_schedule(clock, subscription, "4000000000009995")  # insufficient funds, four times

    extend_current_period(subscription=subscription, days=3, reason="Outage", actor=support_agent)

    subscription.refresh_from_db()
    assert subscription.paid_through is not None
    assert subscription.renewal_due_at == first_try_at(subscription.paid_through)
    tried = PaymentAttempt.objects.filter(purpose="auto_renewal").count()
    clock.set(subscription.renewal_due_at)
    renew_due()
    assert PaymentAttempt.objects.filter(purpose="auto_renewal").count() == tried + 1  # tried before the new end


def test_after_a_hard_decline_an_extension_leaves_auto_renew_stopped(clock, support_agent):
    subscription = make_subscription(plan=make_plan(period_unit="month"))
    _spend_the_schedule(clock, subscription, "4000000000000069")  # expired card: no retry

    extend_current_period(subscription=subscription, days=3, reason="Outage", actor=support_agent)

    subscription.refresh_from_db()
    assert subscription.renewal_due_at is None


def test_goodwill_is_capped_per_period_in_total_not_only_per_extension(clock, support_agent):
    subscription = make_subscription()
    extend_current_period(subscription=subscription, days=20, reason="Outage", actor=support_agent)
    extend_current_period(subscription=subscription, days=11, reason="Another outage", actor=support_agent)
    subscription.refresh_from_db()
    paid_through = subscription.paid_through
    period_end = Period.objects.get(subscription=subscription).ends_at

    with pytest.raises(GoodwillNotAllowed, match=r"already received 31 goodwill day.*at most 0 more"):
        extend_current_period(subscription=subscription, days=1, reason="Once more", actor=support_agent)

    subscription.refresh_from_db()
    assert subscription.paid_through == paid_through
    assert Period.objects.get(subscription=subscription).ends_at == period_end
    assert PeriodExtension.objects.count() == 2 and AuditEntry.objects.filter(action="goodwill").count() == 2


def test_the_next_period_has_its_own_goodwill_allowance(clock, support_agent):
    subscription = make_subscription()
    extend_current_period(subscription=subscription, days=31, reason="Outage", actor=support_agent)
    subscription.refresh_from_db()
    assert subscription.paid_through is not None
    clock.set(subscription.paid_through - timedelta(hours=1))
    renew(subscription)
    clock.advance(hours=2)

    extension = extend_current_period(subscription=subscription, days=31, reason="Outage again", actor=support_agent)

    assert extension.period.number == 2
