"""Log lines an operator's pipeline reads: one JSON object per line with the request's id, the trace,
the customer and the event's own fields, never a token or a secret; text for a person in the sandbox."""

from __future__ import annotations

import io
import json
import logging
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from gunicorn.config import Config
from opentelemetry.trace import SpanKind

from simrenew.kit.gunicorn_logging import GunicornLogger
from simrenew.kit.logs import JsonLines, LogFormatError, log_format
from simrenew.kit.redaction import REDACTED
from simrenew.payments.gateway import CardDetails
from simrenew.webhooks.services import create_endpoint
from simrenew.worker import logfmt
from tests.api.conftest import api, api_key
from tests.factories import make_card, make_subscription
from tests.notifications.fixtures import _fresh_sms_provider, receiver
from tests.notifications.helpers import run_worker

__all__ = ["_fresh_sms_provider", "api", "api_key", "receiver"]  # the API and webhook stories' fixtures

SECRET = "S3cretT0ken_value-123"
DECLINED = "4000000000000002"
CARD = "4242424242424242"


class JsonConsole:
    """The console handler settings.LOGGING installs (its redaction filter included), writing JSON
    into a buffer for the test."""

    def __init__(self, handler: logging.Handler) -> None:
        self.handler = handler
        self.written = io.StringIO()

    def lines(self) -> list[dict[str, Any]]:
        text = self.written.getvalue()
        assert text.endswith("\n") or not text
        return [json.loads(line) for line in text.splitlines()]  # each line one whole JSON object

    def text(self) -> str:
        return self.written.getvalue()


@pytest.fixture
def json_console() -> Iterator[JsonConsole]:
    (console,) = [handler for handler in logging.getLogger().handlers if handler.name == "console"]
    assert isinstance(console, logging.StreamHandler)
    captured = JsonConsole(console)
    # Swapped without setStream(), which flushes the old stream: pytest may have closed it.
    previous_stream, previous_format = console.stream, console.formatter
    console.stream, console.formatter = captured.written, JsonLines()
    try:
        yield captured
    finally:
        console.stream, console.formatter = previous_stream, previous_format


def test_a_line_logged_in_a_traced_api_request_names_its_trace_request_and_customer(clock, api, spans, json_console):
    subscription = make_subscription()
    declining = make_card(customer=subscription.customer, number=DECLINED)
    spans.clear()  # the first period's charge, paid before the request

    response = api.post(
        f"subscriptions/{subscription.pk}/renewals",
        {"payment_method_id": declining.pk},
        headers={"Idempotency-Key": "r-1", "X-Request-Id": "partner-req-42"},
    )

    assert response.status_code == 402 and response["X-Request-Id"] == "partner-req-42"
    (line,) = [line for line in json_console.lines() if line["logger"] == "simrenew.payments.charging"]
    (request,) = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert line["level"] == "INFO" and line["message"].endswith("not taken: failed card_declined")
    assert line["trace_id"] == f"{request.context.trace_id:032x}"
    assert line["span_id"] == f"{request.context.span_id:016x}"
    assert line["request_id"] == "partner-req-42"
    assert line["customer_id"] == subscription.customer_id
    assert isinstance(line["api_key_id"], int)
    assert (line["provider"], line["outcome"], line["failure_code"]) == ("sandbox", "failed", "card_declined")
    assert datetime.fromisoformat(line["time"]).utcoffset() == timedelta(0)
    assert DECLINED not in json_console.text()


def test_without_tracing_a_line_has_no_trace_fields_and_the_request_gets_an_id_of_its_own(clock, api, json_console):
    subscription = make_subscription()
    declining = make_card(customer=subscription.customer, number=DECLINED)

    body = {"payment_method_id": declining.pk}
    response = api.post(f"subscriptions/{subscription.pk}/renewals", body, headers={"Idempotency-Key": "r"})

    (line,) = [line for line in json_console.lines() if line["logger"] == "simrenew.payments.charging"]
    assert "trace_id" not in line and "span_id" not in line
    assert line["request_id"] == response["X-Request-Id"] and len(line["request_id"]) == 32
    assert line["customer_id"] == subscription.customer_id


def test_a_line_logged_for_a_signed_in_customer_on_the_portal_names_them(clock, json_console):
    subscription = make_subscription()
    declining = make_card(customer=subscription.customer, number=DECLINED)
    client = Client()
    client.force_login(subscription.customer.user)
    form = {"plan": subscription.plan_id, "payment_method": str(declining.pk), "idempotency_key": str(uuid.uuid4())}

    response = client.post(reverse("portal:pay", args=[subscription.pk]), form)

    assert response.status_code == 200 and "Your card was declined" in response.content.decode()
    (line,) = [line for line in json_console.lines() if line["logger"] == "simrenew.payments.charging"]
    assert line["customer_id"] == subscription.customer_id
    assert line["request_id"] == response["X-Request-Id"]
    assert "api_key_id" not in line


def test_a_line_the_worker_logs_about_a_delivery_names_its_customer(clock, receiver, json_console):
    create_endpoint(url=receiver.url, event_types=["subscription.created"])
    subscription = make_subscription()
    receiver.default = 410  # gone: the delivery is dead at once, and the worker says so

    run_worker()

    (line,) = [line for line in json_console.lines() if "is dead after" in line["message"]]
    assert line["level"] == "WARNING" and line["customer_id"] == subscription.customer_id
    assert "request_id" not in line


@pytest.mark.parametrize(
    "incoming",
    ["has space", "semi;colon", "x" * 129, "-starts-with-a-dash", 'quote"d', "ünïcode"],
)
def test_an_incoming_request_id_that_is_not_a_plain_token_is_replaced(client, incoming: str) -> None:
    response = client.get("/healthz", headers={"X-Request-Id": incoming})

    echoed = response["X-Request-Id"]
    assert echoed != incoming and len(echoed) == 32 and echoed.isalnum()


@pytest.mark.django_db
def test_djangos_not_found_line_names_the_request_id_and_no_token(client, json_console) -> None:
    """Django writes it after the middleware is done: the id comes from the request it logs."""
    response = client.get(f"/esims/qr/WzEsMV0:{SECRET}.svg?token={SECRET}", headers={"X-Request-Id": "req-404"})

    (line,) = [line for line in json_console.lines() if line["logger"] == "django.request"]
    assert response.status_code == 404 and line["request_id"] == "req-404"
    assert line["message"] == f"Not Found: /esims/qr/{REDACTED}.svg"
    assert SECRET not in json_console.text()


@pytest.mark.django_db
def test_a_plain_incoming_request_id_is_kept_and_echoed(client) -> None:
    for incoming in ("abc123", "req-2026.12.05:7_x", "0f" * 32):
        assert client.get("/healthz", headers={"X-Request-Id": incoming})["X-Request-Id"] == incoming


def test_no_token_or_secret_reaches_a_json_line(json_console) -> None:
    log = logging.getLogger("simrenew.test")

    log.warning(
        "callback for /payments/return/?payment_intent_client_secret=%s failed",
        SECRET,
        extra={
            "url": f"https://esim.example.com/esims/qr/WzEsMV0:{SECRET}.svg",
            "api_key": SECRET,
            "stripe_secret": SECRET,
            "Authorization": f"Bearer {SECRET}",
            "provider_key": f"sk_live_{SECRET}",
            "partner_key_value": f"sr_live_{SECRET}",
            "request_headers": {"Cookie": SECRET, "accept": "application/json"},
            # An object is logged as its text, which for card details never holds the number.
            "card": CardDetails(number=CARD, exp_month=12, exp_year=2040, cvc="123"),
            "card_number": CARD,
            "plan": "att-1m",
            "failure_code": "card_declined",
            "api_key_id": 7,
        },
    )

    (line,) = json_console.lines()
    assert SECRET not in json_console.text() and CARD not in json_console.text()
    assert line["message"] == f"callback for /payments/return/?payment_intent_client_secret={REDACTED} failed"
    assert line["url"] == f"https://esim.example.com/esims/qr/{REDACTED}.svg"
    assert line["api_key"] == line["stripe_secret"] == line["Authorization"] == REDACTED
    assert line["provider_key"] == line["partner_key_value"] == REDACTED
    assert line["request_headers"] == {"Cookie": REDACTED, "accept": "application/json"}
    assert line["card_number"] == REDACTED
    # What is not secret stays readable.
    assert (line["plan"], line["failure_code"], line["api_key_id"]) == ("att-1m", "card_declined", 7)


def test_a_traceback_in_a_json_line_is_redacted_too(json_console) -> None:
    try:
        raise ValueError(f"could not fetch /accounts/confirm-email/{SECRET}/")
    except ValueError:
        logging.getLogger("simrenew.test").exception("failed")

    (line,) = json_console.lines()
    assert "ValueError" in line["exc_info"] and SECRET not in json_console.text()


def test_a_worker_event_is_its_name_and_its_fields_in_json(json_console) -> None:
    logfmt.info("renewals.batch", worker="w-1", claimed=500, seconds=1.25)

    (line,) = json_console.lines()
    assert line["message"] == "renewals.batch" and line["logger"] == "simrenew.worker"
    assert (line["worker"], line["claimed"], line["seconds"]) == ("w-1", 500, 1.25)
    assert "event=" not in json.dumps(line)


def test_a_worker_event_in_text_is_still_its_key_value_line(caplog) -> None:
    with caplog.at_level(logging.INFO, logger="simrenew.worker"):
        logfmt.info("renewals.batch", worker="w-1", claimed=500)

    assert caplog.messages == ["event=renewals.batch worker=w-1 claimed=500"]


@pytest.mark.parametrize(
    ("environ", "chosen"),
    [
        ({}, "json"),
        ({"SIMRENEW_SANDBOX": "1"}, "text"),
        ({"SIMRENEW_SANDBOX": "1", "SIMRENEW_LOG_FORMAT": "json"}, "json"),
        ({"SIMRENEW_SANDBOX": "0", "SIMRENEW_LOG_FORMAT": " Text "}, "text"),
    ],
)
def test_the_format_is_json_outside_the_sandbox_unless_chosen(environ: dict[str, str], chosen: str) -> None:
    assert log_format(environ) == chosen


def test_an_unknown_format_is_refused_with_the_choices() -> None:
    with pytest.raises(LogFormatError, match="SIMRENEW_LOG_FORMAT must be one of json, text, not 'xml'"):
        log_format({"SIMRENEW_LOG_FORMAT": "xml"})


def test_gunicorns_access_and_error_lines_are_json_when_the_logs_are(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIMRENEW_LOG_FORMAT", "json")
    written = io.StringIO()
    monkeypatch.setattr(sys, "stdout", written)
    config = Config()
    config.set("accesslog", "-")
    config.set("errorlog", "-")
    logger = GunicornLogger(config)
    for log in (logger.access_log, logger.error_log):
        for handler in log.handlers:
            handler.setStream(written)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/esims/qr/WzEsMV0:{SECRET}.svg?token={SECRET}&size=2",
        "PATH_INFO": f"/esims/qr/WzEsMV0:{SECRET}.svg",
        "QUERY_STRING": f"token={SECRET}&size=2",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_REFERER": f"https://esim.example.com/subscriptions/7/connection-check/{SECRET}/",
        "HTTP_USER_AGENT": "curl/8",
    }
    response = SimpleNamespace(status="200 OK", sent=512, headers=[("X-Request-Id", "req-1")])

    logger.access(response, SimpleNamespace(headers=[]), environ, timedelta(milliseconds=3))
    logger.error("Booting worker with pid: %s", 12)

    access, error = (json.loads(line) for line in written.getvalue().splitlines())
    assert SECRET not in written.getvalue()
    assert access["logger"] == "gunicorn.access" and access["level"] == "INFO"
    assert (access["method"], access["path"], access["status"]) == ("GET", f"/esims/qr/{REDACTED}.svg", 200)
    assert (access["bytes"], access["duration_ms"], access["request_id"]) == (512, 3.0, "req-1")
    assert access["referer"] == f"https://esim.example.com/subscriptions/7/connection-check/{REDACTED}/"
    assert access["query"] == f"token={REDACTED}&size=2"
    assert f'"GET /esims/qr/{REDACTED}.svg?token={REDACTED}&size=2 HTTP/1.1" 200 512' in access["message"]
    assert error["logger"] == "gunicorn.error" and error["message"] == "Booting worker with pid: 12"
