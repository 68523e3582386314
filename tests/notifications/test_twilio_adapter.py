"""The Twilio adapter speaks Twilio's Messages API to a local stand-in server."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs

import pytest
from django.core.exceptions import ImproperlyConfigured

from simrenew.notifications.sms import (
    SandboxSmsProvider,
    SmsPermanentError,
    SmsTemporaryError,
    TwilioSmsProvider,
    get_sms_provider,
)
from tests.notifications.servers import free_port

SID = "AC0123456789abcdef0123456789abcdef"


def twilio(base_url: str) -> TwilioSmsProvider:
    return TwilioSmsProvider(account_sid=SID, auth_token="secret-token", from_number="+15005550006", base_url=base_url)


def stand_in_for(receiver) -> TwilioSmsProvider:
    return twilio(f"http://127.0.0.1:{receiver.port}")


def test_a_text_is_posted_as_a_form_with_basic_auth_and_returns_twilios_message_sid(receiver):
    receiver.default = 201
    receiver.body = json.dumps({"sid": "SM87105da94bff44b999e4e6eb90d8eb6a", "status": "queued"}).encode()

    sid = stand_in_for(receiver).send("+12125550100", "simrenew: your plan is renewed.")

    assert sid == "SM87105da94bff44b999e4e6eb90d8eb6a"
    [request] = receiver.requests
    assert request.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert request.headers["authorization"] == "Basic " + base64.b64encode(f"{SID}:secret-token".encode()).decode()
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    form = parse_qs(request.body.decode())
    assert form == {"To": ["+12125550100"], "From": ["+15005550006"], "Body": ["simrenew: your plan is renewed."]}


def test_a_number_twilio_refuses_is_a_permanent_failure(receiver):
    receiver.default = 400
    receiver.body = json.dumps({"code": 21211, "message": "The 'To' number is not a valid phone number."}).encode()

    with pytest.raises(SmsPermanentError) as refused:
        stand_in_for(receiver).send("+1999", "hello")

    assert refused.value.reason == "twilio answered 400 21211: The 'To' number is not a valid phone number."


@pytest.mark.parametrize("status", [500, 503, 429, 401])
def test_server_errors_rate_limits_and_account_trouble_are_temporary(receiver, status):
    receiver.default = status

    with pytest.raises(SmsTemporaryError, match=f"twilio answered {status}"):
        stand_in_for(receiver).send("+12125550100", "hello")


def test_twilio_out_of_reach_is_temporary():
    with pytest.raises(SmsTemporaryError, match="twilio unreachable: ConnectError"):
        twilio(f"http://127.0.0.1:{free_port()}").send("+12125550100", "hello")


def test_the_provider_is_chosen_by_settings(settings):
    assert isinstance(get_sms_provider(), SandboxSmsProvider)

    get_sms_provider.cache_clear()
    settings.SIMRENEW_SMS_PROVIDER = "twilio"
    settings.SIMRENEW_TWILIO_ACCOUNT_SID, settings.SIMRENEW_TWILIO_AUTH_TOKEN = SID, "token"
    settings.SIMRENEW_TWILIO_FROM = "+15005550006"
    assert isinstance(get_sms_provider(), TwilioSmsProvider)
    assert get_sms_provider() is get_sms_provider()

    get_sms_provider.cache_clear()
    settings.SIMRENEW_TWILIO_AUTH_TOKEN = ""
    with pytest.raises(ImproperlyConfigured):
        get_sms_provider()
