"""A live server's logs hold no token: the password reset, the QR code and the connection check,
run against a real `simrenew serve` (gunicorn, SIMRENEW_SANDBOX=0) with a real SMTP server, and
every line the server and the worker wrote (stdout and stderr) searched for each token."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from tests.management.test_serve import free_port
from tests.notifications.servers import HttpReceiver, SmtpServer, http_receiver, smtp_server

REPO = Path(__file__).resolve().parents[2]
SIMRENEW = str(Path(sys.executable).with_name("simrenew"))
PUBLIC_HOST = "esim.example.test"
EMAIL = "grace@example.com"
OLD_PASSWORD = "first-Password-42"
NEW_PASSWORD = "second-Password-43"

# Run with the sandbox's gateway (the factories pay for the first period with a test card), on the
# database the live server then uses.
SEED = """
import json, django
django.setup()
from allauth.account.models import EmailAddress
from tests.factories import make_customer, make_subscription
customer = make_customer(email=%(email)r, name="Grace Hopper")
customer.user.set_password(%(password)r)
customer.user.save()
EmailAddress.objects.create(user=customer.user, email=customer.email, verified=True, primary=True)
subscription = make_subscription(customer=customer)
print(json.dumps({"subscription": subscription.pk, "esim": subscription.esim_id}))
"""


def live_environment(tmp_path: Path, smtp: SmtpServer, twilio: HttpReceiver) -> dict[str, str]:
    return dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="simrenew.settings",
        PYTHONPATH=str(REPO),
        SIMRENEW_SANDBOX="0",
        SIMRENEW_VAR_DIR=str(tmp_path / "var"),
        SIMRENEW_SECRET_KEY=secrets.token_urlsafe(50),
        SIMRENEW_PUBLIC_URL=f"https://{PUBLIC_HOST}",
        SIMRENEW_BEHIND_TLS_PROXY="1",
        SIMRENEW_DATABASE_URL=f"sqlite:///{tmp_path / 'live.sqlite3'}",
        SIMRENEW_EMAIL_URL=f"smtp://127.0.0.1:{smtp.port}",
        SIMRENEW_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        SIMRENEW_PAYMENT_GATEWAY="stripe",
        SIMRENEW_STRIPE_API_KEY="sk_test_nothing_pays_in_this_test",
        SIMRENEW_STRIPE_PUBLISHABLE_KEY="pk_test_nothing_pays_in_this_test",
        SIMRENEW_STRIPE_WEBHOOK_SECRET="whsec_nothing_pays_in_this_test",
        SIMRENEW_SMS_PROVIDER="twilio",
        SIMRENEW_TWILIO_ACCOUNT_SID="AC00000000000000000000000000000000",
        SIMRENEW_TWILIO_AUTH_TOKEN="twilio-stand-in-token",
        SIMRENEW_TWILIO_FROM="+12125550199",
        SIMRENEW_TWILIO_API_URL=f"http://127.0.0.1:{twilio.port}",
        SIMRENEW_STAFF_MFA="required",
        SIMRENEW_CACHE_URL="db://simrenew_cache",
    )


@dataclass
class Browser:
    """What a browser behind the TLS proxy sends: the public Host, X-Forwarded-Proto, its cookies
    (Secure ones included: the proxy spoke https to it) and a same-origin Referer on forms."""

    port: int
    cookies: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, data: dict[str, str] | None = None) -> httpx.Response:
        headers = {
            "Host": PUBLIC_HOST,
            "X-Forwarded-Proto": "https",
            "Referer": f"https://{PUBLIC_HOST}{path}",
            "Cookie": "; ".join(f"{name}={value}" for name, value in self.cookies.items()),
        }
        response = httpx.request(method, f"http://127.0.0.1:{self.port}{path}", headers=headers, data=data, timeout=10)
        for header in response.headers.get_list("set-cookie"):
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return response

    def get(self, path: str) -> httpx.Response:
        return self.request("GET", path)

    def submit(self, path: str, form_page: str, data: dict[str, str]) -> httpx.Response:
        """Post `data` with the CSRF token of the form on `form_page`."""
        page = self.get(form_page)
        assert page.status_code == 200, (form_page, page.status_code)
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert match, f"no form on {form_page}"
        return self.request("POST", path, {"csrfmiddlewaretoken": match[1], **data})


def wait_until_up(browser: Browser, server: subprocess.Popen[bytes], *, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while True:
        assert server.poll() is None, "the live server stopped while starting"
        try:
            if browser.get("/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the live server did not answer /healthz"
        time.sleep(0.2)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[dict[str, str], SmtpServer]]:
    with smtp_server() as smtp, http_receiver() as twilio:
        twilio.default = 201
        twilio.body = json.dumps({"sid": "SM00000000000000000000000000000000", "status": "queued"}).encode()
        yield live_environment(tmp_path, smtp, twilio), smtp


def test_a_live_servers_logs_hold_no_token_after_reset_qr_and_connection_check(tmp_path: Path, live) -> None:
    env, smtp = live
    subprocess.run([SIMRENEW, "migrate", "-v0"], check=True, env=env, cwd=tmp_path)
    seed_env = dict(env, SIMRENEW_SANDBOX="1", SIMRENEW_PAYMENT_GATEWAY="sandbox", SIMRENEW_SMS_PROVIDER="sandbox")
    seeded = subprocess.run(
        [sys.executable, "-c", SEED % {"email": EMAIL, "password": OLD_PASSWORD}],
        check=True,
        env=seed_env,
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    ids = json.loads(seeded.stdout.strip().splitlines()[-1])
    port = free_port()
    out, err = tmp_path / "serve.stdout", tmp_path / "serve.stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        server = subprocess.Popen(
            [SIMRENEW, "serve", "--port", str(port), "--workers", "1"],
            env=env,
            cwd=tmp_path,
            stdout=stdout,
            stderr=stderr,
        )
    browser = Browser(port)
    try:
        wait_until_up(browser, server)

        # 1. A forgotten password: the link comes by email, through the SMTP server.
        asked = browser.submit("/accounts/password/reset/", "/accounts/password/reset/", {"email": EMAIL})
        assert asked.status_code == 302
        [message] = smtp.mailbox.messages
        link = re.search(rf"https://{re.escape(PUBLIC_HOST)}(/accounts/password/reset/key/([^/\s]+)/)", str(message))
        assert link, "no reset link in the email"
        reset_path, reset_key = link[1], link[2]
        opened = browser.get(reset_path)
        assert opened.status_code == 302  # allauth keeps the key in the session, off the address bar
        set_password = opened.headers["location"]
        changed = browser.submit(set_password, set_password, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
        assert changed.status_code == 302, changed.text[:500]

        signed_in = browser.submit("/accounts/login/", "/accounts/login/", {"login": EMAIL, "password": NEW_PASSWORD})
        assert signed_in.status_code == 302

        # 2. The QR code on the install page, fetched as an image; and a link someone tampered with.
        install = browser.get(f"/esims/{ids['esim']}/install/")
        qr = re.search(r'src="/esims/qr/([^"]+)\.svg"', install.text)
        assert qr, "no QR code on the install page"
        qr_token = qr[1]
        image = browser.get(f"/esims/qr/{qr_token}.svg")
        assert image.status_code == 200 and image.headers["content-type"] == "image/svg+xml"
        assert browser.get(f"/esims/qr/{qr_token}.png").status_code == 200
        tampered = qr_token[:-4] + ("AAAA" if not qr_token.endswith("AAAA") else "BBBB")
        assert browser.get(f"/esims/qr/{tampered}.svg").status_code == 404

        # 3. The connection check: a test SMS, and the page that follows its delivery.
        manage = f"/subscriptions/{ids['subscription']}/manage/"
        sent = browser.submit(f"/subscriptions/{ids['subscription']}/connection-check/", manage, {})
        assert sent.status_code == 302
        status_path = sent.headers["location"]
        check_token = status_path.rstrip("/").rsplit("/", 1)[1]
        assert "Waiting for delivery" in browser.get(status_path).text
    finally:
        server.terminate()
        server.wait(timeout=30)
    worker = subprocess.run([SIMRENEW, "worker", "--once"], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert worker.returncode == 0, worker.stderr[-2000:]

    access_log, error_log = out.read_text(), err.read_text()
    logs = "\n".join([access_log, error_log, worker.stdout, worker.stderr])
    tokens = {
        "reset key": reset_key,
        "reset key without its user": reset_key.split("-", 1)[1],
        "QR token": qr_token,
        "tampered QR token": tampered,
        "connection-check token": check_token,
    }
    leaked = [name for name, token in tokens.items() if token in logs]
    assert not leaked, f"tokens in the logs: {leaked}"
    # The requests were logged, their tokens redacted: the lines above searched something. A live
    # server logs JSON lines (SIMRENEW_LOG_FORMAT's default outside the sandbox): each access line's
    # message is the usual text.
    access_lines = [json.loads(line) for line in access_log.splitlines() if line.startswith("{")]
    assert access_lines and all(line["logger"] == "gunicorn.access" for line in access_lines)
    access_log = "\n".join(line["message"] for line in access_lines)
    subscription = ids["subscription"]
    for line in [
        '"GET /accounts/password/reset/key/[redacted]/ HTTP/1.1" 302',
        '"GET /esims/qr/[redacted].svg HTTP/1.1" 200',
        '"GET /esims/qr/[redacted].png HTTP/1.1" 200',
        '"GET /esims/qr/[redacted].svg HTTP/1.1" 404',
        f'"GET /subscriptions/{subscription}/connection-check/[redacted]/ HTTP/1.1" 200',
    ]:
        assert line in access_log, line
    assert "Not Found: /esims/qr/[redacted].svg" in error_log  # Django's own line, through settings.LOGGING
