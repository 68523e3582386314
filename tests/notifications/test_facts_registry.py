"""Notices find their subscription, invoice and paid period through lookups the subscriptions
and billing apps register: a missing one is a startup error, not a failed delivery later."""

import pytest
from django.core import checks

from simrenew.billing.notification_facts import invoice_facts
from simrenew.notifications import facts
from simrenew.subscriptions.notification_facts import paid_period_facts, subscription_facts


def test_the_running_app_registered_every_lookup():
    assert facts._lookups == facts._Lookups(
        subscription=subscription_facts, invoice=invoice_facts, paid_period=paid_period_facts
    )
    assert facts.lookups_registered() == []


@pytest.mark.parametrize(
    ("lookup", "reported"),
    [("subscription", "notifications.E001"), ("invoice", "notifications.E002"), ("paid_period", "notifications.E003")],
)
def test_the_system_check_reports_a_missing_lookup(monkeypatch, lookup, reported):
    monkeypatch.setattr(facts._lookups, lookup, None)
    assert [m.id for m in checks.run_checks() if m.id.startswith("notifications.")] == [reported]
