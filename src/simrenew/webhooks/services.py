"""Partner webhook endpoints and what they are sent (Standard Webhooks). Services never commit.

An endpoint is registered with a URL and the event types it wants; it gets a signing
secret (`whsec_…`, shown once). Every request is signed per Standard Webhooks
(`webhook-id` = the event id, `webhook-timestamp`, `webhook-signature`); after a secret
rotation the old secret signs too, beside the new one, for `PREVIOUS_SECRET_GRACE`.
An endpoint whose every attempt failed for `SIMRENEW_WEBHOOK_DISABLE_AFTER_DAYS` is
disabled (and the operator is emailed).

Webhooks know endpoints, not events: notifications (which deliver events through these
endpoints) depend on webhooks, never the reverse. What an event looks like on the wire, its
deliveries and their replays are in `notifications.webhook_events`, which registers here the
event types an endpoint may ask for and what happens to deliveries when an endpoint stops.
"""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db.models import Count, F, Q
from django.db.models.functions import Coalesce
from standardwebhooks.webhooks import Webhook

from simrenew.kit import clock, crypto
from simrenew.kit.audit import changed_only, record_change, snapshot
from simrenew.kit.errors import Conflict, NotFound, ValidationFailed
from simrenew.webhooks.models import WebhookEndpoint
from simrenew.webhooks.network import AddressRefused, Resolver, Unresolvable, checked_addresses

log = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
USER_AGENT = "simrenew-webhooks/1"
# After a rotation the old secret keeps signing this long, so a partner can switch over.
PREVIOUS_SECRET_GRACE = timedelta(hours=24)
URL_MAX_LENGTH = 500
# Host names that only make sense inside the operator's own network.
_PRIVATE_NAME_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa")


class EndpointNotFound(NotFound):
    slug = "webhook-endpoint-not-found"
    title = "No such webhook endpoint"


class EndpointDisabled(Conflict):
    slug = "webhook-endpoint-disabled"
    title = "The webhook endpoint is disabled"


# --- hooks notifications register (NotificationsConfig.ready) -------------------------------------

# Called with the endpoint's id and why, when an endpoint stops taking events (disabled or
# deleted): what was waiting to go out to it is given up.
StoppedListener = Callable[[int, str], None]
_known_event_types: set[str] = set()
_on_stopped: list[StoppedListener] = []


def register_event_types(event_types: Iterable[str]) -> None:
    """The event types an endpoint may subscribe to."""
    _known_event_types.update(event_types)


def register_on_stopped(listener: StoppedListener) -> None:
    if listener not in _on_stopped:
        _on_stopped.append(listener)


def registries_filled(**kwargs: object) -> list[checks.CheckMessage]:
    """System check (WebhooksConfig.ready): with no event types every subscription is refused;
    with no on-stopped listener a stopped endpoint's waiting deliveries are never given up."""
    hint = "NotificationsConfig.ready registers notifications.webhook_events; is the app installed?"
    problems: list[checks.CheckMessage] = []
    if not _known_event_types:
        problems.append(checks.Error("No webhook event types are registered.", hint=hint, id="webhooks.E001"))
    if not _on_stopped:
        problems.append(
            checks.Error(
                "No listener hears of stopped endpoints: their waiting deliveries would stay.",
                hint=hint,
                id="webhooks.E002",
            )
        )
    return problems


def _stopped(endpoint_id: int, *, why: str) -> None:
    for listener in _on_stopped:
        listener(endpoint_id, why)


# --- registering ----------------------------------------------------------------------------------


def new_secret() -> str:
    """A signing secret in the form the standardwebhooks library reads: whsec_ + base64 of 24 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def validate_event_types(event_types: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(event_types))
    unknown = [name for name in chosen if name not in _known_event_types]
    if unknown:
        raise ValidationFailed.on(
            "events", f"Unknown event types: {', '.join(unknown)}. Known: {', '.join(sorted(_known_event_types))}."
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
    *, url: str, event_types: Iterable[str] = (), description: str = "", owner_id: int | None = None
) -> WebhookEndpoint:
    """A new endpoint with a fresh secret (the caller shows `endpoint.secret` to the partner once).
    `owner_id` is the partner API key's id: by id, so that webhooks do not import the API (an edge)."""
    now = clock.now()
    endpoint = WebhookEndpoint.objects.create(
        url=validate_url(url),
        encrypted_secret=crypto.encrypt(new_secret()),
        event_types=validate_event_types(event_types),
        description=description.strip(),
        owner_id=owner_id,
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
            _stopped(endpoint.pk, why=f"{GIVEN_UP_PREFIX} ({why})")
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
    _stopped(endpoint.pk, why="the webhook endpoint was deleted")
    return endpoint


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


def signed_headers(
    endpoint: WebhookEndpoint,
    event_id: str,
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
        _stopped(endpoint_id, why=f"{GIVEN_UP_PREFIX} after failing for days")
    return bool(disabled)


def record_success(endpoint_id: int) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint_id, consecutive_failures__gt=0).update(
        consecutive_failures=0, failing_since=None
    )


def endpoint_health() -> dict[str, int]:
    """Endpoints in use by health: healthy (last attempt delivered), failing (enabled, every attempt
    failing since `failing_since`: disabled after `disable_after()`), disabled. For /metrics."""
    found = WebhookEndpoint.objects.filter(deleted_at__isnull=True).aggregate(
        healthy=Count("id", filter=Q(enabled=True, consecutive_failures=0)),
        failing=Count("id", filter=Q(enabled=True, consecutive_failures__gt=0)),
        disabled=Count("id", filter=Q(enabled=False)),
    )
    return {state: int(found[state] or 0) for state in ("healthy", "failing", "disabled")}
