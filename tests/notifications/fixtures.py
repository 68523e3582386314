"""Fixtures the notification and webhook stories share (imported by their conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from simrenew.notifications.sms import get_sms_provider
from tests.notifications.servers import HttpReceiver, SmtpServer, http_receiver, smtp_server


@pytest.fixture(autouse=True)
def _fresh_sms_provider() -> Iterator[None]:
    get_sms_provider.cache_clear()
    yield
    get_sms_provider.cache_clear()


@pytest.fixture
def mail_server(settings) -> Iterator[SmtpServer]:
    """A real SMTP server on a loopback port, and Django's SMTP backend pointed at it."""
    with smtp_server() as server:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = server.port
        settings.EMAIL_USE_TLS = False
        settings.EMAIL_HOST_USER = ""
        settings.EMAIL_HOST_PASSWORD = ""
        yield server


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with http_receiver() as running:
        yield running
