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
