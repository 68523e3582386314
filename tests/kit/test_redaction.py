"""Tokens that links carry never reach a log line: gunicorn's access and error logs and Django's own."""

from __future__ import annotations

import io
import logging
import re
import sys
from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from gunicorn.config import Config

from simrenew.kit.gunicorn_logging import GunicornLogger
from simrenew.kit.redaction import REDACTED, RedactSecrets, redact

SECRET = "S3cretT0ken_value-123"


@pytest.mark.parametrize(
    ("line", "shape"),
    [
        (f"/accounts/password/reset/key/1a-{SECRET}/", "/accounts/password/reset/key/[redacted]/"),
        (f"/accounts/confirm-email/{SECRET}:1vQx2c:abc/", "/accounts/confirm-email/[redacted]/"),
        (f"/esims/qr/WzEsMV0:{SECRET}.svg", "/esims/qr/[redacted].svg"),
        (f"/esims/qr/WzEsMV0:{SECRET}.png", "/esims/qr/[redacted].png"),
        (f"/subscriptions/7/connection-check/{SECRET}/", "/subscriptions/7/connection-check/[redacted]/"),
        (f"/payments/return/?payment_intent_client_secret={SECRET}&x=1", "client_secret=[redacted]&x=1"),
        (f"/hook?Token={SECRET}", "?Token=[redacted]"),
        (f"/accounts/login/?next=/esims/qr/{SECRET}.svg", "/accounts/login/?next=/esims/qr/[redacted].svg"),
        # A whole access-log line, referer included.
        (
            f'127.0.0.1 - - [x] "GET /esims/qr/{SECRET}.svg HTTP/1.1" 200 512 '
            f'"https://esim.example.com/subscriptions/7/connection-check/{SECRET}/" "Mozilla"',
            '"GET /esims/qr/[redacted].svg HTTP/1.1" 200 512 "https://esim.example.com/subscriptions/7/'
            'connection-check/[redacted]/"',
        ),
    ],
)
def test_each_kind_of_token_is_redacted_and_the_path_keeps_its_shape(line: str, shape: str) -> None:
    redacted = redact(line)

    assert SECRET not in redacted
    assert shape in redacted


@pytest.mark.parametrize(
    "line",
    [
        "GET /api/v1/subscriptions?limit=50&cursor=abc HTTP/1.1",
        "/accounts/password/reset/key/done/",
        "/renew/?plan=att-1m&promo_code=WELCOME10",
        "Booting worker with pid: 12",
    ],
)
def test_lines_without_tokens_are_left_alone(line: str) -> None:
    assert redact(line) == line


def _routes(patterns: list[URLPattern | URLResolver], prefix: str = "") -> Iterator[str]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern)


# Names a URL's captured part takes when it is a bearer secret.
_SECRET_PARTS = re.compile(r"token|key|secret|code|signature|sig$")


def _sample_path(route: str) -> tuple[str, bool]:
    """The route with each captured part filled in (secret parts with SECRET), and whether it has one."""
    found = False

    def value(name: str) -> str:
        nonlocal found
        if _SECRET_PARTS.search(name):
            found = True
            return SECRET
        return "7"

    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: value(m[1]), route)
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: value(m[1]), path)
    return "/" + path.replace("^", "").replace("$", "").replace("\\.", "."), found


def test_every_route_that_takes_a_token_in_its_path_is_redacted() -> None:
    """A new route with a token in its path fails here until kit/redaction.py names its prefix."""
    with_tokens = []
    for route in _routes(get_resolver().url_patterns):
        path, has_secret = _sample_path(route)
        if has_secret:
            with_tokens.append(path)
            assert SECRET not in redact(f'"GET {path} HTTP/1.1" 404'), f"{route} logs its token"

    assert len(with_tokens) >= 5  # reset key, email confirmation, QR svg and png, connection check


@pytest.mark.django_db
def test_djangos_own_not_found_line_is_redacted(client) -> None:
    """The handler settings.LOGGING installs writes "Not Found: <path>" without the token."""
    (console,) = [handler for handler in logging.getLogger().handlers if handler.name == "console"]
    written = io.StringIO()
    # Swapped without setStream(), which flushes the old stream: pytest may have closed the
    # capture file the handler was made with.
    previous, console.stream = console.stream, written
    try:
        response = client.get(f"/esims/qr/WzEsMV0:{SECRET}.svg")
    finally:
        console.stream = previous

    assert response.status_code == 404
    assert "Not Found: /esims/qr/[redacted].svg" in written.getvalue()
    assert SECRET not in written.getvalue()


def test_gunicorns_access_and_error_logs_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
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
        "RAW_URI": f"/accounts/password/reset/key/1a-{SECRET}/",
        "PATH_INFO": f"/accounts/password/reset/key/1a-{SECRET}/",
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_REFERER": f"https://esim.example.com/esims/qr/{SECRET}.png",
    }
    response = SimpleNamespace(status="200 OK", sent=512, headers=[])

    logger.access(response, SimpleNamespace(headers=[]), environ, timedelta(milliseconds=3))
    logger.error("Invalid request for %s", f"/subscriptions/7/connection-check/{SECRET}/")

    lines = written.getvalue()
    assert f'"GET /accounts/password/reset/key/{REDACTED}/ HTTP/1.1" 200 512' in lines
    assert f"/esims/qr/{REDACTED}.png" in lines
    assert f"/connection-check/{REDACTED}/" in lines
    assert SECRET not in lines


@pytest.mark.parametrize("name", ["", "django", "django.server", "django.request", "simrenew"])
def test_every_handler_a_logger_writes_through_redacts(name: str) -> None:
    """Django's default configuration gives its own loggers handlers of their own (a debug console,
    the development server's access log): each handler any logger reaches must carry the filter."""
    logger: logging.Logger | None = logging.getLogger(name)
    reached = []
    while logger is not None:
        # pytest's capture handlers are the test run's, not the server's.
        reached.extend(h for h in logger.handlers if not type(h).__module__.startswith("_pytest"))
        logger = logger.parent if logger.propagate else None

    assert reached
    assert all(any(isinstance(f, RedactSecrets) for f in handler.filters) for handler in reached), reached
