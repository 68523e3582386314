"""Partners' endpoints in the operator's console."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from simrenew.webhooks.models import WebhookEndpoint
from simrenew.webhooks.services import create_endpoint


@pytest.fixture
def operator(client: Client) -> Client:
    admin = get_user_model().objects.create_superuser("operator", "operator@example.com", "correct horse battery")
    client.force_login(admin)
    return client


def test_adding_an_endpoint_makes_its_signing_secret_and_shows_it_once(clock, operator):
    response = operator.post(
        "/admin/webhooks/webhookendpoint/add/",
        {
            "url": "https://partner.example.com/hooks",
            "description": "Partner",
            "event_types": ["subscription.renewed"],
            "enabled": "on",
        },
        follow=True,
    )

    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret.startswith("whsec_") and endpoint.event_types == ["subscription.renewed"]
    assert endpoint.created_at == clock.now()
    assert endpoint.secret in response.content.decode()
    page = operator.get(f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/").content.decode()
    assert endpoint.secret not in page and f"whsec_…{endpoint.secret[-4:]}" in page


def test_unknown_event_types_are_refused(clock, operator):
    response = operator.post(
        "/admin/webhooks/webhookendpoint/add/",
        {"url": "https://partner.example.com/hooks", "event_types": ["subscription.teleported"]},
    )

    assert response.status_code == 200 and not WebhookEndpoint.objects.exists()


def test_disabling_and_enabling_an_endpoint(clock, operator):
    endpoint = create_endpoint(url="https://partner.example.com/hooks")
    WebhookEndpoint.objects.update(consecutive_failures=7)
    changelist = "/admin/webhooks/webhookendpoint/"

    operator.post(changelist, {"action": "disable", "_selected_action": [endpoint.pk]})
    endpoint.refresh_from_db()
    assert not endpoint.enabled and endpoint.disabled_at == clock.now()

    operator.post(changelist, {"action": "enable", "_selected_action": [endpoint.pk]})
    endpoint.refresh_from_db()
    assert endpoint.enabled and endpoint.disabled_at is None and endpoint.consecutive_failures == 0


def test_an_operator_replays_an_event_and_the_trail_says_so(clock, operator, receiver):
    from simrenew.audit.models import AuditEntry
    from simrenew.notifications.models import OutboxMessage
    from tests.factories import make_subscription
    from tests.notifications.helpers import run_worker

    endpoint = create_endpoint(url=receiver.url, event_types=["subscription.created"])
    make_subscription()
    run_worker()
    event = OutboxMessage.objects.get(event_type="subscription.created")
    page = f"/admin/webhooks/webhookendpoint/{endpoint.pk}/replay/"

    assert operator.get(page).status_code == 200
    refused = operator.post(page, {"reason": "partner lost it"})  # neither an event nor a time
    response = operator.post(page, {"event_id": str(event.event_id), "reason": "partner lost it"})
    run_worker()

    assert refused.status_code == 400
    assert response.status_code == 302
    assert [r.headers["webhook-id"] for r in receiver.requests] == [str(event.event_id)] * 2
    entry = AuditEntry.objects.get(action="replay")
    assert entry.target_id == str(endpoint.pk) and entry.reason == "partner lost it"
    assert entry.after["event_ids"] == [str(event.event_id)] and entry.actor_label == "operator@example.com"


def test_an_operator_rotates_the_secret_and_it_is_shown_once_and_audited(clock, operator):
    from simrenew.audit.models import AuditEntry

    endpoint = create_endpoint(url="https://partner.example.com/hooks")
    old = endpoint.secret

    response = operator.post(
        f"/admin/webhooks/webhookendpoint/{endpoint.pk}/rotate-secret/", {"reason": "leaked"}, follow=True
    )

    endpoint.refresh_from_db()
    assert endpoint.secret != old and endpoint.previous_secret == old
    assert endpoint.secret in response.content.decode()
    entry = AuditEntry.objects.get(action="rotate_secret")
    assert entry.reason == "leaked" and old not in str(entry.after) and endpoint.secret not in str(entry.after)


def test_switching_and_deleting_in_the_console_are_audited_and_deleting_keeps_the_row(clock, operator):
    from simrenew.audit.models import AuditEntry

    endpoint = create_endpoint(url="https://partner.example.com/hooks")
    changelist = "/admin/webhooks/webhookendpoint/"

    operator.post(changelist, {"action": "disable", "_selected_action": [endpoint.pk]})
    operator.post(f"/admin/webhooks/webhookendpoint/{endpoint.pk}/delete/", {"post": "yes"})

    endpoint.refresh_from_db()
    assert endpoint.deleted_at == clock.now() and not endpoint.enabled
    assert list(AuditEntry.objects.order_by("id").values_list("action", flat=True)) == ["disable", "delete"]
    assert all(endpoint.secret not in str(e.before) + str(e.after) for e in AuditEntry.objects.all())
    assert operator.get(changelist).context["cl"].result_count == 0


def test_a_new_or_rotated_secret_is_shown_on_its_own_page_never_in_a_message_or_the_trail(clock, operator):
    """Messages are kept in a signed, not encrypted, cookie: a secret there could be read back."""
    from simrenew.audit.models import AuditEntry

    added = operator.post(
        "/admin/webhooks/webhookendpoint/add/", {"url": "https://partner.example.com/hooks", "enabled": "on"}
    )
    endpoint = WebhookEndpoint.objects.get()
    first_secret = endpoint.secret
    rotated = operator.post(f"/admin/webhooks/webhookendpoint/{endpoint.pk}/rotate-secret/", {"reason": "yearly"})
    endpoint.refresh_from_db()

    for response, secret in ((added, first_secret), (rotated, endpoint.secret)):
        assert response.status_code == 200 and response["Cache-Control"].startswith("no-store")
        assert secret in response.content.decode()
        assert secret not in str(response.cookies.get("messages", ""))
    assert "24 hours" in rotated.content.decode()
    later = operator.get("/admin/webhooks/webhookendpoint/").content.decode()
    assert first_secret not in later and endpoint.secret not in later
    assert all(
        secret not in str(e.before) + str(e.after) + e.reason
        for e in AuditEntry.objects.all()
        for secret in (first_secret, endpoint.secret)
    )


def test_disabling_in_the_console_gives_up_what_was_waiting(clock, operator):
    from simrenew.notifications.models import Delivery
    from tests.factories import make_customer
    from tests.notifications.helpers import run_worker

    endpoint = create_endpoint(url="http://127.0.0.1:9/down")
    make_customer()
    run_worker()  # fails: the retry waits
    assert Delivery.objects.get(channel="webhook").status == "pending"

    operator.post(
        f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/",
        {"url": endpoint.url, "description": "", "event_types": []},  # "enabled" unticked
    )

    endpoint.refresh_from_db()
    delivery = Delivery.objects.get(channel="webhook")
    assert not endpoint.enabled
    assert delivery.status == "dead" and "disabled" in delivery.last_error
