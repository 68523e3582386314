"""The typed border to SMS providers, for customer notices (DESIGN.md §4).

Callers use `get_sms_provider()`: the sandbox provider in sandbox mode and in
tests, Twilio when `SIMRENEW_SMS_PROVIDER=twilio`. A send either returns the
provider's id for the message or raises an `SmsError` that says whether trying
again later can help (`SmsTemporaryError`) or not (`SmsPermanentError`).
"""

from __future__ import annotations

import logging
import secrets
from functools import cache
from typing import Protocol

import httpx
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from simrenew.kit import clock
from simrenew.notifications.models import SandboxSms

log = logging.getLogger(__name__)

# Two concatenated SMS segments of GSM-7 text; longer texts are cut by the renderer.
SMS_MAX_LENGTH = 320


class SmsError(Exception):
    """The provider did not take the message. `permanent`: the same message to the
    same number will never go through (a bad number), so it must not be retried."""

    permanent: bool = False

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class SmsTemporaryError(SmsError):
    """Worth trying again later: the provider is down, slow or rate-limiting."""

    permanent = False


class SmsPermanentError(SmsError):
    """Never worth retrying: the number or the message was refused."""

    permanent = True


class SmsProvider(Protocol):
    name: str

    def send(self, to: str, text: str) -> str:
        """Hand `text` to the provider for the E.164 number `to`; return the provider's
        message id. Raises SmsTemporaryError or SmsPermanentError."""
        ...


def _masked(number: str) -> str:
    return f"…{number[-4:]}" if len(number) > 4 else "…"


class SandboxSmsProvider:
    """Records every accepted message as a `SandboxSms` row (so every process and
    test can see what was sent) and logs one line, without the text.

    Test numbers, like the sandbox gateway's test cards:
    - a number ending in 0000 fails temporarily (the provider is unreachable),
    - a number ending in 9999 fails permanently (the provider refuses the number),
    - any other number is accepted.
    """

    name = "sandbox"
    TEMPORARY_FAILURE_SUFFIX = "0000"
    PERMANENT_FAILURE_SUFFIX = "9999"

    def send(self, to: str, text: str) -> str:
        if to.endswith(self.PERMANENT_FAILURE_SUFFIX):
            raise SmsPermanentError(f"sandbox: the number {_masked(to)} is not a mobile number")
        if to.endswith(self.TEMPORARY_FAILURE_SUFFIX):
            raise SmsTemporaryError("sandbox: the SMS provider is unreachable")
        message_id = f"SM{secrets.token_hex(16)}"
        SandboxSms.objects.create(message_id=message_id, to=to, text=text, created_at=clock.now())
        log.info("sandbox sms %s to %s (%d characters)", message_id, _masked(to), len(text))
        return message_id


TWILIO_API = "https://api.twilio.com"


class TwilioSmsProvider:
    """Twilio's Messages API: one form POST per message, basic auth with the account
    SID and auth token. 4xx answers are permanent (Twilio refused this message: an
    invalid or unreachable number, a blocked recipient), except 429 (rate limit) and
    401/403 (the account's credentials or standing, not the message's), which are
    retried so messages survive until the operator fixes the account. 5xx answers and
    transport errors are temporary."""

    name = "twilio"

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str,
        base_url: str = TWILIO_API,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ):
        if not (account_sid and auth_token and from_number):
            raise ImproperlyConfigured(
                "The Twilio SMS provider needs SIMRENEW_TWILIO_ACCOUNT_SID, SIMRENEW_TWILIO_AUTH_TOKEN "
                "and SIMRENEW_TWILIO_FROM."
            )
        self._path = f"/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._from = from_number
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"), auth=(account_sid, auth_token), timeout=timeout, transport=transport
        )

    def send(self, to: str, text: str) -> str:
        try:
            response = self._client.post(self._path, data={"To": to, "From": self._from, "Body": text})
        except httpx.HTTPError as exc:
            raise SmsTemporaryError(f"twilio unreachable: {exc.__class__.__name__}") from exc
        if response.is_success:
            sid = _json(response).get("sid")
            if not isinstance(sid, str) or not sid:
                raise SmsTemporaryError(f"twilio answered {response.status_code} without a message sid")
            return sid
        reason = _twilio_error(response)
        if response.status_code in (401, 403, 429) or response.status_code >= 500:
            raise SmsTemporaryError(reason)
        raise SmsPermanentError(reason)


def _json(response: httpx.Response) -> dict[str, object]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _twilio_error(response: httpx.Response) -> str:
    body = _json(response)
    code, message = body.get("code"), body.get("message")
    detail = f" {code}" if code else ""
    if isinstance(message, str) and message:
        detail += f": {message[:200]}"
    return f"twilio answered {response.status_code}{detail}"


@cache
def get_sms_provider() -> SmsProvider:
    name = settings.SIMRENEW_SMS_PROVIDER
    if name == "sandbox":
        return SandboxSmsProvider()
    if name == "twilio":
        return TwilioSmsProvider(
            account_sid=settings.SIMRENEW_TWILIO_ACCOUNT_SID,
            auth_token=settings.SIMRENEW_TWILIO_AUTH_TOKEN,
            from_number=settings.SIMRENEW_TWILIO_FROM,
            base_url=settings.SIMRENEW_TWILIO_API_URL,
        )
    raise ImproperlyConfigured(f"unknown SMS provider {name!r} (SIMRENEW_SMS_PROVIDER: sandbox or twilio)")
