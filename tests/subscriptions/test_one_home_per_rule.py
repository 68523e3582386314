"""The subscription rules live in subscriptions/status.py and nowhere else.

"In service" was once spelled six ways and "due for auto-renew" three, and the spellings
drifted apart (only some looked at `ended_at`). These tests fail when one of those spellings
comes back anywhere under src/, and when a former caller stops asking status.py.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

from simrenew.subscriptions import autorenew_claims, queries, status

SOURCE = Path(__file__).resolve().parents[2] / "src" / "simrenew"
HOME = SOURCE / "subscriptions" / "status.py"

# Each written as it was found (whitespace is collapsed before matching).
FORMER_SPELLINGS = {
    "in service: live or cancelled, as a state filter": (
        r"state__in=[\[(]SubscriptionState\.(LIVE|CANCELLED), SubscriptionState\.(LIVE|CANCELLED)[\])]"
    ),
    "in service: not stopped by a cancellation now, as a filter": (r"Q\(ended_at__isnull=True\) \| Q\(ended_at__gt="),
    "in service: cancelled but still running, as a filter": r"ended_at__isnull=True, paid_through__gt=",
    "in service: stopped by a cancellation now, in Python": r"ended_at is not None and \w+\.ended_at <= now",
    "in service: cancelled but still running, in Python": r"ended_at is None and \(\w+\.paid_through or now\) > now",
    "in service or due: a state written into SQL": r"state (=|IN) \(?'(live|cancelled)'",
    "due for auto-renew: its time has come": r"renewal_due_at( <= |__lte=)(now|clock\.now\(\))\b(?! ?\+)",
    "renews automatically, as a filter": r"state=SubscriptionState\.LIVE, auto_renew=True, paid_through__gt=",
    "renews automatically, in Python": r"state == SubscriptionState\.LIVE and \w+\.auto_renew\b",
    "running to period end, in Python": r"state == SubscriptionState\.CANCELLED and \w+\.ended_at is None",
    "suspended (lapsed), as a filter": (
        r"state=SubscriptionState\.LIVE, (paid_through__gt=[^,]+, )?paid_through__lte="
        r"|paid_through__lte=[^,)]+, state=SubscriptionState\.LIVE\b"
    ),
    "a period runs: started, not ended, as a filter": (
        r"starts_at__lte=now, ends_at__gt=now\)\s*\.filter\(in_service_q|ends_at__gt=now, starts_at__lte=now"
    ),
    "a period runs: not ended and in service, as a filter": r"Q\(ends_at__gt=now\) & (rules\.)?in_service_q",
    "a period runs: not ended and in service, in SQL": r"CASE WHEN p\.ends_at > \{now\} AND",
    "service ends at: the cancellation now, else paid time": r"ended_at or \w+\.paid_through",
    "service ends at: the earlier of the two, in Python": r"min\(\w+\.ended_at, \w+\.paid_through\)",
    "service ends at: the earlier of the two, as a filter": r"ended_at__lte?=F\(\"paid_through\"\)",
    "service ends before or by an instant, as a filter": r"ended_at__isnull=True, paid_through__lte?=",
    "an open payment attempt (payments.models.OPEN_ATTEMPT_STATUSES)": (
        r"(?<!OPEN_ATTEMPT_STATUSES = )[\[(]AttemptStatus\.(PENDING|UNKNOWN), AttemptStatus\.(PENDING|UNKNOWN)[\])]"
    ),
}


def _sources() -> list[tuple[Path, str]]:
    return [
        (path, " ".join(path.read_text().split()))
        for path in sorted(SOURCE.rglob("*.py"))
        if path != HOME and "migrations" not in path.parts
    ]


@pytest.mark.parametrize("spelling", FORMER_SPELLINGS)
def test_no_module_spells_a_rule_of_status_py_again(spelling):
    pattern = re.compile(FORMER_SPELLINGS[spelling])

    found = [str(path.relative_to(SOURCE)) for path, text in _sources() if pattern.search(text)]

    assert found == [], f"{spelling}: use simrenew.subscriptions.status instead"


def test_the_patterns_catch_the_spellings_they_were_written_for():
    former = {
        "renewals": "Q(state=SubscriptionState.CANCELLED, ended_at__isnull=True, paid_through__gt=now)",
        "console": "Q(state__in=[SubscriptionState.LIVE, SubscriptionState.CANCELLED], paid_through__gt=moment)",
        "api": "running = Q(paid_through__gt=now) & (Q(ended_at__isnull=True) | Q(ended_at__gt=now))",
        "queries": "if subscription.ended_at is not None and subscription.ended_at <= now:",
        "esims router": "still_running = subscription.ended_at is None and (subscription.paid_through or now) > now",
        "claim SQL": "WHERE s.state = 'live' AND s.auto_renew AND s.renewal_due_at <= %s",
        "autorenew": "or not (due.renewal_due_at <= now and due.paid_through is not None)",
        "autorenew, models": "and subscription.renewal_due_at <= now",
        "worker status, renewing": "Subscription.objects.filter(state=SubscriptionState.LIVE, auto_renew=True, "
        "paid_through__gt=now)",
        "api, next try": "renews = subscription.state == SubscriptionState.LIVE and subscription.auto_renew",
        "manage page": "cancelled_at_period_end = ( state == SubscriptionState.CANCELLED and subscription.ended_at "
        "is None and subscription.paid_through is not None",
        "cancellation, resume": "resumable = ( subscription.state == SubscriptionState.CANCELLED and "
        "subscription.ended_at is None",
        "lifecycle, suspend": "Subscription.objects.filter( state=SubscriptionState.LIVE, paid_through__gt=now - "
        "retention(), paid_through__lte=now )",
        "lifecycle, re-read": ".filter(pk__in=winners, state=SubscriptionState.LIVE, paid_through__lte=now)",
        "lifecycle, terminate": "Q(state=SubscriptionState.LIVE, paid_through__lte=cutoff)",
        "worker status, lapsed": "Subscription.objects.filter( state=SubscriptionState.LIVE, paid_through__lte=now )",
        "reminders, live ending": "filter(state=SubscriptionState.LIVE, paid_through__gt=after, "
        "paid_through__lte=until)",
        "usage, cards, manage page, cancel event": "expires_at = subscription.ended_at or subscription.paid_through",
        "lifecycle, service end": "return min(subscription.ended_at, subscription.paid_through)",
        "lifecycle, service ended between": 'Q(ended_at__isnull=False, ended_at__lt=F("paid_through"), '
        "ended_at__gt=after",
        "api, expiring_before": "Q(ended_at__isnull=True, paid_through__lt=query.expiring_before)",
        "worker status, unsettled": "PaymentAttempt.objects.filter(status__in=[AttemptStatus.PENDING, "
        "AttemptStatus.UNKNOWN])",
        "console, active by plan": "Period.objects.filter(starts_at__lte=now, ends_at__gt=now) .filter(in_service_q("
        'now, prefix="subscription__"))',
        "reminders, running low": ".filter(ends_at__gt=now, starts_at__lte=now)",
        "queries, view": "running = ExpressionWrapper( Q(ends_at__gt=now) & rules.in_service_q(now, "
        'prefix="subscription__")',
        "queries, views_of and read_view": '"SELECT s.id, p.id, CASE WHEN p.ends_at > {now} AND "',
        "portal, attempt": 'status = "pending" if attempt.status in (AttemptStatus.PENDING, AttemptStatus.UNKNOWN)',
    }
    patterns = [re.compile(p) for p in FORMER_SPELLINGS.values()]

    for where, text in former.items():
        assert any(p.search(text) for p in patterns), where
    for spelling, pattern in zip(FORMER_SPELLINGS, patterns, strict=True):
        assert any(pattern.search(text) for text in former.values()), f"{spelling}: no former text shows it"


@pytest.mark.parametrize(
    "module",
    [
        "simrenew.subscriptions.renewals",
        "simrenew.subscriptions.esim_holds",
        "simrenew.subscriptions.queries",
        "simrenew.subscriptions.autorenew",
        "simrenew.subscriptions.autorenew_claims",
        "simrenew.subscriptions.reminders",
        "simrenew.api.routers.subscriptions",
        "simrenew.api.routers.esims",
        "simrenew.console.queries",
        "simrenew.worker.status",
        "simrenew.portal.presenters_manage",
        "simrenew.portal.presenters",
        "simrenew.portal.forms_manage",
        "simrenew.subscriptions.cancellation",
        "simrenew.subscriptions.lifecycle",
        "simrenew.usage.queries",
    ],
)
def test_each_former_caller_asks_status_py(module):
    # Only a first net: the spellings above catch a caller that imports status.py and
    # still writes a rule inline.
    source = inspect.getsource(importlib.import_module(module))

    assert re.search(r"from simrenew\.subscriptions(\.status import| import status)", source), module


def test_the_hot_paths_sql_is_the_rules_sql():
    assert status.due_for_auto_renew_sql("s") in autorenew_claims._DUE_SQLITE
    assert status.due_for_auto_renew_sql("s") in autorenew_claims._DUE_POSTGRESQL
    assert status.in_service_sql("s") in queries._VIEW_SQL_AT
    assert status.period_runs_sql("p", "s", now="{now}") in queries._SHOWN_PERIODS_SQL
    assert status.period_runs_sql("p", "s") in queries._VIEW_SQL_AT
