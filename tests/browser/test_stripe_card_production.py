"""Issue 17's browser story: on a live-mode server (SIMRENEW_SANDBOX=0, `simrenew serve` with TLS,
Stripe at a local Stripe speaking Stripe's API), a new customer on a phone (390 x 844) adds a card on
the card page, typing it into Stripe's frame (the stand-in Stripe.js), and pays for a first plan.
Stripe then tells the server by its signed webhook, which the server takes.

The served process has its own SQLite database, whichever suite runs this: it runs once, in the
SQLite suite (database_independent)."""

from __future__ import annotations

import re
import secrets
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import SCREENSHOTS
from tests.management.test_serve import free_port
from tests.management.test_serve_logs import live_environment
from tests.notifications.servers import http_receiver, smtp_server
from tests.payments.stripe_server import PUBLISHABLE_KEY, SECRET_KEY, WEBHOOK_SECRET, StripeServer

pytestmark = [pytest.mark.database_independent, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
SIMRENEW = str(Path(sys.executable).with_name("simrenew"))
EMAIL = "noor@example.com"
PASSWORD = "first-Password-42"
PHONE = {"width": 390, "height": 844}

# The catalog and a new customer (verified, nothing saved yet), written with the sandbox's factories
# into the database the live server then serves.
SEED = """
import django
django.setup()
from simrenew.management.demo_catalog import seed_catalog
from simrenew.portal.accounts import verified_login
from tests.factories import make_customer
seed_catalog()
customer = make_customer(email=%(email)r, name="Noor Newcomer")
customer.user.set_password(%(password)r)
customer.user.save()
verified_login(customer.user)
"""


@pytest.fixture
def live_server_with_stripe(tmp_path: Path) -> Iterator[tuple[str, StripeServer]]:
    """`simrenew serve` in live mode over HTTPS (gunicorn's own TLS, a certificate made here), its
    card gateway the local Stripe; yields the server's address and the Stripe."""
    authority = trustme.CA()
    certificate = authority.issue_cert("localhost")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    certificate.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    certificate.private_key_pem.write_to_path(str(key_file))
    port = free_port()
    address = f"https://localhost:{port}"
    with smtp_server() as smtp, http_receiver() as twilio, StripeServer() as stripe:
        env = dict(
            live_environment(tmp_path, smtp, twilio),
            SIMRENEW_PUBLIC_URL=address,
            SIMRENEW_BEHIND_TLS_PROXY="0",
            SIMRENEW_SECRET_KEY=secrets.token_urlsafe(50),
            SIMRENEW_STRIPE_API_KEY=SECRET_KEY,
            SIMRENEW_STRIPE_PUBLISHABLE_KEY=PUBLISHABLE_KEY,
            SIMRENEW_STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
            SIMRENEW_STRIPE_API_BASE=stripe.url,
            SIMRENEW_STRIPE_JS_URL=stripe.url + "/v3/",
            GUNICORN_CMD_ARGS=f"--certfile={cert_file} --keyfile={key_file}",
        )
        env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # the browser fixture's, for this process only
        subprocess.run([SIMRENEW, "migrate", "-v0"], check=True, env=env, cwd=tmp_path)
        seed_env = dict(env, SIMRENEW_SANDBOX="1", SIMRENEW_PAYMENT_GATEWAY="sandbox", SIMRENEW_SMS_PROVIDER="sandbox")
        seed = SEED % {"email": EMAIL, "password": PASSWORD}
        subprocess.run([sys.executable, "-c", seed], check=True, env=seed_env, cwd=REPO, capture_output=True)
        log = tmp_path / "serve.log"
        with log.open("wb") as output:
            server = subprocess.Popen(
                [SIMRENEW, "serve", "--port", str(port), "--workers", "1"],
                env=env,
                cwd=tmp_path,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_until_up(address, server, log)
            stripe.webhook_url = address + "/webhooks/stripe"
            stripe.webhook_tls = ssl.create_default_context()
            authority.configure_trust(stripe.webhook_tls)
            yield address, stripe
        finally:
            server.terminate()
            server.wait(timeout=30)


def _wait_until_up(address: str, server: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(300):
        assert server.poll() is None, "the live server stopped:\n" + log.read_text()[-3000:]
        try:
            if httpx.get(address + "/healthz", verify=False, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        subprocess.run(["sleep", "0.1"], check=True)  # real time: a process is starting
    raise AssertionError("the live server did not answer /healthz:\n" + log.read_text()[-3000:])


def shoot(page: Page, step: str, count: list[int]) -> None:
    count[0] += 1
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"stripe_live-phone-{count[0]:02d}-{step}.png"), full_page=True)


def test_on_a_live_server_a_new_customer_adds_a_card_in_stripes_frame_and_pays(
    browser: Browser, live_server_with_stripe: tuple[str, Any]
) -> None:
    address, stripe = live_server_with_stripe
    context = browser.new_context(
        viewport=PHONE, base_url=address, locale="en-US", is_mobile=True, has_touch=True, ignore_https_errors=True
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    shots = [0]
    try:
        page.goto("/accounts/login/")
        form = page.locator("form").filter(has=page.get_by_role("button", name="Log in", exact=True))
        form.get_by_label("Email").fill(EMAIL)
        form.get_by_label(re.compile(r"^Password:?$")).fill(PASSWORD)
        form.get_by_role("button", name="Log in", exact=True).click()
        page.wait_for_url("**/dashboard/")

        page.get_by_role("link", name="Add an eSIM").click()
        plan = page.get_by_label(re.compile(r"^AT&T 1 month · 20 GB"))
        plan.check()
        page.get_by_role("button", name="Continue to card details").click()

        # Our card page, with Stripe's frame in it: the card goes to Stripe, not to us.
        expect(page.get_by_role("heading", name="Add a credit card")).to_be_visible()
        frame = page.frame_locator("iframe[name=stripe-payment-element]")
        frame.get_by_label("Card number").fill("4242 4242 4242 4242")
        frame.get_by_label("Expiration date").fill("12 / 35")
        frame.get_by_label("Security code").fill("123")
        shoot(page, "card-page", shots)
        page.get_by_role("button", name="Save card and continue").click()

        # Stripe sent the browser back; the purchase kept the plan and chose the new card.
        expect(page.get_by_text("ending 4242 is saved", exact=False)).to_be_visible()
        expect(plan).to_be_checked()
        expect(page.get_by_label("Pay with")).to_contain_text("4242")
        shoot(page, "before-paying", shots)
        page.get_by_role("button", name=re.compile(r"^Pay \$35\.00")).click()

        expect(page.get_by_role("heading", name="Install your eSIM", exact=True)).to_be_visible()
        shoot(page, "install", shots)
    except Exception:
        shoot(page, "failed", shots)
        raise
    finally:
        context.close()

    assert refused == [], refused  # the card page's policy let Stripe's script and frame in, nothing else
    [customer] = stripe.customers.values()
    assert customer["email"] == EMAIL
    [paid] = stripe.charges_of(customer["id"])
    assert (paid["amount"], paid["currency"]) == (3500, "usd")
    assert paid["payment_method"] in stripe.payment_methods  # the card saved by the SetupIntent
    assert stripe.payment_methods[paid["payment_method"]]["card"]["last4"] == "4242"
    statuses = stripe.send_events()  # Stripe's webhooks, signed, to the live server
    assert statuses and set(statuses) == {200}, statuses
