"""Releasing a profile is refused while a subscription holds it only because the subscriptions
app registered its hold check: a missing one is a startup error, not a silent release."""

from django.core import checks

from simrenew.esims import services
from simrenew.subscriptions.esim_holds import subscription_holding


def test_the_running_app_registered_the_subscriptions_hold_check():
    assert subscription_holding in services._hold_checks
    assert services.hold_checks_registered() == []
    assert not [m for m in checks.run_checks() if m.id == "esims.E001"]


def test_the_system_check_reports_an_empty_registry(monkeypatch):
    monkeypatch.setattr(services, "_hold_checks", [])
    assert [m.id for m in checks.run_checks() if m.id.startswith("esims.")] == ["esims.E001"]
