"""Partners register webhook endpoints, read events of the last 30 days and replay them."""

from __future__ import annotations

import importlib
import uuid

import pytest
from django.apps import apps
from standardwebhooks.webhooks import Webhook

from simrenew.api.models import IdempotencyRecord
from simrenew.notifications.models import Delivery, OutboxMessage
from simrenew.webhooks.models import WebhookEndpoint
from tests.api.helpers import ApiClient, assert_problem, make_api_key
from tests.factories import make_subscription, renew
from tests.notifications.helpers import run_worker
from tests.notifications.servers import http_receiver

pytestmark = pytest.mark.django_db

URL = "https://partner.example.com/hooks"


@pytest.fixture
def admin(db: None) -> ApiClient:
    return ApiClient(make_api_key(scopes=("admin",), name="operator"))


@pytest.fixture
def other(db: None) -> ApiClient:
    return ApiClient(make_api_key(scopes=("write",), name="another partner"))


def register(api: ApiClient, **body: object) -> dict:
    response = api.post("webhook-endpoints", {"url": URL, **body})
    assert response.status_code == 201, response.content
    return response.json()


def test_an_endpoint_is_registered_and_its_secret_shown_only_then(api, clock):
    created = register(api, events=["subscription.renewed"], description="CRM")

    assert created["secret"].startswith("whsec_")
    assert {k: created[k] for k in ("url", "events", "description", "enabled", "consecutive_failures")} == {
        "url": URL,
        "events": ["subscription.renewed"],
        "description": "CRM",
        "enabled": True,
        "consecutive_failures": 0,
    }
    shown = api.get(f"webhook-endpoints/{created['id']}").json()
    listed = api.get("webhook-endpoints").json()
    assert "secret" not in shown and shown == {k: v for k, v in created.items() if not k.startswith("secret")}
    assert listed["items"] == [shown] and listed["has_more"] is False
    assert created["secret"] not in str(listed)


def test_a_key_sees_only_its_own_endpoints_and_an_admin_key_all(api, other, admin, clock):
    mine = register(api)
    theirs = register(other)

    assert [e["id"] for e in api.get("webhook-endpoints").json()["items"]] == [mine["id"]]
    assert_problem(
        api.get(f"webhook-endpoints/{theirs['id']}"), status=404, type="/problems/webhook-endpoint-not-found"
    )
    assert_problem(
        api.delete(f"webhook-endpoints/{theirs['id']}"), status=404, type="/problems/webhook-endpoint-not-found"
    )
    assert [e["id"] for e in admin.get("webhook-endpoints").json()["items"]] == [mine["id"], theirs["id"]]
    assert admin.patch(f"webhook-endpoints/{theirs['id']}", {"description": "checked"}).status_code == 200


def test_a_read_key_cannot_register(clock):
    reader = ApiClient(make_api_key(scopes=("read",)))
    assert_problem(reader.post("webhook-endpoints", {"url": URL}), status=403, type="/problems/insufficient-scope")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://partner.example.com/x"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "https://user:pw@partner.example.com/x"}, "url"),
        ({"url": URL, "events": ["subscription.teleported"]}, "events"),
    ],
)
def test_bad_urls_and_unknown_events_are_refused_and_nothing_is_made(api, clock, body, field):
    body = assert_problem(api.post("webhook-endpoints", body), status=422, type="/problems/validation-error")

    assert [e["field"] for e in body["errors"]] == [field]
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "http://partner.example.com/x",
        "https://127.0.0.1/x",
        "https://10.1.2.3/x",
        "https://localhost/x",
        "https://[::1]/x",
    ],
)
def test_in_production_only_public_https_addresses_are_taken(clock, settings, url):
    settings.SIMRENEW_SANDBOX = False
    settings.SIMRENEW_WEBHOOK_RESOLVER = lambda host, port: ["93.184.215.14"]  # no real DNS in tests
    api = ApiClient(make_api_key(scopes=("write",)))  # a live key: a live server refuses sandbox keys

    assert_problem(api.post("webhook-endpoints", {"url": url}), status=422, type="/problems/validation-error")
    assert register(api, url="https://partner.example.com/hooks")["url"] == "https://partner.example.com/hooks"


def test_sandbox_takes_a_local_http_receiver(api, clock):
    assert register(api, url="http://127.0.0.1:8765/hooks")["url"] == "http://127.0.0.1:8765/hooks"


def test_changing_disabling_and_enabling_again(api, clock):
    created = register(api)
    WebhookEndpoint.objects.update(consecutive_failures=9, failing_since=clock.now())

    off = api.patch(f"webhook-endpoints/{created['id']}", {"enabled": False, "events": ["payment.refunded"]}).json()
    on = api.patch(f"webhook-endpoints/{created['id']}", {"enabled": True, "url": "https://b.example.com/h"}).json()

    assert off["enabled"] is False and off["disabled_reason"] == "disabled by its owner"
    assert off["events"] == ["payment.refunded"]
    assert on["enabled"] is True and on["consecutive_failures"] == 0 and on["failing_since"] is None
    assert on["url"] == "https://b.example.com/h" and on["disabled_at"] is None
    assert_problem(
        api.patch(f"webhook-endpoints/{created['id']}", {"url": "gopher://x"}),
        status=422,
        type="/problems/validation-error",
    )
    assert WebhookEndpoint.objects.get().url == "https://b.example.com/h"


def test_deleting_an_endpoint_stops_what_was_waiting_for_it(api, clock):
    created = register(api, url="http://127.0.0.1:9/hooks")
    make_subscription()
    run_worker()  # fails: the retry waits
    assert Delivery.objects.filter(channel="webhook", status="pending").exists()

    response = api.delete(f"webhook-endpoints/{created['id']}")

    assert response.status_code == 204
    assert set(Delivery.objects.filter(channel="webhook").values_list("status", "last_error")) == {
        ("dead", "the webhook endpoint was deleted")
    }
    assert_problem(
        api.get(f"webhook-endpoints/{created['id']}"), status=404, type="/problems/webhook-endpoint-not-found"
    )
    assert api.get("webhook-endpoints").json()["items"] == []
    clock.advance(days=1)
    assert run_worker().total == 0


def test_rotating_the_secret_shows_the_new_one_once(api, clock):
    created = register(api)

    rotated = api.post(f"webhook-endpoints/{created['id']}/rotate-secret").json()

    endpoint = WebhookEndpoint.objects.get()
    assert rotated["secret"] == endpoint.secret != created["secret"] and endpoint.previous_secret == created["secret"]
    assert rotated["previous_secret_expires_at"] == "2026-01-16T12:00:00+00:00"
    assert api.get(f"webhook-endpoints/{created['id']}").json()["previous_secret_expires_at"] == (
        "2026-01-16T12:00:00+00:00"
    )


def test_events_are_listed_and_read_in_the_shape_a_webhook_carries(api, clock):
    subscription = make_subscription()
    renew(subscription)
    make_subscription()
    renewed = OutboxMessage.objects.get(event_type="subscription.renewed")

    theirs = api.get(f"events?subscription_id={subscription.pk}").json()
    one = api.get(f"events/{renewed.event_id}").json()
    page = api.get("events?limit=2").json()
    rest = api.get(f"events?starting_after={page['next_starting_after']}").json()

    assert [(e["type"], e["data"]["sequence"]) for e in theirs["items"]] == [
        ("subscription.created", 1),
        ("subscription.renewed", 2),
    ]
    assert one == theirs["items"][1]
    assert one["data"]["event_id"] == str(renewed.event_id) and one["timestamp"] == "2026-01-15T12:00:00+00:00"
    assert len(page["items"]) == 2 and page["has_more"] is True
    assert len(page["items"]) + len(rest["items"]) == OutboxMessage.objects.count()
    assert [e["type"] for e in api.get("events?type=subscription.renewed").json()["items"]] == ["subscription.renewed"]
    assert_problem(api.get("events?type=nope"), status=422, type="/problems/validation-error", fields=["type"])
    assert_problem(api.get(f"events/{uuid.uuid4()}"), status=404, type="/problems/event-not-found")


def test_events_older_than_30_days_are_gone(api, clock):
    make_subscription()
    old = OutboxMessage.objects.get(event_type="subscription.created")
    clock.advance(days=31)

    assert api.get("events").json()["items"] == []
    assert_problem(api.get(f"events/{old.event_id}"), status=410, type="/problems/event-expired")


def test_an_event_is_replayed_to_an_endpoint_signed_with_its_original_id(api, clock):
    with http_receiver() as receiver:
        created = register(api, url=receiver.url, events=["subscription.created"])
        make_subscription()
        run_worker()
        event = OutboxMessage.objects.get(event_type="subscription.created")

        response = api.post(f"webhook-endpoints/{created['id']}/replay", {"event_id": str(event.event_id)})
        again = api.post(f"webhook-endpoints/{created['id']}/replay", {"event_id": str(event.event_id)})
        run_worker()

    assert response.status_code == 202, response.content
    assert response.json() == {"endpoint_id": created["id"], "replayed": 1, "event_ids": [str(event.event_id)]}
    assert again.status_code == 202
    assert [r.headers["webhook-id"] for r in receiver.requests] == [str(event.event_id)] * 3
    for request in receiver.requests:
        Webhook(created["secret"]).verify(request.body, request.headers)
    assert set(Delivery.objects.filter(channel="webhook").values_list("recipient", "status")) == {
        (str(created["id"]), "sent"),
        (f"{created['id']}:replay:1", "sent"),
        (f"{created['id']}:replay:2", "sent"),
    }


def test_a_time_range_is_replayed_in_order(api, clock):
    created = register(api, url="http://127.0.0.1:9/x", events=["subscription.renewed"])
    subscription = make_subscription()
    start = clock.now()
    renew(subscription)
    clock.advance(hours=1)
    renew(subscription)

    response = api.post(
        f"webhook-endpoints/{created['id']}/replay", {"since": start.isoformat(), "until": clock.now().isoformat()}
    )

    renewed = list(OutboxMessage.objects.filter(event_type="subscription.renewed").order_by("id"))
    assert response.status_code == 202 and response.json()["event_ids"] == [str(renewed[0].event_id)]


def test_replays_older_than_30_days_or_malformed_are_refused_and_nothing_is_queued(api, clock):
    created = register(api)
    make_subscription()
    old = OutboxMessage.objects.get(event_type="subscription.created")
    start = clock.now()
    clock.advance(days=31)
    replay = f"webhook-endpoints/{created['id']}/replay"

    assert_problem(api.post(replay, {"event_id": str(old.event_id)}), status=410, type="/problems/event-expired")
    assert_problem(api.post(replay, {"since": start.isoformat()}), status=422, type="/problems/validation-error")
    assert_problem(api.post(replay, {}), status=422, type="/problems/validation-error")
    assert_problem(
        api.post(replay, {"event_id": str(old.event_id), "since": start.isoformat()}),
        status=422,
        type="/problems/validation-error",
    )
    assert_problem(api.post(replay, {"event_id": str(uuid.uuid4())}), status=404, type="/problems/event-not-found")
    api.patch(f"webhook-endpoints/{created['id']}", {"enabled": False})
    make_subscription()
    fresh = OutboxMessage.objects.filter(event_type="subscription.created").latest("id")
    assert_problem(
        api.post(replay, {"event_id": str(fresh.event_id)}), status=409, type="/problems/webhook-endpoint-disabled"
    )
    assert not Delivery.objects.exists()


def test_a_replayed_registration_withholds_the_secret_which_is_never_stored_for_replays(api, clock):
    first = api.post("webhook-endpoints", {"url": URL}, headers={"Idempotency-Key": "register-1"})
    again = api.post("webhook-endpoints", {"url": URL}, headers={"Idempotency-Key": "register-1"})

    created = first.json()
    assert first.status_code == again.status_code == 201
    assert created["secret"].startswith("whsec_") and created["secret_withheld"] is None
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == created | {"secret": None, "secret_withheld": again.json()["secret_withheld"]}
    assert "shown only in the first answer" in again.json()["secret_withheld"]
    assert WebhookEndpoint.objects.count() == 1
    (record,) = IdempotencyRecord.objects.all()
    assert created["secret"] not in bytes(record.response_body).decode()


def test_a_replayed_rotation_withholds_the_new_secret(api, clock):
    created = register(api)
    path = f"webhook-endpoints/{created['id']}/rotate-secret"

    first = api.post(path, headers={"Idempotency-Key": "rotate-1"}).json()
    again = api.post(path, headers={"Idempotency-Key": "rotate-1"})

    endpoint = WebhookEndpoint.objects.get()
    assert first["secret"] == endpoint.secret and endpoint.previous_secret == created["secret"]  # rotated once
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert again.json()["secret"] is None and "rotate it" in again.json()["secret_withheld"]
    assert again.json()["previous_secret_expires_at"] == first["previous_secret_expires_at"]
    stored = bytes(IdempotencyRecord.objects.get(key="rotate-1").response_body).decode()
    assert first["secret"] not in stored and created["secret"] not in stored


withhold_migration = importlib.import_module("simrenew.api.migrations.0002_withhold_stored_webhook_secrets")


def test_answers_kept_before_secrets_were_withheld_lose_them_in_the_migration(api, clock):
    created = api.post("webhook-endpoints", {"url": URL}, headers={"Idempotency-Key": "register-old"})
    path = f"webhook-endpoints/{created.json()['id']}"
    rotated = api.post(f"{path}/rotate-secret", headers={"Idempotency-Key": "rotate-old"})
    changed = api.patch(path, {"description": "CRM"}, headers={"Idempotency-Key": "patch-old"})
    # Kept as records were before the change: the answer exactly as the client got it, secret and all.
    for key, answer in [("register-old", created), ("rotate-old", rotated), ("patch-old", changed)]:
        IdempotencyRecord.objects.filter(key=key).update(response_body=answer.content)
    assert b"whsec_" in bytes(IdempotencyRecord.objects.get(key="register-old").response_body)

    withhold_migration.withhold_stored_secrets(apps, None)

    stored = {record.key: bytes(record.response_body) for record in IdempotencyRecord.objects.all()}
    assert not any(b"whsec_" in body for body in stored.values())
    assert stored["patch-old"] == changed.content  # an answer without a secret is left as it was
    register_again = api.post("webhook-endpoints", {"url": URL}, headers={"Idempotency-Key": "register-old"})
    rotate_again = api.post(f"{path}/rotate-secret", headers={"Idempotency-Key": "rotate-old"})
    for first, again in [(created, register_again), (rotated, rotate_again)]:
        assert again["Idempotent-Replayed"] == "true" and again.status_code == first.status_code
        assert again.json() == first.json() | {"secret": None, "secret_withheld": again.json()["secret_withheld"]}
        assert "shown only in the first answer" in again.json()["secret_withheld"]
    assert WebhookEndpoint.objects.get().secret == rotated.json()["secret"]  # replays rotated nothing again


def test_the_migration_picks_only_the_routes_that_show_a_secret():
    shows = withhold_migration.shows_a_secret

    assert shows("POST", "/api/v1/webhook-endpoints") and shows("POST", "/api/v1/webhook-endpoints?x=1")
    assert shows("POST", "/api/v1/webhook-endpoints/12/rotate-secret")
    assert not shows("PATCH", "/api/v1/webhook-endpoints/12")
    assert not shows("POST", "/api/v1/webhook-endpoints/12/replay")
    assert not shows("POST", "/api/v1/customers")
