"""What a customer sees: status, days left and data left, as time passes and data is used."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.models import Q

from simrenew.console.queries import active_by_plan, in_service_at
from simrenew.esims.services import retire_profile
from simrenew.kit.errors import SimrenewError
from simrenew.subscriptions import status as rules
from simrenew.subscriptions.autorenew_claims import claim_batch
from simrenew.subscriptions.cancellation import cancel
from simrenew.subscriptions.errors import RenewalNotAllowed
from simrenew.subscriptions.models import Period, Subscription, SubscriptionState
from simrenew.subscriptions.queries import Status, read_view, view, views_of
from tests.factories import make_customer, make_esim, make_plan, make_subscription, record_usage, renew

# The clock fixture starts at 2026-01-15 12:00 UTC; a month bought then (New York
# time) ends on 2026-02-15 12:00 UTC.
FIRST_END = datetime(2026, 2, 15, 12, 0, tzinfo=UTC)


def test_a_new_subscription_is_active_with_its_whole_allowance_and_all_its_days(clock):
    subscription = make_subscription(plan=make_plan(data_mb=5120))

    shown = view(subscription)

    assert shown.status == Status.ACTIVE
    assert (shown.data_total_mb, shown.data_left_mb) == (5120, 5120)
    assert shown.days_left == 31
    assert shown.current_period.number == 1


def test_days_left_count_part_days_as_whole_days(clock):
    subscription = make_subscription()

    clock.set(FIRST_END - timedelta(days=10, hours=1))
    assert view(subscription).days_left == 11
    clock.set(FIRST_END - timedelta(minutes=1))
    assert view(subscription).days_left == 1


def test_three_days_before_the_end_the_subscription_is_expiring(clock):
    subscription = make_subscription()

    clock.set(FIRST_END - timedelta(days=3, minutes=1))
    assert (view(subscription).status, view(subscription).days_left) == (Status.ACTIVE, 4)

    clock.set(FIRST_END - timedelta(days=3))
    assert (view(subscription).status, view(subscription).days_left) == (Status.EXPIRING, 3)


def test_with_ten_percent_of_the_data_left_the_subscription_is_expiring(clock):
    subscription = make_subscription(plan=make_plan(data_mb=1000))
    iccid = subscription.esim.iccid

    record_usage(iccid=iccid, mb=899)
    shown = view(subscription)
    assert (shown.status, shown.data_left_mb) == (Status.ACTIVE, 101)

    record_usage(iccid=iccid, mb=1)
    shown = view(subscription)
    assert (shown.status, shown.data_left_mb) == (Status.EXPIRING, 100)
    assert shown.days_left == 31  # plenty of days: it is the data that runs out


def test_data_left_rounds_down_to_whole_megabytes_and_never_goes_negative(clock):
    subscription = make_subscription(plan=make_plan(data_mb=1000))

    record_usage(iccid=subscription.esim.iccid, bytes=1)
    assert view(subscription).data_left_mb == 999

    record_usage(iccid=subscription.esim.iccid, mb=5000)
    shown = view(subscription)
    assert (shown.data_total_mb, shown.data_left_mb, shown.status) == (1000, 0, Status.EXPIRING)


def test_a_renewed_subscription_is_not_expiring_near_the_end_of_its_first_period(clock):
    subscription = make_subscription()
    renew(subscription)
    subscription.refresh_from_db()

    clock.set(FIRST_END - timedelta(days=1))
    shown = view(subscription)

    assert shown.status == Status.ACTIVE
    assert shown.current_period.number == 1
    # Paid through 15 March 07:00 New York (11:00 UTC, after the DST change).
    assert shown.days_left == 29


def test_the_next_period_brings_a_fresh_allowance_and_the_used_data_stays_behind(clock):
    subscription = make_subscription(plan=make_plan(data_mb=2048))
    renew(subscription)
    subscription.refresh_from_db()
    record_usage(iccid=subscription.esim.iccid, mb=2000)
    assert view(subscription).data_left_mb == 48

    clock.set(FIRST_END)
    shown = view(subscription)

    assert shown.current_period.number == 2
    assert (shown.data_left_mb, shown.status) == (2048, Status.ACTIVE)


def test_when_the_paid_time_runs_out_the_subscription_is_suspended_with_nothing_left(clock):
    subscription = make_subscription()

    clock.set(FIRST_END)
    shown = view(subscription)

    assert shown.status == Status.SUSPENDED
    assert shown.current_period is None
    assert (shown.days_left, shown.data_left_mb, shown.data_total_mb) == (0, 0, 0)


def test_a_suspended_subscription_is_renewed_by_paying_and_is_active_again(clock):
    subscription = make_subscription()
    clock.set(FIRST_END + timedelta(days=5))

    attempt = renew(subscription)

    assert attempt.status == "succeeded"
    subscription.refresh_from_db()
    shown = view(subscription)
    assert (shown.status, shown.days_left, shown.current_period.number) == (Status.ACTIVE, 28, 2)
    assert shown.current_period.starts_at == clock.now()


def test_a_terminated_subscription_shows_terminated_and_cannot_be_renewed(clock):
    subscription = make_subscription()
    clock.set(FIRST_END + timedelta(days=60))
    # The lifecycle worker terminates subscriptions suspended past the retention window.
    subscription.state = SubscriptionState.TERMINATED
    subscription.terminated_at = clock.now()
    subscription.save()

    assert view(subscription).status == Status.TERMINATED
    with pytest.raises(RenewalNotAllowed) as refused:
        renew(subscription)
    assert "start a new one" in refused.value.detail
    assert isinstance(refused.value, SimrenewError) and refused.value.status == 409


# --- the rules behind the status, each defined once (subscriptions.status) ------------------------------------------
#
# Every rule answers the same in Python (on a model or a worker's row), as a queryset filter,
# and, where the hot paths need it, as SQL: checked over rows of every kind at moments on and
# around their timestamps.

T1 = datetime(2026, 1, 20, 12, 0, tzinfo=UTC)
T2 = T1 + timedelta(days=5)
MOMENTS = (T1 - timedelta(seconds=1), T1, T1 + timedelta(seconds=1), T2, T2 + timedelta(days=4))


def _rows_of_every_kind() -> list[Subscription]:
    """One subscription for each state, paid_through, ended_at, auto_renew and renewal_due_at together."""
    customer = make_customer()
    plan = make_plan()
    stamps = (None, T1, T2)
    made = [
        Subscription(
            customer=customer,
            esim=make_esim(customer=customer),
            plan=plan,
            state=state,
            paid_through=paid_through,
            ended_at=ended_at,
            auto_renew=auto_renew,
            renewal_due_at=due_at,
            created_at=T1 - timedelta(days=30),
        )
        for state, paid_through, ended_at, auto_renew, due_at in itertools.product(
            SubscriptionState.values, stamps, stamps, (True, False), stamps
        )
    ]
    Subscription.objects.bulk_create(made)
    return list(Subscription.objects.filter(customer=customer))


def _ids_by_sql(fragment: str, nows: int, now: datetime, customer_id: int) -> set[int]:
    at = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT s.id FROM subscriptions_subscription s WHERE s.customer_id = %s AND {fragment}",
            [customer_id, *[at] * nows],
        )
        return {row[0] for row in cursor.fetchall()}


def _assert_python_and_database_agree(
    name: str,
    rows: list[Subscription],
    predicate: Callable[[Subscription, datetime], bool],
    as_filter: Callable[[datetime], Q],
) -> None:
    """At each of MOMENTS, the rows `predicate` picks are the rows `as_filter` finds."""
    sizes = []
    for now in MOMENTS:
        in_python = {s.pk for s in rows if predicate(s, now)}
        in_database = set(
            Subscription.objects.filter(as_filter(now), pk__in=[s.pk for s in rows]).values_list("pk", flat=True)
        )
        assert in_python == in_database, (name, now)
        sizes.append(len(in_python))
    assert any(sizes) and all(size < len(rows) for size in sizes)  # the grid tells the rule's two sides apart


RULES: dict[str, tuple[Callable[[Subscription, datetime], bool], Callable[[datetime], Q]]] = {
    "in service": (rules.in_service, lambda now: rules.in_service_q(now)),
    "holds its eSIM": (rules.holds_esim, lambda now: rules.holds_esim_q(now)),
    "suspended": (rules.suspended, lambda now: rules.suspended_q(now)),
    "due for auto-renew": (rules.due_for_auto_renew, rules.due_for_auto_renew_q),
    "renews automatically": (rules.renews_automatically, rules.renews_automatically_q),
    "running to period end": (
        rules.running_to_period_end,
        lambda now: rules.in_service_q(now) & Q(state=SubscriptionState.CANCELLED),
    ),
    "service ends before now": (
        lambda s, now: (ends := rules.service_ends_at(s)) is not None and ends < now,
        rules.service_ends_before_q,
    ),
    "service ends by now": (
        lambda s, now: (ends := rules.service_ends_at(s)) is not None and ends <= now,
        rules.service_ends_by_q,
    ),
    "ends within 3 days": (
        lambda s, now: rules.ends_within(s, now, rules.EXPIRING_WITHIN),
        lambda now: rules.ends_within_q(now, rules.EXPIRING_WITHIN),
    ),
    "upcoming expiry": (
        lambda s, now: rules.in_service(s, now) and rules.ends_within(s, now, rules.UPCOMING_EXPIRY_WITHIN),
        rules.upcoming_expiry_q,
    ),
    "in service, not ending within 3 days": (
        lambda s, now: rules.in_service(s, now) and not rules.ends_within(s, now, rules.EXPIRING_WITHIN),
        lambda now: rules.not_expiring_by_time_q(now),
    ),
}


@pytest.mark.parametrize("rule", RULES)
def test_each_rule_answers_the_same_in_python_and_in_the_database(clock, rule):
    _assert_python_and_database_agree(rule, _rows_of_every_kind(), *RULES[rule])


def _rows_that_can_exist(rows: list[Subscription]) -> list[Subscription]:
    """A live subscription has had a paid period and has no `ended_at` (only cancelling "now"
    sets it, and such a subscription is never resumed); a cancelled one was live before."""
    return [
        s
        for s in rows
        if (s.state != SubscriptionState.LIVE or s.ended_at is None)
        and (s.state not in (SubscriptionState.LIVE, SubscriptionState.CANCELLED) or s.paid_through is not None)
    ]


def _ends_in(s: Subscription, after: datetime, until: datetime) -> bool:
    ends = rules.service_ends_at(s)
    return ends is not None and after < ends <= until


DAYS = timedelta(days=5)
# The worker's forms, written for the (state, paid_through) index: they lean on what a live row
# always is, so they answer as the rule over the rows that can exist.
WORKER_FORMS: dict[str, tuple[Callable[[Subscription, datetime], bool], Callable[[datetime], Q]]] = {
    "lapsed is suspended": (rules.suspended, lambda now: rules.lapsed_q(now)),
    "lapsed within the last days": (
        lambda s, now: rules.suspended(s, now) and _ends_in(s, now - DAYS, now),
        lambda now: rules.lapsed_q(now, since=now - DAYS),
    ),
    "live, service ends within the next days": (
        lambda s, now: s.state == SubscriptionState.LIVE and _ends_in(s, now, now + DAYS),
        lambda now: rules.live_service_ends_between_q(now, now + DAYS),
    ),
    "service ended within the last days": (
        lambda s, now: (
            s.state in (SubscriptionState.LIVE, SubscriptionState.CANCELLED) and _ends_in(s, now - DAYS, now)
        ),
        lambda now: rules.service_ended_between_q(now - DAYS, now),
    ),
}


@pytest.mark.parametrize("form", WORKER_FORMS)
def test_the_worker_forms_answer_as_the_rule_on_every_row_that_can_exist(clock, form):
    _assert_python_and_database_agree(form, _rows_that_can_exist(_rows_of_every_kind()), *WORKER_FORMS[form])


@pytest.mark.parametrize(
    ("ended_at", "paid_through", "ends"),
    [(None, T2, T2), (T1, T2, T1), (T2, T1, T1), (T1, None, T1), (None, None, None)],
)
def test_service_ends_at_the_earlier_of_the_cancellation_now_and_the_end_of_paid_time(ended_at, paid_through, ends):
    subscription = Subscription(state=SubscriptionState.CANCELLED, ended_at=ended_at, paid_through=paid_through)

    assert rules.service_ends_at(subscription) == ends


def test_the_sql_of_the_hot_paths_answers_as_the_rule(clock):
    rows = _rows_of_every_kind()
    customer_id = rows[0].customer_id

    for now in MOMENTS:
        assert _ids_by_sql(rules.in_service_sql("s"), rules.IN_SERVICE_SQL_NOWS, now, customer_id) == {
            s.pk for s in rows if rules.in_service(s, now)
        }
        assert _ids_by_sql(rules.due_for_auto_renew_sql("s"), rules.DUE_FOR_AUTO_RENEW_SQL_NOWS, now, customer_id) == {
            s.pk for s in rows if rules.due_for_auto_renew(s, now)
        }


def test_the_worker_rows_are_judged_by_the_same_due_rule(clock):
    subscription = make_subscription()
    clock.set(subscription.paid_through - timedelta(hours=72))
    [due] = claim_batch(worker_id="status-test", limit=5)

    assert rules.due_for_auto_renew(due, clock.now())
    clock.set(subscription.paid_through)  # paid time run out: suspended, no longer auto-renewed
    assert not rules.due_for_auto_renew(due, clock.now())
    assert rules.suspended(subscription, clock.now())


def test_a_subscription_cancelled_now_leaves_service_at_once_for_every_reader(clock):
    """Only one of the former spellings of "in service" looked at `ended_at`; the rule does, so
    every reader (the view, the API's fast read, the console's counts, the eSIM's release, a new
    purchase for the eSIM) sees the line stop when it is cancelled now, not at its paid end."""
    subscription = make_subscription()
    clock.advance(days=3)
    subscription = cancel(subscription, when="now")
    now = clock.now()

    assert subscription.paid_through > now  # the paid time ran longer
    assert not rules.in_service(subscription, now)
    assert not rules.holds_esim(subscription, now)
    shown, fast = view(subscription), read_view(subscription.pk, now=now)
    assert fast is not None
    for seen in (shown, fast):
        assert (seen.status, seen.current_period, seen.days_left, seen.data_left_mb) == (
            Status.CANCELLED,
            None,
            0,
            0,
        )
    assert not Subscription.objects.filter(in_service_at(now), pk=subscription.pk).exists()
    assert active_by_plan(now) == []
    retired = retire_profile(subscription.esim)
    assert retired.status == "retired"


def test_a_subscription_cancelled_at_a_later_instant_is_in_service_until_then(clock):
    """A cancellation "now" records the instant service stops; before that instant the line
    is still in service (the case the spellings that read `ended_at IS NULL` missed)."""
    subscription = make_subscription()
    stop = clock.now() + timedelta(days=2)
    Subscription.objects.filter(pk=subscription.pk).update(state=SubscriptionState.CANCELLED, ended_at=stop)
    subscription.refresh_from_db()

    assert rules.in_service(subscription, stop - timedelta(seconds=1))
    assert rules.holds_esim(subscription, stop - timedelta(seconds=1))
    assert Subscription.objects.filter(rules.holds_esim_q(stop - timedelta(seconds=1)), pk=subscription.pk).exists()
    assert not rules.in_service(subscription, stop)
    assert view(subscription, now=stop - timedelta(seconds=1)).current_period is not None
    assert view(subscription, now=stop).current_period is None


def test_the_dashboards_data_level_and_the_data_reminders_share_their_thresholds():
    # One 80 % and one 95 % (models), counted as the reminders' SQL counts them: whole numbers,
    # top-ups in the allowance. 95 % of 1 GB is 972.8 MB: 972 MB is still "low".
    from simrenew.subscriptions.models import DATA_CRITICAL_PERCENT, DATA_LOW_PERCENT, MB
    from simrenew.subscriptions.reminders import DATA_THRESHOLDS
    from simrenew.subscriptions.status import data_level

    assert [percent for _kind, percent in DATA_THRESHOLDS] == [DATA_CRITICAL_PERCENT, DATA_LOW_PERCENT]

    def at_least(percent: int) -> int:  # the fewest bytes that are `percent` of 1 GB
        return -(-1024 * MB * percent // 100)

    levels = [
        data_level(used_bytes=used, allowance_mb=1024)
        for used in (0, at_least(80) - 1, at_least(80), 972 * MB, at_least(95) - 1, at_least(95), 1024 * MB)
    ]
    assert levels == ["ok", "ok", "low", "low", "low", "critical", "critical"]


# --- the period running now (status.period_runs_q / period_runs_sql) -------------------------------------------------


def _running_periods(subscription: Subscription, now: datetime) -> tuple[set[int], set[int]]:
    """The periods of `subscription` running at `now`, found by the rule's filter and by its SQL."""
    as_filter = set(
        Period.objects.filter(rules.period_runs_q(now), subscription=subscription).values_list("pk", flat=True)
    )
    sql = rules.period_runs_sql("p", "s", now="%s")
    at = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.id FROM subscriptions_period p JOIN subscriptions_subscription s ON s.id = p.subscription_id"
            f" WHERE s.id = %s AND {sql}",
            [subscription.pk, *[at] * sql.count("%s")],
        )
        as_sql = {row[0] for row in cursor.fetchall()}
    return as_filter, as_sql


def test_the_period_running_is_the_same_for_every_reader_as_time_passes_and_after_cancelling_now(clock):
    """A month with a day prepaid after it: the month runs, then the day, then nothing (suspended);
    cancelled now, nothing runs though the day was paid. The rule's filter, its SQL and each view
    (one subscription, many, the API's fast read) name the same period each time."""
    subscription = make_subscription()
    renew(subscription, plan=make_plan(code="att-1d", name="AT&T 1 day", period_unit="day", period_count=1))
    month, day = Period.objects.filter(subscription=subscription).order_by("number")
    cancelled = make_subscription()
    clock.advance(days=3)
    cancelled = cancel(cancelled, when="now")
    second = timedelta(seconds=1)

    # At each moment: the period running, and the plan shown (the running period's, else the last to run).
    moments = {
        month.starts_at: (month.pk, month.plan_id),
        month.ends_at - second: (month.pk, month.plan_id),
        day.starts_at: (day.pk, day.plan_id),
        day.ends_at - second: (day.pk, day.plan_id),
        day.ends_at: (None, day.plan_id),
    }
    for now, (running, plan_id) in moments.items():
        as_filter, as_sql = _running_periods(subscription, now)
        fast = read_view(subscription.pk, now=now)
        assert fast is not None
        seen = [view(subscription, now=now), views_of([subscription], now=now)[subscription.pk], fast]
        assert as_filter == as_sql == ({running} - {None}), now
        assert [v.current_period.pk if v.current_period else None for v in seen] == [running] * 3, now
        assert [(v.plan.pk, v.plan_id) for v in seen] == [(plan_id, plan_id)] * 3, now
    now = clock.now()
    assert _running_periods(cancelled, now) == (set(), set())
    assert view(cancelled, now=now).current_period is None
