"""Webhook endpoints: where a partner receives events, signed per Standard Webhooks.

An endpoint belongs to the API key that registered it: that key sees and manages it,
and so does any key with the `admin` scope (which also sees endpoints made in the
console). Another key gets a 404, as if it did not exist.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Path, Query, Router, Schema
from ninja.responses import Status
from pydantic import AfterValidator, AwareDatetime, model_validator

from simrenew.api.auth import request_api_key
from simrenew.api.idempotency import idempotent, withhold_from_replay
from simrenew.api.keys import has_scope
from simrenew.api.pagination import Page, paginate
from simrenew.api.routers.common import Text, in_utc_range
from simrenew.api.schemas import ID_MAX, InputSchema, PageQuery
from simrenew.kit import clock
from simrenew.notifications import webhook_events
from simrenew.webhooks import services
from simrenew.webhooks.models import WebhookEndpoint

router = Router(tags=["webhook endpoints"])

EndpointId = Annotated[int, Path(ge=1, le=ID_MAX, description="The webhook endpoint's id.")]
EventType = Annotated[str, Field(max_length=60, examples=["subscription.renewed"])]
Instant = Annotated[AwareDatetime, AfterValidator(in_utc_range)]
URL_EXAMPLE = "https://partner.example.com/webhooks/simrenew"
# A signing secret is shown in the first answer only; a replay of it (same Idempotency-Key) says so.
SECRET_WITHHELD = (
    "The signing secret was shown only in the first answer to this Idempotency-Key and is not kept; "
    "if it was lost, rotate it (POST /api/v1/webhook-endpoints/{id}/rotate-secret)."
)
WITHHELD_ON_REPLAY = {"secret": None, "secret_withheld": SECRET_WITHHELD}
SECRET_DESCRIPTION = (
    "The signing secret for the standardwebhooks library, shown only in this answer: null when the answer "
    "is replayed for its Idempotency-Key (see `secret_withheld`)."
)
WITHHELD_DESCRIPTION = "Null in the first answer; on a replay, why `secret` is null (it was shown once)."


class WebhookEndpointIn(InputSchema):
    url: Text = Field(
        ...,
        max_length=services.URL_MAX_LENGTH,
        description="Where events are POSTed. HTTPS to a public address (sandbox also takes http and loopback).",
        examples=[URL_EXAMPLE],
    )
    events: list[EventType] = Field(
        default_factory=list,
        max_length=100,
        description="The event types to send; empty or left out: every event.",
        examples=[["subscription.renewed", "subscription.renewal_failed"]],
    )
    description: Text = Field("", max_length=200, examples=["Billing sync"])


class WebhookEndpointPatch(InputSchema):
    url: Text | None = Field(None, max_length=services.URL_MAX_LENGTH, examples=[URL_EXAMPLE])
    events: list[EventType] | None = Field(None, max_length=100, description="Replaces the list; [] means every event.")
    description: Text | None = Field(None, max_length=200)
    enabled: bool | None = Field(
        None,
        description="false stops sending (what is waiting is given up); true starts again afresh, "
        "with the failure count reset. Replay what was missed with POST …/replay.",
    )


class WebhookEndpointOut(Schema):
    id: int
    url: str = Field(..., examples=[URL_EXAMPLE])
    events: list[str] = Field(..., description="The event types sent; empty: every event.")
    description: str
    enabled: bool
    disabled_at: datetime | None
    disabled_reason: str | None = Field(
        ..., description="Why it is disabled, e.g. after every attempt failed for 3 days."
    )
    consecutive_failures: int = Field(..., description="Failed attempts since the last success.")
    failing_since: datetime | None = Field(..., description="The first failure since the last success.")
    previous_secret_expires_at: datetime | None = Field(
        ..., description="After a rotation: until then requests are signed with the old secret too."
    )
    created_at: datetime
    updated_at: datetime | None

    @staticmethod
    def resolve_events(endpoint: WebhookEndpoint) -> list[str]:
        return list(endpoint.event_types or [])

    @staticmethod
    def resolve_disabled_reason(endpoint: WebhookEndpoint) -> str | None:
        return endpoint.disabled_reason or None

    @staticmethod
    def resolve_previous_secret_expires_at(endpoint: WebhookEndpoint) -> datetime | None:
        expires = endpoint.previous_secret_expires_at
        return expires if expires is not None and expires > clock.now() else None


class WebhookEndpointCreated(WebhookEndpointOut):
    secret: str | None = Field(..., description=SECRET_DESCRIPTION, examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
    secret_withheld: str | None = Field(None, description=WITHHELD_DESCRIPTION, examples=[None])

    @staticmethod
    def resolve_secret(endpoint: WebhookEndpoint) -> str:
        return endpoint.secret


class SecretOut(Schema):
    id: int
    secret: str | None = Field(..., description=SECRET_DESCRIPTION)
    secret_withheld: str | None = Field(None, description=WITHHELD_DESCRIPTION, examples=[None])
    previous_secret_expires_at: datetime = Field(
        ..., description="Until then every request is signed with the old secret too (24 hours)."
    )


class WebhookEndpointList(Schema):
    items: list[WebhookEndpointOut]
    has_more: bool
    next_starting_after: int | None


class ReplayIn(InputSchema):
    event_id: UUID | None = Field(None, description="One event to send again.")
    since: Instant | None = Field(
        None, description="Or every event the endpoint wants from this time (at most 30 days ago)…"
    )
    until: Instant | None = Field(None, description="…to this time (default: now).")

    @model_validator(mode="after")
    def one_way(self) -> ReplayIn:
        if (self.event_id is None) == (self.since is None):
            raise ValueError("Give either event_id, or a time range starting at since (not both).")
        if self.event_id is not None and self.until is not None:
            raise ValueError("until goes with since, not with event_id.")
        return self

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"event_id": "0b8f6a52-6b33-4c4b-9d3e-5d7c1b0f7a21"},
                {"since": "2026-01-14T00:00:00+00:00", "until": "2026-01-15T00:00:00+00:00"},
            ]
        }
    }


class ReplayOut(Schema):
    endpoint_id: int
    replayed: int = Field(..., description="How many events will be sent again.")
    event_ids: list[UUID] = Field(..., description="Their ids, in the order they will be sent.")


def _endpoints(request: HttpRequest) -> QuerySet[WebhookEndpoint]:
    """What the calling key may see: its own endpoints, or every one for an admin key."""
    key = request_api_key(request)
    live = WebhookEndpoint.objects.filter(deleted_at__isnull=True)
    return live if has_scope(key, "admin") else live.filter(owner=key)


def _endpoint(request: HttpRequest, endpoint_id: int, *, lock: bool = False) -> WebhookEndpoint:
    found = _endpoints(request)
    if lock:
        found = found.select_for_update()
    endpoint = found.filter(pk=endpoint_id).first()
    if endpoint is None:
        raise services.EndpointNotFound(f"No webhook endpoint with id {endpoint_id}.")
    return endpoint


@router.post("", response={201: WebhookEndpointCreated}, summary="Register a webhook endpoint")
@idempotent()
def create_webhook_endpoint(request: HttpRequest, payload: WebhookEndpointIn) -> Status:
    """The answer holds the signing `secret`, the only time it is shown: verify each request with
    `standardwebhooks.Webhook(secret).verify(body, headers)`. Events arrive in order per endpoint;
    `data.sequence` numbers each subscription's events 1, 2, 3, … A replay of this answer (same
    `Idempotency-Key`) has `secret: null` and says why in `secret_withheld`: the secret is never stored
    in plaintext."""
    with transaction.atomic():
        endpoint = services.create_endpoint(
            url=payload.url,
            event_types=payload.events,
            description=payload.description,
            owner_id=request_api_key(request).pk,
        )
    withhold_from_replay(request, WITHHELD_ON_REPLAY)
    return Status(201, endpoint)


@router.get("", response=WebhookEndpointList, summary="List webhook endpoints")
def list_webhook_endpoints(request: HttpRequest, query: Query[PageQuery]) -> Page[WebhookEndpoint]:
    """This key's endpoints (every endpoint for an admin key), oldest first; never their secrets."""
    return paginate(_endpoints(request), limit=query.limit, starting_after=query.starting_after)


@router.get("/{endpoint_id}", response=WebhookEndpointOut, summary="Get a webhook endpoint")
def get_webhook_endpoint(request: HttpRequest, endpoint_id: EndpointId) -> WebhookEndpoint:
    """Its settings and health: failures since the last success, and why it is disabled if it is."""
    return _endpoint(request, endpoint_id)


@router.patch("/{endpoint_id}", response=WebhookEndpointOut, summary="Change a webhook endpoint")
@idempotent()
def update_webhook_endpoint(
    request: HttpRequest, endpoint_id: EndpointId, payload: WebhookEndpointPatch
) -> WebhookEndpoint:
    """Only the fields given change. `enabled: true` starts afresh (failure count reset); an endpoint
    is disabled by itself once every attempt has failed for 3 days."""
    with transaction.atomic():
        return services.update_endpoint(
            _endpoint(request, endpoint_id, lock=True),
            url=payload.url,
            event_types=payload.events,
            description=payload.description,
            enabled=payload.enabled,
        )


@router.delete("/{endpoint_id}", response={204: None}, summary="Delete a webhook endpoint")
@idempotent()
def delete_webhook_endpoint(request: HttpRequest, endpoint_id: EndpointId) -> Status:
    """Nothing more is sent to it, including what was waiting to go out."""
    with transaction.atomic():
        services.delete_endpoint(_endpoint(request, endpoint_id, lock=True))
    return Status(204, None)


@router.post("/{endpoint_id}/rotate-secret", response=SecretOut, summary="Rotate an endpoint's signing secret")
@idempotent()
def rotate_webhook_secret(request: HttpRequest, endpoint_id: EndpointId) -> SecretOut:
    """A new secret, shown only in this answer. For 24 hours requests carry two signatures (new and
    old secret, space-separated in `webhook-signature`), so the receiver can switch at its pace. A replay
    of this answer (same `Idempotency-Key`) has `secret: null` and says why in `secret_withheld`."""
    with transaction.atomic():
        endpoint = services.rotate_secret(_endpoint(request, endpoint_id, lock=True))
    assert endpoint.previous_secret_expires_at is not None  # set by the rotation
    withhold_from_replay(request, WITHHELD_ON_REPLAY)
    return SecretOut(
        id=endpoint.pk,
        secret=endpoint.secret,
        secret_withheld=None,
        previous_secret_expires_at=endpoint.previous_secret_expires_at,
    )


@router.post("/{endpoint_id}/replay", response={202: ReplayOut}, summary="Send events of the last 30 days again")
@idempotent()
def replay_webhook_events(request: HttpRequest, endpoint_id: EndpointId, payload: ReplayIn) -> Status:
    """One event (`event_id`) or every event the endpoint wants in a time range (`since`, `until`,
    at most 1,000 at a time), each as a new delivery with its original `webhook-id`, sent before
    anything newer waiting for this endpoint. Older than 30 days: 410 for an event, 422 for a range."""
    with transaction.atomic():
        deliveries = webhook_events.replay(
            _endpoint(request, endpoint_id), event_id=payload.event_id, since=payload.since, until=payload.until
        )
    return Status(
        202,
        ReplayOut(
            endpoint_id=endpoint_id,
            replayed=len(deliveries),
            event_ids=[delivery.message.event_id for delivery in deliveries],
        ),
    )
