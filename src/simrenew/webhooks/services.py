"""Partner webhook endpoints and what they are sent (Standard Webhooks). Services never commit.

An endpoint is registered with a URL and the event types it wants; it gets a signing
secret (`whsec_…`, shown once). Every request is signed per Standard Webhooks
(`webhook-id` = the event id, `webhook-timestamp`, `webhook-signature`); after a secret
rotation the old secret signs too, beside the new one, for `PREVIOUS_SECRET_GRACE`.
An endpoint whose every attempt failed for `SIMRENEW_WEBHOOK_DISABLE_AFTER_DAYS` is
disabled and the operator is emailed; any event of the last `EVENT_RETENTION` can be
sent again (replayed) to an endpoint.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import URLValidator
from django.db.models import F
from django.db.models.functions import Coalesce
from standardwebhooks.webhooks import Webhook

from simrenew.api.models import ApiKey
from simrenew.kit import clock, crypto
from simrenew.kit.audit import changed_only, record_change, snapshot
from simrenew.kit.errors import Conflict, NotFound, SimrenewError, ValidationFailed
from simrenew.notifications.events import EVENT_KINDS
from simrenew.notifications.models import Delivery, DeliveryChannel, DeliveryStatus, OutboxMessage
from simrenew.webhooks.models import WebhookEndpoint
from simrenew.webhooks.network import AddressRefused, Resolver, Unresolvable, checked_addresses

log = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
USER_AGENT = "simrenew-webhooks/1"
# After a rotation the old secret keeps signing this long, so a partner can switch over.
PREVIOUS_SECRET_GRACE = timedelta(hours=24)
# Events can be listed and replayed this long after they happened.
EVENT_RETENTION = timedelta(days=30)
# One time-range replay sends at most this many events (narrow the range for more).
REPLAY_MAX_EVENTS = 1000
URL_MAX_LENGTH = 500
# Host names that only make sense inside the operator's own network.
_PRIVATE_NAME_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa")


class EndpointNotFound(NotFound):
    slug = "webhook-endpoint-not-found"
    title = "No such webhook endpoint"


class EventNotFound(NotFound):
    slug = "event-not-found"
    title = "No such event"


class EventExpired(SimrenewError):
    status = 410
    slug = "event-expired"
    title = "The event is older than 30 days"


class EndpointDisabled(Conflict):
    slug = "webhook-endpoint-disabled"
    title = "The webhook endpoint is disabled"


# --- registering ----------------------------------------------------------------------------------


def new_secret() -> str:
    """A signing secret in the form the standardwebhooks library reads: whsec_ + base64 of 24 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def validate_event_types(event_types: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(event_types))
    unknown = [name for name in chosen if name not in EVENT_KINDS]
    if unknown:
        raise ValidationFailed.on(
            "events", f"Unknown event types: {', '.join(unknown)}. Known: {', '.join(sorted(EVENT_KINDS))}."
        )
    return chosen


def validate_url(url: str, *, resolve: Resolver | None = None) -> str:
    """An address events can be posted to. In production only HTTPS to a host whose every
    address is public (an endpoint inside our own network would let a partner reach it
    through us): the name is resolved now, with `resolve` or `SIMRENEW_WEBHOOK_RESOLVER`,
    and again at each send (`webhooks.network`). In sandbox mode also plain HTTP and
    loopback, for local receivers and tests."""
    url = url.strip()
    if len(url) > URL_MAX_LENGTH:
        raise ValidationFailed.on("url", f"The URL may be at most {URL_MAX_LENGTH} characters.")
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise ValidationFailed.on(
            "url", "Give a full http(s) address, e.g. https://partner.example.com/webhooks."
        ) from None
    parts = urlsplit(url)
    if parts.username or parts.password:
        raise ValidationFailed.on("url", "The URL may not carry a user name or password; the signature proves us.")
    if settings.SIMRENEW_SANDBOX:
        return url
    if parts.scheme != "https":
        raise ValidationFailed.on("url", "Webhook URLs must use https.")
    host = (parts.hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(_PRIVATE_NAME_SUFFIXES):
        raise ValidationFailed.on("url", f"{host} is not a public address.")
    try:
        port = parts.port or 443
        checked_addresses(host, port, resolve=resolve)
    except ValueError:
        raise ValidationFailed.on("url", "The port is not a number from 0 to 65535.") from None
    except Unresolvable:
        raise ValidationFailed.on("url", f"{host} does not resolve to an address; check the host name.") from None
    except AddressRefused as exc:
        raise ValidationFailed.on(
            "url", f"{host} leads to {exc.address}, a private, loopback or reserved address; use a public one."
        ) from None
    return url


def create_endpoint(
    *, url: str, event_types: Iterable[str] = (), description: str = "", owner: ApiKey | None = None
) -> WebhookEndpoint:
    """A new endpoint with a fresh secret (the caller shows `endpoint.secret` to the partner once)."""
    now = clock.now()
    endpoint = WebhookEndpoint.objects.create(
        url=validate_url(url),
        encrypted_secret=crypto.encrypt(new_secret()),
        event_types=validate_event_types(event_types),
        description=description.strip(),
        owner=owner,
        created_at=now,
        updated_at=now,
    )
    record_change(action="add", target=endpoint, after=snapshot(endpoint))
    return endpoint


def update_endpoint(
    endpoint: WebhookEndpoint,
    *,
    url: str | None = None,
    event_types: Iterable[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
) -> WebhookEndpoint:
    """Change what was given. Enabling starts afresh: the failure count and streak are reset."""
    now = clock.now()
    before = snapshot(endpoint)
    if url is not None:
        endpoint.url = validate_url(url)
    if event_types is not None:
        endpoint.event_types = validate_event_types(event_types)
    if description is not None:
        endpoint.description = description.strip()
    if enabled is not None and enabled != endpoint.enabled:
        set_enabled(endpoint, enabled, reason="" if enabled else "disabled by its owner", save=False)
    endpoint.updated_at = now
    endpoint.save()
    old, new = changed_only(before, snapshot(endpoint))
    record_change(action="change", target=endpoint, before=old, after=new)
    return endpoint


def set_enabled(endpoint: WebhookEndpoint, enabled: bool, *, reason: str = "", save: bool = True) -> WebhookEndpoint:
    """Switch sending on or off. Switching off gives up, at once, what was waiting to go out
    (dead, saying why): enabling again starts from new events (replay what was missed).
    With `save=False` the caller saves (and audits) the endpoint with its other changes."""
    before = snapshot(endpoint) if save else {}
    endpoint.enabled = enabled
    if enabled:
        endpoint.disabled_at = None
        endpoint.disabled_reason = ""
        endpoint.consecutive_failures = 0
        endpoint.failing_since = None
    else:
        endpoint.disabled_at = clock.now()
        endpoint.disabled_reason = reason[:200]
        if endpoint.pk is not None:
            why = endpoint.disabled_reason or "no reason"
            give_up_waiting(endpoint, why=f"{GIVEN_UP_PREFIX} ({why})")
    if save:
        endpoint.updated_at = clock.now()
        endpoint.save()
        old, new = changed_only(before, snapshot(endpoint))
        record_change(action="enable" if enabled else "disable", target=endpoint, before=old, after=new)
    return endpoint


def delete_endpoint(endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Gone for the partner at once: nothing more is planned for it and what was waiting to
    go out is given up (dead, saying why). The row stays: its past deliveries point at it."""
    record_change(action="delete", target=endpoint, before=snapshot(endpoint))
    now = clock.now()
    endpoint.deleted_at = now
    endpoint.enabled = False
    endpoint.disabled_at = endpoint.disabled_at or now
    endpoint.disabled_reason = endpoint.disabled_reason or "deleted"
    endpoint.updated_at = now
    endpoint.save()
    give_up_waiting(endpoint, why="the webhook endpoint was deleted")
    return endpoint


def give_up_waiting(endpoint: WebhookEndpoint, *, why: str) -> int:
    """Mark the endpoint's pending deliveries dead with `why` (the operator can still see
    and retry them); returns how many."""
    return Delivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.DEAD, last_error=why[:500], claimed_by="", claim_expires_at=None
    )


def rotate_secret(endpoint: WebhookEndpoint, *, reason: str = "") -> WebhookEndpoint:
    """A new secret (the caller shows it once); the current one keeps signing beside it for
    `PREVIOUS_SECRET_GRACE`. Rotating again within that time drops the oldest one. The
    audit entry says when the old secret stops signing, never a secret."""
    now = clock.now()
    endpoint.encrypted_previous_secret = endpoint.encrypted_secret  # moves as it is, still encrypted
    endpoint.previous_secret_expires_at = now + PREVIOUS_SECRET_GRACE
    endpoint.secret = new_secret()
    endpoint.updated_at = now
    endpoint.save(
        update_fields=["encrypted_previous_secret", "previous_secret_expires_at", "encrypted_secret", "updated_at"]
    )
    record_change(
        action="rotate_secret",
        target=endpoint,
        after={"previous_secret_expires_at": endpoint.previous_secret_expires_at},
        reason=reason,
    )
    return endpoint


def reencrypt_secrets() -> int:
    """Every endpoint's secrets encrypted again with the first of SIMRENEW_ENCRYPTION_KEYS
    (`simrenew secrets rotate`), rows locked; returns how many endpoints were rewritten."""
    count = 0
    for endpoint in WebhookEndpoint.objects.select_for_update().order_by("pk"):
        endpoint.encrypted_secret = crypto.reencrypt(endpoint.encrypted_secret)
        if endpoint.encrypted_previous_secret:
            endpoint.encrypted_previous_secret = crypto.reencrypt(endpoint.encrypted_previous_secret)
        endpoint.save(update_fields=["encrypted_secret", "encrypted_previous_secret"])
        count += 1
    return count


def signing_secrets(
    endpoint: WebhookEndpoint, *, now: datetime, decrypt: Callable[[str], str] = crypto.decrypt
) -> list[str]:
    """The secrets a request is signed with now: the current one, and the previous one while
    it is still valid. They are stored encrypted; `decrypt` opens them (a batch of sends
    passes one that remembers, so each endpoint's secrets are decrypted once per batch)."""
    found = [decrypt(endpoint.encrypted_secret)]
    expires = endpoint.previous_secret_expires_at
    if endpoint.encrypted_previous_secret and expires is not None and now < expires:
        found.append(decrypt(endpoint.encrypted_previous_secret))
    return found


# --- what is sent ---------------------------------------------------------------------------------


def event_payload(message: OutboxMessage) -> dict[str, Any]:
    """An event as receivers see it: `{"type", "timestamp", "data"}` as the Standard Webhooks
    spec suggests. `data` holds the event's own fields plus its id, its customer and
    subscription, and the subscription's event number `sequence` (1, 2, 3, … in the order
    the events happened; null for events of no subscription), so receivers can order
    events and notice one missing."""
    payload = message.payload if isinstance(message.payload, dict) else {"value": message.payload}
    return {
        "type": message.event_type,
        "timestamp": message.created_at.isoformat(),
        "data": {
            **payload,
            "event_id": str(message.event_id),
            "customer_id": message.customer_id,
            "subscription_id": message.subscription_id,
            "sequence": message.sequence if message.subscription_id is not None else None,
        },
    }


def event_body(message: OutboxMessage) -> str:
    """The exact JSON text a webhook carries (and its signature covers)."""
    return json.dumps(event_payload(message), cls=DjangoJSONEncoder)


def signed_headers(
    endpoint: WebhookEndpoint,
    message: OutboxMessage,
    body: str,
    *,
    at: datetime,
    decrypt: Callable[[str], str] = crypto.decrypt,
) -> dict[str, str]:
    """Standard Webhooks headers. The id is the event's, the same on every retry, so a
    receiver deduplicates by it; the timestamp is the real time of this attempt (receivers
    refuse signatures older than a few minutes), never the sandbox's test clock. While a
    rotated-out secret is still valid, `webhook-signature` carries both signatures,
    separated by a space, as the spec allows; a receiver holding either secret verifies."""
    event_id = str(message.event_id)
    signatures = [
        Webhook(secret).sign(msg_id=event_id, timestamp=at, data=body)
        for secret in signing_secrets(endpoint, now=clock.now(), decrypt=decrypt)
    ]
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": " ".join(signatures),
    }


# --- outcomes and automatic disabling ------------------------------------------------------------


# How a delivery given up because its endpoint was disabled says so.
GIVEN_UP_PREFIX = "the webhook endpoint was disabled"


def disable_after() -> timedelta:
    return timedelta(days=settings.SIMRENEW_WEBHOOK_DISABLE_AFTER_DAYS)


def record_failure(endpoint_id: int) -> bool:
    """Count a failed attempt. An endpoint whose every attempt has failed for
    `disable_after()` (since its first failure after the last success) is disabled;
    returns True for the one call that disabled it, so that the caller tells the
    operator once (`notify_operator_of_disabled`, after its transaction commits).

    Time, not a count, decides (as Stripe and Svix do): a busy endpoint fails hundreds
    of times in a five-minute outage, a quiet one a few times in a week."""
    now = clock.now()
    WebhookEndpoint.objects.filter(pk=endpoint_id).update(
        consecutive_failures=F("consecutive_failures") + 1, failing_since=Coalesce(F("failing_since"), now)
    )
    reason = f"every attempt failed for {settings.SIMRENEW_WEBHOOK_DISABLE_AFTER_DAYS:g} days"
    disabled = WebhookEndpoint.objects.filter(
        pk=endpoint_id, enabled=True, failing_since__lte=now - disable_after()
    ).update(enabled=False, disabled_at=now, disabled_reason=reason)
    if disabled:
        # The worker's decision, audited as an operator's would be.
        record_change(
            action="disable",
            target_type=WebhookEndpoint._meta.label_lower,
            target_id=str(endpoint_id),
            before={"enabled": True},
            after={"enabled": False, "disabled_at": now, "disabled_reason": reason},
            reason=reason,
        )
        # As when an operator disables it: what was waiting is given up now (replay recovers it).
        Delivery.objects.filter(endpoint_id=endpoint_id, status=DeliveryStatus.PENDING).update(
            status=DeliveryStatus.DEAD,
            last_error=f"{GIVEN_UP_PREFIX} after failing for days",
            claimed_by="",
            claim_expires_at=None,
        )
    return bool(disabled)


def record_success(endpoint_id: int) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint_id, consecutive_failures__gt=0).update(
        consecutive_failures=0, failing_since=None
    )


def operator_addresses() -> list[str]:
    return list(settings.SIMRENEW_OPERATOR_EMAIL) or [address for _name, address in settings.ADMINS]


def notify_operator_of_disabled(endpoint_id: int) -> bool:
    """Email the operator that the endpoint was disabled (through the configured mail
    backend). Call it outside any transaction; returns whether a message went out."""
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).first()
    recipients = operator_addresses()
    if endpoint is None or not recipients:
        log.warning("webhook endpoint %s was disabled; no operator address to tell", endpoint_id)
        return False
    last_error = (
        Delivery.objects.filter(endpoint_id=endpoint_id)
        .exclude(last_error="")
        .exclude(last_error__startswith=GIVEN_UP_PREFIX)  # the real error, not our giving up
        .order_by("-id")
        .values_list("last_error", flat=True)
        .first()
    )
    since = endpoint.failing_since.isoformat() if endpoint.failing_since else "unknown"
    body = (
        f"The webhook endpoint {endpoint.pk} ({endpoint.url}) was disabled: {endpoint.disabled_reason}.\n\n"
        f"Failing since: {since}\n"
        f"Failed attempts in a row: {endpoint.consecutive_failures}\n"
        f"Last error: {last_error or 'none recorded'}\n"
        f"Description: {endpoint.description or '-'}\n\n"
        "No more events are sent to it. Once the receiver works again, enable the endpoint in the "
        "console (Webhooks > Webhook endpoints) or with PATCH /api/v1/webhook-endpoints/"
        f'{endpoint.pk} {{"enabled": true}}, then replay what it missed (POST …/replay with a time range).\n'
    )
    try:
        send_mail(
            f"[simrenew] Webhook endpoint {endpoint.pk} disabled after failing",
            body,
            settings.DEFAULT_FROM_EMAIL,
            recipients,
            fail_silently=False,
        )
    except Exception:  # the endpoint stays disabled and visible in the console; the log says why
        log.exception("could not email the operator that webhook endpoint %s was disabled", endpoint_id)
        return False
    return True


# --- events and replays ---------------------------------------------------------------------------


def retention_start(now: datetime | None = None) -> datetime:
    return (now or clock.now()) - EVENT_RETENTION


def recent_event(event_id: UUID) -> OutboxMessage:
    """The event with this id, if it is within the last 30 days (410 when older)."""
    message = OutboxMessage.objects.filter(event_id=event_id).first()
    if message is None:
        raise EventNotFound(f"No event with id {event_id}.")
    if message.created_at < retention_start():
        raise EventExpired(
            f"Event {event_id} happened on {message.created_at.date().isoformat()}, more than 30 days ago; "
            "events are kept for replay and listing for 30 days.",
        )
    return message


def replay(
    endpoint: WebhookEndpoint,
    *,
    event_id: UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    reason: str = "",
) -> list[Delivery]:
    """New deliveries, due now, of one event or of every event in [since, until) that the
    endpoint wants, within the last 30 days (a range leaves out the events still waiting
    to go out to it). They carry the same `webhook-id` as the first
    time (receivers that already have an event may drop it) and keep the endpoint's order:
    they go out before anything newer waiting for it."""
    if endpoint.deleted_at is not None:
        raise EndpointNotFound(f"No webhook endpoint with id {endpoint.pk}.")
    if not endpoint.enabled:
        raise EndpointDisabled(
            f"Webhook endpoint {endpoint.pk} is disabled ({endpoint.disabled_reason or 'by an operator'}); "
            "enable it first, then replay."
        )
    if event_id is not None:
        message = recent_event(event_id)
        if not endpoint.wants(message.event_type):
            raise ValidationFailed.on(
                "event_id", f"Endpoint {endpoint.pk} does not subscribe to {message.event_type} events."
            )
        messages = [message]
    else:
        messages = _events_in_range(endpoint, since=since, until=until)
    now = clock.now()
    # Lock the endpoint row: two replays at once must not pick the same replay number.
    WebhookEndpoint.objects.select_for_update().filter(pk=endpoint.pk).first()
    earlier = Delivery.objects.filter(endpoint=endpoint, message__in=messages)
    already = Counter(earlier.values_list("message_id", flat=True))
    if event_id is None:
        # A range brings back what the endpoint missed; an event still waiting to go out to
        # it would arrive twice.
        waiting = set(earlier.filter(status=DeliveryStatus.PENDING).values_list("message_id", flat=True))
        messages = [m for m in messages if m.pk not in waiting]
    deliveries = [
        Delivery(
            message=message,
            channel=DeliveryChannel.WEBHOOK,
            # The first delivery of an event to an endpoint is named by the endpoint's id; each
            # replay adds its number (the row is unique per message, channel and recipient).
            recipient=str(endpoint.pk) if not already[message.pk] else f"{endpoint.pk}:replay:{already[message.pk]}",
            endpoint=endpoint,
            next_attempt_at=now,
            created_at=now,
        )
        for message in messages
    ]
    created = Delivery.objects.bulk_create(deliveries)
    record_change(
        action="replay",
        target=endpoint,
        after={"event_ids": [str(message.event_id) for message in messages], "since": since, "until": until},
        reason=reason,
    )
    return created


def _events_in_range(
    endpoint: WebhookEndpoint, *, since: datetime | None, until: datetime | None
) -> list[OutboxMessage]:
    now = clock.now()
    if since is None:
        raise ValidationFailed.on("since", "Give an event_id, or a time range starting at `since`.")
    if since.tzinfo is None or (until is not None and until.tzinfo is None):
        raise ValidationFailed.on("since", "Give times with an offset, e.g. 2026-01-15T12:00:00+00:00.")
    until = until or now
    if until <= since:
        raise ValidationFailed.on("until", "`until` must come after `since`.")
    if since < retention_start(now):
        raise ValidationFailed.on("since", "Events are kept for 30 days; `since` may be at most 30 days ago.")
    found = OutboxMessage.objects.filter(created_at__gte=since, created_at__lt=until).order_by("id")
    if endpoint.event_types:
        found = found.filter(event_type__in=endpoint.event_types)
    messages = list(found[: REPLAY_MAX_EVENTS + 1])
    if len(messages) > REPLAY_MAX_EVENTS:
        raise ValidationFailed.on(
            "until", f"More than {REPLAY_MAX_EVENTS} events fall in this range; replay a shorter range at a time."
        )
    return messages
