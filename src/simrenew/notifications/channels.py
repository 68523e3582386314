"""Sending one delivery on its channel: email over SMTP, SMS through the SMS
provider, webhooks over HTTPS. Each send returns the provider's reference for the
message, or raises `SendFailed` saying whether a retry can help.

Runs outside any transaction (a send can take seconds); the caller records the outcome.
"""

from __future__ import annotations

import logging
import smtplib
from types import TracebackType

import httpx
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from standardwebhooks.webhooks import EmptyWebhookSecretError

from simrenew.customers.models import Customer
from simrenew.kit import clock, crypto, tracing
from simrenew.kit.crypto import SecretUnreadable
from simrenew.notifications.models import Delivery, DeliveryChannel, OutboxMessage
from simrenew.notifications.rendering import RenderingError, render_email, render_sms
from simrenew.notifications.sms import SmsError, get_sms_provider
from simrenew.notifications.webhook_events import event_body
from simrenew.webhooks import services as webhooks
from simrenew.webhooks.network import AddressRefused, PinnedTransport, Resolver

log = logging.getLogger(__name__)

EMAIL_TIMEOUT_SECONDS = 20
WEBHOOK_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class SendFailed(Exception):
    """The delivery did not go out. `permanent`: retrying cannot help (a refused
    recipient, a 410 from a webhook receiver), so the delivery is dead at once."""

    def __init__(self, reason: str, *, permanent: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


def message_id(delivery: Delivery) -> str:
    """The email's Message-ID: stable across retries, so a mailbox can drop a duplicate."""
    return f"<{delivery.message.event_id}.{delivery.pk}@simrenew>"


class Channels:
    """The connections one batch of sends shares: one SMTP session and one HTTP
    client, opened on first use and closed when the batch is done."""

    def __init__(self, *, resolve: Resolver | None = None) -> None:
        self._mail: BaseEmailBackend | None = None
        self._http: httpx.Client | None = None
        # How webhook host names are resolved (None: SIMRENEW_WEBHOOK_RESOLVER or the system's).
        self._resolve = resolve
        # Webhook signing secrets decrypted in this batch, by their stored (encrypted) value.
        self._secrets: dict[str, str] = {}

    def __enter__(self) -> Channels:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._close_mail()
        if self._http is not None:
            self._http.close()
            self._http = None

    def send(self, delivery: Delivery) -> str:
        if delivery.channel == DeliveryChannel.EMAIL:
            return self.send_email(delivery)
        if delivery.channel == DeliveryChannel.SMS:
            return self.send_sms(delivery)
        if delivery.channel == DeliveryChannel.WEBHOOK:
            return self.send_webhook(delivery)
        raise SendFailed(f"unknown channel {delivery.channel!r}", permanent=True)

    # --- email ---

    def send_email(self, delivery: Delivery) -> str:
        message = delivery.message
        content = render_email(message, _customer(message))
        reference = message_id(delivery)
        email = EmailMultiAlternatives(
            subject=content.subject,
            body=content.text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[delivery.recipient],
            headers={"Message-ID": reference, "X-Simrenew-Event-Id": str(message.event_id)},
        )
        email.attach_alternative(content.html, "text/html")
        try:
            sent = self._mail_connection().send_messages([email])
        except smtplib.SMTPRecipientsRefused as exc:
            self._close_mail()
            codes = [code for code, _reply in exc.recipients.values()]
            permanent = bool(codes) and all(code >= 500 for code in codes)
            raise SendFailed(f"SMTP refused the recipient ({', '.join(map(str, codes))})", permanent=permanent) from exc
        except smtplib.SMTPResponseException as exc:
            self._close_mail()
            raise SendFailed(f"SMTP error {exc.smtp_code}: {_text(exc.smtp_error)[:200]}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            self._close_mail()
            raise SendFailed(f"SMTP unavailable: {exc.__class__.__name__}: {str(exc)[:200]}") from exc
        if not sent:
            raise SendFailed("the mail backend sent nothing (no valid recipient)", permanent=True)
        return reference

    def _mail_connection(self) -> BaseEmailBackend:
        if self._mail is None:
            connection = get_connection(fail_silently=False, timeout=settings.EMAIL_TIMEOUT or EMAIL_TIMEOUT_SECONDS)
            connection.open()
            self._mail = connection
        return self._mail

    def _close_mail(self) -> None:
        if self._mail is None:
            return
        connection, self._mail = self._mail, None
        try:
            connection.close()
        except Exception:  # a broken session is thrown away; the next send opens a new one
            log.debug("closing the SMTP connection failed", exc_info=True)

    # --- SMS ---

    def send_sms(self, delivery: Delivery) -> str:
        text = render_sms(delivery.message, _customer(delivery.message))
        try:
            return get_sms_provider().send(delivery.recipient, text)
        except SmsError as exc:
            raise SendFailed(exc.reason, permanent=exc.permanent) from exc

    # --- webhooks ---

    def send_webhook(self, delivery: Delivery) -> str:
        endpoint = delivery.endpoint
        if endpoint is None:
            raise SendFailed("the webhook endpoint no longer exists", permanent=True)
        if not endpoint.enabled:
            raise SendFailed("the webhook endpoint is disabled", permanent=True)
        body = event_body(delivery.message)
        try:
            headers = webhooks.signed_headers(
                endpoint, str(delivery.message.event_id), body, at=clock.system_now(), decrypt=self._decrypt
            )
        except SecretUnreadable as exc:
            # The operator's keys are wrong, not the endpoint: retried once the keys are fixed.
            log.error("webhook endpoint %s: %s", endpoint.pk, exc)
            raise SendFailed(f"the signing secret cannot be decrypted: {exc}") from exc
        except (EmptyWebhookSecretError, ValueError) as exc:
            raise SendFailed("the webhook endpoint has no valid signing secret", permanent=True) from exc
        # The delivery's trace context (W3C `traceparent`), so that the receiver can join the trace.
        tracing.inject(headers)
        try:
            response = self._http_client().post(endpoint.url, content=body.encode(), headers=headers)
        except AddressRefused as exc:
            # Registered while the name led outside; it leads inside now (or the rules changed).
            raise SendFailed(f"refused: {exc}; webhooks only go to public addresses", permanent=True) from exc
        except httpx.HTTPError as exc:
            raise SendFailed(f"webhook unreachable: {exc.__class__.__name__}") from exc
        if response.is_success:
            return f"HTTP {response.status_code}"
        # 410 Gone: the receiver says this endpoint is gone for good (Standard Webhooks).
        raise SendFailed(f"webhook answered HTTP {response.status_code}", permanent=response.status_code == 410)

    def _decrypt(self, stored: str) -> str:
        secret = self._secrets.get(stored)
        if secret is None:
            secret = self._secrets[stored] = crypto.decrypt(stored)
        return secret

    def _http_client(self) -> httpx.Client:
        if self._http is None:
            # Every connection goes to an address checked just before it (no redirects, no
            # proxies): outside sandbox only public ones, so DNS cannot point a send inside.
            transport = PinnedTransport(resolve=self._resolve, allow_private=settings.SIMRENEW_SANDBOX)
            self._http = httpx.Client(
                timeout=WEBHOOK_TIMEOUT, follow_redirects=False, trust_env=False, transport=transport
            )
        return self._http


def _customer(message: OutboxMessage) -> Customer:
    if message.customer is None:
        raise RenderingError(f"event {message.event_id} has no customer to write to")
    return message.customer


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value
