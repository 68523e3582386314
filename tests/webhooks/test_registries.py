"""Which event types an endpoint may choose, and who gives up a stopped endpoint's deliveries,
are registered by the notifications app: a missing registration is a startup error."""

import pytest
from django.core import checks

from simrenew.notifications.events import EVENT_KINDS
from simrenew.notifications.webhook_events import give_up_waiting
from simrenew.webhooks import services


def test_the_running_app_registered_the_event_types_and_the_stopped_listener():
    assert set(EVENT_KINDS) <= services._known_event_types
    assert give_up_waiting in services._on_stopped
    assert services.registries_filled() == []


@pytest.mark.parametrize(
    ("registry", "empty", "reported"),
    [("_known_event_types", set(), "webhooks.E001"), ("_on_stopped", [], "webhooks.E002")],
)
def test_the_system_check_reports_an_empty_registry(monkeypatch, registry, empty, reported):
    monkeypatch.setattr(services, registry, empty)
    assert [m.id for m in checks.run_checks() if m.id.startswith("webhooks.")] == [reported]
