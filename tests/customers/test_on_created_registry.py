"""`customer.created` is written by a listener the notifications app registers: a missing one
is a startup error, not customers nobody hears of."""

from django.core import checks

from simrenew.customers import services
from simrenew.notifications.customer_events import customer_created


def test_the_running_app_registered_the_customer_created_listener():
    assert customer_created in services._on_created
    assert services.on_created_registered() == []


def test_the_system_check_reports_an_empty_registry(monkeypatch):
    monkeypatch.setattr(services, "_on_created", [])
    assert [m.id for m in checks.run_checks() if m.id.startswith("customers.")] == ["customers.E001"]
