"""Browser tests: Playwright driving Debian's Chromium against pytest-django's live server.

Each test gets a fresh browser context at a phone and a desktop viewport; screenshots of
every page land in var/screenshots/<test>-<viewport>-<NN>-<step>.png (git-ignored;
SIMRENEW_SCREENSHOTS names another folder), and the page a failing test ended on in
<test>-<viewport>-failed.png. Chromium is Debian's
(`make browser-deps`; SIMRENEW_CHROMIUM names another binary), never `playwright install`.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from playwright.sync_api import Browser, BrowserContext, Locator, Page, sync_playwright

CHROMIUM = os.environ.get("SIMRENEW_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
# `make test` runs the PostgreSQL suite beside the SQLite one: it names its own folder.
SCREENSHOTS = Path(
    os.environ.get("SIMRENEW_SCREENSHOTS") or Path(__file__).resolve().parents[2] / "var" / "screenshots"
).resolve()
PASSWORD = "correct-horse-battery-9"


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """One Chromium for all browser tests, closed after the last of them: Playwright's sync API
    keeps an event loop running on this thread, which Django takes for an async context. The
    tests' own ORM calls (arranging data) are plain synchronous code, so they are allowed while
    the browser is open, and only then (the rest of the suite keeps Django's check)."""
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield launched
            launched.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(params=list(VIEWPORTS))
def viewport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def context(browser: Browser, viewport: str, live_server: Any, settings: Any) -> Iterator[BrowserContext]:
    # The live server is where customers reach simrenew: emailed links are built from it.
    settings.SIMRENEW_PUBLIC_URL = live_server.url
    fresh = browser.new_context(
        viewport=VIEWPORTS[viewport],  # type: ignore[arg-type]
        base_url=live_server.url,
        locale="en-US",
        is_mobile=viewport == "phone",
        has_touch=viewport == "phone",
    )
    fresh.set_default_timeout(10_000)
    yield fresh
    fresh.close()


_CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


@pytest.fixture
def page(request: pytest.FixtureRequest, context: BrowserContext, viewport: str) -> Iterator[Page]:
    opened = context.new_page()
    # Whatever a page tried that its Content-Security-Policy refused (an inline script or
    # style, a foreign source) is a bug in the page: the customer would see it broken.
    refused: list[str] = []
    opened.on(
        "console",
        lambda message: (
            refused.append(f"{opened.url}: {message.text}") if "Content Security Policy" in message.text else None
        ),
    )
    yield opened
    if request.node.stash.get(_CALL_FAILED, False):  # what the browser showed when the test failed
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        opened.screenshot(path=str(SCREENSHOTS / f"{request.node.originalname}-{viewport}-failed.png"), full_page=True)
        print(f"failed at {opened.url}")
    opened.close()
    assert refused == [], "the Content-Security-Policy refused:\n" + "\n".join(refused)


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Iterator[None]:
    """allauth counts logins and sign-ups per IP in the cache; every test starts from zero."""
    cache.clear()
    yield
    cache.clear()


class Shots:
    """Saves a screenshot of the current page per step: <test>-<viewport>-<NN>-<step>.png."""

    def __init__(self, test: str, viewport: str) -> None:
        self.prefix = f"{test}-{viewport}"
        self.count = 0
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for old in SCREENSHOTS.glob(f"{self.prefix}-*.png"):
            old.unlink()

    def __call__(self, page: Page, step: str) -> Path:
        self.count += 1
        path = SCREENSHOTS / f"{self.prefix}-{self.count:02d}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def shot(request: pytest.FixtureRequest, viewport: str) -> Shots:
    return Shots(request.node.originalname, viewport)


# ---------------------------------------------------------------- accounts


def make_verified_customer(*, email: str | None = None, name: str = "Ada Lovelace", **kwargs: Any) -> Any:
    """A customer who can log in straight away with PASSWORD (email already verified)."""
    from simrenew.portal.accounts import verified_login
    from tests.factories import make_customer

    customer = make_customer(email=email, name=name, **kwargs)
    customer.user.set_password(PASSWORD)
    customer.user.save(update_fields=["password"])
    verified_login(customer.user)
    return customer


def entrance_form(page: Page, button: str) -> Locator:
    """The sign-up or login form, found by its submit button (the page also has a language switch)."""
    return page.locator("form").filter(has=page.get_by_role("button", name=button, exact=True))


def log_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """Log in through allauth's form, as a customer would."""
    if "/accounts/login/" not in page.url:
        page.goto("/accounts/login/")
    form = entrance_form(page, "Log in")
    form.get_by_label("Email").fill(email)
    form.get_by_label(re.compile(r"^Password:?$")).fill(password)
    form.get_by_role("button", name="Log in", exact=True).click()
    page.wait_for_url("**/dashboard/")


def log_in_to_console(page: Page, email: str, password: str, *, then: str = "**/admin/") -> None:
    """Open the console and sign in where it sends staff: allauth's login page, as customers do."""
    page.goto("/admin/")
    page.wait_for_url("**/accounts/login/?next=%2Fadmin%2F")
    form = entrance_form(page, "Log in")
    form.get_by_label("Email").fill(email)
    form.get_by_label(re.compile(r"^Password:?$")).fill(password)
    form.get_by_role("button", name="Log in", exact=True).click()
    page.wait_for_url(then)


def log_in_as(context: BrowserContext, user: Any, live_server: Any) -> None:
    """Skip the form: put a session for `user` into the browser (for tests about other pages)."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])


# ---------------------------------------------------------------- email


@dataclass
class Mailbox:
    """What a real SMTP server (aiosmtpd) received."""

    host: str
    port: int
    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        self.messages.append(message_from_bytes(envelope.original_content or envelope.content))
        return "250 Message accepted for delivery"

    def bodies(self, to: str) -> list[str]:
        found = []
        for message in self.messages:
            if to.lower() not in str(message.get("To", "")).lower():
                continue
            for part in message.walk():
                if part.get_content_type() == "text/plain":
                    payload = part.get_payload(decode=True)
                    if isinstance(payload, bytes):
                        found.append(payload.decode(part.get_content_charset() or "utf-8"))
        return found

    def link(self, to: str, pattern: str) -> str:
        for body in reversed(self.bodies(to)):
            match = re.search(pattern, body)
            if match:
                return match.group(0)
        raise AssertionError(f"no mail to {to} with a link matching {pattern!r}; got {self.bodies(to)!r}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp(settings: Any) -> Iterator[Mailbox]:
    """A real SMTP server on a free port; Django (and so the live server, same process) sends to it."""
    from aiosmtpd.controller import Controller

    mailbox = Mailbox(host="127.0.0.1", port=_free_port())
    controller = Controller(mailbox, hostname=mailbox.host, port=mailbox.port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = mailbox.host
    settings.EMAIL_PORT = mailbox.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    try:
        yield mailbox
    finally:
        controller.stop()
